"""Mastodon via Mastodon.py: brand hashtag timelines (and optional status search) per instance.

Hashtag timelines page forwards with ``min_id``: each page is the block of statuses right after
the cursor, so the listener reverses the page and yields oldest first with ``cursor=<status id>``;
every cursor is a safe resume point and an interrupted run resumes with nothing lost. A first run
starts ``backfill_days`` ago (a snowflake id made from that time). Search has no ``min_id``
adjacency, so a search window is read whole (up to ``max_search_results``), then yielded oldest
first; a window larger than that is logged and recorded in ``stop_reasons``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from html.parser import HTMLParser
from urllib.parse import urlsplit

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator

from journeypulse.config import SourceConfig
from journeypulse.errors import ConfigError, CredentialsMissingError, ListenerError
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
    wait_budget,
)
from listeners.query_building import QueryGroup, parse_params, select_brands, single_term_groups
from listeners.retry import RetryPolicy, TransientError

logger = logging.getLogger(__name__)


class MastodonParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: list[str] = Field(min_length=1, description="base URLs, e.g. https://mastodon.social")
    hashtags: bool = True
    search: bool = Field(default=False, description="also search statuses for brand names (needs a token)")
    page_size: int = Field(default=40, ge=1, le=40)
    backfill_days: int = Field(default=7, ge=0, le=365)
    max_search_results: int = Field(default=200, ge=1, le=2000)
    timeout_s: float = Field(default=30.0, gt=0)
    mastodon_version: str = Field(
        default="4.0.0", pattern=r"^\d+\.\d+\.\d+$",
        description="server version Mastodon.py assumes, so it never probes /api/v1/instance",
    )

    @field_validator("instances")
    @classmethod
    def _https_base_urls(cls, urls: list[str]) -> list[str]:
        return [check_base_url(url, "https://mastodon.social") for url in urls]


class _Text(HTMLParser):
    """Status HTML -> plain text: paragraphs and <br> become newlines, entities unescaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """Entities are decoded exactly once (by the parser), so a typed "&amp;" stays "&amp;"."""
    parser = _Text()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts).strip()


def parse_status(
    status: Mapping[str, object],
    *,
    source: str,
    instance: str,
    group: QueryGroup,
    matcher: BrandMatcher,
    pseudonymise: Pseudonymise,
    fetched_at: datetime,
) -> Item:
    """Pure parser: one Mastodon status (API JSON or Mastodon.py's dict) -> Mention or QuarantinedRow.

    ``native_id`` is a hash of the status URI, which is the same on every instance that has
    the status (and, unlike the URI, carries no handle).
    """
    raw = json.dumps(status, default=str, ensure_ascii=False)[:5000]
    locator = f"{instance}:{status.get('id')}"
    if status.get("id") in (None, ""):
        return QuarantinedRow(source, "mastodon status has no id", raw, locator)
    uri, content, created = status.get("uri"), status.get("content"), status.get("created_at")
    if not isinstance(uri, str) or not isinstance(content, str) or created is None:
        return QuarantinedRow(source, "mastodon status lacks uri, content or created_at", raw, locator)
    text = html_to_text(content)
    spoiler = status.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler.strip():
        text = f"{spoiler.strip()}\n\n{text}".strip()
    if not text:
        return QuarantinedRow(source, "mastodon status has no text (media only)", raw, locator)
    try:
        created_at = created if isinstance(created, datetime) else datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
    except ValueError:
        return QuarantinedRow(source, f"mastodon created_at {created!r} is not ISO 8601", raw, locator)
    account = status.get("account")
    acct = account.get("acct") if isinstance(account, Mapping) else None
    if isinstance(acct, str) and acct and "@" not in acct:
        acct = f"{acct}@{urlsplit(instance).netloc}"
    match = matcher.match(text)
    metadata: dict[str, str | int | float | bool | None] = {
        "query": group.key, "instance": urlsplit(instance).netloc, "local_id": str(status.get("id")),
    }
    if status.get("edited_at"):
        metadata["edited"] = True
    for key in ("favourites_count", "reblogs_count", "replies_count"):
        if isinstance(status.get(key), int):
            metadata[key] = status[key]  # type: ignore[assignment]
    try:
        return Mention.build(
            source=source,
            source_kind="mastodon",
            native_id=hashlib.sha256(uri.encode("utf-8")).hexdigest()[:32],
            text=text,
            created_at=created_at,
            fetched_at=fetched_at,
            author=pseudonymise(f"mastodon:{acct}") if isinstance(acct, str) and acct else None,
            channel="social",
            brand=match.brand if match else group.brand,
            matched_terms=match.terms if match else (),
            language_hint=status.get("language") if isinstance(status.get("language"), str) else None,
            metadata=metadata,
        )
    except ValueError as exc:
        return QuarantinedRow(source, f"mastodon status rejected: {exc.__class__.__name__}", raw, locator)


