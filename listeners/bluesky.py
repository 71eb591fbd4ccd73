"""Bluesky post search (app.bsky.feed.searchPosts) over httpx, one query per brand term.

No client library: the XRPC calls are two plain HTTP requests (createSession, searchPosts).
Since 2025 Bluesky serves post search only to logged-in sessions, so the listener logs in with
a handle and an app password; ``anonymous: true`` tries the public AppView (first page only).

Cursor: ``{"since": <sortAt of the newest stored post>, "seen": [native ids at that instant]}``.
A run asks for ``since`` (inclusive, server side), pages the window to its end with the API
cursor, drops what ``seen`` says is stored, and yields oldest first; each yielded cursor is a
safe resume point. A window deeper than ``max_pages`` is logged and recorded in ``stop_reasons``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from journeypulse.config import SourceConfig
from journeypulse.errors import ConfigError, ListenerAuthError, ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from listeners.base import (
    BrandMatcher,
    Item,
    ListenerContext,
    Pseudonymise,
    check_base_url,
    fetch_with_retries,
    overlap_seconds,
    rejected,
    require_secret,
    wait_budget,
)
from listeners.query_building import QueryGroup, parse_params, select_brands, single_term_groups
from listeners.retry import RetryPolicy, TransientError

logger = logging.getLogger(__name__)

PUBLIC_APPVIEW = "https://api.bsky.app"


class BlueskyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    handle: str | None = Field(default=None, description="account that logs in, e.g. brand-listener.bsky.social")
    service: str = Field(default="https://bsky.social", description="the account's PDS (https; http for loopback)")
    anonymous: bool = Field(default=False, description="use the public AppView without logging in")
    appview_url: str = Field(default=PUBLIC_APPVIEW, description="the AppView anonymous search goes to")
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=20, ge=1, le=100)
    backfill_days: int = Field(default=7, ge=0, le=365)
    timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("service", "appview_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        return check_base_url(url, "https://bsky.social")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_post(
    post: Mapping[str, object],
    *,
    source: str,
    group: QueryGroup,
    matcher: BrandMatcher,
    pseudonymise: Pseudonymise,
    fetched_at: datetime,
) -> tuple[datetime | None, Item]:
    """Pure parser: one PostView -> ``(sortAt, item)``; sortAt is min(createdAt, indexedAt).

    ``native_id`` hashes the at:// URI (which embeds the author's DID), so no account
    identifier is stored; the author becomes a pseudonym of the DID.
    """
    raw = json.dumps(post, ensure_ascii=False)[:5000]
    uri, record = post.get("uri"), post.get("record")
    locator = f"{group.key}:{hashlib.sha256(str(uri).encode()).hexdigest()[:12]}"
    text = record.get("text") if isinstance(record, Mapping) else None
    created = _parse_time(record.get("createdAt")) if isinstance(record, Mapping) else None
    indexed = _parse_time(post.get("indexedAt"))
    sort_at = min(t for t in (created, indexed) if t is not None) if (created or indexed) else None
    if not isinstance(uri, str) or not isinstance(text, str) or not text.strip() or created is None:
        return sort_at, QuarantinedRow(source, "bluesky post lacks uri, record.text or record.createdAt", raw, locator)
    author = post.get("author")
    did = author.get("did") if isinstance(author, Mapping) else None
    langs = record.get("langs") if isinstance(record, Mapping) else None
    match = matcher.match(text)
    metadata: dict[str, str | int | float | bool | None] = {"query": group.key}
    for key in ("likeCount", "replyCount", "repostCount", "quoteCount"):
        if isinstance(post.get(key), int):
            metadata[key] = post[key]  # type: ignore[assignment]
    if isinstance(record, Mapping) and record.get("reply"):
        metadata["is_reply"] = True
    try:
        mention = Mention.build(
            source=source,
            source_kind="bluesky",
            native_id=hashlib.sha256(uri.encode("utf-8")).hexdigest()[:32],
            text=text,
            created_at=created,
            fetched_at=fetched_at,
            author=pseudonymise(f"bluesky:{did}") if isinstance(did, str) and did else None,
            channel="social",
            brand=match.brand if match else group.brand,
            matched_terms=match.terms if match else (),
            language_hint=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None,
            metadata=metadata,
        )
    except ValueError as exc:
        return sort_at, QuarantinedRow(source, f"bluesky post rejected: {exc.__class__.__name__}", raw, locator)
    return sort_at, mention


class BlueskyListener:
    """Brand terms searched on Bluesky, one cursor per term."""

    def __init__(
        self,
        source: SourceConfig,
        context: ListenerContext,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.source = source
        self.params = parse_params(BlueskyParams, source)
        if not self.params.anonymous and not self.params.handle:
            raise ConfigError(
                f"bluesky source {source.name!r}: params.handle is required (post search needs a logged-in "
                "account); or set params.anonymous: true to try the public AppView"
            )
        brands = select_brands(source, context.brands)
        self._groups = {g.key: g for g in single_term_groups(brands, prefix="q")}
        self._matcher = BrandMatcher(tuple(brands))
        self._pseudonymise = context.pseudonymise
        self._http = http
        self._sleep, self._clock, self._retry = sleep, clock, retry
        self._access_jwt: str | None = None
        self._budget = wait_budget(source)
        self.stop_reasons: dict[str, str] = {}
        self.overlap_ids: set[str] = set()

    def queries(self) -> list[str]:
        return list(self._groups)

    def check(self) -> str:
        """Logs in (createSession): the one cheap authenticated call; anonymous sources have none."""
        if self.params.anonymous:
            return f"bluesky: {len(self._groups)} query(s), anonymous (public AppView, first page only)"
        fetch_with_retries(self._session, what=f"bluesky source {self.source.name} check", policy=self._retry,
                           sleep=self._sleep, budget=self._budget)
        return f"bluesky: {len(self._groups)} query(s) as {self.params.handle} via {self.params.service}, login accepted"

    def _password(self) -> str:
        return require_secret(self.source, "app_password", "BSKY_APP_PASSWORD", "a Bluesky app password")

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.params.timeout_s,
                                      headers={"User-Agent": "journeypulse/0.1 (social listening)"})
        return self._http

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        if query not in self._groups:
            raise ConfigError(f"bluesky source {self.source.name!r}: unknown query {query!r}")
        group = self._groups[query]
        if not self.params.anonymous:
            self._password()
        state = _decode_cursor(cursor)
        since = _parse_time(state.get("since")) or datetime.fromtimestamp(
            self._clock() - self.params.backfill_days * 86400, UTC)
        floor = since - timedelta(seconds=overlap_seconds(self.source)) if cursor else since
        seen_before = state.get("seen")
        seen = {str(key) for key in seen_before} if isinstance(seen_before, list) else set()
        window: dict[str, tuple[datetime, Item]] = {}
        behind: dict[str, Item] = {}  # dated within the overlap behind the cursor: read again
        api_cursor: str | None = None
        for page_number in range(self.params.max_pages):
            payload = self._search(query, group, floor, api_cursor)
            posts = payload.get("posts")
            for post in posts if isinstance(posts, list) else []:
                sort_at, item = self._parse(post, group)
                key = item.native_id if isinstance(item, Mention) else f"?{item.locator}"
                old = sort_at is not None and (sort_at < since or (sort_at == since and key in seen))
                if sort_at is None or sort_at < floor or (old and floor == since):
                    continue
                if old:
                    behind.setdefault(key, item)
                else:
                    window.setdefault(key, (sort_at, item))
            next_cursor = payload.get("cursor")
            api_cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else None
            if api_cursor is None or self.params.anonymous:
                break
            if page_number == self.params.max_pages - 1:
                reason = f"window deeper than max_pages={self.params.max_pages}; older posts of this window skipped"
                self.stop_reasons[query] = reason
                logger.warning("bluesky source %s query %s: %s", self.source.name, query, reason)
        for item in behind.values():
            if isinstance(item, Mention):
                self.overlap_ids.add(item.id)
            yield item, cursor
        yield from self._yield_oldest_first(window, since, seen)

    def _yield_oldest_first(self, window: dict[str, tuple[datetime, Item]], since: datetime, seen: set[str]
                            ) -> Iterator[tuple[Item, Cursor | None]]:
        at, at_seen = since, set(seen)
        for key, (sort_at, item) in sorted(window.items(), key=lambda kv: (kv[1][0], kv[0]))[: self.source.max_items_per_run]:
            if sort_at != at:
                at, at_seen = sort_at, set()
            at_seen.add(key)
            yield item, json.dumps({"since": _iso(at), "seen": sorted(at_seen)}, separators=(",", ":"))

    def _parse(self, post: object, group: QueryGroup) -> tuple[datetime | None, Item]:
        if not isinstance(post, Mapping):
            return None, QuarantinedRow(self.source.name, "bluesky post is not an object", str(post)[:5000], group.key)
        return parse_post(post, source=self.source.name, group=group, matcher=self._matcher,
                          pseudonymise=self._pseudonymise, fetched_at=datetime.fromtimestamp(self._clock(), UTC))

    def _search(self, query: str, group: QueryGroup, since: datetime, api_cursor: str | None) -> Mapping[str, object]:
        """The one I/O method: one searchPosts page (logging in first when needed), with retries."""
        what = f"bluesky source {self.source.name} query {query}"
        params = {"q": group.query, "sort": "latest", "since": _iso(since), "limit": str(self.params.page_size)}
        if api_cursor:
            params["cursor"] = api_cursor

        def one_page() -> Mapping[str, object]:
            base = self.params.appview_url if self.params.anonymous else self.params.service
            headers = {} if self.params.anonymous else {"Authorization": f"Bearer {self._session()}"}
            response = self._request("GET", f"{base}/xrpc/app.bsky.feed.searchPosts", params=params, headers=headers)
            if response.status_code in (400, 401) and not self.params.anonymous and _is_expired(response):
                self._access_jwt = None  # access tokens live ~2 hours: log in again and retry
                raise TransientError("session expired", retry_after=0.0)
            if response.status_code in (401, 403):
                raise ListenerAuthError(
                    f"bluesky listener: searchPosts refused the request ({response.status_code}); "
                    + ("anonymous search is often disabled: set params.handle and secrets.app_password"
                       if self.params.anonymous else "check the app password")
                )
            _raise_for_status(response, what, self._clock())
            return _json_object(response)

        return fetch_with_retries(one_page, what=what, policy=self._retry, sleep=self._sleep, budget=self._budget)

    def _session(self) -> str:
        if self._access_jwt is None:
            response = self._request("POST", f"{self.params.service}/xrpc/com.atproto.server.createSession",
                                     json={"identifier": self.params.handle, "password": self._password()})
            if response.status_code in (400, 401):
                raise rejected(self.source, ("app_password",), f"{self.params.service} (login of {self.params.handle})",
                               f"HTTP {response.status_code}")
            _raise_for_status(response, "bluesky createSession", self._clock())
            token = _json_object(response).get("accessJwt")
            if not isinstance(token, str):
                raise TransientError("createSession answer has no accessJwt")
            self._access_jwt = token
        return self._access_jwt

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            return self._client().request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException as exc:
            raise TransientError("timed out") from exc
        except httpx.RequestError as exc:  # refused, reset, a body cut mid-way, undecodable
            raise TransientError(f"network: {exc.__class__.__name__}") from exc


def _decode_cursor(cursor: Cursor | None) -> dict[str, object]:
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError as exc:
        raise ListenerError(f"bluesky listener: stored cursor {cursor[:80]!r} is not a bluesky cursor; delete it") from exc
    if not isinstance(state, dict):
        raise ListenerError(f"bluesky listener: stored cursor {cursor[:80]!r} is not a bluesky cursor; delete it")
    return state


def _is_expired(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") in ("ExpiredToken", "InvalidToken")


def _raise_for_status(response: httpx.Response, what: str, now: float) -> None:
    if response.status_code == 429:
        reset = response.headers.get("ratelimit-reset")  # epoch seconds, per the atproto rate-limit headers
        wait = max(float(reset) - now, 0.0) if reset and reset.isdigit() else None
        raise TransientError("rate limited (429)", retry_after=wait)
    if response.status_code >= 500:
        raise TransientError(f"server error {response.status_code}")
    if response.status_code != 200:
        raise ListenerError(f"{what}: answered {response.status_code}; check params.service and the query terms")


def _json_object(response: httpx.Response) -> Mapping[str, object]:
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientError("response was not valid JSON (truncated?)") from exc
    if not isinstance(body, dict):
        raise TransientError("response JSON is not an object")
    return body
