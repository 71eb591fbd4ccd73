"""Coaching library, sentiment corrections, alerts, and the contact-center hierarchy views.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

The views need window functions (SQLite >= 3.25, PostgreSQL); JSON access and time arithmetic are
written per dialect. Both are documented column by column in storage/VIEWS.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)  # naive UTC; storage.schema.UTCDateTime converts at the edge
EXPERIENCE_GAP_DAYS = 7
"""A customer's interaction starting more than this many days after the previous one ends opens a new experience."""


def _views(dialect: str) -> dict[str, str]:
    if dialect == "postgresql":
        customer, interaction = "m.metadata ->> 'customer_id'", "m.metadata ->> 'interaction_id'"
        gap = f"started_at - prev_ended_at > INTERVAL '{EXPERIENCE_GAP_DAYS} days'"
    else:
        customer = "json_extract(m.metadata, '$.customer_id')"
        interaction = "json_extract(m.metadata, '$.interaction_id')"
        gap = f"julianday(started_at) - julianday(prev_ended_at) > {EXPERIENCE_GAP_DAYS}"
    events = f"""
        WITH ev AS (
            SELECT m.id AS mention_id, m.brand, m.channel, m.created_at,
                   {customer} AS customer_id,
                   COALESCE({interaction}, m.id) AS interaction_id,
                   COALESCE((SELECT l.stage FROM v_current_journey_link l WHERE l.mention_id = m.id
                             ORDER BY l.confidence DESC, l.stage LIMIT 1), 'unlinked') AS stage
            FROM mention m
            WHERE {customer} IS NOT NULL
        ),
        marked AS (
            SELECT ev.*,
                   LAG(stage) OVER (PARTITION BY customer_id, interaction_id
                                    ORDER BY created_at, mention_id) AS prev_stage
            FROM ev
        ),
        numbered AS (
            SELECT marked.*,
                   SUM(CASE WHEN prev_stage IS NULL OR prev_stage <> stage THEN 1 ELSE 0 END)
                       OVER (PARTITION BY customer_id, interaction_id ORDER BY created_at, mention_id
                             ROWS UNBOUNDED PRECEDING) AS action_no
            FROM marked
        ),
        interactions AS (
            SELECT customer_id, interaction_id, MIN(created_at) AS started_at, MAX(created_at) AS ended_at
            FROM ev
            GROUP BY customer_id, interaction_id
        ),
        gaps AS (
            SELECT i.*,
                   LAG(ended_at) OVER (PARTITION BY customer_id ORDER BY started_at, interaction_id) AS prev_ended_at
            FROM interactions i
        ),
        experiences AS (
            SELECT customer_id, interaction_id,
                   SUM(CASE WHEN prev_ended_at IS NULL OR {gap} THEN 1 ELSE 0 END)
                       OVER (PARTITION BY customer_id ORDER BY started_at, interaction_id
                             ROWS UNBOUNDED PRECEDING) AS experience_no
            FROM gaps
        )
        SELECT n.mention_id, n.brand, n.channel, n.created_at, date(n.created_at) AS day, n.customer_id,
               n.interaction_id, n.stage, n.action_no, e.experience_no
        FROM numbered n
        JOIN experiences e ON e.customer_id = n.customer_id AND e.interaction_id = n.interaction_id
    """
    levels = """
        SELECT brand, channel,
               COUNT(DISTINCT customer_id) AS journeys,
               COUNT(DISTINCT customer_id || '/' || CAST(experience_no AS VARCHAR(20))) AS experiences,
               COUNT(DISTINCT customer_id || '/' || interaction_id) AS interactions,
               COUNT(DISTINCT customer_id || '/' || interaction_id || '/' || CAST(action_no AS VARCHAR(20)))
                   AS actions,
               COUNT(*) AS events
        FROM v_contact_center_events
        GROUP BY brand, channel
    """
    return {"v_contact_center_events": events, "v_contact_center_levels": levels}


def upgrade() -> None:
    op.create_table(
        "coaching_example",
        sa.Column("mention_id", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(20), nullable=True),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("pain_point", sa.String(100), nullable=True),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("sentiment", sa.String(10), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("redactions", sa.Integer(), nullable=False),
        sa.Column("selected_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"], ["mention.id"], name="fk_coaching_example_mention_id_mention", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("mention_id", name="pk_coaching_example"),
    )
    op.create_index("ix_coaching_example_stage_pain_point", "coaching_example", ["stage", "pain_point"])
    op.create_table(
        "coaching_review",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("new_label", sa.String(10), nullable=True),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["coaching_example.mention_id"],
            name="fk_coaching_review_mention_id_coaching_example",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_coaching_review"),
    )
    op.create_index("ix_coaching_review_mention_id", "coaching_review", ["mention_id"])
    op.create_table(
        "sentiment_correction",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.String(32), nullable=False),
        sa.Column("label", sa.String(10), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"], ["mention.id"], name="fk_sentiment_correction_mention_id_mention", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sentiment_correction"),
    )
    op.create_index("ix_sentiment_correction_mention_id", "sentiment_correction", ["mention_id"])
    op.create_table(
        "alert",
        sa.Column("key", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(50), nullable=False),
        sa.Column("brand", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("pain_point", sa.String(100), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", _TS, nullable=False),
        sa.Column("posted_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_alert"),
    )
    op.create_index("ix_alert_brand_day", "alert", ["brand", "day"])
    for name, body in _views(op.get_bind().dialect.name).items():  # dict order: levels reads events
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(_views(op.get_bind().dialect.name))):
        op.execute(f"DROP VIEW {name}")
    op.drop_table("alert")
    op.drop_table("sentiment_correction")
    op.drop_table("coaching_review")
    op.drop_table("coaching_example")
