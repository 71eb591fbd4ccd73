"""RssListener: conditional GET, feed parsing, brand matching and cursors on RSS/Atom fixtures (no network)."""

from __future__ import annotations

import json

import feedparser
import httpx
import pytest
import respx
from _net_b_helpers import BRANDS, FETCHED_AT, FakeSleep, clock, fixture_text, make_context, make_source, mentions

from journeypulse.errors import ConfigError, ListenerError
from journeypulse.record import QuarantinedRow
from listeners.base import BrandMatcher, Listener
from listeners.registry import build_listener
from listeners.rss import RssListener, parse_entry, strip_html

NEWS = "https://news.example.com/feed.xml"
BLOG = "https://blog.example.com/atom.xml"
HEADERS = {"ETag": '"v2"', "Last-Modified": "Tue, 24 Nov 2026 09:30:00 GMT", "Content-Type": "application/rss+xml"}


def listener(sleep: FakeSleep | None = None, limit: int = 10_000, **params: object) -> RssListener:
    source = make_source("rss", {"urls": [NEWS, BLOG], **params}, limit=limit)
    return RssListener(source, make_context(), client=httpx.Client(), sleep=sleep or FakeSleep(), clock=clock)


def serve_news(**headers: str) -> respx.Route:
    return respx.get(NEWS).mock(return_value=httpx.Response(200, text=fixture_text("rss", "news.rss.xml"),
                                                            headers={**HEADERS, **headers}))


def test_registry_builds_one_query_per_feed_without_io() -> None:
    built = build_listener(make_source("rss", {"urls": [NEWS]}), make_context())
    assert isinstance(built, Listener) and built.queries() == [NEWS]
    assert "1 feeds" in built.check()


def test_non_http_url_and_unknown_param_are_config_errors_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"params.urls: .*http://"):
        RssListener(make_source("rss", {"urls": ["ftp://x"]}), make_context())
    with pytest.raises(ConfigError, match="params.feeds"):
        RssListener(make_source("rss", {"urls": [NEWS], "feeds": []}), make_context())


def test_strip_html_drops_tags_and_scripts_and_decodes_entities_and_keeps_paragraph_breaks() -> None:
    assert strip_html("<p>a <b>b</b> &amp; c</p><script>x()</script><style>p{}</style> d") == "a b & c\nd"


@respx.mock
def test_brand_entries_come_oldest_first_with_html_stripped_and_the_feed_language() -> None:
    serve_news()
    pairs = list(listener().fetch(NEWS, None))
    got = [p[0] for p in pairs]
    assert [m.native_id for m in got] == ["news-1000", "news-1002", "news-1003"]  # news-1001 names no brand
    thai = got[-1]
    assert thai.text == "นิมบัส เปิดตัวบัตรใหม่ 🎉\nลูกค้า นิมบัส ได้รับบัตรเร็วขึ้น & ง่ายขึ้น"
    assert thai.matched_terms == ("นิมบัส",) and thai.brand == "Nimbus" and thai.language_hint == "th"
    assert thai.channel == "news" and thai.url == "https://news.example.com/2026/11/nimbus-th"
    assert thai.author is not None and "Somsak" not in thai.model_dump_json() and thai.fetched_at == FETCHED_AT
    assert got[1].text.endswith("Nhiều người dùng phản ánh lỗi 😤\nkhi chuyển tiền.")  # <br/> is a line break
    assert "𝐟𝐚𝐬𝐭" in got[0].text and "🚀" in got[0].text


@respx.mock
def test_new_etag_rides_only_on_the_last_cursor_and_is_sent_back_next_run() -> None:
    serve_news()
    cursors = [json.loads(c) for _, c in listener().fetch(NEWS, None)]
    assert [c["etag"] for c in cursors] == [None, None, '"v2"']
    assert cursors[-1]["last_modified"] == HEADERS["Last-Modified"]
    assert cursors[0]["ids"] == ["news-1000"] and cursors[1]["ids"] == ["news-1000", "news-1002"]
    route = respx.get(NEWS).mock(return_value=httpx.Response(304))
    assert list(listener().fetch(NEWS, json.dumps(cursors[-1]))) == []
    sent = route.calls.last.request.headers
    assert sent["If-None-Match"] == '"v2"' and sent["If-Modified-Since"] == HEADERS["Last-Modified"]


@respx.mock
def test_interrupted_pull_resumes_without_a_304_and_with_nothing_lost_or_duplicated() -> None:
    route = serve_news()
    first = listener().fetch(NEWS, None)
    taken = next(first)
    resumed = list(listener().fetch(NEWS, taken[1]))
    assert [taken[0].native_id] + [i.native_id for i, _ in resumed] == ["news-1000", "news-1002", "news-1003"]
    assert "If-None-Match" not in route.calls[-1].request.headers


