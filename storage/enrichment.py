"""Annotations on stored mentions: language, sentiment per model revision, journey links per taxonomy.

Work queues (``*_without_*``) are keyset-paged by mention id and may be limited to one ``Shard`` (the
mentions whose ``shard_key`` is the shard's index modulo the shard count: for one count the shards are
disjoint and cover every mention). Saving sentiment keeps older results for comparison and moves
``is_current``; saving links replaces that taxonomy version's links.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from journeypulse.errors import StorageError
from storage.ingest import chunks, dialect_insert
from storage.locks import xact_lock
from storage.records import (
    SENTIMENT_LABELS,
    EnrichmentItem,
    JourneyLinkRow,
    LanguageResult,
    MentionText,
    SentimentResult,
    Shard,
)
from storage.schema import link_run_table, link_table, mention_table, sentiment_table

_M = mention_table.c
_TEXT_COLUMNS = (_M.id, _M.text, _M.language, _M.language_hint, _M.channel, _M.source_kind, _M.brand, _M.created_at)


def in_shard(shard: Shard) -> sa.ColumnElement[bool]:
    """The mentions of ``shard`` (the same modulo on SQLite and PostgreSQL: the key is never negative)."""
    return (_M.shard_key % shard.count) == shard.index


def _window(
    stmt: sa.Select[Any], brand: str | None, since: datetime | None, until: datetime | None, after_id: str | None,
    shard: Shard | None = None,
) -> sa.Select[Any]:
    """Filters shared by the work queues: brand, created_at in [since, until), id > after_id, the shard."""
    if shard is not None and shard.count > 1:
        stmt = stmt.where(in_shard(shard))
    if brand is not None:
        stmt = stmt.where(_M.brand == brand)
    if since is not None:
        stmt = stmt.where(_M.created_at >= since)
    if until is not None:
        stmt = stmt.where(_M.created_at < until)
    if after_id is not None:
        stmt = stmt.where(_M.id > after_id)
    return stmt


def _texts(conn: sa.Connection, stmt: sa.Select[Any], limit: int) -> list[MentionText]:
    if limit <= 0:
        raise StorageError(f"work-queue limit must be a positive number of mentions, got {limit}")
    return [MentionText(*row) for row in conn.execute(stmt.order_by(_M.id).limit(limit))]


def without_language(conn: sa.Connection, limit: int) -> list[MentionText]:
    return _texts(conn, sa.select(*_TEXT_COLUMNS).where(_M.language.is_(None)), limit)


def without_sentiment(
    conn: sa.Connection,
    model: str,
    revision: str,
    limit: int,
    *,
    brand: str | None,
    since: datetime | None,
    until: datetime | None,
    languages: Sequence[str] | None,
    after_id: str | None,
    shard: Shard | None = None,
) -> list[MentionText]:
    s = sentiment_table.c
    scored = sa.select(s.id).where(s.mention_id == _M.id, s.model == model, s.revision == revision)
    stmt = sa.select(*_TEXT_COLUMNS).where(_M.language.is_not(None), ~scored.exists())
    if languages is not None:
        stmt = stmt.where(_M.language.in_(list(languages)))
    return _texts(conn, _window(stmt, brand, since, until, after_id, shard), limit)


def without_links(
    conn: sa.Connection,
    taxonomy_version: str,
    limit: int,
    *,
    brand: str | None,
    since: datetime | None,
    until: datetime | None,
    after_id: str | None,
    shard: Shard | None = None,
) -> list[MentionText]:
    r = link_run_table.c
    linked = sa.select(r.mention_id).where(r.mention_id == _M.id, r.taxonomy_version == taxonomy_version)
    stmt = sa.select(*_TEXT_COLUMNS).where(~linked.exists())
    return _texts(conn, _window(stmt, brand, since, until, after_id, shard), limit)


def _enrich_condition(
    model: str, revision: str, taxonomy_version: str, skip_languages: Sequence[str]
) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """(needs the (model, revision) sentiment, needs a link run under ``taxonomy_version``) of a mention row."""
    s, r = sentiment_table.c, link_run_table.c
    scored = sa.select(s.id).where(s.mention_id == _M.id, s.model == model, s.revision == revision).exists()
    linked = sa.select(r.mention_id).where(r.mention_id == _M.id, r.taxonomy_version == taxonomy_version).exists()
    scorable: sa.ColumnElement[bool] = _M.language.is_not(None)
    if skip_languages:
        scorable = sa.and_(scorable, _M.language.not_in(list(skip_languages)))
    return sa.and_(scorable, ~scored), ~linked


def without_sentiment_or_links(
    conn: sa.Connection,
    model: str,
    revision: str,
    taxonomy_version: str,
    limit: int,
    *,
    skip_languages: Sequence[str],
    brand: str | None,
    since: datetime | None,
    until: datetime | None,
    after_id: str | None,
    shard: Shard | None = None,
) -> list[EnrichmentItem]:
    """Mentions lacking the (model, revision) sentiment result (only those with a language outside
    ``skip_languages``) or any run under ``taxonomy_version``, ordered by id, with which of the two they lack."""
    if limit <= 0:
        raise StorageError(f"work-queue limit must be a positive number of mentions, got {limit}")
    needs_sentiment, needs_links = _enrich_condition(model, revision, taxonomy_version, skip_languages)
    stmt = sa.select(*_TEXT_COLUMNS, needs_sentiment.label("needs_sentiment"), needs_links.label("needs_links"))
    stmt = _window(stmt.where(sa.or_(needs_sentiment, needs_links)), brand, since, until, after_id, shard)
    return [EnrichmentItem(MentionText(*row[:8]), bool(row[8]), bool(row[9]))
            for row in conn.execute(stmt.order_by(_M.id).limit(limit))]


def shards_to_enrich(
    conn: sa.Connection,
    model: str,
    revision: str,
    taxonomy_version: str,
    count: int,
    *,
    skip_languages: Sequence[str],
    also_languages: Sequence[str],
) -> list[int]:
    """The indexes of the shards (of ``count``) holding a mention ``without_sentiment_or_links`` would return,
    or one in ``also_languages`` (languages routed to other models, whose results are not checked here)."""
    needs_sentiment, needs_links = _enrich_condition(model, revision, taxonomy_version, skip_languages)
    work = sa.or_(needs_sentiment, needs_links)
    if also_languages:
        work = sa.or_(work, _M.language.in_(list(also_languages)))
    shard = (_M.shard_key % count).label("shard")
    return sorted(int(value) for value in conn.execute(sa.select(shard).where(work).distinct()).scalars())


def _check_unit(what: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise StorageError(f"{what} is {value!r}: it must be a number between 0 and 1")


def _check_aware(what: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(f"{what} is naive ({value.isoformat()}): pass a timezone-aware time (UTC)")


def save_languages(conn: sa.Connection, rows: Sequence[LanguageResult]) -> int:
    """Set each mention's language; returns how many stored mentions were updated."""
    for row in rows:
        if not row.language or len(row.language) > 20 or not row.method:
            raise StorageError(
                f"language result for mention {row.mention_id}: language {row.language!r} and method "
                f"{row.method!r} must be non-empty (language at most 20 chars; use 'und' if unknown)"
            )
        _check_unit(f"language confidence of mention {row.mention_id}", row.confidence)
    if not rows:
        return 0
    stmt = (
        mention_table.update()
        .where(_M.id == sa.bindparam("b_id"))
        .values(
            language=sa.bindparam("b_language"),
            language_confidence=sa.bindparam("b_confidence"),
            language_method=sa.bindparam("b_method"),
        )
    )
    params = [
        {"b_id": r.mention_id, "b_language": r.language, "b_confidence": float(r.confidence), "b_method": r.method}
        for r in rows
    ]
    return int(conn.execute(stmt, params).rowcount)


