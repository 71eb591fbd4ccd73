"""Initial schema: mentions, cursors, sentiment, journey links, quarantine, and the analyst views.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Views use one SQL text for SQLite and PostgreSQL (``date(ts)``, ``CAST(... AS DOUBLE PRECISION)``,
boolean columns tested bare). They are documented column by column in storage/VIEWS.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=False)  # naive UTC; storage.schema.UTCDateTime converts at the edge


def _share(expr: str) -> str:
    return f"CAST(SUM(CASE WHEN {expr} THEN 1 ELSE 0 END) AS DOUBLE PRECISION) / COUNT(*)"


VIEWS: dict[str, str] = {
    "v_current_journey_link": """
        SELECT l.mention_id, l.taxonomy_version, l.stage, l.touchpoint, l.pain_point, l.exit_signal,
               l.method, l.confidence, l.needs_review, r.linked_at
        FROM journey_link l
        JOIN journey_link_run r ON r.mention_id = l.mention_id AND r.taxonomy_version = l.taxonomy_version
        WHERE r.is_current
    """,
    "v_mention_sentiment": """
        SELECT m.id AS mention_id, m.source, m.source_kind, m.channel, m.brand, m.author, m.url, m.text,
               m.created_at, date(m.created_at) AS day, m.content_hash,
               m.language, m.language_confidence, m.language_method,
               s.label, s.p_negative, s.p_neutral, s.p_positive, s.confidence, s.needs_review,
               s.model, s.revision, s.backend, s.classified_at
        FROM mention m
        LEFT JOIN sentiment s ON s.mention_id = m.id AND s.is_current
    """,
    "v_daily_sentiment": f"""
        WITH scored AS (
            SELECT ms.mention_id, ms.day, ms.brand, ms.source, ms.channel, ms.language, ms.label,
                   COALESCE(st.stage, 'unlinked') AS stage
            FROM v_mention_sentiment ms
            LEFT JOIN (SELECT DISTINCT mention_id, stage FROM v_current_journey_link) st
                   ON st.mention_id = ms.mention_id
            WHERE ms.label IS NOT NULL
        )
        SELECT day, brand, source, channel, language, stage,
               COUNT(*) AS mentions,
               SUM(CASE WHEN label = 'positive' THEN 1 ELSE 0 END) AS positive,
               SUM(CASE WHEN label = 'neutral' THEN 1 ELSE 0 END) AS neutral,
               SUM(CASE WHEN label = 'negative' THEN 1 ELSE 0 END) AS negative,
               {_share("label = 'positive'")} AS positive_share,
               {_share("label = 'neutral'")} AS neutral_share,
               {_share("label = 'negative'")} AS negative_share,
               CAST(SUM(CASE WHEN label = 'positive' THEN 1 WHEN label = 'negative' THEN -1 ELSE 0 END)
                    AS DOUBLE PRECISION) / COUNT(*) AS net_sentiment
        FROM scored
        GROUP BY day, brand, source, channel, language, stage
    """,
    "v_stage_pain_points": """
        WITH pain AS (
            SELECT DISTINCT mention_id, stage, pain_point
            FROM v_current_journey_link
            WHERE pain_point IS NOT NULL
        )
        SELECT ms.brand, p.stage, p.pain_point,
               COUNT(*) AS mentions,
               COUNT(ms.label) AS scored,
               CAST(SUM(CASE WHEN ms.label = 'negative' THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
                    / NULLIF(COUNT(ms.label), 0) AS negative_share,
               COUNT(DISTINCT ms.author) AS authors,
               MIN(ms.created_at) AS first_seen,
               MAX(ms.created_at) AS last_seen
        FROM pain p
        JOIN v_mention_sentiment ms ON ms.mention_id = p.mention_id
        GROUP BY ms.brand, p.stage, p.pain_point
    """,
    "v_exit_signals": """
        SELECT l.mention_id, ms.brand, ms.source, ms.channel, ms.created_at, ms.day, ms.language,
               l.stage, l.exit_signal, l.touchpoint, l.pain_point, l.confidence AS link_confidence,
               l.needs_review AS link_needs_review, ms.label, ms.confidence AS sentiment_confidence,
               ms.author, ms.url, ms.text
        FROM v_current_journey_link l
        JOIN v_mention_sentiment ms ON ms.mention_id = l.mention_id
        WHERE l.exit_signal IS NOT NULL
    """,
    "v_content_duplicates": """
        WITH shared AS (
            SELECT content_hash, COUNT(*) AS mentions, COUNT(DISTINCT source) AS sources
            FROM mention
            GROUP BY content_hash
            HAVING COUNT(DISTINCT source) > 1
        )
        SELECT sh.content_hash, sh.mentions, sh.sources, m.id AS mention_id, m.source, m.source_kind,
               m.brand, m.channel, m.created_at, date(m.created_at) AS day, m.url
        FROM shared sh
        JOIN mention m ON m.content_hash = sh.content_hash
    """,
}


def upgrade() -> None:
    op.create_table(
        "mention",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_kind", sa.String(50), nullable=False),
        sa.Column("native_id", sa.String(500), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("fetched_at", _TS, nullable=False),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("brand", sa.String(200), nullable=True),
        sa.Column("matched_terms", _JSON, nullable=False),
        sa.Column("language_hint", sa.String(20), nullable=True),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("language", sa.String(20), nullable=True),
        sa.Column("language_confidence", sa.Float(), nullable=True),
        sa.Column("language_method", sa.String(50), nullable=True),
        sa.Column("stored_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mention"),
    )
    op.create_index("ix_mention_brand_created_at", "mention", ["brand", "created_at"])
    op.create_index("ix_mention_content_hash", "mention", ["content_hash"])
    op.create_index("ix_mention_created_at", "mention", ["created_at"])
    op.create_index("ix_mention_language", "mention", ["language"])

    op.create_table(
        "quarantine",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("locator", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("payload_truncated", sa.Boolean(), nullable=False),
        sa.Column("quarantined_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
    )
    op.create_index("ix_quarantine_source_quarantined_at", "quarantine", ["source", "quarantined_at"])

    op.create_table(
        "source_cursor",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("query", sa.String(1000), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "query", name="pk_source_cursor"),
    )

    op.create_table(
        "journey_link_run",
        sa.Column("mention_id", sa.String(32), nullable=False),
        sa.Column("taxonomy_version", sa.String(50), nullable=False),
        sa.Column("linked_at", _TS, nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"], ["mention.id"], name="fk_journey_link_run_mention_id_mention", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("mention_id", "taxonomy_version", name="pk_journey_link_run"),
    )
    op.create_index("ix_journey_link_run_version", "journey_link_run", ["taxonomy_version"])
    op.create_index(
        "uq_journey_link_run_current_mention",
        "journey_link_run",
        ["mention_id"],
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )

    op.create_table(
        "sentiment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("revision", sa.String(100), nullable=False),
        sa.Column("backend", sa.String(50), nullable=False),
        sa.Column("label", sa.String(10), nullable=False),
        sa.Column("p_negative", sa.Float(), nullable=False),
        sa.Column("p_neutral", sa.Float(), nullable=False),
        sa.Column("p_positive", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("classified_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"], ["mention.id"], name="fk_sentiment_mention_id_mention", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sentiment"),
        sa.UniqueConstraint("mention_id", "model", "revision", name="uq_sentiment_mention_id_model_revision"),
    )
    op.create_index("ix_sentiment_model_revision", "sentiment", ["model", "revision"])
    op.create_index(
        "uq_sentiment_current_mention",
        "sentiment",
        ["mention_id"],
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )

    op.create_table(
        "journey_link",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.String(32), nullable=False),
        sa.Column("taxonomy_version", sa.String(50), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("touchpoint", sa.String(100), nullable=True),
        sa.Column("pain_point", sa.String(100), nullable=True),
        sa.Column("exit_signal", sa.String(100), nullable=True),
        sa.Column("method", sa.String(50), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id", "taxonomy_version"],
            ["journey_link_run.mention_id", "journey_link_run.taxonomy_version"],
            name="fk_journey_link_mention_id_journey_link_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_journey_link"),
    )
    op.create_index("ix_journey_link_mention_version", "journey_link", ["mention_id", "taxonomy_version"])
    op.create_index("ix_journey_link_stage_pain_point", "journey_link", ["stage", "pain_point"])

    for name, body in VIEWS.items():  # dict order: each view only uses views defined before it
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {name}")
    for table in ("journey_link", "sentiment", "journey_link_run", "source_cursor", "quarantine", "mention"):
        op.drop_table(table)
