"""Apple App Store listener: the public customer-reviews RSS JSON feed, per app x country.

Cursor (per query ``<app_id>:<country>``): JSON ``{"t": <newest review 'updated' yielded>,
"ids": [<review ids updated at exactly t>]}``. The feed (``sortby=mostrecent``) is newest first,
50 reviews a page, pages 1..10 at most (Apple serves no more than 500 reviews). A run pages
back until it passes ``t``, buffers, and yields oldest first. An edited review gets a new
``updated`` time and the same id, so it comes back as newer and the store updates it in place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from journeypulse.retry_after import retry_after_seconds
from listeners.base import BrandedListener, BrandMatcher, Item, Pseudonymise, overlap_seconds, send
from listeners.cursors import TimeWindow, load_time_cursor
from listeners.retry import TransientError, call_with_retries

logger = logging.getLogger(__name__)

KIND = "app_store"
FEED_URL = "https://itunes.apple.com/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"
MAX_FEED_PAGES = 10
Payload = dict[str, object]


class AppStoreParams(BaseModel):
    """``params`` of an app_store source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_ids: list[str] = Field(min_length=1, description="numeric App Store ids, e.g. '284882215'")
    countries: list[str] = Field(default=["us"], min_length=1, description="two-letter storefront codes")
    brand: str = Field(min_length=1, description="the configured brand these apps belong to")
    max_pages: int = Field(default=MAX_FEED_PAGES, ge=1, le=MAX_FEED_PAGES)
    timeout_s: float = Field(default=20.0, gt=0)
    feed_url: str = FEED_URL

    @field_validator("app_ids")
    @classmethod
    def _numeric(cls, ids: list[str]) -> list[str]:
        bad = [i for i in ids if not i.isdigit()]
        if bad:
            raise ValueError(f"App Store ids are numeric (the digits after 'id' in the app's URL), got {bad}")
        return ids

    @field_validator("countries")
    @classmethod
    def _two_letters(cls, countries: list[str]) -> list[str]:
        bad = [c for c in countries if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"countries are two-letter storefront codes like 'us', 'th', 'vn', got {bad}")
        return [c.lower() for c in countries]


def _label(entry: object, *keys: str) -> str | None:
    for key in keys:
        if not isinstance(entry, dict):
            return None
        entry = entry.get(key)
    value = entry.get("label") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def parse_review(
    entry: Payload,
    *,
    source: str,
    query: str,
    fetched_at: datetime,
    matcher: BrandMatcher,
    brand: str,
    pseudonymise: Pseudonymise,
) -> Mention | QuarantinedRow:
    """One feed ``entry`` (a customer review) -> Mention; unreadable entries are quarantined."""
    native_id = _label(entry, "id")
    locator = f"{query}:{native_id}"
    if not native_id:
        return QuarantinedRow(source, "review entry has no id", json.dumps(entry, ensure_ascii=False), locator)
    title = (_label(entry, "title") or "").strip()
    body = (_label(entry, "content") or "").strip()
    text = f"{title}\n{body}" if title and body else title or body
    app_id, _, country = query.partition(":")
    try:
        found = matcher.match(text)
        author_uri = _label(entry, "author", "uri")
        author = author_uri.rsplit("/", 1)[-1] if author_uri else _label(entry, "author", "name")
        return Mention.build(
            source=source,
            source_kind=KIND,
            native_id=native_id,
            text=text,
            created_at=_parse_time(_label(entry, "updated")),
            fetched_at=fetched_at,
            url=f"https://apps.apple.com/{country}/app/id{app_id}?see-all=reviews",
            author=pseudonymise(author) if author else None,
            channel="app_store",
            brand=brand,
            matched_terms=found.terms if found and found.brand == brand else (),
            metadata={
                "app_id": app_id,
                "country": country,
                "rating": _int_or_none(_label(entry, "im:rating")),
                "app_version": _label(entry, "im:version"),
                "vote_sum": _int_or_none(_label(entry, "im:voteSum")),
                "vote_count": _int_or_none(_label(entry, "im:voteCount")),
            },
        )
    except (ValueError, ValidationError) as exc:
        reason = f"review could not be read: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return QuarantinedRow(source, reason, json.dumps(entry, ensure_ascii=False), locator)


