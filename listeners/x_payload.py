"""X API v2 recent-search payloads: the stored cursor and the pure page parser (no I/O).

See ``listeners/x.py`` for how the cursor's ranges (``since_id``, ``gap_top``, ``high``) are used.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from listeners.base import BrandMatcher, Item, Pseudonymise
from listeners.query_building import QueryGroup


@dataclass(frozen=True)
class XCursor:
    """What is stored for one query group (see the module docstring)."""

    since_id: str | None = None
    gap_top: str | None = None
    high: str | None = None
    month: str = ""
    read: int = 0

    def encode(self) -> Cursor:
        data = {k: v for k, v in vars(self).items() if v not in (None, "")}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: Cursor | None) -> XCursor:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ListenerError(f"x listener: stored cursor {cursor[:80]!r} is not an x cursor; delete it to restart") from exc


def parse_search_page(
    payload: Mapping[str, object],
    *,
    source: str,
    group: QueryGroup,
    matcher: BrandMatcher,
    pseudonymise: Pseudonymise,
    fetched_at: datetime,
) -> list[tuple[str | None, Item]]:
    """Pure parser: one recent-search response -> ``(tweet id, item)`` in the page's order.

    An edited post keeps its first version's id as ``native_id`` so every version updates one
    mention; the id used for paging is the current version's.
    """
    users = {}
    includes = payload.get("includes")
    if isinstance(includes, Mapping):
        users = {u.get("id"): u for u in includes.get("users", []) or [] if isinstance(u, Mapping)}
    out: list[tuple[str | None, Item]] = []
    data = payload.get("data") or []
    if not isinstance(data, list):
        return [(None, QuarantinedRow(source, "x page 'data' is not a list", json.dumps(payload)[:5000], group.key))]
    for tweet in data:
        out.append(_parse_tweet(tweet, users, source, group, matcher, pseudonymise, fetched_at))
    return out


def _parse_tweet(
    tweet: object,
    users: Mapping[object, Mapping[str, object]],
    source: str,
    group: QueryGroup,
    matcher: BrandMatcher,
    pseudonymise: Pseudonymise,
    fetched_at: datetime,
) -> tuple[str | None, Item]:
    raw = json.dumps(tweet, ensure_ascii=False)[:5000]
    if not isinstance(tweet, Mapping):
        return None, QuarantinedRow(source, "x tweet is not an object", raw, group.key)
    tweet_id = str(tweet.get("id") or "") or None
    text, created = tweet.get("text"), tweet.get("created_at")
    locator = f"{group.key}:{tweet_id}"
    if not tweet_id or not isinstance(text, str) or not text.strip() or not isinstance(created, str):
        return tweet_id, QuarantinedRow(source, "x tweet lacks id, text or created_at", raw, locator)
    try:
        created_at = datetime.fromisoformat(created.replace("Z", "+00:00"))
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
    except ValueError:
        return tweet_id, QuarantinedRow(source, f"x tweet created_at {created!r} is not ISO 8601", raw, locator)
    history = tweet.get("edit_history_tweet_ids") or [tweet_id]
    native_id = str(history[0]) if isinstance(history, list) and history else tweet_id
    author_id = tweet.get("author_id")
    user = users.get(author_id, {})
    metrics = user.get("public_metrics") if isinstance(user, Mapping) else None
    text = html.unescape(text)  # v2 sends &, < and > as &amp; &lt; &gt; (only those): undo it once
    match = matcher.match(text)
    metadata: dict[str, str | int | float | bool | None] = {"query": group.key, "version_id": tweet_id}
    if native_id != tweet_id:
        metadata["edited"] = True
    if isinstance(metrics, Mapping) and isinstance(metrics.get("followers_count"), int):
        metadata["author_followers"] = metrics["followers_count"]
    verified = user.get("verified") if isinstance(user, Mapping) else None
    if isinstance(verified, bool):
        metadata["author_verified"] = verified
    tweet_metrics = tweet.get("public_metrics")  # engagement when fetched (escalation rules read it)
    if isinstance(tweet_metrics, Mapping):
        for key in ("like_count", "retweet_count", "reply_count", "quote_count"):
            value = tweet_metrics.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                metadata[key] = value
    try:
        mention = Mention.build(
            source=source,
            source_kind="x",
            native_id=native_id,
            text=text,
            created_at=created_at,
            fetched_at=fetched_at,
            url=f"https://x.com/i/web/status/{tweet_id}",
            author=pseudonymise(f"x:{author_id}") if author_id else None,
            channel="social",
            brand=match.brand if match else group.brand,
            matched_terms=match.terms if match else (),
            language_hint=tweet.get("lang") if isinstance(tweet.get("lang"), str) else None,
            metadata=metadata,
        )
    except ValueError as exc:
        return tweet_id, QuarantinedRow(source, f"x tweet rejected: {exc.__class__.__name__}", raw, locator)
    return tweet_id, mention


def tweet_id_key(tweet_id: str) -> int:
    return int(tweet_id) if tweet_id.isdigit() else -1


def next_token_of(payload: Mapping[str, object]) -> str | None:
    meta = payload.get("meta")
    token = meta.get("next_token") if isinstance(meta, Mapping) else None
    return token if isinstance(token, str) and token else None
