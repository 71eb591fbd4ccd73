"""Escalation: the delivery table (claimed once per rule, subject and destination), per-rule watermarks,
the journey heads' question answer on each link run, and the escalation views.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

``v_journey_facts.question`` now prefers the heads' answer (``journey_link_run.question``) and falls
back to the question-mark marker where the mention was linked without the heads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
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
           CASE WHEN q.question IS NOT NULL THEN CASE WHEN q.question THEN 1 ELSE 0 END
                WHEN ms.text LIKE '%?%' OR ms.text LIKE '%？%' OR ms.text LIKE '%؟%' THEN 1 ELSE 0 END AS question,
           CASE WHEN ms.needs_review OR r.link_needs_review = 1 THEN 1 ELSE 0 END AS needs_review
    FROM v_mention_sentiment ms
    LEFT JOIN ranked r ON r.mention_id = ms.mention_id
    LEFT JOIN stage_pain sp ON sp.mention_id = r.mention_id AND sp.stage = r.stage AND sp.rn = 1
    LEFT JOIN stage_exit se ON se.mention_id = r.mention_id AND se.stage = r.stage AND se.rn = 1
    LEFT JOIN mention_pain mp ON mp.mention_id = ms.mention_id AND mp.rn = 1
    LEFT JOIN journey_link_run q ON q.mention_id = ms.mention_id AND q.is_current
"""

JOURNEY_FACTS_0007 = """
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


def _seconds(later: str, earlier: str) -> str:
    """Seconds between two timestamp columns, in the dialect's SQL."""
    if op.get_bind().dialect.name == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _escalation_views() -> dict[str, str]:
    to_sent = _seconds("e.sent_at", "e.published_at")
    pulled_to_sent = _seconds("e.sent_at", "e.pulled_at")
    return {
        "v_escalations": f"""
            SELECT e.id, e.rule_id, e.destination, e.status, e.priority, e.brand,
                   COALESCE(e.stage, 'unlinked') AS stage, e.pain_point, e.exit_type, e.mentions,
                   e.mention_id, e.external_id, e.attempts, e.runs, e.playbook_rule, e.reply_language,
                   e.published_at, e.pulled_at, e.created_at, e.sent_at,
                   date(e.created_at) AS day,
                   CASE WHEN e.sent_at IS NOT NULL THEN CAST({to_sent} AS DOUBLE PRECISION) / 60.0 END AS minutes_published_to_sent,
                   CASE WHEN e.sent_at IS NOT NULL THEN CAST({pulled_to_sent} AS DOUBLE PRECISION) / 60.0 END AS minutes_pulled_to_sent
            FROM escalation e
        """,
        "v_escalation_summary": """
            SELECT brand, rule_id, stage, pain_point,
                   COUNT(*) AS escalations,
                   SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS sent,
                   SUM(CASE WHEN status IN ('pending', 'failed') THEN 1 ELSE 0 END) AS waiting,
                   SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead,
                   SUM(mentions) AS mentions,
                   AVG(minutes_pulled_to_sent) AS avg_minutes_pulled_to_sent,
                   MAX(minutes_pulled_to_sent) AS max_minutes_pulled_to_sent
            FROM v_escalations
            GROUP BY brand, rule_id, stage, pain_point
        """,
    }


def upgrade() -> None:
    op.add_column("journey_link_run", sa.Column("question", sa.Boolean(), nullable=True))
    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("subject_key", sa.String(200), nullable=False),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("mention_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("brand", sa.String(200), nullable=True),
        sa.Column("stage", sa.String(100), nullable=True),
        sa.Column("pain_point", sa.String(100), nullable=True),
        sa.Column("exit_type", sa.String(100), nullable=True),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("playbook_rule", sa.String(100), nullable=True),
        sa.Column("reply_language", sa.String(20), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=False), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=False), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=False), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'dead')", name="ck_escalation_status"),
        sa.ForeignKeyConstraint(["mention_id"], ["mention.id"], name="fk_escalation_mention_id_mention",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_escalation"),
        sa.UniqueConstraint("rule_id", "subject_key", "destination",
                            name="uq_escalation_rule_id_subject_key_destination"),
    )
    op.create_index("ix_escalation_status", "escalation", ["status"])
    op.create_index("ix_escalation_mention_id", "escalation", ["mention_id"])
    op.create_index("ix_escalation_rule_id_created_at", "escalation", ["rule_id", "created_at"])
    op.create_table(
        "escalation_watermark",
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("linked_until", sa.DateTime(timezone=False), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", name="pk_escalation_watermark"),
    )
    op.execute("DROP VIEW v_journey_facts")
    op.execute(f"CREATE VIEW v_journey_facts AS {JOURNEY_FACTS}")
    for name, sql in _escalation_views().items():
        op.execute(f"CREATE VIEW {name} AS {sql}")


def downgrade() -> None:
    for name in reversed(list(_escalation_views())):
        op.execute(f"DROP VIEW {name}")
    op.execute("DROP VIEW v_journey_facts")
    op.execute(f"CREATE VIEW v_journey_facts AS {JOURNEY_FACTS_0007}")
    op.drop_table("escalation_watermark")
    op.drop_index("ix_escalation_rule_id_created_at", table_name="escalation")
    op.drop_index("ix_escalation_mention_id", table_name="escalation")
    op.drop_index("ix_escalation_status", table_name="escalation")
    op.drop_table("escalation")
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of the table would break the views that read it.
    op.drop_column("journey_link_run", "question")
