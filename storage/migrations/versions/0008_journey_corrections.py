"""Journey corrections: a human's primary stage and/or exit signal for a mention, for retraining the linker.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Append-only like ``sentiment_correction`` (the latest correction per mention counts); deleted with
the mention.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_correction",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(100), nullable=True),
        sa.Column("exit_signal", sa.Boolean(), nullable=True),
        sa.Column("exit_type", sa.String(100), nullable=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"], ["mention.id"], name="fk_journey_correction_mention_id_mention", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_journey_correction"),
    )
    op.create_index("ix_journey_correction_mention_id", "journey_correction", ["mention_id"])


def downgrade() -> None:
    op.drop_index("ix_journey_correction_mention_id", table_name="journey_correction")
    op.drop_table("journey_correction")