@respx.mock
def test_unchanged_feed_served_again_without_etag_support_yields_nothing_new() -> None:
    serve_news(ETag="", **{"Last-Modified": ""})
    last = list(listener().fetch(NEWS, None))[-1][1]
    assert list(listener().fetch(NEWS, last)) == []


@respx.mock
def test_assigned_brand_keeps_every_atom_entry_and_updated_time_drives_the_cursor() -> None:
    respx.get(BLOG).mock(return_value=httpx.Response(200, text=fixture_text("rss", "blog.atom.xml")))
    pairs = list(listener(brand="Nimbus").fetch(BLOG, None))
    got = [p[0] for p in pairs]
    assert [m.url for m in got] == ["https://blog.example.com/welcome", "https://blog.example.com/november"]
    assert all(m.brand == "Nimbus" and m.matched_terms == () for m in got)
    edited = got[-1]
    assert edited.metadata["edited"] is True and edited.created_at.isoformat() == "2026-11-20T10:00:00+00:00"
    assert json.loads(pairs[-1][1])["t"] == "2026-11-24T12:00:00+00:00" and edited.language_hint == "vi"


@respx.mock
def test_entry_edited_again_is_yielded_again_under_the_same_mention_id() -> None:
    respx.get(BLOG).mock(return_value=httpx.Response(200, text=fixture_text("rss", "blog.atom.xml")))
    first = list(listener(brand="Nimbus").fetch(BLOG, None))
    again = fixture_text("rss", "blog.atom.xml").replace("<updated>2026-11-24T12:00:00Z</updated>\n    <author>",
                                                         "<updated>2026-11-25T08:00:00Z</updated>\n    <author>")
    respx.get(BLOG).mock(return_value=httpx.Response(200, text=again))
    second = mentions(listener(brand="Nimbus").fetch(BLOG, first[-1][1]))
    assert [m.id for m in second] == [first[-1][0].id]


@respx.mock
def test_first_run_limit_keeps_the_newest_entries_and_withholds_the_etag() -> None:
    serve_news()
    pairs = list(listener(limit=2).fetch(NEWS, None))
    assert [p[0].native_id for p in pairs] == ["news-1002", "news-1003"]
    assert json.loads(pairs[-1][1])["etag"] is None


@respx.mock
def test_truncated_xml_is_a_clear_error_unless_recovery_is_allowed() -> None:
    broken = fixture_text("rss", "news.rss.xml")[:1500]
    respx.get(NEWS).mock(return_value=httpx.Response(200, text=broken, headers=HEADERS))
    with pytest.raises(ListenerError, match="feed is not well-formed .*allow_malformed"):
        list(listener().fetch(NEWS, None))
    recovered = [m.native_id for m in mentions(listener(allow_malformed=True).fetch(NEWS, None))]
    assert "news-1003" in recovered


@respx.mock
def test_an_empty_channel_yields_nothing() -> None:
    empty = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    respx.get(NEWS).mock(return_value=httpx.Response(200, text=empty))
    assert list(listener().fetch(NEWS, None)) == []


@respx.mock
def test_429_waits_for_retry_after_and_500_and_timeout_back_off_then_succeed() -> None:
    respx.get(NEWS).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "45"}), httpx.Response(500),
                                      httpx.ConnectTimeout("slow"),
                                      httpx.Response(200, text=fixture_text("rss", "news.rss.xml"))])
    sleep = FakeSleep()
    assert len(mentions(listener(sleep).fetch(NEWS, None))) == 3
    assert sleep.waits[0] == 45.0 and len(sleep.waits) == 3 and all(0 <= w <= 4.0 for w in sleep.waits[1:])


@respx.mock
def test_missing_feed_is_a_listener_error_naming_the_url_and_status() -> None:
    respx.get(NEWS).mock(return_value=httpx.Response(404))
    with pytest.raises(ListenerError, match="feed.xml: HTTP 404"):
        list(listener().fetch(NEWS, None))


def test_brand_entry_without_any_date_is_quarantined_with_its_locator() -> None:
    feed = feedparser.parse(fixture_text("rss", "news.rss.xml").replace(
        "<pubDate>Tue, 24 Nov 2026 09:00:00 +0000</pubDate>", ""))
    entry = next(e for e in feed.entries if e.id == "news-1003")
    row = parse_entry(entry, source="s", feed_url=NEWS, language=None, fetched_at=FETCHED_AT,
                      matcher=BrandMatcher(BRANDS), brand=None, channel="news", pseudonymise=str)
    assert isinstance(row, QuarantinedRow) and "no published/updated date" in row.reason
    assert row.locator == f"{NEWS}#news-1003"