def _check_sentiment(row: SentimentResult) -> None:
    where = f"sentiment of mention {row.mention_id} by {row.model}"
    if row.label not in SENTIMENT_LABELS:
        raise StorageError(
            f"{where}: label {row.label!r} is not one of {', '.join(SENTIMENT_LABELS)}; "
            "map the model's labels before saving"
        )
    if not row.model or not row.revision or not row.backend:
        raise StorageError(
            f"{where}: model, revision and backend must be non-empty (revision "
            f"{row.revision!r}); record the resolved model revision"
        )
    for name in ("p_negative", "p_neutral", "p_positive", "confidence"):
        _check_unit(f"{where}: {name}", getattr(row, name))
    total = row.p_negative + row.p_neutral + row.p_positive
    if abs(total - 1.0) > 1e-3:
        raise StorageError(f"{where}: probabilities sum to {total:.4f}, expected 1 (apply softmax before saving)")
    _check_aware(f"{where}: classified_at", row.classified_at)


def save_sentiments(conn: sa.Connection, rows: Sequence[SentimentResult]) -> int:
    """Upsert on (mention_id, model, revision); the last row per mention becomes its current result."""
    for row in rows:
        _check_sentiment(row)
    latest = {(r.mention_id, r.model, r.revision): r for r in rows}
    current = {r.mention_id: key for key, r in latest.items()}  # dict order: the last key per mention wins
    s = sentiment_table.c
    for part in chunks(list(current)):
        conn.execute(sentiment_table.update().where(s.mention_id.in_(part), s.is_current).values(is_current=False))
    if not latest:
        return 0
    values = [
        {
            "mention_id": r.mention_id,
            "model": r.model,
            "revision": r.revision,
            "backend": r.backend,
            "label": r.label,
            "p_negative": float(r.p_negative),
            "p_neutral": float(r.p_neutral),
            "p_positive": float(r.p_positive),
            "confidence": float(r.confidence),
            "needs_review": bool(r.needs_review),
            "is_current": current[r.mention_id] == key,
            "classified_at": r.classified_at,
        }
        for key, r in latest.items()
    ]
    stmt = dialect_insert(conn, sentiment_table)
    fields = (
        "backend",
        "label",
        "p_negative",
        "p_neutral",
        "p_positive",
        "confidence",
        "needs_review",
        "is_current",
        "classified_at",
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["mention_id", "model", "revision"], set_={f: stmt.excluded[f] for f in fields}
        ),
        values,
    )
    return len(values)


