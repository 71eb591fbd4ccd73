"""Reading the analyst views: the whitelist of view and filter names, ``query_view``, stage summaries, counts.

Dynamic SQL is built only from the names declared here (never from caller strings); the columns
listed per view match the migration and storage/VIEWS.md (a test checks them against the database).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from journeypulse.errors import StorageError
from storage.locks import xact_lock
from storage.records import LinkedMention, StageSummary
from storage.schema import (
    UTCDateTime,
    link_run_table,
    link_table,
    mention_table,
    quarantine_table,
    sentiment_table,
    summary_daily_table,
    summary_pain_table,
)

_STR, _INT, _FLOAT, _BOOL, _DAY, _TS = sa.String(), sa.Integer(), sa.Float(), sa.Boolean(), sa.Date(), UTCDateTime()

VIEW_COLUMNS: dict[str, dict[str, TypeEngine[Any]]] = {
    "v_current_journey_link": {
        "mention_id": _STR,
        "taxonomy_version": _STR,
        "stage": _STR,
        "touchpoint": _STR,
        "pain_point": _STR,
        "exit_signal": _STR,
        "method": _STR,
        "confidence": _FLOAT,
        "needs_review": _BOOL,
        "linked_at": _TS,
    },
    "v_mention_sentiment": {
        "mention_id": _STR,
        "source": _STR,
        "source_kind": _STR,
        "channel": _STR,
        "brand": _STR,
        "author": _STR,
        "url": _STR,
        "text": _STR,
        "created_at": _TS,
        "day": _DAY,
        "content_hash": _STR,
        "language": _STR,
        "language_confidence": _FLOAT,
        "language_method": _STR,
        "label": _STR,
        "p_negative": _FLOAT,
        "p_neutral": _FLOAT,
        "p_positive": _FLOAT,
        "confidence": _FLOAT,
        "needs_review": _BOOL,
        "model": _STR,
        "revision": _STR,
        "backend": _STR,
        "classified_at": _TS,
    },
    "v_daily_sentiment": {
        "day": _DAY,
        "brand": _STR,
        "source": _STR,
        "channel": _STR,
        "language": _STR,
        "stage": _STR,
        "mentions": _INT,
        "positive": _INT,
        "neutral": _INT,
        "negative": _INT,
        "positive_share": _FLOAT,
        "neutral_share": _FLOAT,
        "negative_share": _FLOAT,
        "net_sentiment": _FLOAT,
    },
    "v_stage_pain_points": {
        "brand": _STR,
        "stage": _STR,
        "pain_point": _STR,
        "mentions": _INT,
        "scored": _INT,
        "negative_share": _FLOAT,
        "authors": _INT,
        "first_seen": _TS,
        "last_seen": _TS,
    },
    "v_exit_signals": {
        "mention_id": _STR,
        "brand": _STR,
        "source": _STR,
        "channel": _STR,
        "created_at": _TS,
        "day": _DAY,
        "language": _STR,
        "stage": _STR,
        "exit_signal": _STR,
        "touchpoint": _STR,
        "pain_point": _STR,
        "link_confidence": _FLOAT,
        "link_needs_review": _BOOL,
        "label": _STR,
        "sentiment_confidence": _FLOAT,
        "author": _STR,
        "url": _STR,
        "text": _STR,
    },
    "v_content_duplicates": {
        "content_hash": _STR,
        "mentions": _INT,
        "sources": _INT,
        "mention_id": _STR,
        "source": _STR,
        "source_kind": _STR,
        "brand": _STR,
        "channel": _STR,
        "created_at": _TS,
        "day": _DAY,
        "url": _STR,
    },
    "v_contact_center_events": {
        "mention_id": _STR,
        "brand": _STR,
        "channel": _STR,
        "created_at": _TS,
        "day": _DAY,
        "customer_id": _STR,
        "interaction_id": _STR,
        "stage": _STR,
        "action_no": _INT,
        "experience_no": _INT,
    },
    "v_journey_facts": {
        "mention_id": _STR,
        "brand": _STR,
        "language": _STR,
        "channel": _STR,
        "source": _STR,
        "source_kind": _STR,
        "day": _DAY,
        "created_at": _TS,
        "sentiment": _STR,
        "sentiment_confidence": _FLOAT,
        "stage": _STR,
        "stage_confidence": _FLOAT,
        "is_primary": _INT,
        "touchpoint": _STR,
        "pain_point": _STR,
        "pain_points": _INT,
        "exit_signal": _INT,
        "exit_type": _STR,
        "exit_reason": _STR,
        "question": _INT,
        "needs_review": _INT,
    },
    "v_escalations": {
        "id": _INT,
        "rule_id": _STR,
        "destination": _STR,
        "status": _STR,
        "priority": _STR,
        "brand": _STR,
        "stage": _STR,
        "pain_point": _STR,
        "exit_type": _STR,
        "mentions": _INT,
        "mention_id": _STR,
        "external_id": _STR,
        "attempts": _INT,
        "runs": _INT,
        "playbook_rule": _STR,
        "reply_language": _STR,
        "published_at": _TS,
        "pulled_at": _TS,
        "created_at": _TS,
        "sent_at": _TS,
        "day": _DAY,
        "minutes_published_to_sent": _FLOAT,
        "minutes_pulled_to_sent": _FLOAT,
    },
    "v_escalation_summary": {
        "brand": _STR,
        "rule_id": _STR,
        "stage": _STR,
        "pain_point": _STR,
        "escalations": _INT,
        "sent": _INT,
        "waiting": _INT,
        "dead": _INT,
        "mentions": _INT,
        "avg_minutes_pulled_to_sent": _FLOAT,
        "max_minutes_pulled_to_sent": _FLOAT,
    },
    "v_contact_center_levels": {
        "brand": _STR,
        "channel": _STR,
        "journeys": _INT,
        "experiences": _INT,
        "interactions": _INT,
        "actions": _INT,
        "events": _INT,
    },
}
# The summary tables are stored copies of their views (see refresh_summaries), plus a key and a timestamp.
for _table, _view in (("summary_stage_pain_points", "v_stage_pain_points"), ("summary_daily_sentiment", "v_daily_sentiment")):
    VIEW_COLUMNS[_table] = {"id": _INT, **VIEW_COLUMNS[_view], "refreshed_at": _TS}

_ORDER: dict[str, tuple[str, ...]] = {
    "v_current_journey_link": ("mention_id", "stage", "pain_point", "exit_signal"),
    "v_mention_sentiment": ("created_at", "mention_id"),
    "v_daily_sentiment": ("day", "brand", "source", "channel", "language", "stage"),
    "v_stage_pain_points": ("brand", "stage", "mentions", "pain_point"),
    "v_exit_signals": ("created_at", "mention_id", "stage", "exit_signal"),
    "v_content_duplicates": ("content_hash", "created_at", "mention_id"),
    "summary_daily_sentiment": ("day", "brand", "source", "channel", "language", "stage"),
    "v_contact_center_events": ("customer_id", "created_at", "mention_id"),
    "v_contact_center_levels": ("brand", "channel"),
    "v_journey_facts": ("created_at", "mention_id", "stage"),
    "v_escalations": ("created_at", "id"),
    "v_escalation_summary": ("escalations", "brand", "rule_id", "stage", "pain_point"),
    "summary_stage_pain_points": ("brand", "stage", "mentions", "pain_point"),
}
_DESCENDING = {("v_stage_pain_points", "mentions"), ("summary_stage_pain_points", "mentions"),
               ("v_escalation_summary", "escalations")}

EQUALITY_FILTERS = ("brand", "source", "language", "stage")
DAY_FILTERS = ("since", "until")  # inclusive day range on the view's ``day`` column
PRODUCT_FILTER = "product"  # a configured product among the mention's matched terms (views with mention_id)
WHERE_ALIASES = {"lang": "language"}
"""Short names accepted by ``--where`` (``lang=th``)."""
_NOT_WHERE = frozenset({"text", "url"})  # free text is searched with SQL, not filtered by equality


def where_columns(name: str) -> list[str]:
    """Columns of a whitelisted view that ``where`` may test for equality (text, number and flag columns)."""
    return [col for col, type_ in view_columns_typed(name).items()
            if col not in _NOT_WHERE and isinstance(type_, sa.String | sa.Integer | sa.Boolean)]


def view_columns_typed(name: str) -> dict[str, TypeEngine[Any]]:
    columns = VIEW_COLUMNS.get(name)
    if columns is None:
        raise StorageError(f"view {name!r} is not queryable; choose one of: {', '.join(VIEW_COLUMNS)}")
    return columns


def _where_value(name: str, column: str, type_: TypeEngine[Any], value: str) -> object:
    if isinstance(type_, sa.Boolean):
        folded = value.strip().casefold()
        if folded in {"1", "true", "yes"}:
            return True
        if folded in {"0", "false", "no"}:
            return False
        raise StorageError(f"where {column}={value!r} on {name}: use true/false or 1/0")
    if isinstance(type_, sa.Integer):
        try:
            return int(value)
        except ValueError:
            raise StorageError(f"where {column}={value!r} on {name}: {column} is a whole number") from None
    return value


def where_clauses(table: sa.TableClause, name: str, where: Mapping[str, Sequence[str]]) -> list[sa.ColumnElement[bool]]:
    """``column IN (values)`` per entry; column names must be in ``where_columns(name)`` (aliases allowed).

    Values are bound parameters; only whitelisted column names reach the SQL.
    """
    allowed = where_columns(name)
    clauses: list[sa.ColumnElement[bool]] = []
    for key, values in where.items():
        column = WHERE_ALIASES.get(key, key)
        if column not in allowed:
            raise StorageError(f"where column {key!r} is not available on view {name}; use one of: {', '.join(allowed)}")
        if not values:
            raise StorageError(f"where {key}= needs at least one value")
        type_ = VIEW_COLUMNS[name][column]
        clauses.append(table.c[column].in_([_where_value(name, column, type_, v) for v in values]))
    return clauses


def _has_product(mention_id: sa.ColumnElement[Any], product: str, dialect: str) -> sa.ColumnElement[bool]:
    """The mention's ``matched_terms`` JSON array holds exactly ``product``."""
    if dialect == "postgresql":
        terms = sa.select(mention_table.c.id).where(
            mention_table.c.matched_terms.op("@>")(sa.func.jsonb_build_array(sa.cast(product, sa.Text)))
        )
    else:
        each = sa.func.json_each(mention_table.c.matched_terms).table_valued("value").alias("term")
        terms = sa.select(mention_table.c.id).select_from(mention_table).join(each, sa.true()).where(
            each.c.value == product
        )
    return mention_id.in_(terms)


