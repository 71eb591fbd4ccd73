"""Datasette metadata for a SQLite store: view and column descriptions from storage/VIEWS.md, canned queries.

``datasette_metadata(database)`` returns the metadata document (write it as YAML or JSON); the
canned queries answer the standard analyst questions on ``v_journey_facts`` and take optional
parameters (an empty value means "any"). The SQL is SQLite's, as Datasette reads only SQLite.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

VIEWS_DOC = Path(__file__).with_name("VIEWS.md")
HIDDEN_TABLES = ("alembic_version", "source_cursor", "quarantine", "journey_link_run", "sentiment_correction",
                 "coaching_review")
"""Bookkeeping and raw-input tables left out of Datasette's table list (still reachable by URL and SQL)."""

_FILTERS = """
      (:brand = '' OR brand = :brand)
  AND (:language = '' OR language = :language)
  AND (:channel = '' OR channel = :channel)
  AND (:since = '' OR day >= :since)
  AND (:until = '' OR day <= :until)"""


def _distinct(condition: str) -> str:
    return f"COUNT(DISTINCT CASE WHEN {condition} THEN mention_id END)"


def _share(numerator: str) -> str:
    return f"ROUND(1.0 * ({numerator}) / NULLIF({_distinct('sentiment IS NOT NULL')}, 0), 3)"


_NEGATIVE, _POSITIVE = _distinct("sentiment = 'negative'"), _distinct("sentiment = 'positive'")

CANNED_QUERIES: dict[str, dict[str, str]] = {
    "negative_share_by_stage": {
        "title": "Negative share by stage",
        "description": "Per journey stage: mentions, scored mentions, negative share and net sentiment. "
                       "Leave a field empty for all; days are YYYY-MM-DD (UTC).",
        "sql": f"""SELECT stage,
       COUNT(DISTINCT mention_id) AS mentions,
       {_distinct('sentiment IS NOT NULL')} AS scored,
       {_share(_NEGATIVE)} AS negative_share,
       {_share(f'{_POSITIVE} - {_NEGATIVE}')} AS net_sentiment
FROM v_journey_facts
WHERE {_FILTERS}
GROUP BY stage
ORDER BY stage""",
    },
    "top_exit_reasons": {
        "title": "Top exit reasons per brand",
        "description": "Mentions with an exit signal per brand, exit type (what the customer does) and exit "
                       "reason (the pain point the mention names), most frequent first.",
        "sql": f"""SELECT brand, exit_type, COALESCE(exit_reason, '(none named)') AS exit_reason,
       COUNT(DISTINCT mention_id) AS mentions
FROM v_journey_facts
WHERE exit_signal = 1 AND {_FILTERS}
GROUP BY brand, exit_type, exit_reason
ORDER BY brand, mentions DESC, exit_type, exit_reason""",
    },
    "pain_points_by_channel": {
        "title": "Which channel has the most pain points",
        "description": "Per channel: mentions, mentions with a pain point, and their share; most pain points first.",
        "sql": f"""SELECT channel,
       COUNT(DISTINCT mention_id) AS mentions,
       {_distinct('pain_point IS NOT NULL')} AS with_pain_point,
       ROUND(1.0 * {_distinct('pain_point IS NOT NULL')} / COUNT(DISTINCT mention_id), 3) AS pain_point_share
FROM v_journey_facts
WHERE {_FILTERS}
GROUP BY channel
ORDER BY with_pain_point DESC, channel""",
    },
    "pain_points_by_stage": {
        "title": "Pain points per stage",
        "description": "Mentions per stage and pain point, with their negative share; most mentioned first.",
        "sql": f"""SELECT stage, pain_point,
       COUNT(DISTINCT mention_id) AS mentions,
       {_share(_NEGATIVE)} AS negative_share
FROM v_journey_facts
WHERE pain_point IS NOT NULL AND {_FILTERS}
GROUP BY stage, pain_point
ORDER BY mentions DESC, stage, pain_point""",
    },
    "weekly_trend_by_stage": {
        "title": "Weekly volume and net sentiment per stage",
        "description": "Per week (starting Monday, UTC) and stage: mentions and net sentiment.",
        "sql": f"""SELECT date(day, '-6 days', 'weekday 1') AS week, stage,
       COUNT(DISTINCT mention_id) AS mentions,
       {_share(f'{_POSITIVE} - {_NEGATIVE}')} AS net_sentiment
FROM v_journey_facts
WHERE {_FILTERS}
GROUP BY week, stage
ORDER BY week, stage""",
    },
}


def documented_views(text: str | None = None) -> dict[str, dict[str, Any]]:
    """Per ``### `name`: title`` section of storage/VIEWS.md: its title and the columns its tables describe."""
    doc = VIEWS_DOC.read_text(encoding="utf-8") if text is None else text
    views: dict[str, dict[str, Any]] = {}
    for section in re.split(r"^### ", doc, flags=re.MULTILINE)[1:]:
        heading = re.match(r"`(\w+)`:\s*(.+)", section)
        if heading is None:
            continue
        columns: dict[str, str] = {}
        for line in section.splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not line.startswith("| `") or len(cells) < 2:
                continue
            meaning = " | ".join(cells[1:]).replace("`", "")
            for name in re.findall(r"`(\w+)`", cells[0]):
                columns[name] = meaning
        views[heading.group(1)] = {"description": heading.group(2).strip(), "columns": columns}
    return views


def datasette_metadata(database: str) -> dict[str, Any]:
    """Datasette metadata for the SQLite file whose name (without .db) is ``database``."""
    tables: dict[str, Any] = {name: {"hidden": True} for name in HIDDEN_TABLES}
    for name, doc in documented_views().items():
        tables[name] = {"description": doc["description"], **({"columns": doc["columns"]} if doc["columns"] else {})}
    return {
        "title": "journeypulse",
        "description": "Social listening, sentiment and customer-journey views. Start with the canned queries "
                       "below or the v_journey_facts view (one row per mention and stage); columns are "
                       "documented in storage/VIEWS.md.",
        "source": "storage/VIEWS.md",
        "databases": {database: {"tables": tables, "queries": CANNED_QUERIES}},
    }


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///...`` URL; None for other databases or an in-memory SQLite."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)
