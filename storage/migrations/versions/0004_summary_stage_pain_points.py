"""Stored pain points per brand and stage (a refreshed copy of v_stage_pain_points), for fast standard queries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

On 50k synthetic mentions the live view took 0.5 s per brand on SQLite (it aggregates every current
link); the stored copy answers from an index. ``Store.refresh_summaries`` rewrites it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "summary_stage_pain_points",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand", sa.String(200), nullable=True),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("pain_point", sa.String(100), nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("negative_share", sa.Float(), nullable=True),
        sa.Column("authors", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=False), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=False), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_summary_stage_pain_points"),
    )
    op.create_index("ix_summary_stage_pain_points_brand_stage", "summary_stage_pain_points", ["brand", "stage"])


def downgrade() -> None:
    op.drop_table("summary_stage_pain_points")