def view(name: str) -> sa.TableClause:
    """A typed, read-only handle on a whitelisted view."""
    columns = view_columns_typed(name)
    return sa.table(name, *(sa.column(col, type_) for col, type_ in columns.items()))


def view_probe(name: str) -> sa.TextClause:
    """``SELECT * ... WHERE 1 = 0`` on a whitelisted view: reports the columns the database really has."""
    view(name)  # raises for names outside the whitelist; only whitelisted names reach the SQL text
    return sa.text(f"SELECT * FROM {name} WHERE 1 = 0")


def _as_day(key: str, value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise StorageError(f"filter {key}={value!r} is not a day: pass a date or YYYY-MM-DD")


def view_query(
    name: str,
    filters: Mapping[str, object],
    limit: int | None,
    *,
    dialect: str = "sqlite",
    where: Mapping[str, Sequence[str]] | None = None,
) -> sa.Select[Any]:
    """SELECT * from a whitelisted view with whitelisted filters, in the view's stable order.

    ``where`` maps a column (see ``where_columns``) to the values it may take.
    """
    table = view(name)
    stmt = sa.select(table).where(*where_clauses(table, name, where or {}))
    for key, value in filters.items():
        if key == PRODUCT_FILTER and "mention_id" in table.c:
            if not isinstance(value, str):
                raise StorageError(f"filter {key}={value!r} must be a string")
            stmt = stmt.where(_has_product(table.c.mention_id, value, dialect))
        elif key in EQUALITY_FILTERS and key in table.c:
            if not isinstance(value, str):
                raise StorageError(f"filter {key}={value!r} must be a string")
            stmt = stmt.where(table.c[key] == value)
        elif key in DAY_FILTERS and "day" in table.c:
            day = _as_day(key, value)
            stmt = stmt.where(table.c.day >= day if key == "since" else table.c.day <= day)
        else:
            allowed = [k for k in EQUALITY_FILTERS if k in table.c] + (list(DAY_FILTERS) if "day" in table.c else [])
            allowed += [PRODUCT_FILTER] if "mention_id" in table.c else []
            raise StorageError(f"filter {key!r} is not available on view {name}; use one of: {', '.join(allowed)}")
    for col in _ORDER[name]:
        stmt = stmt.order_by(table.c[col].desc() if (name, col) in _DESCENDING else table.c[col])
    if limit is not None:
        if limit <= 0:
            raise StorageError(f"limit must be a positive number of rows or None, got {limit}")
        stmt = stmt.limit(limit)
    return stmt


def stage_summary(
    conn: sa.Connection, *, brand: str | None, since: datetime | None, until: datetime | None
) -> list[StageSummary]:
    """Per stage: sentiment of scored mentions created in [since, until) and the top 3 pain points."""
    ms, links = view("v_mention_sentiment"), view("v_current_journey_link")
    scope = sa.select(ms.c.mention_id, ms.c.label).where(ms.c.label.is_not(None))
    if brand is not None:
        scope = scope.where(ms.c.brand == brand)
    if since is not None:
        scope = scope.where(ms.c.created_at >= since)
    if until is not None:
        scope = scope.where(ms.c.created_at < until)
    scoped = scope.subquery("scoped")
    # Join the link tables (not a DISTINCT subquery of all links: SQLite scanned that once per scoped
    # mention, 10 s on 50k mentions); each (mention, stage) pair counts once.
    run, link = link_run_table.c, link_table.c
    pairs = (
        sa.select(scoped.c.mention_id, scoped.c.label, sa.func.coalesce(link.stage, "unlinked").label("stage"))
        .select_from(
            scoped.outerjoin(link_run_table, sa.and_(run.mention_id == scoped.c.mention_id, run.is_current)).outerjoin(
                link_table, sa.and_(link.mention_id == run.mention_id, link.taxonomy_version == run.taxonomy_version)
            )
        )
        .distinct()
        .subquery("pairs")
    )

    def count(label: str) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((pairs.c.label == label, 1), else_=0))

    totals = conn.execute(
        sa.select(pairs.c.stage, sa.func.count(), count("positive"), count("neutral"), count("negative"))
        .group_by(pairs.c.stage)
    ).all()
    pains = conn.execute(
        sa.select(links.c.stage, links.c.pain_point, sa.func.count(sa.distinct(links.c.mention_id)))
        .select_from(scoped.join(links, links.c.mention_id == scoped.c.mention_id))
        .where(links.c.pain_point.is_not(None))
        .group_by(links.c.stage, links.c.pain_point)
    ).all()
    top: dict[str, list[tuple[str, int]]] = {}
    for stage_name, pain_point, n in sorted(pains, key=lambda r: (r[0], -r[2], r[1])):
        top.setdefault(stage_name, []).append((pain_point, int(n)))
    out = []
    for stage_name, n, pos, neu, neg in totals:
        n, pos, neu, neg = int(n), int(pos), int(neu), int(neg)
        out.append(
            StageSummary(
                stage=stage_name,
                mentions=n,
                positive=pos,
                neutral=neu,
                negative=neg,
                positive_share=pos / n,
                neutral_share=neu / n,
                negative_share=neg / n,
                net_sentiment=(pos - neg) / n,
                top_pain_points=tuple(top.get(stage_name, [])[:3]),
            )
        )
    return sorted(out, key=lambda s: (-s.mentions, s.stage))


