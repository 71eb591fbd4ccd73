"""CX tables: the coaching library and its reviews, sentiment corrections, alerts, and forgetting an author.

A coaching example is a (mention, stage) pair. Reviews and corrections are append-only (the latest
review per example counts); alerts are keyed by
their stable hash so a re-check inserts nothing twice; deleting an author's mentions cascades to
every row derived from them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa

from journeypulse.errors import StorageError
from journeypulse.record import content_hash
from storage.ingest import chunks, dialect_insert, suppressed_pseudonyms
from storage.records import (
    SENTIMENT_LABELS,
    AlertRow,
    CoachingExampleRow,
    CoachingReviewRow,
    CorrectionRow,
    DailyStageCount,
    ForgetReport,
    JourneyCorrectionRow,
)
from storage.schema import (
    alert_table,
    coaching_example_table,
    coaching_review_table,
    correction_table,
    escalation_table,
    journey_correction_table,
    link_run_table,
    link_table,
    mention_table,
    quarantine_table,
    sentiment_table,
    suppression_table,
)
from storage.views import view

REVIEW_ACTIONS = ("approve", "reject", "relabel")
_EXAMPLE_FIELDS = tuple(c.name for c in coaching_example_table.columns)


def _check_label(what: str, label: str | None) -> None:
    if label not in SENTIMENT_LABELS:
        raise StorageError(f"{what}: label {label!r} is not one of {', '.join(SENTIMENT_LABELS)}")


def _missing_mentions(conn: sa.Connection, table: sa.Table, column: str, ids: Sequence[str]) -> list[str]:
    found: set[str] = set()
    for part in chunks(list(dict.fromkeys(ids))):
        found.update(conn.execute(sa.select(table.c[column]).where(table.c[column].in_(part))).scalars())
    return sorted(set(ids) - found)


def save_examples(conn: sa.Connection, rows: Sequence[CoachingExampleRow]) -> int:
    """Upsert library entries by (mention, stage): a re-selection refreshes text, labels and reasons, reviews stay,
    and the same mention under another stage is a separate entry (a reviewed example never moves)."""
    for row in rows:
        _check_label(f"coaching example {row.mention_id}", row.sentiment)
    if not rows:
        return 0
    missing = _missing_mentions(conn, mention_table, "id", [r.mention_id for r in rows])
    if missing:
        raise StorageError(f"coaching examples name mentions that are not stored: {missing[:5]}; select from stored mentions")
    values = list({(r.mention_id, r.stage): {f: getattr(r, f) for f in _EXAMPLE_FIELDS} for r in rows}.values())
    stmt = dialect_insert(conn, coaching_example_table)
    update = {f: stmt.excluded[f] for f in _EXAMPLE_FIELDS if f not in ("mention_id", "stage")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["mention_id", "stage"], set_=update), values)
    return len(values)


def read_examples(
    conn: sa.Connection, *, mention_ids: Sequence[str] | None = None, stage: str | None = None
) -> list[CoachingExampleRow]:
    c = coaching_example_table.c
    stmt = sa.select(*(c[f] for f in _EXAMPLE_FIELDS)).order_by(c.stage, c.pain_point, c.score.desc(),
                                                                c.confidence.desc(), c.mention_id)
    if stage is not None:
        stmt = stmt.where(c.stage == stage)
    if mention_ids is None:
        return [CoachingExampleRow(**row) for row in conn.execute(stmt).mappings()]
    out: list[CoachingExampleRow] = []
    for part in chunks(list(mention_ids)):
        out.extend(CoachingExampleRow(**row) for row in conn.execute(stmt.where(c.mention_id.in_(part))).mappings())
    return out


def _review_stage(conn: sa.Connection, review: CoachingReviewRow, where: str) -> str:
    """The stage the review is about: the given one if that example exists, else the mention's only stage."""
    c = coaching_example_table.c
    stages: list[str] = sorted(conn.execute(sa.select(c.stage).where(c.mention_id == review.mention_id)).scalars())
    if not stages:
        raise StorageError(
            f"{where}: mention {review.mention_id} is not in the coaching library; pull it with `journeypulse coach pull` first"
        )
    if review.stage is not None:
        if review.stage not in stages:
            raise StorageError(f"{where}: mention {review.mention_id} is in the library under {', '.join(stages)}, "
                               f"not {review.stage!r}; pass one of those with --stage")
        return review.stage
    if len(stages) > 1:
        raise StorageError(f"{where}: mention {review.mention_id} is in the library under several stages "
                           f"({', '.join(stages)}); pass --stage with the one you reviewed")
    return stages[0]


