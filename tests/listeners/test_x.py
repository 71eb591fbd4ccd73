"""X listener: parser on a documented payload, then fetch against a simulated recent-search API."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from _net_a_helpers import (
    FAST_RETRY,
    NOW,
    PSEUDONYMISE,
    SECRET,
    SleepRecorder,
    drain,
    fixture_json,
    iso,
    make_context,
    make_source,
    mentions,
    quarantined,
    run_until_exhausted,
)

from journeypulse.errors import (
    ConfigError,
    CredentialsMissingError,
    CredentialsRejectedError,
    ListenerAuthError,
    ListenerError,
)
from journeypulse.record import make_mention_id
from listeners.base import BrandMatcher, Listener
from listeners.query_building import QueryGroup
from listeners.retry import RetryPolicy
from listeners.x import XCursor, XListener, parse_search_page

URL = "https://api.twitter.com/2/tweets/search/recent"
USER_URL = "https://api.twitter.com/2/users/by/username/XDevelopers"
BASE_ID = (int((NOW - 86400) * 1000) - 1288834974657) << 22  # snowflake ids from a day before NOW


class FakeRecentSearch:
    """Recent search over a list of tweet ids: newest first, since_id/until_id exclusive, next_token."""

    def __init__(self, count: int) -> None:
        self.ids = [BASE_ID + i for i in range(1, count + 1)]
        self.calls: list[dict[str, str]] = []
        self.repeat_on_next_page: int | None = None

    def add(self, n: int) -> None:
        top = self.ids[-1] if self.ids else BASE_ID
        self.ids.extend(top + i for i in range(1, n + 1))

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        since, until = int(params.get("since_id", 0)), int(params.get("until_id", 10**30))
        window = sorted((i for i in self.ids if since < i < until), reverse=True)
        start = int(params.get("next_token", "0"))
        size = int(params["max_results"])
        page = window[start : start + size]
        if self.repeat_on_next_page is not None and start > 0:
            page = [window[start - 1], *page]  # the index shifted: last post of the previous page again
        body: dict[str, object] = {"meta": {"result_count": len(page)}}
        if page:
            body["data"] = [_tweet(i) for i in page]
            body["includes"] = {"users": [{"id": "42", "username": "somebody_real", "verified": False}]}
        if start + size < len(window):
            body["meta"]["next_token"] = str(start + size)  # type: ignore[index]
        return 200, {}, json.dumps(body)


def _tweet(tweet_id: int) -> dict[str, object]:
    return {"id": str(tweet_id), "edit_history_tweet_ids": [str(tweet_id)], "author_id": "42", "lang": "en",
            "created_at": iso(NOW - 10_000 + (tweet_id - BASE_ID)), "text": f"Nimbus post {tweet_id - BASE_ID}"}


def make_listener(*, limit: int = 10_000, params: dict | None = None, sleep=None, env: bool = True,
                  monkeypatch: pytest.MonkeyPatch | None = None) -> XListener:
    if env and monkeypatch is not None:
        monkeypatch.setenv("X_BEARER_TOKEN", SECRET)
    source = make_source("x", {"page_size": 10, **(params or {})}, secrets={"bearer_token": "X_BEARER_TOKEN"},
                         limit=limit)
    return XListener(source, make_context(), sleep=sleep or SleepRecorder(), clock=lambda: NOW, retry=FAST_RETRY)


def numbers(items) -> list[int]:
    return [int(m.native_id) - BASE_ID for m in mentions(items)]


def test_parser_turns_a_documented_page_into_mentions_and_quarantines_the_broken_tweet() -> None:
    group = QueryGroup(key="nimbus:abc", brand="Nimbus", query="nimbus", terms=("nimbus",))
    fetched = datetime(2026, 11, 17, tzinfo=UTC)
    parsed = parse_search_page(fixture_json("x", "search_recent.json"), source="x_main", group=group,
                               matcher=BrandMatcher(make_context().brands), pseudonymise=PSEUDONYMISE,
                               fetched_at=fetched)
    items = [item for _, item in parsed]
    found = mentions(items)
    assert [m.native_id for m in found] == ["1860000000000000001", "1860000000000000004", "1860000000000000003"]
    edited, thai, vietnamese = found
    assert edited.metadata["edited"] is True and edited.metadata["version_id"] == "1860000000000000005"
    assert edited.id == make_mention_id("x_main", "1860000000000000001")
    assert "🎉🚀" in edited.text and edited.metadata["author_followers"] == 570000
    # the tweet's own engagement (what escalation rules' min_engagement reads); absent where X sent none
    assert {k: edited.metadata[k] for k in ("like_count", "retweet_count", "reply_count", "quote_count")} == {
        "like_count": 4, "retweet_count": 1, "reply_count": 0, "quote_count": 0}
    assert "like_count" not in thai.metadata
    assert thai.text == "แอป นิมบัส ใช้งานง่ายมาก ชอบค่ะ 😍" and thai.language_hint == "th"
    assert thai.matched_terms == ("นิมบัส",)
    assert vietnamese.text.startswith("Ứng dụng Nimbus Pay") and vietnamese.language_hint == "vi"
    assert thai.author == vietnamese.author == PSEUDONYMISE("x:783214")
    assert all("somchai" not in m.model_dump_json() and "XDevelopers" not in m.model_dump_json() for m in found)
    (bad,) = quarantined(items)
    assert "created_at" in bad.reason and bad.locator == "nimbus:abc:1860000000000000002"


def test_listener_satisfies_the_protocol_and_builds_stable_query_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = make_listener(monkeypatch=monkeypatch), make_listener(monkeypatch=monkeypatch)
    assert isinstance(first, Listener)
    assert first.queries() == second.queries() and len(first.queries()) == 1
    assert "-is:retweet" in first.query_text(first.queries()[0])


def test_unknown_param_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="params.bearer"):
        XListener(make_source("x", {"bearer": "x"}), make_context())


def test_missing_credentials_message_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    listener = make_listener(env=False)
    with pytest.raises(CredentialsMissingError, match="env var X_BEARER_TOKEN is not set"):
        listener.check()
    with pytest.raises(ListenerAuthError):
        next(listener.fetch(listener.queries()[0], None))


@responses.activate
def test_pagination_across_pages_yields_everything_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeRecentSearch(25)
    responses.add_callback(responses.GET, URL, callback=api)
    listener = make_listener(monkeypatch=monkeypatch)
    items, cursor = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == list(range(1, 26))
    assert len(api.calls) == 3
    assert XCursor.decode(cursor).since_id == str(BASE_ID + 25)
    assert XCursor.decode(cursor).read == 25


@responses.activate
def test_an_empty_window_yields_nothing_and_sends_since_id(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeRecentSearch(0)
    responses.add_callback(responses.GET, URL, callback=api)
    listener = make_listener(monkeypatch=monkeypatch)
    cursor = XCursor(since_id=str(BASE_ID + 7)).encode()
    assert drain(listener.fetch(listener.queries()[0], cursor)) == ([], None)
    assert api.calls[0]["since_id"] == str(BASE_ID + 7)


@responses.activate
def test_429_waits_until_the_reset_header_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    sleep = SleepRecorder()
    responses.add(responses.GET, URL, status=429, json={"title": "Too Many Requests"},
                  headers={"x-rate-limit-reset": str(int(NOW) + 30)})
    responses.add_callback(responses.GET, URL, callback=FakeRecentSearch(3))
    listener = make_listener(sleep=sleep, monkeypatch=monkeypatch)
    items, _ = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == [1, 2, 3]
    assert sleep.waits == [31.0]


@responses.activate
def test_server_error_then_success_and_a_timeout_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    sleep = SleepRecorder()
    responses.add(responses.GET, URL, status=500, json={"title": "Internal"})
    responses.add(responses.GET, URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add_callback(responses.GET, URL, callback=FakeRecentSearch(2))
    listener = make_listener(sleep=sleep, monkeypatch=monkeypatch)
    items, _ = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == [1, 2]
    assert len(sleep.waits) == 2


@responses.activate
def test_truncated_json_on_page_two_keeps_page_one_and_the_rerun_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeRecentSearch(15)
    responses.add_callback(responses.GET, URL, callback=api)
    for _ in range(FAST_RETRY.attempts):
        responses.add(responses.GET, URL, body='{"data": [{"id": "18600', status=200)
    listener = make_listener(monkeypatch=monkeypatch)
    got, cursor = [], None
    with pytest.raises(ListenerError, match="not valid JSON"):
        for item, cursor in listener.fetch(listener.queries()[0], None):  # noqa: B007 - read after the loop
            got.append(item)
    assert numbers(got) == list(range(6, 16))  # the newest page, oldest first
    responses.reset()
    responses.add_callback(responses.GET, URL, callback=api)
    rest, _ = run_until_exhausted(listener.fetch, listener.queries()[0], cursor)
    assert sorted(numbers(got + rest)) == list(range(1, 16))
    assert len(numbers(got + rest)) == 15


@responses.activate
def test_a_post_repeated_on_the_next_page_is_yielded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeRecentSearch(20)
    api.repeat_on_next_page = 1
    responses.add_callback(responses.GET, URL, callback=api)
    listener = make_listener(monkeypatch=monkeypatch)
    items, _ = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == list(range(1, 21))


@pytest.mark.parametrize("crash_every", [None, 3, 7])
@responses.activate
def test_budgeted_and_interrupted_runs_resume_with_nothing_lost_or_duplicated(
    monkeypatch: pytest.MonkeyPatch, crash_every: int | None
) -> None:
    api = FakeRecentSearch(37)
    responses.add_callback(responses.GET, URL, callback=api)
    listener = make_listener(limit=12, monkeypatch=monkeypatch)
    query = listener.queries()[0]
    first, cursor = run_until_exhausted(listener.fetch, query, crash_every=crash_every)
    api.add(9)  # new posts arrive between runs
    second, _ = run_until_exhausted(listener.fetch, query, cursor, crash_every=crash_every)
    got = numbers(first + second)
    assert sorted(got) == list(range(1, 47)) and len(got) == 46


@responses.activate
def test_monthly_cap_stops_early_and_records_why(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    responses.add_callback(responses.GET, URL, callback=FakeRecentSearch(50))
    listener = make_listener(params={"monthly_cap": 20}, monkeypatch=monkeypatch)
    query = listener.queries()[0]
    items, cursor = run_until_exhausted(listener.fetch, query)
    assert len(mentions(items)) == 20
    assert XCursor.decode(cursor).read == 20 and XCursor.decode(cursor).month == "2026-11"
    assert "monthly cap" in listener.stop_reasons[query]
    assert "monthly cap" in caplog.text


@responses.activate
def test_a_cursor_beyond_the_7_day_horizon_is_not_sent_and_the_reason_is_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = FakeRecentSearch(3)
    responses.add_callback(responses.GET, URL, callback=api)
    listener = make_listener(monkeypatch=monkeypatch)
    stale = str((int((NOW - 8 * 86400) * 1000) - 1288834974657) << 22)
    items, cursor = drain(listener.fetch(listener.queries()[0], XCursor(since_id=stale).encode()))
    assert numbers(items) == [1, 2, 3] and "since_id" not in api.calls[0]
    assert "7-day horizon" in listener.stop_reasons[listener.queries()[0]]
    assert XCursor.decode(cursor).since_id == str(BASE_ID + 3)


@responses.activate
def test_the_token_is_sent_but_never_logged_nor_stored(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    responses.add(responses.GET, URL, status=503)
    responses.add_callback(responses.GET, URL, callback=FakeRecentSearch(3))
    listener = make_listener(monkeypatch=monkeypatch)
    items, cursor = drain(listener.fetch(listener.queries()[0], None))
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert caplog.records and SECRET not in caplog.text
    assert all(SECRET not in m.model_dump_json() and "somebody_real" not in m.model_dump_json()
               for m in mentions(items))
    responses.add(responses.GET, USER_URL, json={"data": {"id": "2244994945", "username": "XDevelopers"}})
    assert SECRET not in (cursor or "") and SECRET not in listener.check()


def test_v2_text_is_unescaped_exactly_once() -> None:
    group = QueryGroup(key="nimbus:abc", brand="Nimbus", query="nimbus", terms=("nimbus",))
    # The person typed: Nimbus & Co <3 > "&amp;" (X v2 escapes &, < and > once in `text`)
    tweet = {"id": "1860000000000000009", "author_id": "1", "created_at": "2026-11-16T10:00:00.000Z",
             "text": 'Nimbus &amp; Co &lt;3 &gt; "&amp;amp;"'}
    parsed = parse_search_page({"data": [tweet]}, source="x_main", group=group,
                               matcher=BrandMatcher(make_context().brands), pseudonymise=PSEUDONYMISE,
                               fetched_at=datetime(2026, 11, 17, tzinfo=UTC))
    assert mentions([item for _, item in parsed])[0].text == 'Nimbus & Co <3 > "&amp;"'


@responses.activate
def test_rate_limit_waits_stop_at_the_run_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    sleep = SleepRecorder()
    for _ in range(3):
        responses.add(responses.GET, URL, status=429, json={"title": "Too Many Requests"},
                      headers={"x-rate-limit-reset": str(int(NOW) + 600)})
    monkeypatch.setenv("X_BEARER_TOKEN", SECRET)
    source = make_source("x", {"page_size": 10}, secrets={"bearer_token": "X_BEARER_TOKEN"})
    listener = XListener(source.model_copy(update={"max_rate_limit_wait_minutes": 15}), make_context(), sleep=sleep,
                         clock=lambda: NOW, retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02))
    with pytest.raises(ListenerError, match="rate-limit budget"):
        drain(listener.fetch(listener.queries()[0], None))
    assert sleep.waits == [601.0] and sum(sleep.waits) <= 15 * 60, "one 429 page cannot wait 3 x 900 s"


def test_api_url_must_be_https_or_a_loopback_http_host() -> None:
    assert make_listener(params={"api_url": "http://127.0.0.1:9000/"}).params.api_url == "http://127.0.0.1:9000"
    with pytest.raises(ConfigError, match="params.api_url"):
        make_listener(params={"api_url": "http://api.example.com"})


@responses.activate
def test_check_calls_the_api_and_says_rejected_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    responses.add(responses.GET, USER_URL, status=401, json={"title": "Unauthorized", "status": 401})
    listener = make_listener(monkeypatch=monkeypatch)
    with pytest.raises(CredentialsRejectedError, match="env var X_BEARER_TOKEN") as exc:
        listener.check()
    assert SECRET not in str(exc.value) and len(responses.calls) == 1
