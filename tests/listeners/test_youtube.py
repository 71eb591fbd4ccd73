"""YouTubeListener: paging, cursors, edits, retries and secrets, on API-shaped fixtures (no network)."""

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
    make_context,
    make_source,
    mentions,
)

from journeypulse.errors import ConfigError, CredentialsRejectedError, ListenerAuthError, ListenerError
from journeypulse.record import Mention, QuarantinedRow
from listeners.base import BrandMatcher, Listener
from listeners.registry import build_listener
from listeners.youtube import YouTubeListener, parse_comment_thread

URL = "https://www.googleapis.com/youtube/v3/commentThreads"
KEY = "AIzaSy-secret-test-key-123"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YT_KEY_TEST", KEY)


def listener(sleep: FakeSleep | None = None, limit: int = 10_000, **params: object) -> YouTubeListener:
    source = make_source("youtube", {"video_ids": ["vid123"], **params}, secrets={"api_key": "YT_KEY_TEST"},
                         limit=limit)
    return YouTubeListener(source, make_context(), client=httpx.Client(), sleep=sleep or FakeSleep(), clock=clock)


def two_pages(router: respx.Router) -> respx.Route:
    def respond(request: httpx.Request) -> httpx.Response:
        page = "page2.json" if request.url.params.get("pageToken") == "PAGE2" else "page1.json"
        return httpx.Response(200, json=fixture_json("youtube", page))
    return router.get(URL).mock(side_effect=respond)


def test_registry_builds_a_listener_that_satisfies_the_protocol_without_io() -> None:
    source = make_source("youtube", {"channel_ids": ["UCx"]}, secrets={"api_key": "YT_KEY_TEST"})
    built = build_listener(source, make_context())
    assert isinstance(built, YouTubeListener) and isinstance(built, Listener)
    assert built.queries() == ["channel:UCx"]


def test_unknown_param_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="params.video_id"):
        YouTubeListener(make_source("youtube", {"video_id": "x"}), make_context())


def test_no_video_or_channel_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="video_ids or channel_ids"):
        YouTubeListener(make_source("youtube", {}), make_context())


def test_brand_param_must_be_a_configured_brand() -> None:
    with pytest.raises(ConfigError, match="params.brand 'Nope'"):
        YouTubeListener(make_source("youtube", {"video_ids": ["v"], "brand": "Nope"}), make_context())


def test_missing_key_env_var_makes_check_raise_an_auth_error_naming_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("YT_KEY_TEST", raising=False)
    with pytest.raises(ListenerAuthError, match="env var YT_KEY_TEST is not set"):
        listener().check()


def test_missing_secret_mapping_says_how_to_configure_it() -> None:
    plain = YouTubeListener(make_source("youtube", {"video_ids": ["v"]}), make_context())
    with pytest.raises(ListenerAuthError, match="secrets: {api_key: YOUTUBE_API_KEY}"):
        plain.check()


@respx.mock
def test_check_makes_one_one_item_call_and_reports_the_key_accepted(key_env: None) -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, json={"items": []}))
    assert "1 videos, 0 channels, API key from YT_KEY_TEST accepted" in listener().check()
    assert route.call_count == 1 and route.calls[0].request.url.params["maxResults"] == "1"


@respx.mock
def test_pages_are_followed_and_yielded_oldest_first_without_duplicates(key_env: None) -> None:
    route = two_pages(respx.mock)
    items = list(listener().fetch("video:vid123", None))
    got = mentions(items)
    assert [m.native_id for m in got] == ["Ugz1", "Ugz2", "Ugz4", "Ugz5", "Ugz6"]  # Ugz3 names no brand
    assert route.call_count == 2
    assert route.calls[0].request.url.params["videoId"] == "vid123"
    assert route.calls[0].request.url.params["order"] == "time"
    assert json.loads(items[-1][1]) == {"t": "2026-11-20T10:00:00+00:00", "ids": ["Ugz6"]}


@respx.mock
def test_channel_query_asks_for_all_threads_related_to_the_channel(key_env: None) -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, json=fixture_json("youtube", "empty.json")))
    assert list(listener(channel_ids=["UCbrand"]).fetch("channel:UCbrand", None)) == []
    assert route.calls[0].request.url.params["allThreadsRelatedToChannelId"] == "UCbrand"


@respx.mock
def test_an_empty_page_yields_nothing_and_no_cursor(key_env: None) -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, json=fixture_json("youtube", "empty.json")))
    assert list(listener().fetch("video:vid123", '{"t": "2026-11-01T00:00:00+00:00", "ids": []}')) == []


