"""AppStoreListener: feed paging, cursors, edits and retries on customer-reviews feed fixtures (no network)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx
from _net_b_helpers import (
    BRANDS,
    FETCHED_AT,
    FakeSleep,
    clock,
    fixture_json,
    fixture_text,
    make_context,
    make_source,
    mentions,
)

from journeypulse.errors import ConfigError, ListenerError
from journeypulse.record import Mention, QuarantinedRow
from listeners.app_store import AppStoreListener, feed_entries, parse_review
from listeners.base import BrandMatcher, Listener
from listeners.registry import build_listener

FEED = "https://itunes.apple.com/th/rss/customerreviews/page={}/id=1500000000/sortby=mostrecent/json"
QUERY = "1500000000:th"


def listener(sleep: FakeSleep | None = None, limit: int = 10_000, **params: object) -> AppStoreListener:
    source = make_source("app_store", {"app_ids": ["1500000000"], "countries": ["th"], "brand": "Nimbus", **params},
                         limit=limit)
    return AppStoreListener(source, make_context(), client=httpx.Client(), sleep=sleep or FakeSleep(), clock=clock)


def mock_pages(*pages: str) -> list[respx.Route]:
    routes = [respx.get(FEED.format(n)).mock(return_value=httpx.Response(200, json=fixture_json("app_store", name)))
              for n, name in enumerate(pages, start=1)]
    routes.append(respx.get(FEED.format(len(pages) + 1)).mock(
        return_value=httpx.Response(200, json=fixture_json("app_store", "empty.json"))))
    return routes


def test_registry_builds_one_query_per_app_and_country_without_io() -> None:
    source = make_source("app_store", {"app_ids": ["1", "2"], "countries": ["TH", "vn"], "brand": "Nimbus"})
    built = build_listener(source, make_context())
    assert isinstance(built, Listener)
    assert built.queries() == ["1:th", "1:vn", "2:th", "2:vn"]
    assert "no credentials needed" in built.check()


def test_non_numeric_app_id_and_missing_brand_are_config_errors_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"params.app_ids: .*numeric"):
        AppStoreListener(make_source("app_store", {"app_ids": ["com.x"], "brand": "Nimbus"}), make_context())
    with pytest.raises(ConfigError, match=r"params.brand: Field required"):
        AppStoreListener(make_source("app_store", {"app_ids": ["1"]}), make_context())


@respx.mock
def test_pages_are_read_until_an_empty_page_and_yielded_oldest_first_once_each() -> None:
    routes = mock_pages("page1.json", "page2.json")
    pairs = list(listener().fetch(QUERY, None))
    assert [p[0].native_id for p in pairs] == ["11000000001", "11000000002", "11000000003", "11000000004",
                                               "11000000005"]
    assert [r.call_count for r in routes] == [1, 1, 1]
    assert json.loads(pairs[-1][1]) == {"t": "2026-11-25T03:00:00+00:00", "ids": ["11000000005"]}


@respx.mock
def test_thai_vietnamese_and_emoji_reviews_keep_their_text_rating_and_brand() -> None:
    mock_pages("page1.json")
    by_id = {m.native_id: m for m in mentions(listener().fetch(QUERY, None))}
    thai = by_id["11000000005"]
    assert thai.text == "ดีมาก\nแอปนิมบัสโอนเงินเร็วมาก 🚀💯"
    assert thai.brand == "Nimbus" and thai.matched_terms == ("นิมบัส",) and thai.channel == "app_store"
    assert thai.metadata["rating"] == 5 and thai.metadata["country"] == "th"
    assert by_id["11000000004"].text.endswith("cần sửa gấp 😤") and by_id["11000000004"].matched_terms == ()
    assert "👩🏽‍💻" in by_id["11000000003"].text
    assert thai.author is not None and thai.author.startswith("a_") and "101" not in thai.author
    assert thai.fetched_at == FETCHED_AT


@respx.mock
def test_an_empty_first_page_yields_nothing() -> None:
    respx.get(FEED.format(1)).mock(return_value=httpx.Response(200, json=fixture_json("app_store", "empty.json")))
    assert list(listener().fetch(QUERY, None)) == []


@respx.mock
def test_a_page_with_one_review_as_an_object_is_read() -> None:
    mock_pages("single_entry.json")
    assert [m.native_id for m in mentions(listener().fetch(QUERY, None))] == ["11000000009"]


@respx.mock
def test_later_run_stops_paging_at_the_cursor_and_tells_same_second_reviews_apart() -> None:
    routes = mock_pages("page1.json", "page2.json")
    cursor = json.dumps({"t": "2026-11-21T15:30:00+00:00", "ids": ["11000000002"]})
    got = [m.native_id for m in mentions(listener().fetch(QUERY, cursor))]
    assert got == ["11000000001", "11000000003", "11000000004", "11000000005"]
    newer = json.dumps({"t": "2026-11-23T15:30:00+00:00", "ids": ["11000000004"]})
    assert [m.native_id for m in mentions(listener().fetch(QUERY, newer))] == ["11000000005"]
    assert routes[1].call_count == 1  # the second run never needed page 2


@respx.mock
def test_edited_review_comes_back_with_its_new_time_and_the_same_mention_id() -> None:
    mock_pages("page1.json")
    first = list(listener().fetch(QUERY, None))
    before = {i.native_id: i for i, _ in first}["11000000003"]
    edited = fixture_json("app_store", "single_entry.json")  # updated 2026-11-25T08:00Z, after the cursor
    edited["feed"]["entry"]["id"]["label"] = "11000000003"
    respx.get(FEED.format(1)).mock(return_value=httpx.Response(200, json=edited))
    after = mentions(listener().fetch(QUERY, first[-1][1]))
    assert [m.id for m in after] == [before.id] and after[0].text != before.text


@respx.mock
def test_interrupted_pull_resumes_from_its_cursor_with_nothing_lost_or_duplicated() -> None:
    mock_pages("page1.json", "page2.json")
    full = [m.native_id for m in mentions(listener().fetch(QUERY, None))]
    first = listener().fetch(QUERY, None)
    taken = [next(first) for _ in range(2)]
    resumed = list(listener().fetch(QUERY, taken[-1][1]))
    assert [i.native_id for i, _ in taken + resumed] == full


@respx.mock
def test_limit_on_first_run_keeps_the_newest_reviews() -> None:
    mock_pages("page1.json", "page2.json")
    assert [m.native_id for m in mentions(listener(limit=2).fetch(QUERY, None))] == ["11000000004", "11000000005"]


@respx.mock
def test_429_waits_as_told_and_500_then_success_retries_with_backoff() -> None:
    respx.get(FEED.format(1)).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(500),
        httpx.Response(200, json=fixture_json("app_store", "page1.json"))])
    respx.get(FEED.format(2)).mock(side_effect=[httpx.ReadTimeout("slow"),
                                                httpx.Response(200, json=fixture_json("app_store", "empty.json"))])
    sleep = FakeSleep()
    assert len(mentions(listener(sleep).fetch(QUERY, None))) == 3
    assert sleep.waits[0] == 30.0 and len(sleep.waits) == 3 and all(0 <= w <= 2.0 for w in sleep.waits[1:])


@respx.mock
def test_truncated_json_is_a_clear_error_and_nothing_half_read_is_yielded() -> None:
    respx.get(FEED.format(1)).mock(return_value=httpx.Response(200, json=fixture_json("app_store", "page1.json")))
    respx.get(FEED.format(2)).mock(return_value=httpx.Response(200, text=fixture_text("app_store", "page2.json")[:300]))
    pulled: list = []
    with pytest.raises(ListenerError, match="page 2: response is not a reviews feed"):
        pulled.extend(listener().fetch(QUERY, None))
    assert pulled == []


@respx.mock
def test_persistent_server_errors_end_in_a_listener_error_without_logging_bodies(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    respx.get(FEED.format(1)).mock(return_value=httpx.Response(503, text="secret-ish body"))
    with pytest.raises(ListenerError, match="gave up after retries: HTTP 503"):
        list(listener().fetch(QUERY, None))
    assert "secret-ish body" not in caplog.text


def test_review_with_no_text_or_bad_time_is_quarantined_with_its_locator() -> None:
    entry = fixture_json("app_store", "page1.json")["feed"]["entry"][0]
    entry["title"]["label"], entry["content"]["label"] = "", "  "
    row = parse_review(entry, source="s", query=QUERY, fetched_at=FETCHED_AT, matcher=BrandMatcher(BRANDS),
                       brand="Nimbus", pseudonymise=str)
    assert isinstance(row, QuarantinedRow) and "review could not be read" in row.reason
    assert row.locator == f"{QUERY}:11000000005"


@respx.mock
def test_undatable_review_is_quarantined_without_moving_the_cursor() -> None:
    page = fixture_json("app_store", "page1.json")
    page["feed"]["entry"][0]["updated"]["label"] = "yesterday"
    respx.get(FEED.format(1)).mock(return_value=httpx.Response(200, json=page))
    respx.get(FEED.format(2)).mock(return_value=httpx.Response(200, json=fixture_json("app_store", "empty.json")))
    pairs = list(listener().fetch(QUERY, None))
    assert isinstance(pairs[0][0], QuarantinedRow) and pairs[0][1] is None
    assert [p[0].native_id for p in pairs[1:]] == ["11000000003", "11000000004"]


def test_legacy_first_entry_describing_the_app_is_not_a_review() -> None:
    payload = fixture_json("app_store", "page1.json")
    payload["feed"]["entry"].insert(0, {"im:name": {"label": "Nimbus"}, "id": {"label": "https://apps.apple.com/x"}})
    assert len(feed_entries(payload)) == 3
    assert isinstance(parse_review(feed_entries(payload)[0], source="s", query=QUERY, fetched_at=FETCHED_AT,
                                   matcher=BrandMatcher(BRANDS), brand="Nimbus", pseudonymise=str), Mention)
