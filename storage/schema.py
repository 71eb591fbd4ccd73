"""Tables as typed SQLAlchemy declarative models; the Alembic migrations create them.

Timestamps are stored as UTC without a zone on both dialects (so ``date(created_at)`` means the
UTC day everywhere) and come back timezone-aware. JSON is JSONB on PostgreSQL, JSON text on SQLite.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from journeypulse.record import JsonScalar

QUARANTINE_PAYLOAD_MAX_BYTES = 64 * 1024
"""Quarantine payloads are cut to this many UTF-8 bytes; ``payload_bytes`` keeps the full size."""


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware datetime in, stored as naive UTC, aware UTC out. Naive input is refused."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: pass a timezone-aware value")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JsonType = sa.JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class DbMention(Base):
    """One stored mention (all ``Mention`` fields) plus its identified language."""

    __tablename__ = "mention"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(200))
    source_kind: Mapped[str] = mapped_column(sa.String(50))
    native_id: Mapped[str] = mapped_column(sa.String(500))
    url: Mapped[str | None] = mapped_column(sa.Text)
    author: Mapped[str | None] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(sa.String(100))
    brand: Mapped[str | None] = mapped_column(sa.String(200))
    matched_terms: Mapped[list[str]] = mapped_column(JsonType)
    language_hint: Mapped[str | None] = mapped_column(sa.String(20))
    content_hash: Mapped[str] = mapped_column(sa.String(32))
    meta: Mapped[dict[str, JsonScalar]] = mapped_column("metadata", JsonType)
    language: Mapped[str | None] = mapped_column(sa.String(20))
    language_confidence: Mapped[float | None] = mapped_column(sa.Float)
    language_method: Mapped[str | None] = mapped_column(sa.String(50))
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # storage.ingest.shard_key(id), set at ingest: enrichment shard = shard_key % shard count. The server
    # default only filled rows while migration 0010 ran; a row written without a key would land in shard 0.
    shard_key: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("0"))

    __table_args__ = (
        sa.Index("ix_mention_brand_created_at", "brand", "created_at"),
        sa.Index("ix_mention_created_at", "created_at"),
        sa.Index("ix_mention_content_hash", "content_hash"),
        sa.Index("ix_mention_language", "language"),
    )


class DbSourceCursor(Base):
    """Resume point of one (source, query); advanced in the same transaction as the batch."""

    __tablename__ = "source_cursor"

    source: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    query: Mapped[str] = mapped_column(sa.String(1000), primary_key=True)
    cursor: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DbSentiment(Base):
    """One model revision's sentiment for a mention; at most one row per mention is current."""

    __tablename__ = "sentiment"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    mention_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("mention.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(sa.String(300))
    revision: Mapped[str] = mapped_column(sa.String(100))
    backend: Mapped[str] = mapped_column(sa.String(50))
    label: Mapped[str] = mapped_column(sa.String(10))
    p_negative: Mapped[float] = mapped_column(sa.Float)
    p_neutral: Mapped[float] = mapped_column(sa.Float)
    p_positive: Mapped[float] = mapped_column(sa.Float)
    confidence: Mapped[float] = mapped_column(sa.Float)
    needs_review: Mapped[bool] = mapped_column(sa.Boolean)
    is_current: Mapped[bool] = mapped_column(sa.Boolean)
    classified_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("mention_id", "model", "revision"),
        sa.Index(
            "uq_sentiment_current_mention",
            "mention_id",
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        ),
        sa.Index("ix_sentiment_model_revision", "model", "revision"),
    )


class DbJourneyLinkRun(Base):
    """Marks a mention as linked under a taxonomy version, even with zero links; one run is current."""

    __tablename__ = "journey_link_run"

    mention_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("mention.id", ondelete="CASCADE"), primary_key=True
    )
    taxonomy_version: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_current: Mapped[bool] = mapped_column(sa.Boolean)
    question: Mapped[bool | None] = mapped_column(sa.Boolean)  # the journey heads' answer; None: not predicted

    __table_args__ = (
        sa.Index("ix_journey_link_run_version", "taxonomy_version"),
        sa.Index(
            "uq_journey_link_run_current_mention",
            "mention_id",
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        ),
    )


class DbJourneyLink(Base):
    """One link of a mention to a stage (with touchpoint, pain point, exit signal) under a version."""

    __tablename__ = "journey_link"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    mention_id: Mapped[str] = mapped_column(sa.String(32))
    taxonomy_version: Mapped[str] = mapped_column(sa.String(50))
    stage: Mapped[str] = mapped_column(sa.String(100))
    touchpoint: Mapped[str | None] = mapped_column(sa.String(100))
    pain_point: Mapped[str | None] = mapped_column(sa.String(100))
    exit_signal: Mapped[str | None] = mapped_column(sa.String(100))
    method: Mapped[str] = mapped_column(sa.String(50))
    confidence: Mapped[float] = mapped_column(sa.Float)
    needs_review: Mapped[bool] = mapped_column(sa.Boolean)

    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["mention_id", "taxonomy_version"],
            ["journey_link_run.mention_id", "journey_link_run.taxonomy_version"],
            ondelete="CASCADE",
        ),
        sa.Index("ix_journey_link_mention_version", "mention_id", "taxonomy_version"),
        sa.Index("ix_journey_link_stage_pain_point", "stage", "pain_point"),
    )


