"""The time cursor shared by the review and feed listeners (YouTube, Google Play, App Store).

A cursor is the newest item time a query has yielded plus the ids seen at exactly that time,
so items that share a timestamp are neither lost nor repeated on the next run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor


def load_time_cursor(raw: Cursor | None, owner: str) -> tuple[datetime | None, frozenset[str]]:
    """``(time, ids)`` of a stored cursor (``(None, {})`` for none); naive times are read as UTC.

    ``owner`` names the source in the error, e.g. "youtube source 'brand-videos'".
    """
    if raw is None:
        return None, frozenset()
    try:
        data = json.loads(raw)
        at = datetime.fromisoformat(str(data["t"]).replace("Z", "+00:00"))
        return (at if at.tzinfo else at.replace(tzinfo=UTC)), frozenset(str(i) for i in data["ids"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ListenerError(f"{owner}: stored cursor {raw[:80]!r} is not a time cursor "
                            "(delete the stored cursor to start again)") from exc


def dump_time_cursor(at: datetime, ids: frozenset[str]) -> Cursor:
    return json.dumps({"t": at.astimezone(UTC).isoformat(), "ids": sorted(ids)})
