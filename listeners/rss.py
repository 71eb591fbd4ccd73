"""RSS/Atom listener: news and blog feeds fetched with httpx, parsed with feedparser, brand-matched.

Cursor (per query = feed URL): JSON ``{"t": <newest entry updated/published yielded>, "ids":
[<entry ids at exactly t>], "etag": ..., "last_modified": ...}``. Entries are sorted oldest first
and yielded with advancing ``t``; the feed's new ETag/Last-Modified ride only on the cursor of the
last entry of a fully yielded feed, so a resume after an interruption never gets a 304 for entries
it has not stored yet. An entry whose ``updated`` moves forward is yielded again (same id) as an edit.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Literal

import feedparser
import httpx
from feedparser.exceptions import ThingsNobodyCaresAboutButMe
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from journeypulse.retry_after import retry_after_seconds
from listeners.base import BrandedListener, BrandMatcher, Item, Pseudonymise, overlap_seconds, send
from listeners.cursors import TimeWindow
from listeners.retry import TransientError, call_with_retries

logger = logging.getLogger(__name__)

KIND = "rss"
USER_AGENT = "journeypulse-rss/0.1 (+https://github.com/journeypulse/journeypulse)"


class RssParams(BaseModel):
    """``params`` of an rss source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: list[str] = Field(min_length=1, description="feed URLs (RSS 0.9x/1.0/2.0 or Atom)")
    brand: str | None = Field(default=None, description="assign every entry to this brand (the brand's own feed)")
    channel: Literal["news", "rss"] = "news"
    allow_malformed: bool = Field(default=False, description="use what feedparser recovers from broken XML")
    timeout_s: float = Field(default=20.0, gt=0)

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"feed URLs must start with http:// or https://, got {bad}")
        return urls


_BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "blockquote", "pre", "tr", "table", "section", "article",
                     "h1", "h2", "h3", "h4", "h5", "h6", "header", "footer", "figure", "figcaption", "dd", "dt"})
_SPACES = re.compile(r"[ \t\r\f\v]+")  # ASCII only: a non-breaking space is kept as written
_BLANK_LINES = re.compile(r"\n{3,}")


