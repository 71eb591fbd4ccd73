"""YouTube Data API v3 listener: top-level comments on configured videos and channels.

Cursor (per query ``video:<id>`` or ``channel:<id>``): JSON ``{"t": <newest publishedAt yielded>,
"ids": [<comment ids published at exactly t>]}``. ``commentThreads.list`` with ``order=time``
returns newest first, so a run pages back until it reaches ``t``, buffers, and yields oldest
first; each yielded cursor covers everything up to and including that comment. Comments on
the scanned pages whose ``updatedAt`` is after ``t`` (edited since) are yielded again first
with the old cursor, so the store updates them in place. Replies are not collected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import cast

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from journeypulse.retry_after import retry_after_seconds
from listeners.base import (
    BrandedListener,
    BrandMatcher,
    Item,
    Pseudonymise,
    overlap_seconds,
    rejected,
    require_secret,
    send,
)
from listeners.cursors import TimeWindow, load_time_cursor
from listeners.retry import TransientError, call_with_retries

logger = logging.getLogger(__name__)

KIND = "youtube"
API_URL = "https://www.googleapis.com/youtube/v3"
Payload = dict[str, object]


class YouTubeParams(BaseModel):
    """``params`` of a youtube source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_ids: list[str] = []
    channel_ids: list[str] = Field(default=[], description="all comment threads related to the channel")
    brand: str | None = Field(default=None, description="assign every comment to this brand (brand's own videos)")
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=50, ge=1, description="pages per query and run (1 quota unit each)")
    timeout_s: float = Field(default=20.0, gt=0)
    api_url: str = API_URL

    @model_validator(mode="after")
    def _something_to_read(self) -> YouTubeParams:
        if not self.video_ids and not self.channel_ids:
            raise ValueError("set at least one of video_ids or channel_ids")
        return self


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)






