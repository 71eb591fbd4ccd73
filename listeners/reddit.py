"""Reddit: brand searches and subreddit streams (posts, optionally comments) as mentions.

Transport: praw (OAuth, 100 requests/min) when ``client_id``/``client_secret`` env vars are set,
else the public JSON endpoints over httpx (lower limits, may be refused). Both return the same
Listing JSON, parsed by one pure parser. Listings are newest first and page backwards with
``after``; a run reads back until it reaches the cursor (the base36 id of the newest item
stored), then yields oldest first with ``cursor=<that item's id>``, so every cursor is a safe
resume point and a budget or a crash only leaves newer items for the next run. Reddit stops a
listing at about 1000 items: a listing that ends before the cursor is logged and recorded in
``stop_reasons`` (those older items cannot be read again).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import httpx
import praw
import prawcore
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
    rejected,
    require_secret,
    wait_budget,
)
from listeners.query_building import QueryGroup, parse_params, reddit_query_groups, select_brands
from listeners.retry import RetryPolicy, TransientError

logger = logging.getLogger(__name__)

PUBLIC_BASE = "https://www.reddit.com"
OAUTH_BASE = "https://oauth.reddit.com"
_GONE = {"[deleted]", "[removed]"}


class RedditParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    search: bool = Field(default=True, description="search all of Reddit for the brand terms")
    subreddits: list[str] = Field(default=[], description="subreddits whose new posts are read")
    comments: bool = Field(default=False, description="also read each subreddit's new comments")
    require_brand_match: bool = Field(default=True, description="skip subreddit items naming no brand")
    user_agent: str = Field(default="journeypulse/0.1 (social listening; +https://github.com/journeypulse)", min_length=10)
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=10, ge=1, le=50)
    backfill_days: int = Field(default=7, ge=0, le=365)
    timeout_s: float = Field(default=30.0, gt=0)
    reddit_url: str = Field(default=PUBLIC_BASE, description="public JSON endpoints and praw's token endpoint")
    oauth_url: str = Field(default=OAUTH_BASE, description="praw's OAuth API host")

    @field_validator("reddit_url", "oauth_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        return check_base_url(url, PUBLIC_BASE)


def _base36(fullname_or_id: str) -> int:
    return int(fullname_or_id.split("_", 1)[-1], 36)


def parse_listing(
    payload: Mapping[str, object],
    *,
    source: str,
    group: QueryGroup,
    matcher: BrandMatcher,
    pseudonymise: Pseudonymise,
    fetched_at: datetime,
) -> list[tuple[str | None, Item]]:
    """Pure parser: one Listing (search, /new or /comments) -> ``(base36 id, item)`` in page order."""
    data = payload.get("data")
    children = data.get("children") if isinstance(data, Mapping) else None
    if not isinstance(children, list):
        return [(None, QuarantinedRow(source, "reddit listing has no data.children", json.dumps(payload)[:5000], group.key))]
    return [_parse_thing(child, source, group, matcher, pseudonymise, fetched_at) for child in children]


def _parse_thing(
    child: object, source: str, group: QueryGroup, matcher: BrandMatcher, pseudonymise: Pseudonymise, fetched_at: datetime
) -> tuple[str | None, Item]:
    raw = json.dumps(child, ensure_ascii=False)[:5000]
    thing = child.get("data") if isinstance(child, Mapping) else None
    kind = child.get("kind") if isinstance(child, Mapping) else None
    if not isinstance(thing, Mapping) or kind not in ("t1", "t3") or not isinstance(thing.get("id"), str):
        return None, QuarantinedRow(source, "reddit item is not a post or comment with an id", raw, group.key)
    item_id = str(thing["id"])
    locator = f"{group.key}:{kind}_{item_id}"
    if kind == "t3":
        title, body = str(thing.get("title") or ""), str(thing.get("selftext") or "")
        removed = body.strip() in _GONE
        text = title if removed or not body.strip() else f"{title}\n\n{body}"
    else:
        text = str(thing.get("body") or "")
        removed = text.strip() in _GONE
        if removed:
            return item_id, QuarantinedRow(source, "reddit comment was deleted or removed before it was read", raw, locator)
    created = thing.get("created_utc")
    if not text.strip() or not isinstance(created, (int, float)):
        return item_id, QuarantinedRow(source, "reddit item lacks text or created_utc", raw, locator)
    author = thing.get("author")
    match = matcher.match(text)
    metadata: dict[str, str | int | float | bool | None] = {
        "query": group.key, "kind": "post" if kind == "t3" else "comment", "subreddit": str(thing.get("subreddit") or ""),
    }
    for key in ("score", "num_comments"):
        value = thing.get(key)
        if isinstance(value, int):
            metadata[key] = value
    if thing.get("edited"):
        metadata["edited"] = True
    if removed:
        metadata["body_removed"] = True
    if not match:
        metadata["brand_from_query"] = True
    permalink = thing.get("permalink")
    try:
        mention = Mention.build(
            source=source,
            source_kind="reddit",
            native_id=f"{kind}_{item_id}",
            text=text,
            created_at=datetime.fromtimestamp(float(created), UTC),
            fetched_at=fetched_at,
            url=f"{PUBLIC_BASE}{permalink}" if isinstance(permalink, str) and permalink.startswith("/") else None,
            author=pseudonymise(f"reddit:{author}") if isinstance(author, str) and author not in _GONE else None,
            channel="social",
            brand=match.brand if match else (group.brand or None),
            matched_terms=match.terms if match else (),
            metadata=metadata,
        )
    except ValueError as exc:
        return item_id, QuarantinedRow(source, f"reddit item rejected: {exc.__class__.__name__}", raw, locator)
    return item_id, mention


class RedditListener:
    """Brand search over Reddit plus configured subreddit streams; one cursor per query."""

    def __init__(
        self,
        source: SourceConfig,
        context: ListenerContext,
        *,
        http: httpx.Client | None = None,
        reddit: praw.Reddit | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.source = source
        self.params = parse_params(RedditParams, source)
        brands = select_brands(source, context.brands)
        self._queries: dict[str, tuple[str, dict[str, str], QueryGroup]] = {}
        if self.params.search:
            for group in reddit_query_groups(brands):
                params = {"q": group.query, "sort": "new", "type": "link"}
                self._queries[f"search:{group.key}"] = ("/search", params, group)
        for name in self.params.subreddits:
            sub = name.removeprefix("r/").strip("/")
            if not sub.replace("_", "").isalnum():
                raise ConfigError(f"reddit source {source.name!r}: params.subreddits entry {name!r} is not a subreddit name")
            group = QueryGroup(key=f"r/{sub}", brand=brands[0].name if len(brands) == 1 else "", query=sub, terms=())
            self._queries[f"r/{sub}/new"] = (f"/r/{sub}/new", {}, group)
            if self.params.comments:
                self._queries[f"r/{sub}/comments"] = (f"/r/{sub}/comments", {}, group)
        if not self._queries:
            raise ConfigError(f"reddit source {source.name!r}: params.search is false and no params.subreddits given")
        self._matcher = BrandMatcher(tuple(brands))
        self._pseudonymise = context.pseudonymise
        self._http, self._reddit = http, reddit
        self._sleep, self._clock, self._retry = sleep, clock, retry
        self._budget = wait_budget(source)
        self.stop_reasons: dict[str, str] = {}
        self.overlap_ids: set[str] = set()

    def queries(self) -> list[str]:
        return list(self._queries)

    def check(self) -> str:
        """With OAuth credentials: one listing item of the first query (fetches a token, 1 request)."""
        transport = self._transport()
        if transport == "praw (OAuth)":
            query = next(iter(self._queries))
            path, params, _ = self._queries[query]
            self._listing(f"{query} (check)", path, {**params, "limit": "1"})
            transport += ", credentials accepted"
        return f"reddit: {len(self._queries)} query(s) via {transport}"

    def _transport(self) -> str:
        envs = [self.source.secrets.get(k) for k in ("client_id", "client_secret")]
        if any(envs) and not all(envs):
            raise ConfigError(f"reddit source {self.source.name!r}: configure both secrets.client_id and secrets.client_secret")
        if all(envs):
            for key in ("client_id", "client_secret"):
                require_secret(self.source, key, f"REDDIT_{key.upper()}", f"the Reddit script app's {key}")
            return "praw (OAuth)"
        return "public JSON (no credentials)"

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        if query not in self._queries:
            raise ConfigError(f"reddit source {self.source.name!r}: unknown query {query!r}")
        path, params, group = self._queries[query]
        floor = _base36(cursor) if cursor else None
        oldest_allowed = self._clock() - self.params.backfill_days * 86400
        window: dict[str, Item] = {}
        behind: dict[str, Item] = {}  # the newest overlap_items at or below the cursor: read again
        after: str | None = None
        reached = False
        for _ in range(self.params.max_pages):
            payload = self._listing(query, path, {**params, "limit": str(self.params.page_size), **({"after": after} if after else {})})
            page = self._parse(payload, group)
            for item_id, item in page:
                if item_id is None:
                    window.setdefault(f"?{len(window)}", item)
                elif floor is not None and _base36(item_id) <= floor:
                    reached = True
                    if len(behind) < self.source.overlap_items:
                        behind.setdefault(item_id, item)
                elif floor is None and isinstance(item, Mention) and item.created_at.timestamp() < oldest_allowed:
                    reached = True
                else:
                    window.setdefault(item_id, item)
            data = payload.get("data")
            after = data.get("after") if isinstance(data, Mapping) else None
            if (reached and len(behind) >= self.source.overlap_items) or not isinstance(after, str) or not after:
                break
        if floor is not None and not reached:
            reason = "listing ended before reaching the cursor; older items may be missing (Reddit lists ~1000)"
            self.stop_reasons[query] = reason
            logger.warning("reddit source %s query %s: %s", self.source.name, query, reason)
        for _, item in sorted(behind.items(), key=lambda kv: _base36(kv[0])):
            if self._wanted(group, item):
                if isinstance(item, Mention):
                    self.overlap_ids.add(item.id)
                yield item, cursor
        yield from self._yield_oldest_first(query, window, group)

    def _wanted(self, group: QueryGroup, item: Item) -> bool:
        """False for a subreddit item naming no brand (it is not a mention)."""
        return not (self.params.require_brand_match and not group.terms and isinstance(item, Mention)
                    and not item.matched_terms)

    def _yield_oldest_first(self, query: str, window: dict[str, Item], group: QueryGroup
                            ) -> Iterator[tuple[Item, Cursor | None]]:
        ordered = sorted(window.items(), key=lambda kv: _base36(kv[0]) if not kv[0].startswith("?") else -1)
        budget, skipped, cursor = self.source.max_items_per_run, 0, None
        for item_id, item in ordered:
            if budget <= 0:
                break
            if not item_id.startswith("?"):
                cursor = item_id
            if not self._wanted(group, item):
                skipped += 1  # a subreddit item naming no brand is not a mention
                continue
            budget -= 1
            yield item, cursor
        if skipped:
            logger.info("reddit source %s query %s: %d item(s) named no brand", self.source.name, query, skipped)

    def _parse(self, payload: Mapping[str, object], group: QueryGroup) -> list[tuple[str | None, Item]]:
        return parse_listing(payload, source=self.source.name, group=group, matcher=self._matcher,
                             pseudonymise=self._pseudonymise, fetched_at=datetime.fromtimestamp(self._clock(), UTC))

    def _listing(self, query: str, path: str, params: dict[str, str]) -> Mapping[str, object]:
        """The one I/O method: one Listing page via praw or the public JSON endpoint, with retries."""
        use_praw = self._transport() == "praw (OAuth)"
        what = f"reddit source {self.source.name} query {query}"

        def one_page() -> Mapping[str, object]:
            payload = self._via_praw(path, params) if use_praw else self._via_public(path, params)
            if not isinstance(payload, Mapping):
                raise TransientError("response JSON is not a Listing object")
            return payload

        return fetch_with_retries(one_page, what=what, policy=self._retry, sleep=self._sleep, budget=self._budget)

    def _via_public(self, path: str, params: dict[str, str]) -> object:
        if self._http is None:
            self._http = httpx.Client(timeout=self.params.timeout_s, headers={"User-Agent": self.params.user_agent})
        try:
            response = self._http.get(f"{self.params.reddit_url}{path}.json", params={**params, "raw_json": "1"})
        except httpx.TimeoutException as exc:
            raise TransientError("timed out") from exc
        except httpx.RequestError as exc:  # refused, reset, a body cut mid-way, undecodable
            raise TransientError(f"network: {exc.__class__.__name__}") from exc
        if response.status_code == 429:
            raise TransientError("rate limited (429)", retry_after=_reset_seconds(response.headers))
        if response.status_code >= 500:
            raise TransientError(f"server error {response.status_code}")
        if response.status_code in (401, 403):
            raise ListenerAuthError(
                f"reddit listener: the public endpoint refused the request ({response.status_code}); set "
                "secrets.client_id/client_secret (a Reddit 'script' app) to use OAuth"
            )
        if response.status_code != 200:
            raise ListenerError(f"reddit listener: {path} answered {response.status_code}; check params.subreddits")
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError("response was not valid JSON (truncated?)") from exc

    def _via_praw(self, path: str, params: dict[str, str]) -> object:
        if self._reddit is None:
            self._reddit = praw.Reddit(
                client_id=self.source.secret("client_id"), client_secret=self.source.secret("client_secret"),
                user_agent=self.params.user_agent, check_for_async=False,
                requestor_kwargs={"timeout": self.params.timeout_s},
                reddit_url=self.params.reddit_url, oauth_url=self.params.oauth_url,
            )
        try:
            return self._reddit.request(method="GET", path=path, params={**params, "raw_json": "1"})
        except prawcore.TooManyRequests as exc:
            raise TransientError("rate limited (429)", retry_after=_reset_seconds(exc.response.headers)) from exc
        except (prawcore.ServerError, prawcore.RequestException) as exc:
            raise TransientError(f"{exc.__class__.__name__} (timeout, connection or 5xx)") from exc
        except prawcore.BadJSON as exc:
            raise TransientError("response was not valid JSON (truncated?)") from exc
        except (prawcore.OAuthException, prawcore.InvalidToken) as exc:
            raise rejected(self.source, ("client_id", "client_secret"), "Reddit OAuth",
                           f"{exc.__class__.__name__}; check the script app's id and secret") from exc
        except prawcore.Forbidden as exc:
            raise ListenerAuthError(f"reddit listener: {path} is forbidden to this app (403); is the subreddit "
                                    "private or banned?") from exc
        except prawcore.ResponseException as exc:
            if exc.response.status_code == 401:  # the token endpoint refused the id/secret pair
                raise rejected(self.source, ("client_id", "client_secret"), "Reddit OAuth",
                               "HTTP 401; check the script app's id and secret") from exc
            raise ListenerError(f"reddit listener: {path} answered {exc.response.status_code}") from exc


def _reset_seconds(headers: Mapping[str, str]) -> float | None:
    for name in ("retry-after", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value)
            except ValueError:
                continue
    return None
