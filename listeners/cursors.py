"""The time cursor shared by the review and feed listeners (YouTube, Google Play, App Store, RSS).

A cursor is the newest item time a query has yielded plus the ids seen at exactly that time,
so items that share a timestamp are neither lost nor repeated on the next run.

Overlap: an item can reach a service after newer ones (released from moderation, backdated,
indexed late). A run therefore also takes what is dated within ``overlap_minutes`` behind the
cursor; those items are yielded first with the unchanged cursor, the store drops the ones it
has, and the pull counts the new ones as late arrivals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow

Item = Mention | QuarantinedRow


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


@dataclass
class TimeWindow:
    """What a newest-first scan found against a time cursor ``(at, ids)`` with an overlap behind it."""

    at: datetime | None
    ids: frozenset[str]
    overlap_s: float
    fresh: dict[str, tuple[datetime, Item]] = field(default_factory=dict)
    behind: dict[str, Item] = field(default_factory=dict)  # dated within the overlap: yielded again
    reached: bool = False  # an item at or before the overlap floor was seen: older pages are stored

    @property
    def floor(self) -> datetime | None:
        return None if self.at is None else self.at - timedelta(seconds=self.overlap_s)

    def add(self, native_id: str, when: datetime, item: Item, *, keep_latest: bool = False) -> None:
        """File one scanned item; the first copy of an id wins unless ``keep_latest`` (then the newest)."""
        at, floor = self.at, self.floor
        if at is None or when > at or (when == at and native_id not in self.ids):
            previous = self.fresh.get(native_id)
            if previous is None or (keep_latest and when > previous[0]):
                self.fresh[native_id] = (when, item)
        elif floor is not None and when > floor:
            self.behind.setdefault(native_id, item)
        else:
            self.reached = True

    def ordered(self, limit: int) -> list[tuple[str, tuple[datetime, Item]]]:
        ordered = sorted(self.fresh.items(), key=lambda kv: (kv[1][0], kv[0]))
        if self.at is None:
            ordered = ordered[-limit:]  # first run: the newest `limit` items, no deeper backfill
        return ordered[:limit]

    def items(self, cursor: Cursor | None, limit: int, overlap_ids: set[str]) -> Iterator[tuple[Item, Cursor | None]]:
        """The overlap items (unchanged cursor) then the fresh ones oldest first, each with its cursor."""
        for native_id, item in self.behind.items():
            if native_id not in self.fresh:
                if isinstance(item, Mention):
                    overlap_ids.add(item.id)
                yield item, cursor
        at, ids = self.at, self.ids
        for native_id, (when, item) in self.ordered(limit):
            ids = ids | {native_id} if when == at else frozenset({native_id})
            at = when
            yield item, dump_time_cursor(when, ids)
