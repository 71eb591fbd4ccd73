"""Mastodon listener: status parser on documented JSON, then min_id paging against a simulated instance."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from email.utils import formatdate
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

from journeypulse.errors import ConfigError, CredentialsRejectedError, ListenerAuthError, ListenerError
from listeners.base import BrandMatcher, Listener
from listeners.mastodon import MastodonListener, html_to_text, parse_status
from listeners.query_building import QueryGroup

TAG_URL = re.compile(r"https://mastodon\.social/api/v1/timelines/tag/nimbus.*")
BASE = int((NOW - 3600) * 1000) << 16  # snowflake ids from an hour ago


class FakeHashtagTimeline:
    """min_id returns the ``limit`` statuses right after it, newest first (as Mastodon does)."""

    def __init__(self, count: int) -> None:
        self.ids = [BASE + i for i in range(1, count + 1)]
        self.calls: list[dict[str, str]] = []
        self.repeat_previous = False

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        min_id, limit = int(params.get("min_id", 0)), int(params.get("limit", 20))
        after = [i for i in self.ids if i > min_id][:limit]
        if self.repeat_previous and min_id in self.ids:
            after = [min_id, *after]
        body = [_status(i) for i in sorted(after, reverse=True)]
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


def _status(status_id: int) -> dict[str, object]:
    n = status_id - BASE
    return {"id": str(status_id), "uri": f"https://mastodon.social/users/someone/statuses/{status_id}",
            "created_at": iso(NOW - 1000 + n), "edited_at": None, "language": "en", "spoiler_text": "",
            "content": f"<p>#nimbus post {n}</p>", "account": {"id": "7", "acct": "someone"}}


def make_listener(*, limit: int = 10_000, params: dict | None = None, sleep=None,
                  secrets: dict[str, str] | None = None, **config: object) -> MastodonListener:
    source = make_source("mastodon", {"instances": ["https://mastodon.social"], "page_size": 5, **(params or {})},
                         secrets=secrets, limit=limit).model_copy(update=config)
    return MastodonListener(source, make_context(), sleep=sleep or SleepRecorder(), clock=lambda: NOW,
                            retry=FAST_RETRY)


def numbers(items) -> list[int]:
    return [int(str(m.metadata["local_id"])) - BASE for m in mentions(items)]


def test_parser_turns_status_html_into_text_and_hides_the_handle() -> None:
    group = QueryGroup(key="nimbus:tag:nimbus", brand="Nimbus", query="nimbus", terms=("#nimbus",))
    items = [parse_status(s, source="m", instance="https://mastodon.social", group=group,
                          matcher=BrandMatcher(make_context().brands), pseudonymise=PSEUDONYMISE,
                          fetched_at=datetime(2026, 11, 17, tzinfo=UTC))
             for s in fixture_json("mastodon", "timeline_hashtag.json")]
    thai, vietnamese = mentions(items)
    assert thai.text == "แอป #nimbus ใช้งานง่ายมาก 😍" and thai.language_hint == "th"
    assert thai.author == PSEUDONYMISE("mastodon:somchai@mastodon.social")
    assert vietnamese.text == "Ứng dụng #Nimbus bị lỗi & chậm 😡\nHỗ trợ không trả lời.\n\nRất thất vọng."
    assert vietnamese.metadata["edited"] is True and vietnamese.author == PSEUDONYMISE("mastodon:lan@social.example.vn")
    for mention in (thai, vietnamese):
        dumped = mention.model_dump_json()
        assert "somchai" not in dumped and "lan@" not in dumped and "/users/" not in dumped
    (media_only,) = quarantined(items)
    assert "no text" in media_only.reason


def test_html_to_text_keeps_line_breaks_and_unescapes_entities() -> None:
    assert html_to_text("<p>a&lt;b<br/>c</p><p>d</p>") == "a<b\nc\n\nd"


def test_entities_are_unescaped_exactly_once_so_a_typed_entity_survives() -> None:
    # The person typed: Tom &amp; Jerry <3 & "quotes"  (Mastodon escapes it once into the HTML content)
    assert html_to_text("<p>Tom &amp;amp; Jerry &lt;3 &amp; &quot;quotes&quot;</p>") == 'Tom &amp; Jerry <3 & "quotes"'


def test_listener_has_one_query_per_instance_and_hashtag() -> None:
    listener = make_listener(params={"instances": ["https://mastodon.social", "https://fosstodon.org"]})
    assert isinstance(listener, Listener)
    assert listener.queries() == ["mastodon.social|nimbus:tag:nimbus", "fosstodon.org|nimbus:tag:nimbus"]


def test_instance_must_be_an_https_base_url() -> None:
    with pytest.raises(ConfigError, match="params.instances"):
        make_listener(params={"instances": ["http://mastodon.social/api"]})


def test_search_without_a_token_fails_check_naming_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASTODON_TOKEN", raising=False)
    listener = make_listener(params={"search": True}, secrets={"access_token": "MASTODON_TOKEN"})
    with pytest.raises(ListenerAuthError, match="env var MASTODON_TOKEN is not set"):
        listener.check()
    assert "without access token" in make_listener().check()


@responses.activate
def test_first_run_backfills_from_a_snowflake_and_pages_oldest_first() -> None:
    api = FakeHashtagTimeline(12)
    responses.add_callback(responses.GET, TAG_URL, callback=api)
    listener = make_listener()
    items, cursor = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == list(range(1, 13))
    assert api.calls[0]["min_id"] == str(int((NOW - 7 * 86400) * 1000) << 16)
    assert cursor == str(BASE + 12) and len(api.calls) == 4  # 5 + 5 + 2 + an empty page


@responses.activate
def test_an_empty_timeline_yields_nothing() -> None:
    responses.add_callback(responses.GET, TAG_URL, callback=FakeHashtagTimeline(0))
    listener = make_listener()
    assert drain(listener.fetch(listener.queries()[0], str(BASE))) == ([], None)


@responses.activate
def test_429_waits_for_the_reset_header_then_succeeds() -> None:
    sleep = SleepRecorder()
    reset = datetime.fromtimestamp(time.time() + 30, UTC).isoformat()
    responses.add(responses.GET, TAG_URL, status=429, json={"error": "Too many requests"},
                  headers={"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "300",
                           "Date": formatdate(time.time(), usegmt=True)})
    responses.add_callback(responses.GET, TAG_URL, callback=FakeHashtagTimeline(3))
    listener = make_listener(sleep=sleep)
    items, _ = drain(listener.fetch(listener.queries()[0], str(BASE)))
    assert numbers(items) == [1, 2, 3]
    assert len(sleep.waits) == 1 and 27 < sleep.waits[0] <= 31


@responses.activate
def test_server_error_and_timeout_are_retried() -> None:
    sleep = SleepRecorder()
    responses.add(responses.GET, TAG_URL, status=502, body="bad gateway")
    responses.add(responses.GET, TAG_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add_callback(responses.GET, TAG_URL, callback=FakeHashtagTimeline(2))
    listener = make_listener(sleep=sleep)
    items, _ = drain(listener.fetch(listener.queries()[0], str(BASE)))
    assert numbers(items) == [1, 2] and len(sleep.waits) == 2


@responses.activate
def test_truncated_json_raises_a_clear_error_after_keeping_earlier_pages() -> None:
    api = FakeHashtagTimeline(8)
    responses.add_callback(responses.GET, TAG_URL, callback=api)
    for _ in range(FAST_RETRY.attempts):
        responses.add(responses.GET, TAG_URL, body='[{"id": "1135', content_type="application/json")
    listener = make_listener()
    got, cursor = [], None
    with pytest.raises(ListenerError, match="not valid JSON"):
        for item, cursor in listener.fetch(listener.queries()[0], str(BASE)):  # noqa: B007 - read after the loop
            got.append(item)
    assert numbers(got) == [1, 2, 3, 4, 5] and cursor == str(BASE + 5)
    responses.reset()
    responses.add_callback(responses.GET, TAG_URL, callback=api)
    rest, _ = run_until_exhausted(listener.fetch, listener.queries()[0], cursor)
    assert numbers(rest) == [6, 7, 8]


@pytest.mark.parametrize("crash_every", [2, 4])
@responses.activate
def test_interrupted_and_budgeted_runs_resume_with_nothing_lost_or_duplicated(crash_every: int) -> None:
    api = FakeHashtagTimeline(17)
    api.repeat_previous = True  # every page also repeats the status at min_id
    responses.add_callback(responses.GET, TAG_URL, callback=api)
    listener = make_listener(limit=6)
    items, _ = run_until_exhausted(listener.fetch, listener.queries()[0], str(BASE), crash_every=crash_every)
    assert numbers(items) == list(range(1, 18))


@responses.activate
def test_token_is_sent_but_never_logged_nor_stored(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MASTODON_TOKEN", SECRET)
    responses.add(responses.GET, TAG_URL, status=503)
    responses.add_callback(responses.GET, TAG_URL, callback=FakeHashtagTimeline(2))
    listener = make_listener(secrets={"access_token": "MASTODON_TOKEN"})
    items, cursor = drain(listener.fetch(listener.queries()[0], str(BASE)))
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert caplog.records and SECRET not in caplog.text
    assert all(SECRET not in m.model_dump_json() for m in mentions(items)) and SECRET not in (cursor or "")


class FakeStatusSearch:
    """v2 search for statuses: ids above min_id, newest first, paged by offset."""

    def __init__(self, count: int) -> None:
        self.ids = [BASE + i for i in range(1, count + 1)]
        self.calls: list[dict[str, str]] = []

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        matching = sorted((i for i in self.ids if i > int(params.get("min_id", 0))), reverse=True)
        offset, limit = int(params.get("offset", 0)), int(params["limit"])
        page = [_status(i) for i in matching[offset : offset + limit]]
        return 200, {"Content-Type": "application/json"}, json.dumps({"accounts": [], "hashtags": [], "statuses": page})


@responses.activate
def test_search_reads_the_whole_window_then_yields_oldest_first_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", SECRET)
    api = FakeStatusSearch(12)
    responses.add_callback(responses.GET, re.compile(r"https://mastodon\.social/api/v2/search.*"), callback=api)
    listener = make_listener(limit=7, params={"hashtags": False, "search": True},
                             secrets={"access_token": "MASTODON_TOKEN"})
    query = "mastodon.social|nimbus:search:nimbus"
    responses.add(responses.GET, "https://mastodon.social/api/v1/apps/verify_credentials", json={"name": "listener"})
    assert query in listener.queries() and "access token accepted by 1" in listener.check()
    first, cursor = drain(listener.fetch(query, None))
    assert numbers(first) == [1, 2, 3, 4, 5, 6, 7] and api.calls[0]["type"] == "statuses"
    rest, _ = run_until_exhausted(listener.fetch, query, cursor)
    assert numbers(rest) == [8, 9, 10, 11, 12]


@responses.activate
def test_a_search_window_beyond_max_search_results_is_recorded(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", SECRET)
    responses.add_callback(responses.GET, re.compile(r"https://mastodon\.social/api/v2/search.*"),
                           callback=FakeStatusSearch(12))
    listener = make_listener(params={"hashtags": False, "search": True, "max_search_results": 10},
                             secrets={"access_token": "MASTODON_TOKEN"})
    query = "mastodon.social|nimbus:search:nimbus"
    items, _ = drain(listener.fetch(query, None))
    assert numbers(items) == list(range(3, 13))
    assert "max_search_results" in listener.stop_reasons[query] and "older results skipped" in caplog.text


@responses.activate
def test_a_status_without_id_is_quarantined_not_dropped() -> None:
    no_id = {k: v for k, v in _status(BASE + 2).items() if k != "id"}
    responses.add(responses.GET, TAG_URL, json=[_status(BASE + 3), no_id, _status(BASE + 1)])
    responses.add(responses.GET, TAG_URL, json=[])
    listener = make_listener()
    items, cursor = drain(listener.fetch(listener.queries()[0], str(BASE)))
    assert [q.reason for q in quarantined(items)] == ["mastodon status has no id"]
    assert numbers(items) == [1, 3] and cursor == str(BASE + 3)


@responses.activate
def test_a_status_published_behind_the_cursor_is_read_through_the_overlap_window() -> None:
    api = FakeHashtagTimeline(5)
    api.ids.remove(BASE + 4)  # federated late: its id is older than what the first run read
    responses.add_callback(responses.GET, TAG_URL, callback=api)
    listener = make_listener(overlap_minutes=15)
    query = listener.queries()[0]
    first, cursor = drain(listener.fetch(query, str(BASE)))
    assert numbers(first) == [1, 2, 3, 5] and cursor == str(BASE + 5)
    api.ids = sorted([*api.ids, BASE + 4, BASE + 6])
    first_call = len(api.calls)
    pairs = list(listener.fetch(query, cursor))
    assert numbers([item for item, _ in pairs]) == [1, 2, 3, 4, 5, 6]
    assert [c for _, c in pairs][:5] == [cursor] * 5, "overlap items keep the stored cursor"
    assert pairs[-1][1] == str(BASE + 6)
    assert int(api.calls[first_call]["min_id"]) < BASE, "min_id was moved back by the overlap"
    assert len(listener.overlap_ids) == 5


@responses.activate
def test_rate_limit_waits_share_one_budget_per_run() -> None:
    sleep = SleepRecorder()
    reset = datetime.fromtimestamp(time.time() + 35, UTC).isoformat()
    for _ in range(2):
        responses.add(responses.GET, TAG_URL, status=429, json={"error": "Too many requests"},
                      headers={"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "300",
                               "Date": formatdate(time.time(), usegmt=True)})
    listener = make_listener(sleep=sleep, max_rate_limit_wait_minutes=1)
    with pytest.raises(ListenerError, match="rate-limit budget"):
        drain(listener.fetch(listener.queries()[0], str(BASE)))
    assert len(sleep.waits) == 1 and sum(sleep.waits) <= 60


def test_http_is_accepted_for_a_loopback_instance_only() -> None:
    assert make_listener(params={"instances": ["http://127.0.0.1:3000"]}).queries()
    assert make_listener(params={"instances": ["http://localhost:3000/"]}).queries()
    with pytest.raises(ConfigError, match="https base URL"):
        make_listener(params={"instances": ["http://mastodon.example"]})


@responses.activate
def test_sources_check_verifies_the_token_and_names_the_variable_when_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", "wrong-token-value")
    responses.add(responses.GET, "https://mastodon.social/api/v1/apps/verify_credentials", status=401,
                  json={"error": "The access token is invalid"})
    listener = make_listener(secrets={"access_token": "MASTODON_TOKEN"})
    with pytest.raises(CredentialsRejectedError, match="env var MASTODON_TOKEN") as exc:
        listener.check()
    assert "wrong-token-value" not in str(exc.value)
