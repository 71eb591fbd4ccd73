"""Google Play listener: newest reviews per app x country x language, via google-play-scraper's protocol.

Cursor (per query ``<app_id>:<country>:<lang>``): JSON ``{"t": <newest review time yielded>,
"ids": [<review ids at exactly t>]}``. Reviews come newest first (``Sort.NEWEST``); a run pages
back with the continuation token until it passes ``t``, buffers, and yields oldest first. An
edited review gets a new time and the same id, so it comes back as newer and updates in place.

We use the library's request format (``Formats.Reviews``) and response envelope but send the
request ourselves: ``reviews()`` swallows every error into an empty or short page (which would
look like "no more reviews" and move the cursor past unread ones), its urlopen has no timeout,
and it returns naive local times.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from journeypulse.retry_after import retry_after_seconds
from listeners.base import BrandedListener, BrandMatcher, Item, Pseudonymise, check_base_url, overlap_seconds, send
from listeners.cursors import TimeWindow, load_time_cursor
from listeners.retry import TransientError, call_with_retries

# Importing google_play_scraper turns off TLS verification for every urllib user in the process
# (it replaces ssl._create_default_https_context); put the verifying default back.
_verifying_context = ssl._create_default_https_context
from google_play_scraper import Sort  # noqa: E402
from google_play_scraper.constants.regex import Regex  # noqa: E402
from google_play_scraper.constants.request import Formats  # noqa: E402

ssl._create_default_https_context = _verifying_context

logger = logging.getLogger(__name__)

KIND = "google_play"
API_URL = "https://play.google.com"
RATE_LIMITED_MARKER = "com.google.play.gateway.proto.PlayGatewayError"
RawReview = list[object]


class GooglePlayParams(BaseModel):
    """``params`` of a google_play source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_ids: list[str] = Field(min_length=1, description="package names, e.g. 'com.example.app'")
    countries: list[str] = Field(default=["us"], min_length=1)
    languages: list[str] = Field(default=["en"], min_length=1, description="review language codes, e.g. th, vi")
    brand: str = Field(min_length=1, description="the configured brand these apps belong to")
    page_size: int = Field(default=200, ge=1, le=4500)
    max_pages: int = Field(default=50, ge=1, description="pages per query and run")
    timeout_s: float = Field(default=30.0, gt=0)
    api_url: str = Field(default=API_URL, description="base URL of the store (a staging or recorded server)")

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        return check_base_url(url, API_URL)


def _at(raw: RawReview, index: int, *more: int) -> object:
    value: object = raw
    for i in (index, *more):
        if not isinstance(value, list) or len(value) <= i:
            return None
        value = value[i]
    return value


def review_time(raw: RawReview) -> datetime:
    """The review's (last edit) time from ``[5] = [seconds, nanos]``, UTC."""
    seconds = _at(raw, 5, 0)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ValueError("review has no [5][0] timestamp")
    return datetime.fromtimestamp(seconds, tz=UTC)


def parse_review(
    raw: RawReview,
    *,
    source: str,
    query: str,
    fetched_at: datetime,
    matcher: BrandMatcher,
    brand: str,
    pseudonymise: Pseudonymise,
) -> Mention | QuarantinedRow:
    """One raw review array from the ``oCPfdb`` response -> Mention; unreadable ones are quarantined.

    Positions as google-play-scraper reads them: [0] id, [1][0] author name, [2] stars, [4] text,
    [5][0] epoch seconds, [6] thumbs up, [7][1]/[7][2][0] developer reply and its time, [10] app version.
    """
    native_id = _at(raw, 0)
    locator = f"{query}:{native_id}"
    payload = json.dumps(raw, ensure_ascii=False)
    if not isinstance(native_id, str) or not native_id:
        return QuarantinedRow(source, "review has no [0] id", payload, locator)
    text = _at(raw, 4)
    if not isinstance(text, str) or not text.strip():
        return QuarantinedRow(source, "review has no text (rating only)", payload, locator)
    app_id, country, lang = (query.split(":") + ["", ""])[:3]
    try:
        found = matcher.match(text)
        author = _at(raw, 1, 0)
        stars = _at(raw, 2)
        thumbs = _at(raw, 6)
        reply = _at(raw, 7, 1)
        version = _at(raw, 10)
        return Mention.build(
            source=source,
            source_kind=KIND,
            native_id=native_id,
            text=text,
            created_at=review_time(raw),
            fetched_at=fetched_at,
            url=f"https://play.google.com/store/apps/details?id={app_id}&reviewId={native_id}",
            author=pseudonymise(author) if isinstance(author, str) and author else None,
            channel="google_play",
            brand=brand,
            matched_terms=found.terms if found and found.brand == brand else (),
            language_hint=lang or None,
            metadata={
                "app_id": app_id,
                "country": country,
                "rating": stars if isinstance(stars, int) else None,
                "thumbs_up": thumbs if isinstance(thumbs, int) else None,
                "app_version": version if isinstance(version, str) else None,
                "developer_replied": isinstance(reply, str) and bool(reply),
            },
        )
    except (ValueError, OverflowError, ValidationError) as exc:
        reason = f"review could not be read: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return QuarantinedRow(source, reason, payload, locator)