def linked_mentions(
    conn: sa.Connection,
    *,
    brand: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    after_id: str | None,
) -> list[LinkedMention]:
    """Current links of mentions created in [since, until), ordered by mention id; ``limit`` counts mentions."""
    ms, links = view("v_mention_sentiment"), view("v_current_journey_link")
    ids = sa.select(links.c.mention_id).distinct().join(ms, ms.c.mention_id == links.c.mention_id)
    if brand is not None:
        ids = ids.where(ms.c.brand == brand)
    if since is not None:
        ids = ids.where(ms.c.created_at >= since)
    if until is not None:
        ids = ids.where(ms.c.created_at < until)
    if after_id is not None:
        ids = ids.where(links.c.mention_id > after_id)
    if limit is not None:
        if limit <= 0:
            raise StorageError(f"limit must be a positive number of mentions or None, got {limit}")
        ids = ids.order_by(links.c.mention_id).limit(limit)
    page = ids.subquery("page")
    stmt = (
        sa.select(
            ms.c.mention_id,
            ms.c.brand,
            ms.c.source,
            ms.c.channel,
            ms.c.language,
            ms.c.author,
            ms.c.text,
            ms.c.created_at,
            links.c.stage,
            links.c.touchpoint,
            links.c.pain_point,
            links.c.exit_signal,
            links.c.confidence.label("link_confidence"),
            links.c.needs_review.label("link_needs_review"),
            ms.c.label,
            ms.c.confidence.label("sentiment_confidence"),
            ms.c.needs_review.label("sentiment_needs_review"),
        )
        .select_from(page.join(links, links.c.mention_id == page.c.mention_id))
        .join(ms, ms.c.mention_id == page.c.mention_id)
        .order_by(ms.c.mention_id, links.c.stage, links.c.pain_point, links.c.exit_signal, links.c.touchpoint)
    )
    return [LinkedMention(**row) for row in conn.execute(stmt).mappings()]