@respx.mock
def test_thai_vietnamese_and_non_bmp_emoji_survive_intact_with_pseudonymous_authors(key_env: None) -> None:
    two_pages(respx.mock)
    by_id = {m.native_id: m for m in mentions(listener().fetch("video:vid123", None))}
    assert by_id["Ugz6"].text == "แอป นิมบัส ใช้งานง่ายมาก 👍🏽🎉"
    assert by_id["Ugz6"].matched_terms == ("นิมบัส",)
    assert by_id["Ugz5"].text.startswith("Nimbus Pay bị lỗi khi thanh toán")
    assert "𝒃𝒖𝒕" in by_id["Ugz4"].text and "🫠" in by_id["Ugz4"].text
    assert by_id["Ugz6"].author is not None and by_id["Ugz6"].author.startswith("a_")
    assert all("UCthai1" not in m.model_dump_json() for m in by_id.values())
    assert by_id["Ugz6"].url == "https://www.youtube.com/watch?v=vid123&lc=Ugz6"
    assert by_id["Ugz6"].fetched_at == FETCHED_AT and by_id["Ugz6"].channel == "youtube"


@respx.mock
def test_second_run_from_the_cursor_yields_only_newer_and_edited_comments(key_env: None) -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, json=fixture_json("youtube", "page1.json")))
    cursor = '{"t": "2026-11-19T09:00:00+00:00", "ids": ["Ugz5"]}'
    pairs = list(listener().fetch("video:vid123", cursor))
    assert [(p[0].native_id, p[1]) for p in pairs][0] == ("Ugz4", cursor)  # edited after t: re-yielded, cursor kept
    assert pairs[0][0].metadata["edited"] is True
    assert [p[0].native_id for p in pairs[1:]] == ["Ugz6"]


@respx.mock
def test_interrupted_pull_resumes_from_its_cursor_with_nothing_lost_or_duplicated(key_env: None) -> None:
    two_pages(respx.mock)
    full = [m.native_id for m in mentions(listener().fetch("video:vid123", None))]
    first = listener().fetch("video:vid123", None)
    taken = [next(first), next(first)]  # the pipeline stored two items, then the task died
    resumed = list(listener().fetch("video:vid123", taken[-1][1]))
    assert [i.native_id for i, _ in taken] + [i.native_id for i, _ in resumed] == full


@respx.mock
def test_same_instant_comments_are_told_apart_by_the_ids_in_the_cursor(key_env: None) -> None:
    two_pages(respx.mock)
    seen_other = '{"t": "2026-11-17T07:00:00+00:00", "ids": ["Ugz3"]}'
    assert [m.native_id for m in mentions(listener().fetch("video:vid123", seen_other))][0] == "Ugz2"
    seen_it = '{"t": "2026-11-17T07:00:00+00:00", "ids": ["Ugz2", "Ugz3"]}'
    assert [m.native_id for m in mentions(listener().fetch("video:vid123", seen_it))] == ["Ugz4", "Ugz5", "Ugz6"]


@respx.mock
def test_first_run_limit_keeps_the_newest_comments_and_later_runs_page_to_the_cursor(key_env: None) -> None:
    two_pages(respx.mock)
    pairs = list(listener(limit=2).fetch("video:vid123", None))
    assert [p[0].native_id for p in pairs] == ["Ugz5", "Ugz6"]
    assert respx.calls.call_count == 1  # enough on page 1, no need to page further


@respx.mock
def test_429_waits_for_retry_after_then_succeeds(key_env: None) -> None:
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7"}),
                                     httpx.Response(200, json=fixture_json("youtube", "empty.json"))])
    sleep = FakeSleep()
    assert list(listener(sleep).fetch("video:vid123", None)) == []
    assert sleep.waits == [7.0]


@respx.mock
def test_500_then_success_and_a_timeout_are_retried_with_backoff(key_env: None) -> None:
    respx.get(URL).mock(side_effect=[httpx.Response(500), httpx.ReadTimeout("slow"),
                                     httpx.Response(200, json=fixture_json("youtube", "page2.json"))])
    sleep = FakeSleep()
    assert len(mentions(listener(sleep).fetch("video:vid123", None))) == 3
    assert len(sleep.waits) == 2 and all(0 <= w <= 2.0 for w in sleep.waits)


@respx.mock
def test_persistent_timeouts_become_a_listener_error_after_the_retries(key_env: None) -> None:
    respx.get(URL).mock(side_effect=httpx.ConnectTimeout("down"))
    with pytest.raises(ListenerError, match="gave up after retries: timed out"):
        list(listener().fetch("video:vid123", None))


