"""Grouped aggregates over ``v_journey_facts`` (``journeypulse query --by``): counts, shares, top pain points.

Group and metric names come only from the tuples below; filter values are bound parameters. Counts
are distinct mentions, so a mention linked to two stages counts once per stage when grouped by stage
and once overall otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from journeypulse.errors import StorageError
from storage.views import WHERE_ALIASES, view, where_clauses, where_columns

FACT_VIEW = "v_journey_facts"
DERIVED_GROUPS = ("week", "month")
"""``week``: the Monday (YYYY-MM-DD) of the UTC day's ISO week; ``month``: YYYY-MM."""
COUNT_METRICS = ("mentions", "scored", "negative", "neutral", "positive", "pain_points", "exit_signals",
                 "questions", "needs_review")
SHARE_METRICS = ("negative_share", "neutral_share", "positive_share", "net_sentiment")
TOP_METRICS = {"top_pain_points": "pain_point", "top_exit_types": "exit_type", "top_exit_reasons": "exit_reason"}
METRICS = (*COUNT_METRICS, *SHARE_METRICS, *TOP_METRICS)
DEFAULT_METRICS = ("mentions", "negative_share", "neutral_share", "positive_share", "net_sentiment", "pain_points",
                   "exit_signals", "top_pain_points")
TOP_N = 3


@dataclass(frozen=True)
class FactQuery:
    """What to group by, which facts to keep, and what to compute (see ``aggregate_facts``)."""

    by: Sequence[str]
    metrics: Sequence[str] = DEFAULT_METRICS
    where: Mapping[str, Sequence[str]] | None = None
    since: date | None = None
    until: date | None = None
    sort: str | None = None
    limit: int | None = None


def group_columns() -> list[str]:
    """Names accepted by ``by``: the fact view's text and flag columns, ``day``, ``week`` and ``month``."""
    return [*where_columns(FACT_VIEW), "day", *DERIVED_GROUPS]


def _group(table: sa.TableClause, name: str, dialect: str) -> sa.ColumnElement[Any]:
    day = table.c.day
    if name == "week":
        if dialect == "postgresql":
            return sa.func.to_char(sa.func.date_trunc("week", day), "YYYY-MM-DD").label(name)
        return sa.func.date(day, "-6 days", "weekday 1").label(name)
    if name == "month":
        if dialect == "postgresql":
            return sa.func.to_char(day, "YYYY-MM").label(name)
        return sa.func.strftime("%Y-%m", day).label(name)
    return table.c[name].label(name)


