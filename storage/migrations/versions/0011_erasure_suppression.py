"""Erasure suppression: pseudonyms erased with forget-author, so later pulls do not store them again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Holds the keyed pseudonym only (never a handle) and the erasure time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_suppression",
        sa.Column("pseudonym", sa.String(32), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name="pk_erasure_suppression"),
    )


def downgrade() -> None:
    op.drop_table("erasure_suppression")
