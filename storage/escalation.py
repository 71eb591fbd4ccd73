"""Escalation deliveries: candidates for the rules, claims, outcomes, watermarks.

A delivery is claimed by ``INSERT .. ON CONFLICT DO NOTHING`` on (rule, subject, destination) before
anything is sent, so each one exists once however often or concurrently the step runs; its status then
moves pending -> sent, or pending -> failed (-> dead after the destination's ``max_runs``). Rows hold
no message text, payload or secret; a mention's rows go with it (foreign key, ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from journeypulse.errors import StorageError
from storage.ingest import chunks, dialect_insert
from storage.records import CandidateLink, EscalationCandidate, EscalationClaim, EscalationRow
from storage.schema import (
    ESCALATION_STATUSES,
    escalation_table,
    link_run_table,
    link_table,
    mention_table,
    sentiment_table,
    watermark_table,
)

_M, _R, _S, _E = mention_table.c, link_run_table.c, sentiment_table.c, escalation_table.c
ERROR_CHARS = 500


def candidates(
    conn: sa.Connection,
    *,
    limit: int,
    linked_after: datetime | None = None,
    after_id: str | None = None,
    published_since: datetime | None = None,
    published_until: datetime | None = None,
    stored_since: datetime | None = None,
    mention_ids: Sequence[str] | None = None,
) -> list[EscalationCandidate]:
    """Mentions with a current link run, ordered by (linked_at, id); keyset-paged by ``(linked_after,
    after_id)``; optionally published in [published_since, published_until], stored since ``stored_since``."""
    if limit <= 0:
        raise StorageError(f"candidate limit must be a positive number of mentions, got {limit}")
    stmt = (
        sa.select(_M.id, _M.brand, _M.source, _M.source_kind, _M.channel, _M.language, _M.text, _M.url,
                  _M.created_at, _M.stored_at, _R.linked_at, _R.question, _S.label, _S.confidence,
                  _M["metadata"], _R.taxonomy_version)
        .select_from(mention_table.join(link_run_table, sa.and_(_R.mention_id == _M.id, _R.is_current))
                     .outerjoin(sentiment_table, sa.and_(_S.mention_id == _M.id, _S.is_current)))
    )
    if linked_after is not None:
        if after_id is None:
            stmt = stmt.where(_R.linked_at > linked_after)
        else:
            stmt = stmt.where(sa.or_(_R.linked_at > linked_after,
                                     sa.and_(_R.linked_at == linked_after, _M.id > after_id)))
    if published_since is not None:
        stmt = stmt.where(_M.created_at >= published_since)
    if published_until is not None:
        stmt = stmt.where(_M.created_at <= published_until)
    if stored_since is not None:
        stmt = stmt.where(_M.stored_at >= stored_since)
    if mention_ids is not None:
        stmt = stmt.where(_M.id.in_(list(mention_ids)))
    rows = conn.execute(stmt.order_by(_R.linked_at, _M.id).limit(limit)).all()
    links = _links(conn, [(row[0], row[15]) for row in rows])
    return [
        EscalationCandidate(
            mention_id=row[0], brand=row[1], source=row[2], source_kind=row[3], channel=row[4], language=row[5],
            text=row[6], url=row[7], created_at=row[8], stored_at=row[9], linked_at=row[10], question=row[11],
            label=row[12], sentiment_confidence=row[13], links=links.get(row[0], ()), metadata=dict(row[14] or {}),
        )
        for row in rows
    ]


def _links(conn: sa.Connection, runs: Sequence[tuple[str, str]]) -> dict[str, tuple[CandidateLink, ...]]:
    lc = link_table.c
    out: dict[str, list[CandidateLink]] = {}
    version = dict(runs)
    for part in chunks(sorted(version)):
        stmt = (sa.select(lc.mention_id, lc.taxonomy_version, lc.stage, lc.pain_point, lc.exit_signal, lc.confidence)
                .where(lc.mention_id.in_(part)).order_by(lc.mention_id, lc.confidence.desc(), lc.id))
        for mention_id, taxonomy_version, stage, pain, exit_signal, confidence in conn.execute(stmt):
            if version[mention_id] == taxonomy_version:
                out.setdefault(mention_id, []).append(CandidateLink(stage, pain, exit_signal, float(confidence)))
    return {k: tuple(v) for k, v in out.items()}


def watermark(conn: sa.Connection, rule_id: str) -> datetime | None:
    return conn.execute(sa.select(watermark_table.c.linked_until).where(watermark_table.c.rule_id == rule_id)
                        ).scalar_one_or_none()


def set_watermark(conn: sa.Connection, rule_id: str, linked_until: datetime, now: datetime) -> None:
    stmt = dialect_insert(conn, watermark_table)
    conn.execute(stmt.on_conflict_do_update(index_elements=["rule_id"],
                                            set_={"linked_until": stmt.excluded.linked_until,
                                                  "updated_at": stmt.excluded.updated_at}),
                 {"rule_id": rule_id, "linked_until": linked_until, "updated_at": now})


def claim(conn: sa.Connection, rows: Sequence[EscalationClaim], now: datetime) -> int:
    """Insert each delivery as ``pending`` unless (rule, subject, destination) exists; returns rows claimed."""
    claimed = 0
    for row in rows:
        stmt = dialect_insert(conn, escalation_table).values(
            rule_id=row.rule_id, subject_key=row.subject_key, destination=row.destination, mention_id=row.mention_id,
            status="pending", priority=row.priority, idempotency_key=row.idempotency_key, attempts=0, runs=0,
            brand=row.brand, stage=row.stage, pain_point=row.pain_point, exit_type=row.exit_type,
            mentions=row.mentions, playbook_rule=row.playbook_rule, reply_language=row.reply_language,
            published_at=row.published_at, pulled_at=row.pulled_at, created_at=now,
        ).on_conflict_do_nothing(index_elements=["rule_id", "subject_key", "destination"]).returning(_E.id)
        claimed += len(conn.execute(stmt).all())  # rowcount is not reliable for INSERT .. RETURNING on psycopg
    return claimed


def _row(r: Any) -> EscalationRow:
    return EscalationRow(
        id=r.id, rule_id=r.rule_id, subject_key=r.subject_key, destination=r.destination, mention_id=r.mention_id,
        status=r.status, priority=r.priority, idempotency_key=r.idempotency_key, attempts=r.attempts, runs=r.runs,
        external_id=r.external_id, status_code=r.status_code, last_error=r.last_error, brand=r.brand, stage=r.stage,
        pain_point=r.pain_point, mentions=r.mentions, published_at=r.published_at, pulled_at=r.pulled_at,
        created_at=r.created_at, first_attempt_at=r.first_attempt_at, sent_at=r.sent_at,
    )


def read(conn: sa.Connection, *, statuses: Sequence[str] = (), ids: Sequence[int] = (), limit: int | None = None,
         newest_first: bool = False) -> list[EscalationRow]:
    unknown = sorted(set(statuses) - set(ESCALATION_STATUSES))
    if unknown:
        raise StorageError(f"escalation status {unknown} is not one of {', '.join(ESCALATION_STATUSES)}")
    stmt = sa.select(escalation_table)
    if statuses:
        stmt = stmt.where(_E.status.in_(list(statuses)))
    if ids:
        stmt = stmt.where(_E.id.in_(list(ids)))
    stmt = stmt.order_by(_E.id.desc() if newest_first else _E.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_row(r) for r in conn.execute(stmt)]


def start_attempt(conn: sa.Connection, escalation_id: int, now: datetime) -> None:
    """Count the attempt before sending (a crash after the send leaves it ``pending`` with the attempt counted)."""
    conn.execute(escalation_table.update().where(_E.id == escalation_id).values(
        attempts=_E.attempts + 1, runs=_E.runs + 1, last_attempt_at=now,
        first_attempt_at=sa.func.coalesce(_E.first_attempt_at, now)))


def mark_sent(conn: sa.Connection, escalation_id: int, status_code: int, external_id: str | None,
              now: datetime) -> None:
    conn.execute(escalation_table.update().where(_E.id == escalation_id).values(
        status="sent", status_code=status_code, external_id=external_id, sent_at=now, last_error=None))


def mark_failed(conn: sa.Connection, escalation_id: int, error: str, status_code: int | None, *, dead: bool) -> None:
    conn.execute(escalation_table.update().where(_E.id == escalation_id).values(
        status="dead" if dead else "failed", status_code=status_code, last_error=error[:ERROR_CHARS]))


def requeue(conn: sa.Connection, ids: Sequence[int] = (), *, dead: bool = False) -> list[int]:
    """Put failed or dead deliveries (``ids``, or with ``dead`` every dead one) back in line with a fresh run
    budget; sent ones are never re-sent. Returns the ids requeued."""
    stmt = sa.select(_E.id).where(_E.status.in_(["failed", "dead"]))
    if ids:
        stmt = stmt.where(_E.id.in_(list(ids)))
    elif dead:
        stmt = stmt.where(_E.status == "dead")
    else:
        return []
    found = [int(i) for i in conn.execute(stmt.order_by(_E.id)).scalars()]
    for part in chunks(found):
        conn.execute(escalation_table.update().where(_E.id.in_(part)).values(status="failed", runs=0))
    return found


def claimed_since(conn: sa.Connection, rule_id: str, since: datetime) -> int:
    """Distinct subjects the rule claimed since ``since`` (what its rate cap counts)."""
    return int(conn.execute(sa.select(sa.func.count(sa.distinct(_E.subject_key)))
                            .where(_E.rule_id == rule_id, _E.created_at >= since)).scalar_one())


def volume_anchors(conn: sa.Connection, rule_id: str, since: datetime) -> list[tuple[str | None, datetime]]:
    """(brand, anchor) of the rule's volume groups anchored since ``since``."""
    stmt = (sa.select(_E.brand, _E.published_at).distinct()
            .where(_E.rule_id == rule_id, _E.subject_key.like("volume:%"), _E.published_at >= since))
    return [(brand, at) for brand, at in conn.execute(stmt)]