def _dig(payload: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def parse_comment_thread(
    thread: Payload,
    *,
    source: str,
    query: str,
    fetched_at: datetime,
    matcher: BrandMatcher,
    brand: str | None,
    pseudonymise: Pseudonymise,
) -> Mention | QuarantinedRow | None:
    """One ``youtube#commentThread`` resource -> its top-level comment as a Mention.

    None when the comment mentions no configured brand (and no ``brand`` is assigned).
    """
    snippet = _dig(thread, "snippet", "topLevelComment", "snippet")
    native_id = _dig(thread, "snippet", "topLevelComment", "id") or thread.get("id")
    locator = f"{query}:{native_id}"
    if not isinstance(snippet, dict) or not isinstance(native_id, str):
        return QuarantinedRow(source, "comment thread has no topLevelComment id/snippet", json.dumps(thread), locator)
    text = snippet.get("textOriginal") or snippet.get("textDisplay") or ""
    if not isinstance(text, str) or not text.strip():
        return QuarantinedRow(source, "comment has no text (deleted or held for review)", json.dumps(thread), locator)
    found = matcher.match(text)
    if brand is None and found is None:
        return None
    try:
        published = _parse_time(snippet.get("publishedAt"))
        updated = _parse_time(snippet.get("updatedAt") or snippet.get("publishedAt"))
        author_id = _dig(snippet, "authorChannelId", "value") or snippet.get("authorDisplayName")
        video_id = snippet.get("videoId") or _dig(thread, "snippet", "videoId")
        return Mention.build(
            source=source,
            source_kind=KIND,
            native_id=native_id,
            text=text,
            created_at=published,
            fetched_at=fetched_at,
            url=f"https://www.youtube.com/watch?v={video_id}&lc={native_id}" if video_id else None,
            author=pseudonymise(author_id) if isinstance(author_id, str) and author_id else None,
            channel="youtube",
            brand=brand or (found.brand if found else None),
            matched_terms=found.terms if found and (brand is None or found.brand == brand) else (),
            metadata={
                "video_id": video_id if isinstance(video_id, str) else None,
                "like_count": snippet.get("likeCount") if isinstance(snippet.get("likeCount"), int) else None,
                "edited": updated > published,
                "updated_at": updated.isoformat(),
            },
        )
    except (ValueError, ValidationError) as exc:
        reason = f"comment could not be read: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return QuarantinedRow(source, reason, json.dumps(thread), locator)


class YouTubeListener(BrandedListener[YouTubeParams]):
    """Comment threads of configured videos (``video:<id>``) and channels (``channel:<id>``)."""

    params_model = YouTubeParams

    def queries(self) -> list[str]:
        return [f"video:{v}" for v in self.params.video_ids] + [f"channel:{c}" for c in self.params.channel_ids]

    def check(self) -> str:
        """One cheap authenticated call: a single comment thread of the first query (1 quota unit)."""
        query = self.queries()[0]
        next(self._pages(query, page_size=1), None)
        return (f"youtube source {self.source.name!r}: {len(self.params.video_ids)} videos, "
                f"{len(self.params.channel_ids)} channels, API key from {self.source.secrets['api_key']} accepted")

    def _api_key(self) -> str:
        return require_secret(self.source, "api_key", "YOUTUBE_API_KEY", "a YouTube Data API v3 key")

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        at, ids = load_time_cursor(cursor, f"youtube source {self.source.name!r}")
        fetched_at = self._clock()
        limit = self.source.max_items_per_run
        window = TimeWindow(at, ids, overlap_seconds(self.source))
        again: dict[str, Item] = {}  # edited since the cursor, or undatable: yielded with the old cursor
        more_pages = False
        for page in self._pages(query):
            for thread in cast(list[Payload], page.get("items") or []):
                item = parse_comment_thread(thread, source=self.source.name, query=query, fetched_at=fetched_at,
                                            matcher=self._matcher, brand=self.params.brand,
                                            pseudonymise=self._pseudonymise)
                published = _published(thread)
                if item is None:
                    if published is not None and window.floor is not None and published <= window.floor:
                        window.reached = True
                    continue
                native_id = _comment_id(thread)
                if published is None:
                    again[native_id] = item
                    continue
                window.add(native_id, published, item)
                if (native_id not in window.fresh and native_id not in window.behind and isinstance(item, Mention)
                        and at is not None and _parse_time(item.metadata["updated_at"]) > at):
                    again[native_id] = item
            more_pages = bool(page.get("nextPageToken"))
            if window.reached or (at is None and len(window.fresh) >= limit):
                break
        if at is not None and not window.reached and more_pages:
            logger.warning("youtube source %s %s: stopped after max_pages=%d before reaching the cursor; "
                           "older new comments are not collected", self.source.name, query, self.params.max_pages)
        for native_id, item in again.items():
            if native_id not in window.behind:
                yield item, cursor
        yield from window.items(cursor, limit, self.overlap_ids)

    def _pages(self, query: str, page_size: int | None = None) -> Iterator[Payload]:
        """The I/O method: commentThreads.list pages, newest first, following nextPageToken."""
        kind, _, ident = query.partition(":")
        if kind not in ("video", "channel") or not ident:
            raise ListenerError(f"youtube source {self.source.name!r}: unknown query {query!r} (see queries())")
        key = self._api_key()
        client = self._client or httpx.Client()
        params: dict[str, str | int] = {
            "part": "snippet", "order": "time", "textFormat": "plainText",
            "maxResults": page_size or self.params.page_size,
            ("videoId" if kind == "video" else "allThreadsRelatedToChannelId"): ident,
        }
        token: str | None = None
        try:
            for number in range(1, self.params.max_pages + 1):
                page_params = {**params, **({"pageToken": token} if token else {})}
                page = call_with_retries(partial(self._get, client, key, page_params, query, number),
                                         what=f"youtube source {self.source.name} {query} page {number}",
                                         sleep=self._sleep, budget=self._budget)
                yield page
                next_token = page.get("nextPageToken")
                if not isinstance(next_token, str) or not next_token:
                    return
                token = next_token
        except TransientError as exc:
            raise ListenerError(f"youtube source {self.source.name!r} {query}: gave up after retries: {exc}") from exc
        finally:
            if self._client is None:
                client.close()

    def _get(self, client: httpx.Client, key: str, params: dict[str, str | int], query: str, number: int) -> Payload:
        # The key travels in a header, never in the URL, so client logs cannot leak it.
        where = f"youtube source {self.source.name!r} {query} page {number}"
        response = send(client, "GET", f"{self.params.api_url}/commentThreads", params=params,
                                  headers={"X-Goog-Api-Key": key},
                        timeout=self.params.timeout_s)
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"HTTP {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 400:
            reason = _error_reason(response)
            reasons = set(reason.split(","))
            if status == 401 or reasons & {"keyInvalid", "API_KEY_INVALID", "accessNotConfigured", "forbidden",
                                           "ipRefererBlocked", "SERVICE_DISABLED"}:
                raise rejected(self.source, ("api_key",), "the YouTube Data API",
                               f"HTTP {status} {reason}; check the key and that YouTube Data API v3 is enabled for "
                               "its project")
            if reasons & {"quotaExceeded", "rateLimitExceeded", "dailyLimitExceeded"}:
                raise ListenerError(f"{where}: quota exhausted (HTTP {status} {reason}); it resets at midnight "
                                    "Pacific time, or request more quota")
            raise ListenerError(f"{where}: HTTP {status} {reason} (check the id; commentsDisabled means "
                                "the video has comments turned off: remove it from params)")
        try:
            payload = response.json()
        except ValueError as exc:
            raise ListenerError(f"{where}: response is not valid JSON (truncated?); nothing from this "
                                "query was yielded, the next run retries") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("items", []), list):
            raise ListenerError(f"{where}: response has no 'items' list")
        return cast(Payload, payload)


def _comment_id(thread: Payload) -> str:
    native_id = _dig(thread, "snippet", "topLevelComment", "id") or thread.get("id")
    return native_id if isinstance(native_id, str) else json.dumps(thread, sort_keys=True)[:200]


def _published(thread: Payload) -> datetime | None:
    try:
        return _parse_time(_dig(thread, "snippet", "topLevelComment", "snippet", "publishedAt"))
    except ValueError:
        return None


def _error_reason(response: httpx.Response) -> str:
    """Google's machine-readable reasons (e.g. quotaExceeded, API_KEY_INVALID), never the message text."""
    try:
        error = _dig(response.json(), "error")
    except ValueError:
        return "unknown"
    reasons: list[str] = []
    for key in ("errors", "details"):
        entries = _dig(error, key)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                reasons.append(entry["reason"])
    return ",".join(reasons) or "unknown"