def _check_link(mention_id: str, link: JourneyLinkRow) -> None:
    where = f"journey link of mention {mention_id}"
    if not link.stage or not link.method:
        raise StorageError(f"{where}: stage {link.stage!r} and method {link.method!r} must be non-empty")
    _check_unit(f"{where} to stage {link.stage}: confidence", link.confidence)


def save_links(
    conn: sa.Connection, taxonomy_version: str, links_by_mention: Mapping[str, Sequence[JourneyLinkRow]], now: datetime,
    questions: Mapping[str, bool | None] | None = None,
) -> int:
    """Replace these mentions' links for the version, mark them linked (current run); returns links written.

    ``questions``: per mention, whether the journey heads read it as a question (absent/None: not predicted)."""
    if not taxonomy_version:
        raise StorageError("taxonomy_version must be non-empty (use the taxonomy file's version string)")
    for mention_id, links in links_by_mention.items():
        for link in links:
            _check_link(mention_id, link)
    r, lc = link_run_table.c, link_table.c
    ids = list(links_by_mention)
    xact_lock(conn, f"journey_link\x1f{taxonomy_version}")  # delete-then-insert: one writer per version at a time
    for part in chunks(ids):
        conn.execute(link_table.delete().where(lc.taxonomy_version == taxonomy_version, lc.mention_id.in_(part)))
        conn.execute(
            link_run_table.update()
            .where(r.mention_id.in_(part), r.taxonomy_version != taxonomy_version, r.is_current)
            .values(is_current=False)
        )
    if not ids:
        return 0
    stmt = dialect_insert(conn, link_run_table)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["mention_id", "taxonomy_version"],
            set_={"linked_at": stmt.excluded.linked_at, "is_current": True, "question": stmt.excluded.question},
        ),
        [{"mention_id": m, "taxonomy_version": taxonomy_version, "linked_at": now, "is_current": True,
          "question": (questions or {}).get(m)} for m in ids],
    )
    values = [
        {
            "mention_id": m,
            "taxonomy_version": taxonomy_version,
            "stage": link.stage,
            "touchpoint": link.touchpoint,
            "pain_point": link.pain_point,
            "exit_signal": link.exit_signal,
            "method": link.method,
            "confidence": float(link.confidence),
            "needs_review": bool(link.needs_review),
        }
        for m, links in links_by_mention.items()
        for link in links
    ]
    if values:
        conn.execute(link_table.insert(), values)
    return len(values)


def reset_links(conn: sa.Connection, taxonomy_version: str, *, brand: str | None = None,
                since: datetime | None = None, until: datetime | None = None) -> int:
    """Forget the links and runs of a version (optionally of one brand's mentions created in
    [since, until)) so they are linked again."""
    r = link_run_table.c
    lc = link_table.c
    xact_lock(conn, f"journey_link\x1f{taxonomy_version}")
    stmt = link_run_table.delete().where(r.taxonomy_version == taxonomy_version)
    link_stmt = link_table.delete().where(lc.taxonomy_version == taxonomy_version)
    if brand is not None or since is not None or until is not None:
        scope = _window(sa.select(_M.id), brand, since, until, None)
        stmt = stmt.where(r.mention_id.in_(scope))
        link_stmt = link_stmt.where(lc.mention_id.in_(scope))
    conn.execute(link_stmt)
    return int(conn.execute(stmt).rowcount)