def parse_reviews_page(body: str) -> tuple[list[RawReview], str | None]:
    """The batchexecute envelope -> (raw reviews, continuation token or None on the last page).

    Raises ValueError when the body is not a reviews answer (truncated, or Play answered an error).
    """
    found = Regex.REVIEWS.findall(body)
    if not found:
        raise ValueError("no )]}' envelope")
    envelope = json.loads(found[0])
    inner = envelope[0][2] if isinstance(envelope, list) and envelope and isinstance(envelope[0], list) else None
    if not isinstance(inner, str):
        raise ValueError("no reviews answer in the envelope (unknown app id, or an error from Play)")
    data = json.loads(inner)
    if not isinstance(data, list) or not data:
        return [], None
    reviews = [r for r in data[0] if isinstance(r, list)] if isinstance(data[0], list) else []
    token = next((part[-1] for part in data[1:] if isinstance(part, list) and part and isinstance(part[-1], str)),
                 None)
    return reviews, token


class GooglePlayListener(BrandedListener[GooglePlayParams]):
    """Reviews of configured apps, one query per app, country and language."""

    params_model = GooglePlayParams

    def queries(self) -> list[str]:
        p = self.params
        return [f"{app}:{country}:{lang}" for app in p.app_ids for country in p.countries for lang in p.languages]

    def check(self) -> str:
        return (f"google_play source {self.source.name!r}: {len(self.queries())} app x country x language "
                "queries, public store (no credentials needed)")

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        at, ids = load_time_cursor(cursor, f"google_play source {self.source.name!r}")
        fetched_at = self._clock()
        limit = self.source.max_items_per_run
        window = TimeWindow(at, ids, overlap_seconds(self.source))
        more_pages = False
        for page, has_next in self._pages(query):
            more_pages = has_next
            for raw in page:
                item = parse_review(raw, source=self.source.name, query=query, fetched_at=fetched_at,
                                    matcher=self._matcher, brand=self.params.brand, pseudonymise=self._pseudonymise)
                try:
                    when = review_time(raw)
                except (ValueError, OverflowError):
                    yield item, cursor  # undatable: quarantined without moving the cursor
                    continue
                window.add(str(_at(raw, 0)), when, item)  # newest copy first: keep it
            if window.reached or (at is None and len(window.fresh) >= limit):
                break
        if at is not None and not window.reached and more_pages:
            logger.warning("google_play source %s %s: stopped after max_pages=%d before reaching the cursor; "
                           "older new reviews are not collected", self.source.name, query, self.params.max_pages)
        yield from window.items(cursor, limit, self.overlap_ids)

    def _pages(self, query: str) -> Iterator[tuple[list[RawReview], bool]]:
        """The I/O method: review pages newest first, each with whether a next page exists."""
        parts = query.split(":")
        if len(parts) != 3 or not all(parts):
            raise ListenerError(f"google_play source {self.source.name!r}: unknown query {query!r} (see queries())")
        app_id, country, lang = parts
        url = Formats.Reviews.build(lang=lang, country=country)
        if url.startswith(API_URL + "/"):
            url = self.params.api_url + url[len(API_URL):]
        client = self._client or httpx.Client()
        token: str | None = None
        try:
            for number in range(1, self.params.max_pages + 1):
                body = Formats.Reviews.build_body(app_id, Sort.NEWEST.value, self.params.page_size,
                                                  "null", "null", token)
                reviews, token = call_with_retries(partial(self._post, client, url, body, query, number),
                                                   what=f"google_play source {self.source.name} {query} page {number}",
                                                   sleep=self._sleep, budget=self._budget)
                yield reviews, token is not None
                if token is None or not reviews:
                    return
        except TransientError as exc:
            raise ListenerError(f"google_play source {self.source.name!r} {query}: gave up after retries: {exc}") \
                from exc
        finally:
            if self._client is None:
                client.close()

    def _post(self, client: httpx.Client, url: str, body: bytes, query: str,
              number: int) -> tuple[list[RawReview], str | None]:
        where = f"google_play source {self.source.name!r} {query} page {number}"
        response = send(client, "POST", url, content=body,
                                   headers={"content-type": "application/x-www-form-urlencoded"},
                        timeout=self.params.timeout_s)
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"HTTP {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 400:
            raise ListenerError(f"{where}: HTTP {status}; check the package name, country and language codes")
        if RATE_LIMITED_MARKER in response.text:
            raise TransientError("Play answered PlayGatewayError (rate limited)")
        try:
            return parse_reviews_page(response.text)
        except (ValueError, IndexError, TypeError) as exc:
            raise ListenerError(f"{where}: response is not a reviews page ({type(exc).__name__}: {str(exc)[:120]}); "
                                "nothing from this query was yielded, the next run retries") from exc