def add_review(conn: sa.Connection, review: CoachingReviewRow) -> CoachingReviewRow:
    """Record a decision on one (mention, stage) example and return it with its stage; a relabel also writes a
    ``sentiment_correction`` row (source 'coach_review')."""
    where = f"review of coaching example {review.mention_id}"
    if review.action not in REVIEW_ACTIONS:
        raise StorageError(f"{where}: action {review.action!r} is not one of {', '.join(REVIEW_ACTIONS)}")
    if review.action == "relabel":
        _check_label(where, review.new_label)
    elif review.new_label is not None:
        raise StorageError(f"{where}: a new label is only valid with relabel, got {review.new_label!r}")
    if not review.reviewer.strip():
        raise StorageError(f"{where}: reviewer is empty; pass --reviewer with who decided")
    stage = _review_stage(conn, review, where)
    conn.execute(
        coaching_review_table.insert().values(
            mention_id=review.mention_id, stage=stage, action=review.action, new_label=review.new_label,
            reviewer=review.reviewer, note=review.note, decided_at=review.decided_at,
        )
    )
    if review.action == "relabel" and review.new_label is not None:
        add_correction(conn, CorrectionRow(review.mention_id, review.new_label, "coach_review", review.reviewer,
                                           review.decided_at))
    return CoachingReviewRow(review.mention_id, review.action, review.reviewer, review.decided_at, review.new_label,
                             review.note, stage)


def read_reviews(conn: sa.Connection) -> list[CoachingReviewRow]:
    r = coaching_review_table.c
    stmt = sa.select(r.mention_id, r.action, r.reviewer, r.decided_at, r.new_label, r.note, r.stage).order_by(
        r.decided_at, r.id)
    return [CoachingReviewRow(**row) for row in conn.execute(stmt).mappings()]


def add_correction(conn: sa.Connection, row: CorrectionRow) -> None:
    _check_label(f"sentiment correction of mention {row.mention_id}", row.label)
    if not row.reviewer.strip():
        raise StorageError(f"sentiment correction of mention {row.mention_id}: reviewer is empty; pass --reviewer")
    if _missing_mentions(conn, mention_table, "id", [row.mention_id]):
        raise StorageError(f"sentiment correction: mention {row.mention_id} is not stored; check the id (32 hex chars)")
    conn.execute(correction_table.insert().values(
        mention_id=row.mention_id, label=row.label, source=row.source, reviewer=row.reviewer, created_at=row.created_at
    ))


def add_journey_correction(conn: sa.Connection, row: JourneyCorrectionRow, stages: Sequence[str] | None = None) -> None:
    """Append a stage / exit-signal correction; ``stages`` (the taxonomy's) validates the stage when given."""
    where = f"journey correction of mention {row.mention_id}"
    if row.stage is None and row.exit_signal is None:
        raise StorageError(f"{where}: nothing corrected; pass a stage, an exit signal or both")
    if row.stage is not None and (not row.stage or (stages is not None and row.stage not in stages)):
        raise StorageError(f"{where}: stage {row.stage!r} is not one of {', '.join(stages or [])}")
    if row.exit_type is not None and row.exit_signal is not True:
        raise StorageError(f"{where}: an exit type ({row.exit_type}) needs exit signal true")
    if not row.reviewer.strip():
        raise StorageError(f"{where}: reviewer is empty; pass --reviewer")
    if _missing_mentions(conn, mention_table, "id", [row.mention_id]):
        raise StorageError(f"{where}: mention {row.mention_id} is not stored; check the id (32 hex chars)")
    conn.execute(journey_correction_table.insert().values(
        mention_id=row.mention_id, stage=row.stage, exit_signal=row.exit_signal, exit_type=row.exit_type,
        source=row.source, reviewer=row.reviewer, created_at=row.created_at))