@respx.mock
def test_truncated_json_on_page_two_is_a_clear_error_and_yields_nothing_half_done(key_env: None) -> None:
    text = json.dumps(fixture_json("youtube", "page2.json"))[:200]
    respx.get(URL).mock(side_effect=[httpx.Response(200, json=fixture_json("youtube", "page1.json")),
                                     httpx.Response(200, text=text)])
    pulled: list = []
    with pytest.raises(ListenerError, match="page 2: response is not valid JSON"):
        pulled.extend(listener().fetch("video:vid123", None))
    assert pulled == []  # no cursor moved past the unread page


@respx.mock
def test_quota_exhausted_is_not_retried_and_says_when_it_resets(key_env: None) -> None:
    respx.get(URL).mock(return_value=httpx.Response(403, json=fixture_json("youtube", "quota_exceeded.json")))
    sleep = FakeSleep()
    with pytest.raises(ListenerError, match="quota exhausted.*midnight Pacific"):
        list(listener(sleep).fetch("video:vid123", None))
    assert sleep.waits == []


@respx.mock
def test_the_key_is_in_no_mention_and_no_log_line_of_a_successful_pull(key_env: None, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    two_pages(respx.mock)
    pulled = list(listener().fetch("video:vid123", None))
    assert pulled and all(KEY not in item.model_dump_json() and KEY not in (cursor or "") for item, cursor in pulled)
    assert KEY not in caplog.text


@respx.mock
def test_invalid_key_is_an_auth_error_and_the_key_never_reaches_logs_or_urls(key_env: None, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    route = respx.get(URL).mock(side_effect=[httpx.Response(503),
                                             httpx.Response(400, json=fixture_json("youtube", "key_invalid.json"))])
    with pytest.raises(CredentialsRejectedError, match="rejected the credentials in env var YT_KEY_TEST") as excinfo:
        list(listener().fetch("video:vid123", None))
    assert KEY not in caplog.text and KEY not in str(excinfo.value)
    assert all(KEY not in str(call.request.url) for call in route.calls)
    assert route.calls[0].request.headers["X-Goog-Api-Key"] == KEY


def test_comment_without_text_is_quarantined_not_dropped() -> None:
    thread = fixture_json("youtube", "page1.json")["items"][0]
    thread["snippet"]["topLevelComment"]["snippet"].update(textOriginal="", textDisplay="")
    row = parse_comment_thread(thread, source="s", query="video:v", fetched_at=FETCHED_AT,
                               matcher=BrandMatcher([]), brand=None,
                               pseudonymise=str)
    assert isinstance(row, QuarantinedRow) and "no text" in row.reason and row.locator == "video:v:Ugz6"


def test_assigned_brand_keeps_comments_that_do_not_name_it() -> None:
    thread = fixture_json("youtube", "page2.json")["items"][1]  # "nice video, no brand here"
    got = parse_comment_thread(thread, source="s", query="video:v", fetched_at=FETCHED_AT,
                               matcher=BrandMatcher(BRANDS), brand="Nimbus", pseudonymise=str)
    assert isinstance(got, Mention) and got.brand == "Nimbus" and got.matched_terms == ()


def _thread(comment_id: str, published: str) -> dict[str, object]:
    snippet = {"videoId": "vid123", "textOriginal": f"Nimbus comment {comment_id}", "publishedAt": published,
               "updatedAt": published, "authorChannelId": {"value": "UCsomeone"}}
    return {"kind": "youtube#commentThread", "id": comment_id,
            "snippet": {"videoId": "vid123", "topLevelComment": {"kind": "youtube#comment", "id": comment_id,
                                                                  "snippet": snippet}}}


@respx.mock
def test_a_comment_held_for_review_and_released_late_is_read_through_the_overlap(key_env: None) -> None:
    threads = [_thread("c3", "2026-11-20T10:20:00Z"), _thread("c1", "2026-11-20T10:00:00Z")]
    respx.get(URL).mock(side_effect=lambda request: httpx.Response(200, json={"items": threads}))
    source = make_source("youtube", {"video_ids": ["vid123"]}, secrets={"api_key": "YT_KEY_TEST"},
                         overlap_minutes=15)
    yt = YouTubeListener(source, make_context(), client=httpx.Client(), sleep=FakeSleep(), clock=clock)
    cursor = list(yt.fetch("video:vid123", None))[-1][1]
    threads.insert(1, _thread("c2", "2026-11-20T10:10:00Z"))  # approved by the channel after c3 was read
    threads.insert(0, _thread("c4", "2026-11-20T10:30:00Z"))
    pairs = list(yt.fetch("video:vid123", cursor))
    assert [item.native_id for item, _ in pairs] == ["c3", "c2", "c4"]
    assert [c for _, c in pairs][:2] == [cursor, cursor], "overlap comments keep the stored cursor"
    assert json.loads(pairs[-1][1])["t"].startswith("2026-11-20T10:30")
    assert len(yt.overlap_ids) == 2