def feed_entries(payload: object) -> list[Payload]:
    """The review entries of one feed page; a page past the last has no ``entry`` at all."""
    feed = payload.get("feed") if isinstance(payload, dict) else None
    if not isinstance(feed, dict):
        raise ValueError("response has no 'feed' object")
    entries = feed.get("entry", [])
    if isinstance(entries, dict):  # a page holding a single review carries an object, not a list
        entries = [entries]
    if not isinstance(entries, list):
        raise ValueError("'feed.entry' is neither a list nor an object")
    # Older feeds started page 1 with the app itself (it has 'im:name', no rating): not a review.
    return [e for e in entries if isinstance(e, dict) and "im:name" not in e]


class AppStoreListener(BrandedListener[AppStoreParams]):
    """Customer reviews of configured apps, one query per app and storefront country."""

    params_model = AppStoreParams

    def queries(self) -> list[str]:
        return [f"{app}:{country}" for app in self.params.app_ids for country in self.params.countries]

    def check(self) -> str:
        return (f"app_store source {self.source.name!r}: {len(self.params.app_ids)} apps x "
                f"{len(self.params.countries)} countries, public feed (no credentials needed)")

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        at, ids = load_time_cursor(cursor, f"app_store source {self.source.name!r}")
        fetched_at = self._clock()
        limit = self.source.max_items_per_run
        window = TimeWindow(at, ids, overlap_seconds(self.source))
        for entries in self._pages(query):
            for entry in entries:
                item = parse_review(entry, source=self.source.name, query=query, fetched_at=fetched_at,
                                    matcher=self._matcher, brand=self.params.brand, pseudonymise=self._pseudonymise)
                try:
                    updated = _parse_time(_label(entry, "updated"))
                except ValueError:
                    yield item, cursor  # undatable: quarantined without moving the cursor
                    continue
                window.add(_label(entry, "id") or "", updated, item)  # newest copy first: keep it
            if window.reached or (at is None and len(window.fresh) >= limit):
                break
        yield from window.items(cursor, limit, self.overlap_ids)

    def _pages(self, query: str) -> Iterator[list[Payload]]:
        """The I/O method: feed pages 1..max_pages, newest first, until a page is empty."""
        app_id, _, country = query.partition(":")
        if not app_id.isdigit() or not country:
            raise ListenerError(f"app_store source {self.source.name!r}: unknown query {query!r} (see queries())")
        client = self._client or httpx.Client()
        try:
            for page in range(1, self.params.max_pages + 1):
                url = self.params.feed_url.format(country=country, page=page, app_id=app_id)
                entries = call_with_retries(partial(self._get, client, url, query, page),
                                            what=f"app_store source {self.source.name} {query} page {page}",
                                            sleep=self._sleep, budget=self._budget)
                if not entries:
                    return
                yield entries
        except TransientError as exc:
            raise ListenerError(f"app_store source {self.source.name!r} {query}: gave up after retries: {exc}") from exc
        finally:
            if self._client is None:
                client.close()

    def _get(self, client: httpx.Client, url: str, query: str, page: int) -> list[Payload]:
        where = f"app_store source {self.source.name!r} {query} page {page}"
        response = send(client, "GET", url,
                        timeout=self.params.timeout_s)
        status = response.status_code
        if status in (403, 429) or status >= 500:  # Apple answers 403 when it throttles the feed
            raise TransientError(f"HTTP {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        if status == 400 and page > 1:
            return []  # Apple answers 400 past the last page it serves
        if status >= 400:
            raise ListenerError(f"{where}: HTTP {status}; check the app id and country code")
        try:
            return feed_entries(response.json())
        except ValueError as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:120]}"
            raise ListenerError(f"{where}: response is not a reviews feed ({problem}); nothing from this query "
                                "was yielded, the next run retries") from exc