def refresh_summaries(conn: sa.Connection, now: datetime) -> int:
    """Rewrite ``summary_daily_sentiment`` and ``summary_stage_pain_points`` from their views.

    Returns the rows written to ``summary_daily_sentiment``.
    """
    xact_lock(conn, "summary tables")  # delete-then-insert: a concurrent refresh must not insert twice
    daily = view("v_daily_sentiment")
    columns = list(VIEW_COLUMNS["v_daily_sentiment"])
    conn.execute(summary_daily_table.delete())
    source = sa.select(*(daily.c[c] for c in columns), sa.literal(now, UTCDateTime()).label("refreshed_at"))
    conn.execute(summary_daily_table.insert().from_select([*columns, "refreshed_at"], source))
    pains = view("v_stage_pain_points")
    pain_columns = list(VIEW_COLUMNS["v_stage_pain_points"])
    conn.execute(summary_pain_table.delete())
    pain_source = sa.select(*(pains.c[c] for c in pain_columns), sa.literal(now, UTCDateTime()).label("refreshed_at"))
    conn.execute(summary_pain_table.insert().from_select([*pain_columns, "refreshed_at"], pain_source))
    return int(conn.execute(sa.select(sa.func.count()).select_from(summary_daily_table)).scalar_one())


def counts(conn: sa.Connection) -> dict[str, int]:
    """Row counts for status output: mentions, quarantined, with_language, with_sentiment, linked."""
    m, s, r = mention_table.c, sentiment_table.c, link_run_table.c
    n = sa.func.count()
    return {
        "mentions": conn.execute(sa.select(n).select_from(mention_table)).scalar_one(),
        "quarantined": conn.execute(sa.select(n).select_from(quarantine_table)).scalar_one(),
        "with_language": conn.execute(sa.select(n).where(m.language.is_not(None))).scalar_one(),
        "with_sentiment": conn.execute(sa.select(n).where(s.is_current)).scalar_one(),
        "linked": conn.execute(sa.select(n).where(r.is_current)).scalar_one(),
    }