def _distinct(table: sa.FromClause, condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count(sa.distinct(sa.case((condition, table.c.mention_id))))


def _counts(table: sa.FromClause) -> dict[str, sa.ColumnElement[int]]:
    c = table.c
    return {
        "mentions": sa.func.count(sa.distinct(c.mention_id)),
        "scored": _distinct(table, c.sentiment.is_not(None)),
        "negative": _distinct(table, c.sentiment == "negative"),
        "neutral": _distinct(table, c.sentiment == "neutral"),
        "positive": _distinct(table, c.sentiment == "positive"),
        "pain_points": _distinct(table, c.pain_point.is_not(None)),
        "exit_signals": _distinct(table, c.exit_signal == 1),
        "questions": _distinct(table, c.question == 1),
        "needs_review": _distinct(table, c.needs_review == 1),
    }


def validate_query(query: FactQuery) -> list[str]:
    """The group columns (aliases resolved); raises StorageError for a name outside the whitelists."""
    by = [WHERE_ALIASES.get(name, name) for name in query.by]
    allowed = group_columns()
    unknown = [name for name in by if name not in allowed]
    if unknown:
        raise StorageError(f"cannot group by {', '.join(unknown)}; use one of: {', '.join(allowed)}")
    if len(set(by)) != len(by):
        raise StorageError(f"group by each column once, got {', '.join(query.by)}")
    bad = [m for m in query.metrics if m not in METRICS]
    if bad or not query.metrics:
        raise StorageError(f"unknown metric {', '.join(bad) or '(none given)'}; use some of: {', '.join(METRICS)}")
    numeric = (*COUNT_METRICS, *SHARE_METRICS)
    if query.sort is not None and query.sort not in numeric:
        raise StorageError(f"sort by one of: {', '.join(numeric)}; got {query.sort!r}")
    if query.limit is not None and query.limit <= 0:
        raise StorageError(f"limit must be a positive number of groups or None, got {query.limit}")
    where_clauses(view(FACT_VIEW), FACT_VIEW, query.where or {})  # checks names and values
    return by


def _top(conn: sa.Connection, scope: sa.Subquery, by: list[str], column: str) -> dict[tuple[Any, ...], str]:
    """Per group: the ``TOP_N`` most frequent values of ``column`` as 'value (mentions)', most first."""
    keys = [scope.c[name] for name in by]
    n = sa.func.count(sa.distinct(scope.c.mention_id))
    rows = conn.execute(
        sa.select(*keys, scope.c[column], n).where(scope.c[column].is_not(None)).group_by(*keys, scope.c[column])
    ).all()
    ranked: dict[tuple[Any, ...], list[tuple[int, str]]] = {}
    for row in rows:
        ranked.setdefault(tuple(row[: len(by)]), []).append((int(row[-1]), str(row[-2])))
    return {key: ", ".join(f"{value} ({count})" for count, value in sorted(items, key=lambda i: (-i[0], i[1]))[:TOP_N])
            for key, items in ranked.items()}


def aggregate_facts(conn: sa.Connection, query: FactQuery, *, dialect: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One row per group of ``query.by`` (all facts in one row when empty) with the chosen metrics.

    Shares are over scored mentions (NULL when none is scored), rounded to 3 places;
    ``net_sentiment`` = (positive - negative) / scored. Rows are in group order, or by ``sort``
    (largest first, ties in group order).
    """
    by = validate_query(query)
    facts = view(FACT_VIEW)
    conditions = where_clauses(facts, FACT_VIEW, query.where or {})
    if query.since is not None:
        conditions.append(facts.c.day >= query.since)
    if query.until is not None:
        conditions.append(facts.c.day <= query.until)
    scope = (
        sa.select(facts, *(_group(facts, name, dialect) for name in DERIVED_GROUPS if name in by))
        .where(*conditions)
        .subquery("facts")
    )
    keys = [scope.c[name] for name in by]
    counts = _counts(scope)
    stmt = sa.select(*keys, *(expr.label(name) for name, expr in counts.items()))
    if keys:
        stmt = stmt.group_by(*keys).order_by(*keys)
    grouped = conn.execute(stmt).mappings().all()
    tops = {metric: _top(conn, scope, by, column) for metric, column in TOP_METRICS.items() if metric in query.metrics}

    def share(row: sa.RowMapping, numerator: int) -> float | None:
        return None if not row["scored"] else round(numerator / row["scored"], 3)

    out: list[dict[str, Any]] = []
    for row in grouped:
        if not row["mentions"]:
            continue  # no fact matched: an empty "all" group is no group
        key = tuple(row[name] for name in by)
        values: dict[str, Any] = {name: int(row[name]) for name in COUNT_METRICS}
        values["negative_share"] = share(row, row["negative"])
        values["neutral_share"] = share(row, row["neutral"])
        values["positive_share"] = share(row, row["positive"])
        values["net_sentiment"] = share(row, row["positive"] - row["negative"])
        for metric, per_group in tops.items():
            values[metric] = per_group.get(key, "")
        out.append({**dict(zip(by, key, strict=True)), **values})
    if query.sort is not None:
        metric = query.sort
        out.sort(key=lambda r: -(r[metric] if r[metric] is not None else float("-inf")))
    if query.limit is not None:
        out = out[: query.limit]
    columns = [*by, *query.metrics]
    return columns, [tuple(r[c] for c in columns) for r in out]
