"""GooglePlayListener: batchexecute paging, cursors, edits and retries on Play-shaped payloads (no network)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from urllib.parse import unquote

import httpx
import pytest
import respx
from _net_b_helpers import BRANDS, FETCHED_AT, FakeSleep, clock, fixture_text, make_context, make_source, mentions
from google_play_scraper.constants.element import ElementSpecs

from journeypulse.errors import ConfigError, ListenerError
from journeypulse.record import Mention, QuarantinedRow
from listeners.base import BrandMatcher, Listener
from listeners.google_play import GooglePlayListener, parse_review, parse_reviews_page
from listeners.registry import build_listener

URL = "https://play.google.com/_/PlayStoreUi/data/batchexecute"
QUERY = "com.nimbus.pay:th:th"
TOKEN = "CsYBCsMBQUhEMGdxSF9fTmV4dFBhZ2VUb2tlbg"


def listener(sleep: FakeSleep | None = None, limit: int = 10_000) -> GooglePlayListener:
    source = make_source("google_play", {"app_ids": ["com.nimbus.pay"], "countries": ["th"], "languages": ["th"],
                                         "brand": "Nimbus"}, limit=limit)
    return GooglePlayListener(source, make_context(), client=httpx.Client(), sleep=sleep or FakeSleep(), clock=clock)


def two_pages() -> respx.Route:
    def respond(request: httpx.Request) -> httpx.Response:
        page = "page2.txt" if TOKEN in unquote(request.content.decode()) else "page1.txt"
        return httpx.Response(200, text=fixture_text("google_play", page))
    return respx.post(URL).mock(side_effect=respond)


def raw_reviews(name: str) -> list:
    return parse_reviews_page(fixture_text("google_play", name))[0]


def test_importing_the_listener_leaves_tls_verification_on_for_urllib() -> None:
    probe = "import ssl, listeners.google_play; print(ssl._create_default_https_context is ssl.create_default_context)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "True"


def test_registry_builds_one_query_per_app_country_and_language_without_io() -> None:
    source = make_source("google_play", {"app_ids": ["a.b"], "countries": ["th", "vn"], "languages": ["th", "vi"],
                                         "brand": "Nimbus"})
    built = build_listener(source, make_context())
    assert isinstance(built, Listener)
    assert built.queries() == ["a.b:th:th", "a.b:th:vi", "a.b:vn:th", "a.b:vn:vi"]
    assert "no credentials needed" in built.check()


def test_unknown_param_and_unknown_brand_are_config_errors_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="params.app_id"):
        GooglePlayListener(make_source("google_play", {"app_id": "a", "brand": "Nimbus"}), make_context())
    with pytest.raises(ConfigError, match="params.brand 'Nope'"):
        GooglePlayListener(make_source("google_play", {"app_ids": ["a"], "brand": "Nope"}), make_context())


def test_parser_reads_the_same_fields_google_play_scraper_reads_but_in_utc() -> None:
    matcher = BrandMatcher(BRANDS)
    for raw in raw_reviews("page1.txt"):
        got = parse_review(raw, source="s", query=QUERY, fetched_at=FETCHED_AT, matcher=matcher, brand="Nimbus",
                           pseudonymise=str)
        assert isinstance(got, Mention)
        assert got.native_id == ElementSpecs.Review["reviewId"].extract_content(raw)
        assert got.text == ElementSpecs.Review["content"].extract_content(raw)
        assert got.metadata["rating"] == ElementSpecs.Review["score"].extract_content(raw)
        assert got.created_at.timestamp() == ElementSpecs.Review["at"].extract_content(raw).timestamp()
        assert got.created_at.utcoffset().total_seconds() == 0


@respx.mock
def test_pages_follow_the_continuation_token_and_yield_oldest_first_once_each() -> None:
    route = two_pages()
    pairs = list(listener().fetch(QUERY, None))
    assert [p[0].native_id for p in pairs] == ["gp:AOqpTOH1", "gp:AOqpTOH2", "gp:AOqpTOH3", "gp:AOqpTOH4",
                                               "gp:AOqpTOH5"]
    assert route.call_count == 2 and route.calls[0].request.url.params["hl"] == "th"
    assert "%5B2%2C2%2C%5B200%5D" in route.calls[0].request.content.decode()  # sort NEWEST, 200 a page
    assert json.loads(pairs[-1][1]) == {"t": "2026-11-24T10:00:00+00:00", "ids": ["gp:AOqpTOH5"]}


@respx.mock
def test_thai_vietnamese_and_emoji_reviews_keep_text_language_and_pseudonymous_author() -> None:
    two_pages()
    by_id = {m.native_id: m for m in mentions(listener().fetch(QUERY, None))}
    thai = by_id["gp:AOqpTOH5"]
    assert thai.text == "นิมบัส ดีที่สุด ใช้ง่าย 🥰🇹🇭" and thai.matched_terms == ("นิมบัส",)
    assert thai.language_hint == "th" and thai.metadata["developer_replied"] is True
    assert thai.author is not None and thai.author.startswith("a_") and "สมชาย" not in thai.model_dump_json()
    assert by_id["gp:AOqpTOH4"].text.startswith("Ứng dụng Nimbus Pay")
    assert "🤷🏻" in by_id["gp:AOqpTOH3"].text and by_id["gp:AOqpTOH3"].brand == "Nimbus"


@respx.mock
def test_an_empty_page_yields_nothing() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, text=fixture_text("google_play", "empty.txt")))
    assert list(listener().fetch(QUERY, None)) == []


@respx.mock
def test_later_run_stops_at_the_cursor_and_tells_same_second_reviews_apart() -> None:
    route = two_pages()
    cursor = json.dumps({"t": "2026-11-21T10:00:00+00:00", "ids": ["gp:AOqpTOH1"]})
    assert [m.native_id for m in mentions(listener().fetch(QUERY, cursor))] == [
        "gp:AOqpTOH2", "gp:AOqpTOH3", "gp:AOqpTOH4", "gp:AOqpTOH5"]
    newer = json.dumps({"t": "2026-11-23T10:00:00+00:00", "ids": ["gp:AOqpTOH4"]})
    assert [m.native_id for m in mentions(listener().fetch(QUERY, newer))] == ["gp:AOqpTOH5"]
    assert route.call_count == 3  # two pages for the first run, one for the second


@respx.mock
def test_edited_review_comes_back_newer_under_the_same_mention_id() -> None:
    two_pages()
    first = list(listener().fetch(QUERY, None))
    before = {i.native_id: i for i, _ in first}["gp:AOqpTOH3"]
    body = fixture_text("google_play", "page1.txt").replace("[1795341600,512000000]", "[1795600800,0]")
    body = body.replace("ok I guess", "much better now")
    respx.post(URL).mock(return_value=httpx.Response(200, text=body))
    after = mentions(listener().fetch(QUERY, first[-1][1]))
    assert [m.id for m in after] == [before.id] and after[0].text != before.text


@respx.mock
def test_interrupted_pull_resumes_from_its_cursor_with_nothing_lost_or_duplicated() -> None:
    two_pages()
    full = [m.native_id for m in mentions(listener().fetch(QUERY, None))]
    first = listener().fetch(QUERY, None)
    taken = [next(first) for _ in range(3)]
    resumed = list(listener().fetch(QUERY, taken[-1][1]))
    assert [i.native_id for i, _ in taken + resumed] == full


@respx.mock
def test_first_run_limit_keeps_the_newest_reviews_from_the_first_page() -> None:
    route = two_pages()
    assert [m.native_id for m in mentions(listener(limit=2).fetch(QUERY, None))] == ["gp:AOqpTOH4", "gp:AOqpTOH5"]
    assert route.call_count == 1


@respx.mock
def test_429_waits_for_retry_after_500_and_timeout_back_off_then_success() -> None:
    respx.post(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "12"}), httpx.Response(502),
                                      httpx.ReadTimeout("slow"),
                                      httpx.Response(200, text=fixture_text("google_play", "page2.txt"))])
    sleep = FakeSleep()
    assert len(mentions(listener(sleep).fetch(QUERY, None))) == 3
    assert sleep.waits[0] == 12.0 and len(sleep.waits) == 3 and all(0 <= w <= 4.0 for w in sleep.waits[1:])


@respx.mock
def test_play_gateway_rate_limit_in_a_200_body_is_retried() -> None:
    respx.post(URL).mock(side_effect=[httpx.Response(200, text=fixture_text("google_play", "rate_limited.txt")),
                                      httpx.Response(200, text=fixture_text("google_play", "empty.txt"))])
    sleep = FakeSleep()
    assert list(listener(sleep).fetch(QUERY, None)) == [] and len(sleep.waits) == 1


@respx.mock
def test_unknown_app_is_a_clear_error_not_an_empty_result() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, text=fixture_text("google_play", "not_found.txt")))
    with pytest.raises(ListenerError, match="unknown app id"):
        list(listener().fetch(QUERY, None))


@respx.mock
def test_truncated_second_page_is_a_clear_error_and_nothing_half_read_is_yielded(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    respx.post(URL).mock(side_effect=[httpx.Response(200, text=fixture_text("google_play", "page1.txt")),
                                      httpx.Response(200, text=fixture_text("google_play", "page2.txt")[:250])])
    pulled: list = []
    with pytest.raises(ListenerError, match="page 2: response is not a reviews page"):
        pulled.extend(listener().fetch(QUERY, None))
    assert pulled == [] and "นิมบัส" not in caplog.text


def test_rating_only_review_and_undatable_review_are_quarantined_with_their_locator() -> None:
    raw = raw_reviews("page1.txt")[0]
    no_text = [*raw[:4], None, *raw[5:]]
    no_time = [*raw[:5], None, *raw[6:]]
    for broken, reason in ((no_text, "no text"), (no_time, "no [5][0] timestamp")):
        row = parse_review(broken, source="s", query=QUERY, fetched_at=FETCHED_AT, matcher=BrandMatcher(BRANDS),
                           brand="Nimbus", pseudonymise=str)
        assert isinstance(row, QuarantinedRow) and reason in row.reason and row.locator == f"{QUERY}:gp:AOqpTOH5"