class EscalationLedger:
    """The escalation methods of ``Store`` (``store.escalations``); each call is one transaction."""

    def __init__(self, transaction: Callable[[str], AbstractContextManager[sa.Connection]]) -> None:
        self._transaction = transaction

    def candidates(self, *, limit: int, linked_after: datetime | None = None, after_id: str | None = None,
                   published_since: datetime | None = None, published_until: datetime | None = None,
                   stored_since: datetime | None = None,
                   mention_ids: Sequence[str] | None = None) -> list[EscalationCandidate]:
        """Linked mentions ordered by (linked_at, id), with current sentiment and links (see ``candidates``)."""
        with self._transaction("reading escalation candidates") as conn:
            return candidates(conn, limit=limit, linked_after=linked_after, after_id=after_id,
                              published_since=published_since, published_until=published_until,
                              stored_since=stored_since, mention_ids=mention_ids)

    def watermark(self, rule_id: str) -> datetime | None:
        with self._transaction(f"reading the watermark of escalation rule {rule_id!r}") as conn:
            return watermark(conn, rule_id)

    def set_watermark(self, rule_id: str, linked_until: datetime, now: datetime) -> None:
        with self._transaction(f"advancing the watermark of escalation rule {rule_id!r}") as conn:
            set_watermark(conn, rule_id, linked_until, now)

    def claim(self, rows: Sequence[EscalationClaim], now: datetime) -> int:
        """Insert the deliveries that do not exist yet as ``pending`` (one transaction); returns how many."""
        with self._transaction(f"claiming {len(rows)} escalations") as conn:
            return claim(conn, rows, now)

    def rows(self, *, statuses: Sequence[str] = (), ids: Sequence[int] = (), limit: int | None = None,
             newest_first: bool = False) -> list[EscalationRow]:
        with self._transaction("reading escalations") as conn:
            return read(conn, statuses=statuses, ids=ids, limit=limit, newest_first=newest_first)

    def start_attempt(self, escalation_id: int, now: datetime) -> None:
        with self._transaction(f"counting an attempt of escalation {escalation_id}") as conn:
            start_attempt(conn, escalation_id, now)

    def mark_sent(self, escalation_id: int, status_code: int, external_id: str | None, now: datetime) -> None:
        with self._transaction(f"recording escalation {escalation_id} as sent") as conn:
            mark_sent(conn, escalation_id, status_code, external_id, now)

    def mark_failed(self, escalation_id: int, error: str, status_code: int | None, *, dead: bool) -> None:
        with self._transaction(f"recording escalation {escalation_id} as failed") as conn:
            mark_failed(conn, escalation_id, error, status_code, dead=dead)

    def requeue(self, ids: Sequence[int] = (), *, dead: bool = False) -> list[int]:
        with self._transaction("requeueing escalations") as conn:
            return requeue(conn, ids, dead=dead)

    def claimed_since(self, rule_id: str, since: datetime) -> int:
        with self._transaction(f"counting recent escalations of rule {rule_id!r}") as conn:
            return claimed_since(conn, rule_id, since)

    def volume_anchors(self, rule_id: str, since: datetime) -> list[tuple[str | None, datetime]]:
        with self._transaction(f"reading volume groups of rule {rule_id!r}") as conn:
            return volume_anchors(conn, rule_id, since)