class DbQuarantine(Base):
    """A row a listener could not parse; id = hash(source, locator, full payload) so repeats dedupe."""

    __tablename__ = "quarantine"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(200))
    locator: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[str] = mapped_column(sa.Text)
    payload_bytes: Mapped[int] = mapped_column(sa.Integer)
    payload_truncated: Mapped[bool] = mapped_column(sa.Boolean)
    quarantined_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_quarantine_source_quarantined_at", "source", "quarantined_at"),)


class DbDailySentimentSummary(Base):
    """A stored copy of ``v_daily_sentiment`` for dashboards, rewritten by ``Store.refresh_summaries``."""

    __tablename__ = "summary_daily_sentiment"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(sa.Date)
    brand: Mapped[str | None] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str | None] = mapped_column(sa.String(100))
    language: Mapped[str | None] = mapped_column(sa.String(20))
    stage: Mapped[str] = mapped_column(sa.String(100))
    mentions: Mapped[int] = mapped_column(sa.Integer)
    positive: Mapped[int] = mapped_column(sa.Integer)
    neutral: Mapped[int] = mapped_column(sa.Integer)
    negative: Mapped[int] = mapped_column(sa.Integer)
    positive_share: Mapped[float] = mapped_column(sa.Float)
    neutral_share: Mapped[float] = mapped_column(sa.Float)
    negative_share: Mapped[float] = mapped_column(sa.Float)
    net_sentiment: Mapped[float] = mapped_column(sa.Float)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_summary_daily_sentiment_brand_day", "brand", "day"),)


class DbStagePainPointSummary(Base):
    """A stored copy of ``v_stage_pain_points`` (pain points per brand and stage), rewritten with the summaries."""

    __tablename__ = "summary_stage_pain_points"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    brand: Mapped[str | None] = mapped_column(sa.String(200))
    stage: Mapped[str] = mapped_column(sa.String(100))
    pain_point: Mapped[str] = mapped_column(sa.String(100))
    mentions: Mapped[int] = mapped_column(sa.Integer)
    scored: Mapped[int] = mapped_column(sa.Integer)
    negative_share: Mapped[float | None] = mapped_column(sa.Float)
    authors: Mapped[int] = mapped_column(sa.Integer)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_summary_stage_pain_points_brand_stage", "brand", "stage"),)


class DbCoachingExample(Base):
    """A mention in the coaching library under one stage: its redacted text, why it was picked, how to handle it.

    Keyed by (mention, stage): pulling the same mention under another stage adds a row and never
    moves one that was reviewed.
    """

    __tablename__ = "coaching_example"

    mention_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("mention.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    text: Mapped[str] = mapped_column(sa.Text)  # redacted; the raw text stays in ``mention``
    language: Mapped[str | None] = mapped_column(sa.String(20))
    pain_point: Mapped[str | None] = mapped_column(sa.String(100))
    channel: Mapped[str | None] = mapped_column(sa.String(100))
    sentiment: Mapped[str] = mapped_column(sa.String(10))
    confidence: Mapped[float] = mapped_column(sa.Float)
    source: Mapped[str] = mapped_column(sa.String(200))
    content_hash: Mapped[str] = mapped_column(sa.String(32))
    redactions: Mapped[int] = mapped_column(sa.Integer)
    selected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    exit_signal: Mapped[str | None] = mapped_column(sa.String(100))
    score: Mapped[float] = mapped_column(sa.Float)
    reason: Mapped[str] = mapped_column(sa.Text)
    playbook_rule: Mapped[str] = mapped_column(sa.String(100))
    suggested_action: Mapped[str] = mapped_column(sa.Text)
    suggested_reply: Mapped[str] = mapped_column(sa.Text)

    __table_args__ = (sa.Index("ix_coaching_example_stage_pain_point", "stage", "pain_point"),)


class DbCoachingReview(Base):
    """One reviewer decision on a coaching example (a mention under a stage); the latest per example counts."""

    __tablename__ = "coaching_review"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    mention_id: Mapped[str] = mapped_column(sa.String(32))
    stage: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(10))
    new_label: Mapped[str | None] = mapped_column(sa.String(10))
    reviewer: Mapped[str] = mapped_column(sa.String(200))
    note: Mapped[str] = mapped_column(sa.Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.ForeignKeyConstraint(["mention_id", "stage"], ["coaching_example.mention_id", "coaching_example.stage"],
                                ondelete="CASCADE"),
        sa.Index("ix_coaching_review_mention_id_stage", "mention_id", "stage"),
    )