class _Text(HTMLParser):
    """Collects the text of an HTML fragment: <br> and block elements become line breaks, scripts go."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(fragment: str) -> str:
    """Plain text of an HTML fragment, entities decoded once, line breaks and non-breaking spaces kept.

    Runs of ASCII spaces and tabs become one space; more than one blank line becomes one.
    """
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    lines = (_SPACES.sub(" ", line).strip(" ") for line in "".join(parser.parts).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def _when(entry: feedparser.FeedParserDict, key: str) -> datetime | None:
    parsed = dict.get(entry, f"{key}_parsed")  # plain dict lookup: no deprecated updated->published alias
    if not parsed:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def entry_time(entry: feedparser.FeedParserDict) -> datetime | None:
    """The cursor time of an entry: its latest of updated/published, None when it has neither."""
    times = [t for t in (_when(entry, "updated"), _when(entry, "published")) if t is not None]
    return max(times) if times else None


def entry_id(entry: feedparser.FeedParserDict) -> str | None:
    value = entry.get("id") or entry.get("link")
    return value if isinstance(value, str) and value.strip() else None


def parse_entry(
    entry: feedparser.FeedParserDict,
    *,
    source: str,
    feed_url: str,
    language: str | None,
    fetched_at: datetime,
    matcher: BrandMatcher,
    brand: str | None,
    channel: str,
    pseudonymise: Pseudonymise,
) -> Mention | QuarantinedRow | None:
    """One feedparser entry -> Mention; None when it names no configured brand (and none is assigned)."""
    native_id = entry_id(entry)
    locator = f"{feed_url}#{native_id}"
    payload = json.dumps({k: dict.get(entry, k) for k in ("id", "link", "title", "summary", "published", "updated")},
                         ensure_ascii=False, default=str)
    if native_id is None:
        return QuarantinedRow(source, "feed entry has neither id/guid nor link", payload, locator)
    title = strip_html(entry.get("title", ""))
    body = entry.get("summary") or next((c.get("value", "") for c in entry.get("content", [])), "")
    text = "\n".join(part for part in (title, strip_html(body)) if part)
    found = matcher.match(text)
    if brand is None and found is None:
        return None
    published = _when(entry, "published") or _when(entry, "updated")
    changed = entry_time(entry)
    if published is None or changed is None:
        return QuarantinedRow(source, "feed entry has no published/updated date", payload, locator)
    try:
        author = entry.get("author")
        return Mention.build(
            source=source,
            source_kind=KIND,
            native_id=native_id,
            text=text,
            created_at=published,
            fetched_at=fetched_at,
            url=entry.get("link"),
            author=pseudonymise(author) if isinstance(author, str) and author.strip() else None,
            channel=channel,
            brand=brand or (found.brand if found else None),
            matched_terms=found.terms if found and (brand is None or found.brand == brand) else (),
            language_hint=language,
            metadata={"feed": feed_url, "edited": changed > published, "updated_at": changed.isoformat()},
        )
    except ValidationError as exc:
        reason = f"feed entry could not be read: {str(exc).splitlines()[0][:200]}"
        return QuarantinedRow(source, reason, payload, locator)


class RssListener(BrandedListener[RssParams]):
    """Entries of configured feeds that mention a configured brand; one query per feed URL."""

    params_model = RssParams

    def queries(self) -> list[str]:
        return list(self.params.urls)

    def check(self) -> str:
        return f"rss source {self.source.name!r}: {len(self.params.urls)} feeds (no credentials needed)"

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        state = _load_cursor(cursor, self.source.name)
        at, ids = state.at, state.ids
        fetched_at = self._clock()
        answer = self._download(query, state.etag, state.last_modified)
        if answer is None:
            return  # 304 Not Modified
        body, content_type, etag, last_modified = answer
        feed = feedparser.parse(io.BytesIO(body), response_headers={"content-type": content_type,
                                                                    "content-location": query})
        if not feed.entries and not feed.get("version"):
            raise ListenerError(
                f"rss source {self.source.name!r}: {query} did not answer a feed (content type "
                f"{content_type.split(';')[0].strip() or 'unknown'}, no RSS or Atom root); nothing was yielded. "
                "Has the feed moved, or does the site now ask for a login?"
            )
        if feed.get("bozo") and not isinstance(feed.get("bozo_exception"), ThingsNobodyCaresAboutButMe):
            # (served as text/plain, or a wrong declared charset: harmless, the XML itself parsed)
            problem = f"{type(feed.get('bozo_exception')).__name__}: {str(feed.get('bozo_exception'))[:160]}"
            if not self.params.allow_malformed or not feed.entries:
                raise ListenerError(f"rss source {self.source.name!r} {query}: feed is not well-formed ({problem}); "
                                    "nothing was yielded. Set params.allow_malformed: true to use what can be "
                                    "recovered")
            logger.warning("rss source %s %s: feed is not well-formed (%s); using %d recovered entries",
                           self.source.name, query, problem, len(feed.entries))
        language = (feed.feed.get("language") or "").split("-")[0].lower() or None
        window = TimeWindow(at, ids, overlap_seconds(self.source))
        for entry in feed.entries:
            item = parse_entry(entry, source=self.source.name, feed_url=query, language=language,
                               fetched_at=fetched_at, matcher=self._matcher, brand=self.params.brand,
                               channel=self.params.channel, pseudonymise=self._pseudonymise)
            changed, native_id = entry_time(entry), entry_id(entry)
            if item is None:
                continue
            if changed is None or native_id is None:
                yield item, cursor  # quarantined without moving the cursor
            else:
                window.add(native_id, changed, item, keep_latest=True)
        for native_id, item in window.behind.items():
            if native_id not in window.fresh:  # dated within the overlap behind the cursor
                if isinstance(item, Mention):
                    self.overlap_ids.add(item.id)
                yield item, cursor
        limit = self.source.max_items_per_run
        complete = len(window.fresh) <= limit
        ordered = window.ordered(limit)
        for position, (native_id, (changed, item)) in enumerate(ordered, start=1):
            ids = ids | {native_id} if changed == at else frozenset({native_id})
            at = changed
            last = complete and position == len(ordered)
            yield item, _dump_cursor(changed, ids, etag if last else state.etag,
                                     last_modified if last else state.last_modified)

    def _download(self, url: str, etag: str | None, last_modified: str | None) -> tuple[bytes, str, str | None,
                                                                                          str | None] | None:
        """The I/O method: one conditional GET; None on 304, else (body, content type, ETag, Last-Modified)."""
        headers = {"User-Agent": USER_AGENT, **({"If-None-Match": etag} if etag else {}),
                   **({"If-Modified-Since": last_modified} if last_modified else {})}
        client = self._client or httpx.Client()
        try:
            return call_with_retries(lambda: self._get(client, url, headers),
                                     what=f"rss source {self.source.name} {url}", sleep=self._sleep, budget=self._budget)
        except TransientError as exc:
            raise ListenerError(f"rss source {self.source.name!r} {url}: gave up after retries: {exc}") from exc
        finally:
            if self._client is None:
                client.close()

    def _get(self, client: httpx.Client, url: str,
             headers: dict[str, str]) -> tuple[bytes, str, str | None, str | None] | None:
        response = send(client, "GET", url, headers=headers, follow_redirects=True,
                        timeout=self.params.timeout_s)
        status = response.status_code
        if status == 304:
            return None
        if status == 429 or status >= 500:
            raise TransientError(f"HTTP {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 400:
            raise ListenerError(f"rss source {self.source.name!r} {url}: HTTP {status}; check the feed URL "
                                "(401/403: the site refuses unauthenticated readers)")
        return (response.content, response.headers.get("content-type", "application/xml"),
                response.headers.get("ETag"), response.headers.get("Last-Modified"))


@dataclass(frozen=True)
class _FeedCursor:
    at: datetime | None = None
    ids: frozenset[str] = frozenset()
    etag: str | None = None
    last_modified: str | None = None


def _load_cursor(raw: Cursor | None, source: str) -> _FeedCursor:
    if raw is None:
        return _FeedCursor()
    try:
        data = json.loads(raw)
        at = datetime.fromisoformat(data["t"])
        return _FeedCursor(at if at.tzinfo else at.replace(tzinfo=UTC), frozenset(str(i) for i in data["ids"]),
                           data.get("etag"), data.get("last_modified"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ListenerError(f"rss source {source!r}: stored cursor {raw[:80]!r} is not a feed cursor "
                            "(delete the stored cursor to start again)") from exc


def _dump_cursor(at: datetime, ids: frozenset[str], etag: str | None, last_modified: str | None) -> Cursor:
    return json.dumps({"t": at.astimezone(UTC).isoformat(), "ids": sorted(ids), "etag": etag,
                       "last_modified": last_modified})

