"""Writing listener output: mention upserts, quarantine rows and cursors, all on one connection.

The caller (``Store.store_batch``) runs these inside one transaction, so a batch's rows and its
cursor commit together or not at all. Only a real change rewrites a mention; a changed text also
drops the annotations that described the old text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from journeypulse.record import Cursor, Mention, QuarantinedRow
from storage.records import QuarantineEntry, UpsertReport
from storage.schema import (
    QUARANTINE_PAYLOAD_MAX_BYTES,
    cursor_table,
    link_run_table,
    link_table,
    mention_table,
    quarantine_table,
    sentiment_table,
    suppression_table,
)

CHUNK = 500
"""Ids per ``IN (...)`` list: far below SQLite's and PostgreSQL's bind-parameter limits."""

# Columns compared to decide 'unchanged'; fetched_at is deliberately not among them.
_CONTENT = (
    "source",
    "source_kind",
    "native_id",
    "url",
    "author",
    "text",
    "created_at",
    "channel",
    "brand",
    "matched_terms",
    "language_hint",
    "content_hash",
    "metadata",
)

T = TypeVar("T")


def shard_key(mention_id: str) -> int:
    """The mention's fixed shard key: 31 bits of SHA-256 of its id (``shard = key % count`` in SQL).

    Stored at ingest and never changed, so a mention stays in one shard for a given count; migration
    0010 filled existing rows with the same formula.
    """
    return int.from_bytes(hashlib.sha256(mention_id.encode("utf-8", "surrogatepass")).digest()[:4], "big") >> 1


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(conn: sa.Connection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT that supports ON CONFLICT (SQLite >= 3.24 and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _content(mention: Mention) -> dict[str, object]:
    return {
        "source": mention.source,
        "source_kind": mention.source_kind,
        "native_id": mention.native_id,
        "url": mention.url,
        "author": mention.author,
        "text": mention.text,
        "created_at": mention.created_at,
        "channel": mention.channel,
        "brand": mention.brand,
        "matched_terms": list(mention.matched_terms),
        "language_hint": mention.language_hint,
        "content_hash": mention.content_hash,
        "metadata": dict(mention.metadata),
    }


def has_nul(mention: Mention) -> bool:
    """True when any string in the mention holds U+0000, which PostgreSQL text cannot store."""
    strings = [
        mention.source,
        mention.source_kind,
        mention.native_id,
        mention.url or "",
        mention.author or "",
        mention.text,
        mention.channel or "",
        mention.brand or "",
        mention.language_hint or "",
        *mention.matched_terms,
        *mention.metadata,
    ]
    strings.extend(v for v in mention.metadata.values() if isinstance(v, str))
    return any("\x00" in s for s in strings)


def _existing(conn: sa.Connection, ids: Sequence[str]) -> dict[str, dict[str, object]]:
    cols = [mention_table.c.id, *(mention_table.c[name] for name in _CONTENT)]
    found: dict[str, dict[str, object]] = {}
    for part in chunks(ids):
        for row in conn.execute(sa.select(*cols).where(mention_table.c.id.in_(part))).mappings():
            found[row["id"]] = {name: row[name] for name in _CONTENT}
    return found


def upsert_mentions(conn: sa.Connection, mentions: Sequence[Mention], now: datetime) -> tuple[int, int, int]:
    """Insert new mentions, rewrite changed ones, leave identical ones alone: (inserted, updated, unchanged)."""
    latest: dict[str, Mention] = {}
    for mention in mentions:  # a repeated id within the batch: the last copy wins
        latest[mention.id] = mention
    existing = _existing(conn, list(latest))
    rows: list[dict[str, object]] = []
    inserted = updated = 0
    text_changed: list[str] = []
    for mention_id, mention in latest.items():
        content = _content(mention)
        old = existing.get(mention_id)
        if old is None:
            inserted += 1
        elif old == content:
            continue
        else:
            updated += 1
            if old["text"] != mention.text:
                text_changed.append(mention_id)
        rows.append(
            {"id": mention_id, **content, "fetched_at": mention.fetched_at, "stored_at": now, "updated_at": now,
             "shard_key": shard_key(mention_id)}
        )
    if rows:
        stmt = dialect_insert(conn, mention_table)
        refreshed = {name: stmt.excluded[name] for name in (*_CONTENT, "fetched_at", "updated_at")}
        rows.sort(key=lambda row: str(row["id"]))  # one lock order for concurrent writers (no deadlocks)
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=refreshed), rows)
    if text_changed:
        clear_annotations(conn, text_changed)
    return inserted, updated, len(mentions) - inserted - updated


def clear_annotations(conn: sa.Connection, mention_ids: Sequence[str]) -> None:
    """Forget language, sentiment and journey links of these mentions (their text changed)."""
    for part in chunks(mention_ids):
        conn.execute(link_table.delete().where(link_table.c.mention_id.in_(part)))
        conn.execute(link_run_table.delete().where(link_run_table.c.mention_id.in_(part)))
        conn.execute(sentiment_table.delete().where(sentiment_table.c.mention_id.in_(part)))
        conn.execute(
            mention_table.update()
            .where(mention_table.c.id.in_(part))
            .values(language=None, language_confidence=None, language_method=None)
        )


def quarantine_id(row: QuarantinedRow) -> str:
    """Same source, locator and full payload -> same id, so re-reading a bad row does not duplicate it."""
    key = f"{row.source}\x1f{row.locator}\x1f{row.payload}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _stored_payload(payload: str) -> tuple[str, int, bool]:
    """Payload as stored: cut to the byte limit on a character boundary, NUL replaced by U+FFFD."""
    raw = payload.encode("utf-8", "surrogatepass")
    cut = len(raw) > QUARANTINE_PAYLOAD_MAX_BYTES
    text = raw[:QUARANTINE_PAYLOAD_MAX_BYTES].decode("utf-8", "ignore") if cut else payload
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be stored
    return text.replace("\x00", "\ufffd"), len(raw), cut


def insert_quarantine(conn: sa.Connection, rows: Sequence[QuarantinedRow], now: datetime) -> tuple[int, int]:
    """Insert rows not quarantined before: (new, repeats)."""
    by_id = {quarantine_id(row): row for row in rows}
    known: set[str] = set()
    for part in chunks(list(by_id)):
        known.update(conn.execute(sa.select(quarantine_table.c.id).where(quarantine_table.c.id.in_(part))).scalars())
    fresh = []
    for qid, row in by_id.items():
        if qid in known:
            continue
        payload, size, cut = _stored_payload(row.payload)
        fresh.append(
            {
                "id": qid,
                "source": row.source,
                "locator": row.locator,
                "reason": row.reason,
                "payload": payload,
                "payload_bytes": size,
                "payload_truncated": cut,
                "quarantined_at": now,
            }
        )
    if fresh:
        conn.execute(dialect_insert(conn, quarantine_table).on_conflict_do_nothing(index_elements=["id"]), fresh)
    return len(fresh), len(rows) - len(fresh)


def _quarantine_filter(stmt: sa.Select[Any], source: str | None, reason: str | None) -> sa.Select[Any]:
    q = quarantine_table.c
    if source is not None:
        stmt = stmt.where(q.source == source)
    if reason is not None:  # reasons carry details ("created_at '...' is not ..."): match a part, any case
        stmt = stmt.where(sa.func.lower(q.reason).contains(reason.casefold(), autoescape=True))
    return stmt


def read_quarantine(conn: sa.Connection, source: str | None, limit: int,
                    reason: str | None = None) -> list[QuarantineEntry]:
    """Newest quarantine rows first (optionally of one source, with ``reason`` in their reason)."""
    q = quarantine_table.c
    stmt = sa.select(
        q.id, q.source, q.locator, q.reason, q.payload, q.payload_bytes, q.payload_truncated, q.quarantined_at
    )
    stmt = _quarantine_filter(stmt, source, reason).order_by(q.quarantined_at.desc(), q.id).limit(limit)
    return [QuarantineEntry(*row) for row in conn.execute(stmt)]


def count_quarantine(conn: sa.Connection, source: str | None, reason: str | None) -> list[tuple[str, str, int]]:
    """(source, reason, rows) for every distinct reason, most rows first."""
    q = quarantine_table.c
    n = sa.func.count().label("n")
    stmt = _quarantine_filter(sa.select(q.source, q.reason, n), source, reason)
    stmt = stmt.group_by(q.source, q.reason).order_by(n.desc(), q.source, q.reason)
    return [(src, why, int(count)) for src, why, count in conn.execute(stmt)]


def write_cursor(conn: sa.Connection, source: str, query: str, cursor: Cursor, now: datetime) -> None:
    stmt = dialect_insert(conn, cursor_table).values(source=source, query=query, cursor=cursor, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "query"], set_={"cursor": stmt.excluded.cursor, "updated_at": now}
        )
    )


def read_cursor(conn: sa.Connection, source: str, query: str) -> Cursor | None:
    stmt = sa.select(cursor_table.c.cursor).where(cursor_table.c.source == source, cursor_table.c.query == query)
    return conn.execute(stmt).scalar_one_or_none()


def store_batch(
    conn: sa.Connection,
    source: str,
    query: str,
    mentions: Sequence[Mention],
    quarantined: Sequence[QuarantinedRow],
    cursor: Cursor | None,
    now: datetime,
    *,
    not_after: datetime | None = None,
    scrub: Callable[[QuarantinedRow], QuarantinedRow] | None = None,
) -> UpsertReport:
    """Everything ``Store.store_batch`` writes, on a connection already inside a transaction.

    Mentions holding NUL characters are quarantined (PostgreSQL cannot store them; SQLite does the same
    so both backends keep identical data) and counted in ``quarantined``, not in the mention counts;
    so are mentions created after ``not_after`` (a clock or parsing error, e.g. a row dated 2099).
    ``scrub`` is applied to every quarantine row before it is written.
    """
    storable: list[Mention] = []
    diverted: list[QuarantinedRow] = []
    erased = suppressed_pseudonyms(conn, [p for mention in mentions for p in _identities(mention)])
    kept = [mention for mention in mentions if erased.isdisjoint(_identities(mention))]
    suppressed = len(mentions) - len(kept)
    for mention in kept:
        if not_after is not None and isinstance(mention.created_at, datetime) and mention.created_at > not_after:
            diverted.append(
                QuarantinedRow(
                    source=mention.source,
                    locator=f"native_id={mention.native_id}",
                    reason=f"created_at {mention.created_at.isoformat()} is more than pipeline.max_future_skew "
                    f"ahead of the clock ({now.isoformat(timespec='seconds')})",
                    payload=mention.model_dump_json(exclude={"fetched_at"}),
                )
            )
        elif has_nul(mention):
            diverted.append(
                QuarantinedRow(
                    source=mention.source,
                    locator=f"native_id={mention.native_id}",
                    reason="mention holds NUL (U+0000) characters, which cannot be stored",
                    payload=mention.model_dump_json(),
                )
            )
        else:
            storable.append(mention)
    inserted, updated, unchanged = upsert_mentions(conn, storable, now)
    rows = [*quarantined, *diverted]
    new, repeats = insert_quarantine(conn, [scrub(row) for row in rows] if scrub is not None else rows, now)
    if cursor is not None:
        write_cursor(conn, source, query, cursor, now)
    return UpsertReport(
        inserted=inserted, updated=updated, unchanged=unchanged, quarantined=new, quarantine_repeats=repeats,
        suppressed=suppressed,
    )


def _identities(mention: Mention) -> list[str]:
    """The pseudonyms a mention is stored under: its author and a contact-center customer / interaction id."""
    found = [mention.author] if mention.author else []
    for key in ("customer_id", "interaction_id"):
        value = mention.metadata.get(key)
        if isinstance(value, str) and value:
            found.append(value)
    return found


def suppressed_pseudonyms(conn: sa.Connection, pseudonyms: Sequence[str]) -> set[str]:
    """Those of ``pseudonyms`` that were erased (``forget-author``) and must not be stored again."""
    found: set[str] = set()
    for part in chunks(sorted(set(pseudonyms))):
        found.update(conn.execute(sa.select(suppression_table.c.pseudonym)
                                  .where(suppression_table.c.pseudonym.in_(part))).scalars())
    return found
