"""The ``Store``: one database (SQLite or PostgreSQL) behind the methods the pipeline and DAGs call.

Every public method runs in its own transaction and maps SQLAlchemy errors to ``StorageError``;
callers pass and get kernel records or the frozen dataclasses of ``storage.records``, never ORM rows.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from journeypulse.errors import ConfigError, StorageError
from journeypulse.privacy import ErasureTarget, Pseudonymiser, scrub_quarantined
from journeypulse.record import Cursor, Mention, QuarantinedRow
from storage import cx, enrichment, facts, ingest, locks, views
from storage import migrate as migrations
from storage.escalation import EscalationLedger
from storage.records import (
    AlertRow,
    CoachingExampleRow,
    CoachingReviewRow,
    CorrectionRow,
    DailyStageCount,
    EnrichmentItem,
    ForgetReport,
    JourneyCorrectionRow,
    JourneyLinkRow,
    LanguageResult,
    LinkedMention,
    MentionText,
    QuarantineEntry,
    SentimentResult,
    Shard,
    StageSummary,
    UpsertReport,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_FUTURE_SKEW = timedelta(days=1)
"""Mentions dated further ahead of the storing clock than this are quarantined, not stored."""


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite; cascades depend on it
    cursor.execute("PRAGMA busy_timeout=30000")  # wait for a concurrent writer instead of failing at once
    cursor.close()


def _postgres_session(dbapi_connection: Any, _record: object) -> None:
    # psycopg prepares statements after 5 runs; PostgreSQL may then keep a generic plan made while the
    # table was small (a sequential scan for ``id IN (...)``), and ingest batches went from 0.13 s to 2.6 s by 50k rows.
    # Custom plans keep the prepared-statement savings and plan with the current statistics.
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.autocommit = autocommit


def _use_wal(engine: sa.Engine, attempts: int = 50) -> None:
    """Put a SQLite file in WAL mode, which lets readers (CLI, dashboards) run during a write.

    The switch needs a moment of exclusive access, and SQLite answers "database is locked" at once
    (no busy wait) while another connection, e.g. a parallel task migrating a fresh file, holds the
    database: retry briefly, and stop as soon as any connection has switched it (the mode persists).
    """
    for attempt in range(attempts):
        try:
            with engine.connect() as conn:
                if conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal":
                    return
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                return
        except sa.exc.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise StorageError(f"SQLite database {engine.url.database!r} could not switch to WAL: {exc}") from exc
            time.sleep(0.1)


def _create_private_file(path: Path) -> None:
    """Create an empty SQLite file readable by its owner only (it holds raw quarantine lines and texts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def create_engine(url: str) -> sa.Engine:
    """Engine for a SQLAlchemy URL; ``postgresql://`` means psycopg 3; a new SQLite file is created mode 0600.

    A URL that cannot be parsed or names an unsupported backend raises ``ConfigError`` naming
    ``storage.url``; the URL itself is never echoed (a malformed one may hold a password).
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigError("storage.url: not a valid database URL (expected e.g. sqlite:///data/jp.db or "
                          "postgresql+psycopg://user@host:5432/db)") from exc
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise ConfigError(f"storage.url: backend {backend!r} is not supported; use sqlite:///path or "
                          "postgresql+psycopg://user@host/db")
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True) if backend == "postgresql" else sa.create_engine(parsed)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigError(f"storage.url: driver {parsed.drivername!r} cannot be used "
                          f"({exc.__class__.__name__}); use postgresql+psycopg or sqlite") from exc
    if backend == "postgresql":
        sa.event.listen(engine, "connect", _postgres_session)
        return engine
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    if parsed.database and parsed.database != ":memory:":
        _create_private_file(Path(parsed.database).expanduser())
        _use_wal(engine)
    return engine


class Store:
    """Mentions, cursors, annotations and analyst views in one SQLite or PostgreSQL database."""

    def __init__(self, engine: sa.Engine, *, pseudonymise: Pseudonymiser | None = None,
                 max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW) -> None:
        self._engine = engine
        self.dialect: str = engine.dialect.name
        self._pseudonymise = pseudonymise
        self.max_future_skew = max_future_skew

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, pseudonymise: Pseudonymiser | None = None,
             max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW) -> Store:
        """Connect; with ``migrate`` bring the schema to the newest revision, else require it to be there.

        ``pseudonymise`` turns identity fields of quarantine payloads into pseudonyms (without it they
        are replaced by "[identity removed]"); ``max_future_skew`` bounds how far ahead of now a
        mention's ``created_at`` may be before it is quarantined.
        """
        engine = create_engine(url)
        safe_url = engine.url.render_as_string(hide_password=True)
        try:
            if migrate:
                migrations.upgrade(engine)
            else:
                migrations.require_head(engine)
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(
                f"database {safe_url} could not be opened or migrated: {exc.__class__.__name__}: "
                f"{getattr(exc, 'orig', exc)}; check the URL, that the server runs and the role's "
                "rights"
            ) from exc
        except StorageError:
            engine.dispose()
            raise
        return cls(engine, pseudonymise=pseudonymise, max_future_skew=max_future_skew)

    def check_schema(self) -> None:
        """Raise StorageError unless the database is at the newest revision and matches the models."""
        try:
            migrations.check_no_drift(self._engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"checking the schema failed on {self.dialect}: {getattr(exc, 'orig', exc)}") from exc

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def step_lock(self, step: str, scope: str = "", *, shard: Shard | None = None,
                  on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold ``step``'s lock for ``scope`` (e.g. a taxonomy revision) while the block runs.

        A concurrent run of the same step and scope waits; ``on_wait`` (default: a warning in the log) is
        told "another run holds the lock on ...". With ``shard`` (of more than one) the step's lock is shared
        with the other shards and the shard's own lock is exclusive: shards run in parallel, one shard never
        twice at once, and a whole-step run waits for every shard (and they for it). See storage/locks.py.
        """
        try:
            with locks.step_lock(self._engine, step, scope, on_wait or log.warning,
                                 shard=None if shard is None or shard.count == 1 else (shard.index, shard.count)):
                yield
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"the lock on step {step} could not be taken on {self.dialect}: "
                               f"{getattr(exc, 'orig', exc)}") from exc

    @property
    def escalations(self) -> EscalationLedger:
        """Escalation deliveries: candidates, claims, outcomes, watermarks (storage/escalation.py)."""
        return EscalationLedger(self._transaction)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sa.Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError as exc:
            raise StorageError(
                f"{what} was refused by the database ({exc.orig}); nothing was written. "
                "Check that the mention ids exist and the values fit the schema"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(
                f"{what} failed on {self.dialect} ({exc.__class__.__name__}: "
                f"{getattr(exc, 'orig', exc)}); nothing was written, retry the task"
            ) from exc

    # -- listener output -------------------------------------------------------------------------

    def store_batch(
        self,
        source: str,
        query: str,
        mentions: Sequence[Mention],
        quarantined: Sequence[QuarantinedRow],
        cursor: Cursor | None,
    ) -> UpsertReport:
        """In ONE transaction: upsert mentions, insert new quarantine rows, advance the cursor (unless None).

        Every quarantine row passes ``journeypulse.privacy.scrub_quarantined`` first (identity fields become
        pseudonyms); mentions dated more than ``max_future_skew`` ahead are quarantined instead of stored.
        """
        now = _now()
        with self._transaction(f"storing {len(mentions)} mentions from source {source!r}") as conn:
            report = ingest.store_batch(conn, source, query, mentions, quarantined, cursor, now,
                                        not_after=now + self.max_future_skew,
                                        scrub=lambda row: scrub_quarantined(row, self._pseudonymise))
        log.info(
            "source %s: %d inserted, %d updated, %d unchanged, %d quarantined (%d repeats)",
            source,
            report.inserted,
            report.updated,
            report.unchanged,
            report.quarantined,
            report.quarantine_repeats,
        )
        return report

    def get_cursor(self, source: str, query: str) -> Cursor | None:
        with self._transaction(f"reading the cursor of source {source!r}") as conn:
            return ingest.read_cursor(conn, source, query)

    def quarantine_rows(self, source: str | None = None, limit: int = 100, *,
                        reason: str | None = None) -> list[QuarantineEntry]:
        """Newest quarantined rows first, for review (``journeypulse quarantine list`` in the CLI)."""
        with self._transaction("reading quarantine rows") as conn:
            return ingest.read_quarantine(conn, source, limit, reason)

    def quarantine_counts(self, *, source: str | None = None, reason: str | None = None) -> list[tuple[str, str, int]]:
        """(source, reason, rows) per distinct reason, most rows first (``journeypulse quarantine count``)."""
        with self._transaction("counting quarantine rows") as conn:
            return ingest.count_quarantine(conn, source, reason)

    # -- annotations -----------------------------------------------------------------------------

    def mentions_without_language(self, limit: int) -> list[MentionText]:
        with self._transaction("listing mentions without language") as conn:
            return enrichment.without_language(conn, limit)

    def save_languages(self, rows: Sequence[LanguageResult]) -> int:
        with self._transaction(f"saving {len(rows)} languages") as conn:
            return enrichment.save_languages(conn, rows)

    def mentions_without_sentiment(
        self,
        model: str,
        revision: str,
        limit: int,
        *,
        brand: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        languages: Sequence[str] | None = None,
        after_id: str | None = None,
        shard: Shard | None = None,
    ) -> list[MentionText]:
        """Mentions with a language but no result from (model, revision), ordered by id, created in [since, until),
        of ``shard`` only when given."""
        with self._transaction(f"listing mentions not scored by {model}@{revision}") as conn:
            return enrichment.without_sentiment(
                conn,
                model,
                revision,
                limit,
                brand=brand,
                since=since,
                until=until,
                languages=languages,
                after_id=after_id,
                shard=shard,
            )

    def save_sentiments(self, rows: Sequence[SentimentResult]) -> int:
        """Upsert results; each becomes its mention's current one, older results stay (not current)."""
        with self._transaction(f"saving {len(rows)} sentiment results") as conn:
            return enrichment.save_sentiments(conn, rows)

    def mentions_to_enrich(
        self,
        model: str,
        revision: str,
        taxonomy_version: str,
        limit: int,
        *,
        skip_languages: Sequence[str] = (),
        brand: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: str | None = None,
        shard: Shard | None = None,
    ) -> list[EnrichmentItem]:
        """Mentions lacking the (model, revision) sentiment (those with a language not in ``skip_languages``)
        or a link run under ``taxonomy_version``, ordered by id, each saying which it lacks (of ``shard`` only)."""
        with self._transaction(f"listing mentions to enrich with {model}@{revision} and {taxonomy_version!r}") as conn:
            return enrichment.without_sentiment_or_links(
                conn, model, revision, taxonomy_version, limit, skip_languages=skip_languages, brand=brand,
                since=since, until=until, after_id=after_id, shard=shard,
            )

    def shards_to_enrich(
        self, model: str, revision: str, taxonomy_version: str, count: int, *,
        skip_languages: Sequence[str] = (), also_languages: Sequence[str] = (),
    ) -> list[int]:
        """Which of ``count`` shards hold work for ``mentions_to_enrich`` (or a mention in ``also_languages``)."""
        Shard(0, count)  # validates the count
        with self._transaction(f"finding which of {count} shards hold mentions to enrich") as conn:
            return enrichment.shards_to_enrich(conn, model, revision, taxonomy_version, count,
                                               skip_languages=skip_languages, also_languages=also_languages)

    def mentions_without_links(
        self,
        taxonomy_version: str,
        limit: int,
        *,
        brand: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: str | None = None,
        shard: Shard | None = None,
    ) -> list[MentionText]:
        with self._transaction(f"listing mentions not linked under taxonomy {taxonomy_version!r}") as conn:
            return enrichment.without_links(
                conn, taxonomy_version, limit, brand=brand, since=since, until=until, after_id=after_id, shard=shard
            )

    def save_journey_links(
        self, taxonomy_version: str, links_by_mention: Mapping[str, Sequence[JourneyLinkRow]],
        questions: Mapping[str, bool | None] | None = None,
    ) -> int:
        """Atomically replace these mentions' links for the version and mark them linked; returns links written.

        ``questions``: the journey heads' question answer per mention (None or absent: not predicted)."""
        with self._transaction(f"saving journey links of {len(links_by_mention)} mentions") as conn:
            return enrichment.save_links(conn, taxonomy_version, links_by_mention, _now(), questions)

    def reset_links(self, taxonomy_version: str, *, brand: str | None = None, since: datetime | None = None,
                    until: datetime | None = None) -> int:
        """Forget a version's links (optionally of one brand / period) so they are linked again; returns runs removed."""
        with self._transaction(f"resetting journey links of taxonomy {taxonomy_version!r}") as conn:
            return enrichment.reset_links(conn, taxonomy_version, brand=brand, since=since, until=until)

    # -- reading ---------------------------------------------------------------------------------

    def stage_summary(
        self, *, brand: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[StageSummary]:
        with self._transaction("summarising stages") as conn:
            return views.stage_summary(conn, brand=brand, since=since, until=until)

    def linked_mentions(
        self,
        *,
        brand: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        after_id: str | None = None,
    ) -> list[LinkedMention]:
        """Current journey links with mention text, author pseudonym and sentiment (for CX maps and coaching).

        Mentions created in [since, until), ordered by id; ``limit`` counts mentions (all their links are
        returned), ``after_id`` pages on. Mentions without links are not listed (see ``stage_summary``).
        """
        with self._transaction("reading linked mentions") as conn:
            return views.linked_mentions(conn, brand=brand, since=since, until=until, limit=limit, after_id=after_id)

    def refresh_summaries(self) -> int:
        """Rewrite the stored ``summary_daily_sentiment`` table from the live view; returns rows written."""
        with self._transaction("refreshing summary_daily_sentiment") as conn:
            return views.refresh_summaries(conn, _now())

    def counts(self) -> dict[str, int]:
        with self._transaction("counting rows") as conn:
            return views.counts(conn)

    def view_columns(self, view: str) -> list[str]:
        """The columns the database reports for a whitelisted view (``SELECT *``), in order."""
        stmt = views.view_probe(view)
        with self._transaction(f"describing view {view}") as conn:
            return list(conn.execute(stmt).keys())

    def query_view(
        self,
        view: str,
        *,
        filters: Mapping[str, object],
        limit: int | None,
        where: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[list[str], list[tuple[object, ...]]]:
        """Rows of a whitelisted view (see storage/VIEWS.md) with brand/source/language/stage/since/until filters.

        ``where`` maps further columns (``views.where_columns(view)``) to the values they may take.
        """
        stmt = views.view_query(view, filters, limit, dialect=self.dialect, where=where)
        with self._transaction(f"reading view {view}") as conn:
            result = conn.execute(stmt)
            return list(result.keys()), [tuple(row) for row in result]

    def aggregate_facts(self, query: facts.FactQuery) -> tuple[list[str], list[tuple[object, ...]]]:
        """Grouped counts, shares and top pain points / exit types over ``v_journey_facts`` (storage/facts.py)."""
        with self._transaction("aggregating v_journey_facts") as conn:
            return facts.aggregate_facts(conn, query, dialect=self.dialect)

    # -- CX: coaching library, corrections, alerts, privacy (see storage/cx.py) ---------------------

    def mention_period(self, *, brand: str | None = None) -> tuple[datetime, datetime] | None:
        """Earliest and latest ``created_at`` of the (brand's) mentions; None when there are none."""
        with self._transaction("reading the mention period") as conn:
            return cx.mention_days(conn, brand)

    def save_coaching_examples(self, rows: Sequence[CoachingExampleRow]) -> int:
        """Upsert redacted examples into the coaching library by (mention, stage); reviews are kept."""
        with self._transaction(f"saving {len(rows)} coaching examples") as conn:
            return cx.save_examples(conn, rows)

    def coaching_examples(
        self, *, mention_ids: Sequence[str] | None = None, stage: str | None = None
    ) -> list[CoachingExampleRow]:
        with self._transaction("reading coaching examples") as conn:
            return cx.read_examples(conn, mention_ids=mention_ids, stage=stage)

    def add_coaching_review(self, review: CoachingReviewRow) -> CoachingReviewRow:
        """Append a review of one (mention, stage) example and return it with its stage (``stage=None``: the
        mention's only stage); a relabel also appends a ``sentiment_correction`` row, in the same transaction."""
        with self._transaction(f"saving the review of coaching example {review.mention_id}") as conn:
            return cx.add_review(conn, review)

    def coaching_reviews(self) -> list[CoachingReviewRow]:
        with self._transaction("reading coaching reviews") as conn:
            return cx.read_reviews(conn)

    def add_sentiment_correction(self, row: CorrectionRow) -> None:
        with self._transaction(f"saving a sentiment correction of mention {row.mention_id}") as conn:
            cx.add_correction(conn, row)

    def sentiment_corrections(self) -> list[CorrectionRow]:
        with self._transaction("reading sentiment corrections") as conn:
            return cx.read_corrections(conn)

    def add_journey_correction(self, row: JourneyCorrectionRow, stages: Sequence[str] | None = None) -> None:
        """Append a human stage / exit-signal correction (``stages``: the taxonomy's, to validate the stage)."""
        with self._transaction(f"saving a journey correction of mention {row.mention_id}") as conn:
            cx.add_journey_correction(conn, row, stages)

    def journey_corrections(self) -> list[JourneyCorrectionRow]:
        """Every journey correction, oldest first (the last one per mention counts)."""
        with self._transaction("reading journey corrections") as conn:
            return cx.read_journey_corrections(conn)

    def mention_texts(self, mention_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """Text and identified language per stored mention id (for corrections, which store only the label)."""
        with self._transaction("reading mention texts") as conn:
            return cx.mention_texts(conn, mention_ids)

    def daily_stage_counts(self, *, since: date, until: date) -> list[DailyStageCount]:
        """Per brand, stage and UTC day in [since, until]: scored mentions, negatives and pain-point counts."""
        with self._transaction("reading daily stage counts") as conn:
            return cx.daily_stage_counts(conn, since=since, until=until)

    def save_alerts(self, rows: Sequence[AlertRow]) -> list[str]:
        """Insert alerts whose key is new; returns those keys (a re-check of the same day adds nothing)."""
        with self._transaction(f"saving {len(rows)} alerts") as conn:
            return cx.save_alerts(conn, rows)

    def alerts(self, *, unposted_only: bool = False) -> list[AlertRow]:
        with self._transaction("reading alerts") as conn:
            return cx.read_alerts(conn, unposted_only=unposted_only)

    def mark_alerts_posted(self, keys: Sequence[str]) -> int:
        with self._transaction(f"marking {len(keys)} alerts posted") as conn:
            return cx.mark_posted(conn, keys, _now())

    def forget(self, target: ErasureTarget) -> ForgetReport:
        """Erase one person (see ``storage.cx.forget``) and rebuild the summary tables, in one transaction.

        On SQLite the deleted pages are overwritten (``secure_delete``) and the WAL is checkpointed, so
        the erased rows do not linger in the file.
        """
        if not target.pseudonyms:
            raise StorageError("forget: nothing to forget (no pseudonym given)")
        with self._transaction("forgetting a person") as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            report = cx.forget(conn, sorted(target.pseudonyms), sorted(target.raw), _now())
            rows = views.refresh_summaries(conn, _now())
        if self.dialect == "sqlite":
            with self._transaction("checkpointing the SQLite log after forgetting") as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        log.info("forgot a person: %d mentions removed", report.mentions)
        return dataclasses.replace(report, summary_rows=rows)

    def forget_author(self, author: str) -> ForgetReport:
        """Delete the author's mentions with everything derived from or carrying the pseudonym; refresh summaries."""
        if not author:
            raise StorageError("forget author: the pseudonym is empty")
        return self.forget(ErasureTarget(frozenset({author}), frozenset()))
