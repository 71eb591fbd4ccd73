"""X (Twitter) API v2 recent search via tweepy: one query group per cursor, nothing lost or duplicated.

Cursor design. X returns newest first and pages backwards (``next_token``) inside a window
bounded by ``since_id`` (exclusive) and optionally ``until_id`` (exclusive). The cursor records
what is stored as at most two id ranges: everything ``<= since_id``, plus, after a run that hit
its item budget, the range ``[gap_top, high]``; the ids between ``since_id`` and ``gap_top`` are
the *gap* still to read.

* No gap: read the window ``(since_id, now]`` page by page. If it is read to its end, yield it
  oldest first, each item's cursor ``since_id=<its id>``. If the budget (or a failed page) stops
  it early, the buffered items are the newest part of the window: yield them oldest first with
  cursor ``(since_id, gap_top=<oldest buffered id>, high=<this id>)``.
* Gap: read ``(since_id, gap_top)`` first. Items there are yielded newest first, so each one
  extends the stored upper range downwards: cursor ``(since_id, gap_top=<this id>, high)``. The
  last item of the window's last page closes the gap: cursor ``since_id=high``.

Every cursor therefore describes exactly what is stored; a run interrupted anywhere resumes with
nothing lost and nothing re-read. A first run (no cursor) treats the API's 7-day horizon as the
floor. ``monthly_cap`` (posts read per calendar month, split evenly over the query groups) is
counted in the cursor (``month``, ``read``); when a group reaches its share it stops, logs why and
records the reason in ``stop_reasons``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import requests
import tweepy
from pydantic import BaseModel, ConfigDict, Field, field_validator

from journeypulse.config import SourceConfig
from journeypulse.errors import ConfigError, ListenerError
from journeypulse.record import Cursor, Mention
from listeners.base import (
    BrandMatcher,
    Item,
    ListenerContext,
    check_base_url,
    fetch_with_retries,
    overlap_seconds,
    rejected,
    require_secret,
    wait_budget,
)
from listeners.query_building import QueryGroup, group_by_key, parse_params, select_brands, x_query_groups
from listeners.retry import RetryPolicy, TransientError
from listeners.x_payload import XCursor, next_token_of, parse_search_page, tweet_id_key

logger = logging.getLogger(__name__)

API_URL = "https://api.twitter.com"
"""tweepy's fixed host; ``params.api_url`` replaces it on every request."""
SEARCH_HORIZON_S = 7 * 86400 - 300
"""Recent search reaches back 7 days; X rejects a since_id older than that (5 min margin)."""
_SNOWFLAKE_EPOCH_MS = 1288834974657

TWEET_FIELDS = ["created_at", "lang", "author_id", "edit_history_tweet_ids", "public_metrics"]
USER_FIELDS = ["username", "verified", "public_metrics"]


class XParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    monthly_cap: int | None = Field(default=None, gt=0, description="posts read per month, whole source")
    page_size: int = Field(default=100, ge=10, le=100)
    exclude_retweets: bool = True
    extra_query: str = Field(default="", description="appended to every query, e.g. '-is:reply'")
    max_query_length: int = Field(default=512, ge=64, le=4096)
    timeout_s: float = Field(default=30.0, gt=0)
    api_url: str = Field(default=API_URL, description="base URL of the X API (a staging or recorded server)")

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        return check_base_url(url, API_URL)