class DbSentimentCorrection(Base):
    """A human sentiment label for a mention (coach review relabel or ``journeypulse label``), for training."""

    __tablename__ = "sentiment_correction"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    mention_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("mention.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(sa.String(10))
    source: Mapped[str] = mapped_column(sa.String(50))  # 'coach_review' or 'manual'
    reviewer: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_sentiment_correction_mention_id", "mention_id"),)


class DbJourneyCorrection(Base):
    """A human correction of a mention's primary stage and/or exit signal (``label``, ``coach review``)."""

    __tablename__ = "journey_correction"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    mention_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("mention.id", ondelete="CASCADE"))
    stage: Mapped[str | None] = mapped_column(sa.String(100))
    exit_signal: Mapped[bool | None] = mapped_column(sa.Boolean)
    exit_type: Mapped[str | None] = mapped_column(sa.String(100))
    source: Mapped[str] = mapped_column(sa.String(50))  # 'coach_review' or 'manual'
    reviewer: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_journey_correction_mention_id", "mention_id"),)


class DbErasureSuppression(Base):
    """A pseudonym erased with ``forget-author``: mentions arriving later under it are dropped at ingest.

    Holds only the keyed pseudonym (never a handle) and when it was erased, so an erased person is not
    pulled back in by the next run, an overlap window or a backfill."""

    __tablename__ = "erasure_suppression"

    pseudonym: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DbAlert(Base):
    """A raised alert; ``key`` = hash(rule, brand, stage, day, pain point), so a re-check adds nothing."""

    __tablename__ = "alert"

    key: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(50))
    brand: Mapped[str] = mapped_column(sa.String(200))
    stage: Mapped[str] = mapped_column(sa.String(100))
    day: Mapped[date] = mapped_column(sa.Date)
    pain_point: Mapped[str | None] = mapped_column(sa.String(100))
    value: Mapped[float] = mapped_column(sa.Float)
    baseline: Mapped[float] = mapped_column(sa.Float)
    message: Mapped[str] = mapped_column(sa.Text)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_alert_brand_day", "brand", "day"),)


ESCALATION_STATUSES = ("pending", "sent", "failed", "dead")


class DbEscalation(Base):
    """One delivery of a rule's subject (a mention, or a volume group) to one destination; claimed once.

    The row is inserted (``pending``) before the message is sent, so the unique (rule, subject,
    destination) makes every delivery happen once; it holds no message text, payload or secret.
    """

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(sa.String(64))
    subject_key: Mapped[str] = mapped_column(sa.String(200))  # the mention id, or volume:<brand>:<time>
    destination: Mapped[str] = mapped_column(sa.String(100))
    mention_id: Mapped[str | None] = mapped_column(
        sa.String(32), sa.ForeignKey("mention.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(sa.String(10))
    priority: Mapped[str] = mapped_column(sa.String(10))
    idempotency_key: Mapped[str] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    runs: Mapped[int] = mapped_column(sa.Integer)
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    brand: Mapped[str | None] = mapped_column(sa.String(200))
    stage: Mapped[str | None] = mapped_column(sa.String(100))
    pain_point: Mapped[str | None] = mapped_column(sa.String(100))
    exit_type: Mapped[str | None] = mapped_column(sa.String(100))
    mentions: Mapped[int] = mapped_column(sa.Integer)
    playbook_rule: Mapped[str | None] = mapped_column(sa.String(100))
    reply_language: Mapped[str | None] = mapped_column(sa.String(20))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pulled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("rule_id", "subject_key", "destination"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'dead')", name="status"),
        sa.Index("ix_escalation_status", "status"),
        sa.Index("ix_escalation_mention_id", "mention_id"),
        sa.Index("ix_escalation_rule_id_created_at", "rule_id", "created_at"),
    )


class DbEscalationWatermark(Base):
    """Per rule: mentions linked before ``linked_until`` have been evaluated (the next run re-reads an overlap)."""

    __tablename__ = "escalation_watermark"

    rule_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    linked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


mention_table = Base.metadata.tables["mention"]
cursor_table = Base.metadata.tables["source_cursor"]
sentiment_table = Base.metadata.tables["sentiment"]
link_run_table = Base.metadata.tables["journey_link_run"]
link_table = Base.metadata.tables["journey_link"]
quarantine_table = Base.metadata.tables["quarantine"]
summary_daily_table = Base.metadata.tables["summary_daily_sentiment"]
coaching_example_table = Base.metadata.tables["coaching_example"]
coaching_review_table = Base.metadata.tables["coaching_review"]
correction_table = Base.metadata.tables["sentiment_correction"]
journey_correction_table = Base.metadata.tables["journey_correction"]
alert_table = Base.metadata.tables["alert"]
suppression_table = Base.metadata.tables["erasure_suppression"]
summary_pain_table = Base.metadata.tables["summary_stage_pain_points"]
escalation_table = Base.metadata.tables["escalation"]
watermark_table = Base.metadata.tables["escalation_watermark"]
