"""The wide fact view v_journey_facts: one row per mention and stage, for BI tools and ``journeypulse query --by``.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07

One SQL text for SQLite (>= 3.25, window functions) and PostgreSQL. Flags are 0/1 integers on both
databases so that BI tools can sum them. Documented column by column in storage/VIEWS.md.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

JOURNEY_FACTS = """
    WITH stages AS (
        SELECT mention_id, stage,
               MAX(confidence) AS stage_confidence,
               MAX(touchpoint) AS touchpoint,
               COUNT(DISTINCT pain_point) AS pain_points,
               MAX(CASE WHEN needs_review THEN 1 ELSE 0 END) AS link_needs_review
        FROM v_current_journey_link
        GROUP BY mention_id, stage
    ),
    ranked AS (
        SELECT stages.*,
               ROW_NUMBER() OVER (PARTITION BY mention_id ORDER BY stage_confidence DESC, stage) AS stage_rank
        FROM stages
    ),
    stage_pain AS (
        SELECT mention_id, stage, pain_point,
               ROW_NUMBER() OVER (PARTITION BY mention_id, stage ORDER BY confidence DESC, pain_point) AS rn
        FROM v_current_journey_link
        WHERE pain_point IS NOT NULL
    ),
    mention_pain AS (
        SELECT mention_id, pain_point,
               ROW_NUMBER() OVER (PARTITION BY mention_id ORDER BY confidence DESC, pain_point) AS rn
        FROM v_current_journey_link
        WHERE pain_point IS NOT NULL
    ),
    stage_exit AS (
        SELECT mention_id, stage, exit_signal,
               ROW_NUMBER() OVER (PARTITION BY mention_id, stage ORDER BY confidence DESC, exit_signal) AS rn
        FROM v_current_journey_link
        WHERE exit_signal IS NOT NULL
    )
    SELECT ms.mention_id, ms.brand, ms.language, ms.channel, ms.source, ms.source_kind, ms.day, ms.created_at,
           ms.label AS sentiment, ms.confidence AS sentiment_confidence,
           COALESCE(r.stage, 'unlinked') AS stage,
           r.stage_confidence,
           CASE WHEN r.stage_rank IS NULL OR r.stage_rank = 1 THEN 1 ELSE 0 END AS is_primary,
           r.touchpoint,
           sp.pain_point,
           COALESCE(r.pain_points, 0) AS pain_points,
           CASE WHEN se.exit_signal IS NULL THEN 0 ELSE 1 END AS exit_signal,
           se.exit_signal AS exit_type,
           CASE WHEN se.exit_signal IS NOT NULL THEN COALESCE(sp.pain_point, mp.pain_point) END AS exit_reason,
           CASE WHEN ms.text LIKE '%?%' OR ms.text LIKE '%？%' OR ms.text LIKE '%؟%' THEN 1 ELSE 0 END AS question,
           CASE WHEN ms.needs_review OR r.link_needs_review = 1 THEN 1 ELSE 0 END AS needs_review
    FROM v_mention_sentiment ms
    LEFT JOIN ranked r ON r.mention_id = ms.mention_id
    LEFT JOIN stage_pain sp ON sp.mention_id = r.mention_id AND sp.stage = r.stage AND sp.rn = 1
    LEFT JOIN stage_exit se ON se.mention_id = r.mention_id AND se.stage = r.stage AND se.rn = 1
    LEFT JOIN mention_pain mp ON mp.mention_id = ms.mention_id AND mp.rn = 1
"""


def upgrade() -> None:
    op.execute(f"CREATE VIEW v_journey_facts AS {JOURNEY_FACTS}")


def downgrade() -> None:
    op.execute("DROP VIEW v_journey_facts")