class _TimeoutSession(requests.Session):
    """tweepy passes no timeout and a fixed host; every request gets the timeout and ``api_url``."""

    def __init__(self, timeout: float, api_url: str) -> None:
        super().__init__()
        self._timeout, self._api_url = timeout, api_url

    def request(self, method: str | bytes, url: str | bytes, *args: object,
                **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        if isinstance(url, str) and url.startswith(API_URL + "/"):
            url = self._api_url + url[len(API_URL):]
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


class _BearerAuth(requests.auth.AuthBase):
    """Adds the bearer header at send time so tweepy's debug log never sees the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


@dataclass
class _Run:
    group: QueryGroup
    state: XCursor
    budget: int
    pages: int = 0
    seen: set[str] = field(default_factory=set)


class XListener:
    """Brand mentions from X recent search (last 7 days), one cursor per query group."""

    def __init__(
        self,
        source: SourceConfig,
        context: ListenerContext,
        *,
        client: tweepy.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.source = source
        self.params = parse_params(XParams, source)
        brands = select_brands(source, context.brands)
        self._groups = group_by_key(
            x_query_groups(
                brands,
                max_length=self.params.max_query_length,
                exclude_retweets=self.params.exclude_retweets,
                extra=self.params.extra_query,
            ),
            what=f"x source {source.name!r}",
        )
        self._matcher = BrandMatcher(tuple(brands))
        self._pseudonymise = context.pseudonymise
        self._client = client
        self._sleep, self._clock, self._retry = sleep, clock, retry
        self._budget = wait_budget(source)
        self.stop_reasons: dict[str, str] = {}
        self.overlap_ids: set[str] = set()

    def queries(self) -> list[str]:
        return list(self._groups)

    def query_text(self, key: str) -> str:
        return self._group(key).query

    def check(self) -> str:
        """One cheap authenticated call (a user lookup) so a wrong token shows as rejected."""
        client = self._api()
        fetch_with_retries(lambda: self._call(lambda: client.get_user(username="XDevelopers")),
                           what=f"x source {self.source.name} check", policy=self._retry, sleep=self._sleep,
                           budget=self._budget)
        cap = f", monthly cap {self.params.monthly_cap}" if self.params.monthly_cap else ""
        return f"x: {len(self._groups)} query group(s), bearer token from {self.source.secrets['bearer_token']} " \
               f"accepted{cap}"

    def _token(self) -> str:
        return require_secret(self.source, "bearer_token", "X_BEARER_TOKEN", "an X API bearer token")

    def _group(self, key: str) -> QueryGroup:
        if key not in self._groups:
            raise ConfigError(f"x source {self.source.name!r}: unknown query key {key!r} (known: {sorted(self._groups)})")
        return self._groups[key]

    def _api(self) -> tweepy.Client:
        if self._client is None:
            client = tweepy.Client(bearer_token="(sent by session auth)", return_type=requests.Response)
            session = _TimeoutSession(self.params.timeout_s, self.params.api_url)
            session.auth = _BearerAuth(self._token())
            client.session = session
            self._client = client
        return self._client

    # -- fetching -------------------------------------------------------------------------------

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        group = self._group(query)
        self._token()
        month = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m")
        state = XCursor.decode(cursor)
        if state.month != month:
            state = replace(state, month=month, read=0)
        state = self._drop_floor_beyond_horizon(group, state)
        run = _Run(group, state, self.source.max_items_per_run)
        if state.gap_top is not None:
            yield from self._fill_gap(run)
            if run.state.gap_top is not None:
                return
        if run.budget > 0 and self._cap_left(run) > 0:
            yield from self._read_new(run)

    def _drop_floor_beyond_horizon(self, group: QueryGroup, state: XCursor) -> XCursor:
        """A cursor older than the 7-day horizon cannot be sent (X answers 400): read from the horizon."""
        if state.since_id is None or not state.since_id.isdigit():
            return state
        posted_s = ((int(state.since_id) >> 22) + _SNOWFLAKE_EPOCH_MS) / 1000
        if posted_s >= self._clock() - SEARCH_HORIZON_S:
            return state
        reason = "cursor is older than recent search's 7-day horizon; posts in between are out of reach"
        self.stop_reasons[group.key] = reason
        logger.warning("x source %s query %s: %s", self.source.name, group.key, reason)
        return replace(state, since_id=None)

    def _cap_left(self, run: _Run) -> int:
        if self.params.monthly_cap is None:
            return run.budget
        share = self.params.monthly_cap // max(len(self._groups), 1)
        left = share - run.state.read
        if left <= 0 and "monthly cap" not in self.stop_reasons.get(run.group.key, ""):
            reason = f"monthly cap share {share} for {run.state.month} reached ({run.state.read} read)"
            self.stop_reasons[run.group.key] = reason
            logger.warning("x source %s query %s: %s; stopping until next month", self.source.name, run.group.key, reason)
        return left

    def _fill_gap(self, run: _Run) -> Iterator[tuple[Item, Cursor | None]]:
        floor, top, high = run.state.since_id, run.state.gap_top, run.state.high
        token: str | None = None
        while run.budget > 0 and self._cap_left(run) > 0:
            want = min(run.budget, self._cap_left(run))
            payload = self._search(run, since_id=floor, until_id=top, token=token, want=want)
            token = next_token_of(payload)
            page = self._parse(run, payload)
            window_ends = token is None and len(page) <= run.budget
            items = page[: run.budget]
            for position, (tweet_id, item) in enumerate(items):
                if window_ends and position == len(items) - 1:
                    run.state = replace(run.state, since_id=high, gap_top=None, high=None)
                elif tweet_id is not None:
                    run.state = replace(run.state, gap_top=tweet_id)
                run.budget -= 1
                yield item, run.state.encode()
            if window_ends:
                run.state = replace(run.state, since_id=high, gap_top=None, high=None)
                return

    def _read_new(self, run: _Run) -> Iterator[tuple[Item, Cursor | None]]:
        buffered: list[tuple[str | None, Item]] = []
        token: str | None = None
        complete, failure = False, None
        floor = run.state.since_id
        since = self._overlap_floor(floor)
        while len(buffered) < run.budget and self._cap_left(run) > 0:
            try:
                want = min(run.budget - len(buffered), self._cap_left(run))
                payload = self._search(run, since_id=since, until_id=None, token=token, want=want)
            except ListenerError as exc:
                failure = exc
                break
            token = next_token_of(payload)
            buffered.extend(self._parse(run, payload))
            if token is None:
                complete = len(buffered) <= run.budget
                break
        buffered = buffered[: run.budget]

        def behind(tweet_id: str | None) -> bool:  # read again through the overlap window
            return tweet_id is not None and floor is not None and tweet_id_key(tweet_id) <= tweet_id_key(floor)

        # Reaching the overlap means every post above the stored floor is in the buffer.
        complete = complete or any(behind(tid) for tid, _ in buffered)
        oldest = next((tid for tid, _ in reversed(buffered) if tid is not None and not behind(tid)), None)
        for tweet_id, item in reversed(buffered):
            if behind(tweet_id):
                if isinstance(item, Mention):
                    self.overlap_ids.add(item.id)
            elif complete and tweet_id is not None:
                run.state = replace(run.state, since_id=tweet_id, gap_top=None, high=None)
            elif not complete and tweet_id is not None:
                run.state = replace(run.state, since_id=floor, gap_top=oldest, high=tweet_id)
            yield item, run.state.encode()
        if failure is not None:
            raise failure

    def _overlap_floor(self, since_id: str | None) -> str | None:
        """``since_id`` moved back by ``overlap_minutes`` (ids are snowflakes), never past the 7-day horizon."""
        if since_id is None or not since_id.isdigit() or self.source.overlap_minutes <= 0:
            return since_id
        shifted = int(since_id) - (int(overlap_seconds(self.source) * 1000) << 22)
        horizon = int((self._clock() - SEARCH_HORIZON_S) * 1000 - _SNOWFLAKE_EPOCH_MS) << 22
        return str(max(shifted, horizon, 0))

    def _parse(self, run: _Run, payload: Mapping[str, object]) -> list[tuple[str | None, Item]]:
        fetched_at = datetime.fromtimestamp(self._clock(), UTC)
        parsed = parse_search_page(
            payload, source=self.source.name, group=run.group, matcher=self._matcher,
            pseudonymise=self._pseudonymise, fetched_at=fetched_at,
        )
        fresh = []
        for tweet_id, item in parsed:
            if tweet_id is not None and tweet_id in run.seen:
                continue  # the same post on two pages (the index shifted under us)
            if tweet_id is not None:
                run.seen.add(tweet_id)
            fresh.append((tweet_id, item))
        return fresh

    def _search(
        self, run: _Run, *, since_id: str | None, until_id: str | None, token: str | None, want: int
    ) -> Mapping[str, object]:
        """The one I/O method: one page of recent search, retried on transient failures.

        ``since_id``/``until_id`` must stay the same across one window's pages (X ties
        ``next_token`` to them). X bills every post returned, so a page asks for no more than
        ``want`` (within the API's 10..100).
        """
        client = self._api()
        params: dict[str, object] = {
            "max_results": max(10, min(self.params.page_size, want)),
            "expansions": ["author_id"],
            "tweet_fields": TWEET_FIELDS,
            "user_fields": USER_FIELDS,
        }
        if since_id:
            params["since_id"] = since_id
        if until_id:
            params["until_id"] = until_id
        if token:
            params["next_token"] = token
        what = f"x source {self.source.name} query {run.group.key} page {run.pages + 1}"

        payload = fetch_with_retries(lambda: self._call(lambda: client.search_recent_tweets(run.group.query, **params)),
                                     what=what, policy=self._retry, sleep=self._sleep, budget=self._budget)
        run.pages += 1
        meta = payload.get("meta")
        count = meta.get("result_count", 0) if isinstance(meta, Mapping) else 0
        read = count if isinstance(count, int) else len(payload.get("data") or [])  # type: ignore[arg-type]
        run.state = replace(run.state, read=run.state.read + read)
        logger.info("%s: %d post(s)", what, read)
        return payload


    def _call(self, request: Callable[[], object]) -> Mapping[str, object]:
        """One API request through tweepy, its failures sorted into retryable and not."""
        try:
            response = request()
        except tweepy.TooManyRequests as exc:
            reset = getattr(exc, "reset_time", None)
            wait = max(float(reset) - self._clock(), 0.0) + 1.0 if reset else None
            raise TransientError("rate limited (429)", retry_after=wait) from exc
        except tweepy.TwitterServerError as exc:
            raise TransientError(f"server error {exc.response.status_code}") from exc
        except requests.RequestException as exc:  # timeouts, refused or dropped connections, a body cut mid-way
            raise TransientError(f"network: {exc.__class__.__name__}") from exc
        except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
            raise rejected(self.source, ("bearer_token",), "the X API",
                           f"HTTP {exc.response.status_code}; check the token and the project's access level") from exc
        except tweepy.HTTPException as exc:
            raise ListenerError(
                f"x listener: the request was rejected ({exc.response.status_code}): "
                f"{'; '.join(exc.api_messages)[:300]}; check the brand terms and params.extra_query"
            ) from exc
        try:
            payload = response.json()  # type: ignore[attr-defined]
        except ValueError as exc:
            raise TransientError("response was not valid JSON (truncated?)") from exc
        if not isinstance(payload, Mapping):
            raise TransientError("response JSON is not an object")
        return payload