def read_journey_corrections(conn: sa.Connection) -> list[JourneyCorrectionRow]:
    """Every journey correction, oldest first (the last one per mention counts)."""
    c = journey_correction_table.c
    stmt = sa.select(c.mention_id, c.stage, c.exit_signal, c.exit_type, c.source, c.reviewer,
                     c.created_at).order_by(c.created_at, c.id)
    return [JourneyCorrectionRow(**row) for row in conn.execute(stmt).mappings()]


def read_corrections(conn: sa.Connection) -> list[CorrectionRow]:
    c = correction_table.c
    stmt = sa.select(c.mention_id, c.label, c.source, c.reviewer, c.created_at).order_by(c.created_at, c.id)
    return [CorrectionRow(**row) for row in conn.execute(stmt).mappings()]


def mention_texts(conn: sa.Connection, mention_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """Text and identified language of the given mentions (ids not stored are simply absent)."""
    m = mention_table.c
    found: dict[str, tuple[str, str | None]] = {}
    for part in chunks(list(mention_ids)):
        for mention_id, text, language in conn.execute(sa.select(m.id, m.text, m.language).where(m.id.in_(part))):
            found[mention_id] = (text, language)
    return found


def save_alerts(conn: sa.Connection, rows: Sequence[AlertRow]) -> list[str]:
    """Insert alerts not raised before (by key); returns the keys that are new."""
    if not rows:
        return []
    a = alert_table.c
    known: set[str] = set()
    keys = [r.key for r in rows]
    for part in chunks(keys):
        known.update(conn.execute(sa.select(a.key).where(a.key.in_(part))).scalars())
    fresh = {r.key: r for r in rows if r.key not in known}
    if fresh:
        values = [{c.name: getattr(r, c.name) for c in alert_table.columns} for r in fresh.values()]
        conn.execute(dialect_insert(conn, alert_table).on_conflict_do_nothing(index_elements=["key"]), values)
    return list(fresh)


def read_alerts(conn: sa.Connection, *, unposted_only: bool = False) -> list[AlertRow]:
    a = alert_table.c
    stmt = sa.select(*(a[c.name] for c in alert_table.columns)).order_by(a.day, a.brand, a.stage, a.rule, a.key)
    if unposted_only:
        stmt = stmt.where(a.posted_at.is_(None))
    return [AlertRow(**row) for row in conn.execute(stmt).mappings()]


def mark_posted(conn: sa.Connection, keys: Sequence[str], now: datetime) -> int:
    done = 0
    for part in chunks(list(keys)):
        done += conn.execute(alert_table.update().where(alert_table.c.key.in_(part)).values(posted_at=now)).rowcount
    return done


def daily_stage_counts(conn: sa.Connection, *, since: date, until: date) -> list[DailyStageCount]:
    """Per (brand, stage, UTC day) in [since, until]: scored mentions, negatives, pain-point mentions."""
    daily = view("v_daily_sentiment")
    totals = conn.execute(
        sa.select(daily.c.brand, daily.c.stage, daily.c.day, sa.func.sum(daily.c.mentions), sa.func.sum(daily.c.negative))
        .where(daily.c.brand.is_not(None), daily.c.stage != "unlinked", daily.c.day >= since, daily.c.day <= until)
        .group_by(daily.c.brand, daily.c.stage, daily.c.day)
    ).all()
    ms, links = view("v_mention_sentiment"), view("v_current_journey_link")
    pains = conn.execute(
        sa.select(ms.c.brand, links.c.stage, ms.c.day, links.c.pain_point, sa.func.count(sa.distinct(ms.c.mention_id)))
        .select_from(links.join(ms, ms.c.mention_id == links.c.mention_id))
        .where(links.c.pain_point.is_not(None), ms.c.label.is_not(None), ms.c.brand.is_not(None),
               ms.c.day >= since, ms.c.day <= until)
        .group_by(ms.c.brand, links.c.stage, ms.c.day, links.c.pain_point)
    ).all()
    by_key: dict[tuple[str, str, date], list[tuple[str, int]]] = defaultdict(list)
    for brand, stage, day, pain, n in pains:
        by_key[(brand, stage, _day(day))].append((pain, int(n)))
    return [
        DailyStageCount(brand, stage, _day(day), int(total), int(negative), tuple(sorted(by_key[(brand, stage, _day(day))])))
        for brand, stage, day, total, negative in sorted(totals, key=lambda r: (r[0], r[1], str(r[2])))
    ]


def _day(value: object) -> date:
    """SQLite returns ``date()`` of a view column as text; PostgreSQL as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def mention_days(conn: sa.Connection, brand: str | None) -> tuple[datetime, datetime] | None:
    """Earliest and latest ``created_at`` (of a brand's mentions), None when there are none."""
    m = mention_table.c
    stmt = sa.select(sa.func.min(m.created_at), sa.func.max(m.created_at))
    if brand is not None:
        stmt = stmt.where(m.brand == brand)
    first, last = conn.execute(stmt).one()
    return None if first is None else (first, last)


ERASED = "[erased]"
"""What an erased handle or id becomes in the texts of other people's mentions and library examples."""


def _identity_pattern(raw: Sequence[str]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive match of any raw form, with an optional ``@`` or ``u/`` before it."""
    forms = sorted({r.lstrip("@") for r in raw if len(r.lstrip("@")) >= 3}, key=len, reverse=True)
    if not forms:
        return None
    return re.compile(r"(?<![\w@/])(?:@|/?u/)?(?:" + "|".join(map(re.escape, forms)) + r")(?![\w])", re.IGNORECASE)


def _carrying(conn: sa.Connection, table: sa.Table, key: str, columns: Sequence[str], needles: Sequence[str],
              pattern: re.Pattern[str]) -> list[str]:
    """Keys of rows whose ``columns`` hold any needle as a whole word (SQL narrows, the pattern decides)."""
    if not needles:
        return []
    like = [sa.func.lower(table.c[col]).contains(n.casefold(), autoescape=True) for col in columns for n in needles]
    found = []
    for row in conn.execute(sa.select(table.c[key], *(table.c[col] for col in columns)).where(sa.or_(*like))):
        if any(value is not None and pattern.search(str(value)) for value in row[1:]):
            found.append(row[0])
    return found


def _count(conn: sa.Connection, table: sa.Table, column: str, ids: Sequence[str]) -> int:
    total = 0
    for part in chunks(ids):
        total += conn.execute(sa.select(sa.func.count()).where(table.c[column].in_(part))).scalar_one()
    return int(total)


def forget(conn: sa.Connection, pseudonyms: Sequence[str], raw: Sequence[str], now: datetime) -> ForgetReport:
    """Erase one person: every mention stored under any of ``pseudonyms`` (as author, or as the
    contact-center ``customer_id`` / ``interaction_id`` in its metadata) with every row derived from
    it; quarantine rows and alerts that carry a pseudonym or a raw form; and the raw forms (a handle,
    a customer id) in other people's mention texts and library examples, replaced by ``ERASED``.
    """
    m = mention_table.c
    meta = m["metadata"]
    ids: list[str] = []
    matched: set[str] = set()
    for part in chunks(sorted(set(pseudonyms))):
        rows = conn.execute(
            sa.select(m.id, m.author, meta["customer_id"].as_string(), meta["interaction_id"].as_string())
            .where(sa.or_(m.author.in_(part), meta["customer_id"].as_string().in_(part),
                          meta["interaction_id"].as_string().in_(part)))
        ).all()
        for mention_id, *values in rows:
            ids.append(mention_id)
            matched.update(v for v in values if v in part)
    ids = sorted(set(ids))
    counts = {
        "sentiment": _count(conn, sentiment_table, "mention_id", ids),
        "journey_link_run": _count(conn, link_run_table, "mention_id", ids),
        "journey_link": _count(conn, link_table, "mention_id", ids),
        "coaching_example": _count(conn, coaching_example_table, "mention_id", ids),
        "coaching_review": _count(conn, coaching_review_table, "mention_id", ids),
        "sentiment_correction": _count(conn, correction_table, "mention_id", ids),
        "escalation": _count(conn, escalation_table, "mention_id", ids),
    }
    for part in chunks(ids):  # foreign keys cascade on both dialects (SQLite: PRAGMA foreign_keys=ON)
        conn.execute(mention_table.delete().where(m.id.in_(part)))
    # Remember the erased pseudonyms so that later pulls (overlap windows, backfills) do not store them again.
    new_pseudonyms = sorted(set(p for p in pseudonyms if p) - suppressed_pseudonyms(conn, list(pseudonyms)))
    if new_pseudonyms:
        conn.execute(suppression_table.insert(), [{"pseudonym": p, "erased_at": now} for p in new_pseudonyms])

    needles = sorted({*pseudonyms, *(r for r in raw if len(r.lstrip("@")) >= 3)})
    anywhere = re.compile("|".join(rf"(?<![\w]){re.escape(n)}(?![\w])" for n in needles), re.IGNORECASE) if needles \
        else re.compile(r"(?!x)x")
    q = quarantine_table.c
    quarantined = _carrying(conn, quarantine_table, "id", ["payload", "locator"], needles, anywhere)
    for part in chunks(quarantined):
        conn.execute(quarantine_table.delete().where(q.id.in_(part)))
    alerts = _carrying(conn, alert_table, "key", ["message"], needles, anywhere)
    for part in chunks(alerts):
        conn.execute(alert_table.delete().where(alert_table.c.key.in_(part)))

    scrubbed = examples_scrubbed = 0
    pattern = _identity_pattern(raw)
    if pattern is not None:
        plain = sorted({r.lstrip("@") for r in raw if len(r.lstrip("@")) >= 3})
        for mention_id in _carrying(conn, mention_table, "id", ["text"], plain, pattern):
            text = conn.execute(sa.select(m.text).where(m.id == mention_id)).scalar_one()
            clean = pattern.sub(ERASED, text)
            conn.execute(mention_table.update().where(m.id == mention_id)
                         .values(text=clean, content_hash=content_hash(clean), updated_at=now))
            scrubbed += 1
        e = coaching_example_table.c
        for mention_id in _carrying(conn, coaching_example_table, "mention_id", ["text"], plain, pattern):
            text = conn.execute(sa.select(e.text).where(e.mention_id == mention_id)).scalar_one()
            clean = pattern.sub(ERASED, text)
            conn.execute(coaching_example_table.update().where(e.mention_id == mention_id)
                         .values(text=clean, content_hash=content_hash(clean)))
            examples_scrubbed += 1
    return ForgetReport(
        mentions=len(ids), sentiments=counts["sentiment"], links=counts["journey_link"],
        coaching_examples=counts["coaching_example"], coaching_reviews=counts["coaching_review"],
        corrections=counts["sentiment_correction"], link_runs=counts["journey_link_run"],
        quarantine=len(quarantined), alerts=len(alerts), escalations=counts["escalation"], texts_scrubbed=scrubbed,
        examples_scrubbed=examples_scrubbed, matched=tuple(sorted(matched)),
    )


def forget_author(conn: sa.Connection, author: str, now: datetime) -> ForgetReport:
    """Delete every mention by ``author`` (a pseudonym) and everything derived from or carrying it."""
    return forget(conn, [author], [], now)