def status_key(status: Mapping[str, object]) -> str:
    return str(status.get("id"))


def _id_key(status_id: str) -> tuple[int, str]:
    return (int(status_id), status_id) if status_id.isdigit() else (0, status_id)


class MastodonListener:
    """Brand hashtags (and optionally search) on each configured Mastodon instance."""

    def __init__(
        self,
        source: SourceConfig,
        context: ListenerContext,
        *,
        clients: Mapping[str, Mastodon] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.source = source
        self.params = parse_params(MastodonParams, source)
        brands = select_brands(source, context.brands)
        groups: list[tuple[str, QueryGroup]] = []
        if self.params.hashtags:
            groups += [("tag", g) for g in single_term_groups(brands, prefix="tag", hashtags_only=True)]
        if self.params.search:
            groups += [("search", g) for g in single_term_groups(brands, prefix="search") if not g.query.startswith("#")]
        if not groups:
            raise ConfigError(
                f"mastodon source {source.name!r}: no queries (brands have no hashtags and params.search is false); "
                "add brand hashtags or set params.search: true"
            )
        self._queries = {
            f"{urlsplit(instance).netloc}|{group.key}": (instance, mode, group)
            for instance in self.params.instances
            for mode, group in groups
        }
        self._matcher = BrandMatcher(tuple(brands))
        self._pseudonymise = context.pseudonymise
        self._clients = dict(clients or {})
        self._sleep, self._clock, self._retry = sleep, clock, retry
        self._budget = wait_budget(source)
        self.stop_reasons: dict[str, str] = {}
        self.overlap_ids: set[str] = set()

    def queries(self) -> list[str]:
        return list(self._queries)

    def check(self) -> str:
        """Each instance with a token: one cheap authenticated call (apps/verify_credentials)."""
        with_token = [instance for instance in self.params.instances if self._token(instance)]
        if self.params.search and not with_token:
            raise CredentialsMissingError(
                f"mastodon source {self.source.name!r}: params.search needs an access token but env var "
                f"{self.source.secrets.get('access_token', '(secrets.access_token not configured)')} is not set"
            )
        for instance in with_token:
            api = self._api(instance)
            fetch_with_retries(partial(self._call, instance, api.app_verify_credentials),
                               what=f"mastodon source {self.source.name} check {instance}", policy=self._retry,
                               sleep=self._sleep, budget=self._budget)
        return (f"mastodon: {len(self._queries)} query(s) on {len(self.params.instances)} instance(s), "
                f"{f'access token accepted by {len(with_token)}' if with_token else 'without access token'}")

    def _token(self, instance: str) -> str | None:
        host = urlsplit(instance).netloc
        return self.source.secret(f"access_token@{host}") or self.source.secret("access_token")

    def _api(self, instance: str) -> Mastodon:
        if instance not in self._clients:
            self._clients[instance] = Mastodon(
                api_base_url=instance, access_token=self._token(instance), ratelimit_method="throw",
                request_timeout=self.params.timeout_s, version_check_mode="created",
                mastodon_version=self.params.mastodon_version,
            )
        return self._clients[instance]

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        if query not in self._queries:
            raise ConfigError(f"mastodon source {self.source.name!r}: unknown query {query!r}")
        instance, mode, group = self._queries[query]
        if mode == "tag":
            yield from self._fetch_hashtag(query, instance, group, cursor)
        else:
            yield from self._fetch_search(query, instance, group, cursor)

    def _fetch_hashtag(self, query: str, instance: str, group: QueryGroup, cursor: Cursor | None
                       ) -> Iterator[tuple[Item, Cursor | None]]:
        if cursor:
            min_id = self._overlap_floor(cursor) or cursor
        else:
            min_id = str(int((self._clock() - self.params.backfill_days * 86400) * 1000) << 16)
        budget = self.source.max_items_per_run
        seen: set[str] = set()
        while budget > 0:
            page = self._page(query, instance, "tag", group, min_id=min_id)
            for status in page:
                if status.get("id") in (None, "") and budget > 0:  # unreadable: quarantined, cursor unchanged
                    budget -= 1
                    yield self._parse(status, instance, group), cursor
            fresh = [s for s in page if s.get("id") not in (None, "") and status_key(s) not in seen
                     and _id_key(status_key(s)) > _id_key(min_id)]
            if not fresh:
                return
            for status in sorted(fresh, key=lambda s: _id_key(status_key(s)))[:budget]:
                status_id = status_key(status)
                seen.add(status_id)
                budget -= 1
                min_id = status_id
                item = self._parse(status, instance, group)
                if cursor is not None and _id_key(status_id) <= _id_key(cursor):
                    yield self._behind(item), cursor  # read again through the overlap window
                else:
                    cursor = status_id
                    yield item, cursor

    def _fetch_search(self, query: str, instance: str, group: QueryGroup, cursor: Cursor | None
                      ) -> Iterator[tuple[Item, Cursor | None]]:
        window: dict[str, Mapping[str, object]] = {}
        floor = self._overlap_floor(cursor)
        offset = 0
        while len(window) < self.params.max_search_results:
            page = self._page(query, instance, "search", group, min_id=floor, offset=offset)
            if not page:
                break
            offset += len(page)
            for status in page:
                if floor is None or _id_key(status_key(status)) > _id_key(floor):
                    window.setdefault(status_key(status), status)
        else:
            reason = f"search window exceeded max_search_results={self.params.max_search_results}; older results skipped"
            self.stop_reasons[query] = reason
            logger.warning("mastodon source %s query %s: %s", self.source.name, query, reason)
        ordered = sorted(window.values(), key=lambda s: _id_key(status_key(s)))
        if len(window) >= self.params.max_search_results:
            ordered = ordered[-self.params.max_search_results :]
        for status in ordered[: self.source.max_items_per_run]:
            status_id = status_key(status)
            item = self._parse(status, instance, group)
            if cursor is not None and _id_key(status_id) <= _id_key(cursor):
                yield self._behind(item), cursor
            else:
                cursor = status_id
                yield item, cursor

    def _overlap_floor(self, cursor: Cursor | None) -> str | None:
        """The cursor moved back by ``overlap_minutes``: Mastodon ids are milliseconds << 16."""
        if cursor is None or not cursor.isdigit() or self.source.overlap_minutes <= 0:
            return cursor
        return str(max(int(cursor) - (int(overlap_seconds(self.source) * 1000) << 16), 0))

    def _behind(self, item: Item) -> Item:
        if isinstance(item, Mention):
            self.overlap_ids.add(item.id)
        return item

    def _parse(self, status: Mapping[str, object], instance: str, group: QueryGroup) -> Item:
        return parse_status(status, source=self.source.name, instance=instance, group=group, matcher=self._matcher,
                            pseudonymise=self._pseudonymise, fetched_at=datetime.fromtimestamp(self._clock(), UTC))

    def _page(self, query: str, instance: str, mode: str, group: QueryGroup, *, min_id: str | None,
              offset: int = 0) -> list[Mapping[str, object]]:
        """The one I/O method: one page of a hashtag timeline or a status search, with retries."""
        api = self._api(instance)
        what = f"mastodon source {self.source.name} query {query}"

        def one_page() -> list[Mapping[str, object]]:
            if mode == "tag":
                result = self._call(instance, lambda: api.timeline_hashtag(group.query, min_id=min_id,
                                                                           limit=self.params.page_size))
            else:
                found = self._call(instance, lambda: api.search_v2(group.query, result_type="statuses", min_id=min_id,
                                                                   offset=offset, limit=self.params.page_size,
                                                                   resolve=False))
                result = found["statuses"] if isinstance(found, Mapping) else None
            if not isinstance(result, list):
                raise TransientError("response is not a list of statuses")
            return [s for s in result if isinstance(s, Mapping)]

        page = fetch_with_retries(one_page, what=what, policy=self._retry, sleep=self._sleep, budget=self._budget)
        logger.info("%s: %d status(es)", what, len(page))
        return page

    def _call(self, instance: str, request: Callable[[], object]) -> object:
        """One Mastodon.py call, its failures sorted into retryable and not."""
        api = self._api(instance)
        try:
            return request()
        except MastodonRatelimitError as exc:
            # Mastodon.py has already moved the reset header onto this machine's wall clock.
            reset = getattr(api, "ratelimit_reset", None)
            wait = max(float(reset) - time.time(), 0.0) if reset else None
            raise TransientError("rate limited (429)", retry_after=wait) from exc
        except (MastodonNetworkError, MastodonServerError) as exc:
            raise TransientError(f"{exc.__class__.__name__} (timeout, connection or 5xx)") from exc
        except MastodonUnauthorizedError as exc:
            raise rejected(self.source, ("access_token",), urlsplit(instance).netloc,
                           "401; check the token or remove it") from exc
        except MastodonNotFoundError as exc:
            raise ListenerError(f"mastodon listener: {instance} has no such endpoint; is it Mastodon?") from exc
        except MastodonAPIError as exc:
            if "json" in str(exc).casefold():
                raise TransientError("response was not valid JSON (truncated?)") from exc
            raise ListenerError(f"mastodon listener: {instance} rejected the request ({exc.__class__.__name__})") from exc
