"""Bluesky listener: PostView parser on documented JSON, then searchPosts paging against a simulated service."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from _net_a_helpers import (
    FAST_RETRY,
    NOW,
    PSEUDONYMISE,
    SECRET,
    SleepRecorder,
    drain,
    fixture_json,
    make_context,
    make_source,
    mentions,
    quarantined,
    run_until_exhausted,
)

from journeypulse.errors import ConfigError, CredentialsRejectedError, ListenerAuthError, ListenerError
from listeners.base import BrandMatcher, Listener
from listeners.bluesky import BlueskyListener, parse_post
from listeners.query_building import QueryGroup

SEARCH = "https://bsky.social/xrpc/app.bsky.feed.searchPosts"
LOGIN = "https://bsky.social/xrpc/com.atproto.server.createSession"


class FakeSearch:
    """searchPosts: newest first by sortAt, ``since`` inclusive, integer offset cursors; ties are allowed."""

    def __init__(self, count: int, *, same_second: int = 1) -> None:
        # ``same_second`` posts share each timestamp, to exercise the inclusive ``since``
        self.posts = [(n, NOW - 3600 + n // same_second) for n in range(1, count + 1)]
        self.calls: list[dict[str, str]] = []

    def add(self, n: int) -> None:
        top = self.posts[-1][0] if self.posts else 0
        self.posts += [(top + i, NOW - 3600 + top + i) for i in range(1, n + 1)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        self.calls.append(params)
        since = datetime.fromisoformat(params["since"].replace("Z", "+00:00")).timestamp()
        window = sorted((p for p in self.posts if p[1] >= since), key=lambda p: (p[1], p[0]), reverse=True)
        start, limit = int(params.get("cursor", "0")), int(params["limit"])
        chunk = window[start : start + limit]
        body: dict[str, object] = {"posts": [_post(n, ts) for n, ts in chunk]}
        if start + limit < len(window):
            body["cursor"] = str(start + limit)
        return httpx.Response(200, json=body)


def _post(n: int, ts: float) -> dict[str, object]:
    stamp = datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    return {"uri": f"at://did:plc:author{n % 3}/app.bsky.feed.post/{n:08d}", "author": {"did": f"did:plc:author{n % 3}",
            "handle": "real.handle.bsky.social"}, "indexedAt": stamp,
            "record": {"text": f"Nimbus post {n}", "createdAt": stamp, "langs": ["en"]}}


def make_listener(monkeypatch: pytest.MonkeyPatch, *, limit: int = 10_000, params: dict | None = None,
                  sleep=None, overlap_minutes: float = 0.0) -> BlueskyListener:
    monkeypatch.setenv("BSKY_APP_PASSWORD", SECRET)
    source = make_source("bluesky", {"handle": "listener.bsky.social", "page_size": 4, **(params or {})},
                         secrets={"app_password": "BSKY_APP_PASSWORD"}, limit=limit, overlap_minutes=overlap_minutes)
    return BlueskyListener(source, make_context(), sleep=sleep or SleepRecorder(), clock=lambda: NOW,
                           retry=FAST_RETRY)


def login_ok() -> respx.Route:
    return respx.post(LOGIN).mock(return_value=httpx.Response(200, json={"accessJwt": "jwt-1", "did": "did:plc:me"}))


def numbers(items) -> list[int]:
    return sorted(int(m.text.rsplit(" ", 1)[1]) for m in mentions(items))


def ordered_numbers(items) -> list[int]:
    return [int(m.text.rsplit(" ", 1)[1]) for m in mentions(items)]


def query_of(listener: BlueskyListener) -> str:
    return next(q for q in listener.queries() if q.endswith(":q:nimbus"))


def test_parser_keeps_thai_vietnamese_and_emoji_and_stores_no_account_identifier() -> None:
    group = QueryGroup(key="nimbus:q:nimbus", brand="Nimbus", query="Nimbus", terms=("Nimbus",))
    parsed = [parse_post(p, source="b", group=group, matcher=BrandMatcher(make_context().brands),
                         pseudonymise=PSEUDONYMISE, fetched_at=datetime(2026, 11, 17, tzinfo=UTC))
              for p in fixture_json("bluesky", "search_posts.json")["posts"]]
    items = [item for _, item in parsed]
    thai, vietnamese = mentions(items)
    assert thai.text == "แอป นิมบัส ใช้งานง่ายมาก 😍" and thai.language_hint == "th"
    assert parsed[0][0] == datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # sortAt = min(createdAt, indexedAt)
    assert vietnamese.language_hint == "vi" and vietnamese.metadata["is_reply"] is True
    assert vietnamese.author == PSEUDONYMISE("bluesky:did:plc:abcdefghijklmnopqrstuvwx")
    for mention in (thai, vietnamese):
        dumped = mention.model_dump_json()
        assert "did:plc" not in dumped and ".bsky.social" not in dumped and "at://" not in dumped
    (no_text,) = quarantined(items)
    assert "record.text" in no_text.reason


def test_a_handle_is_required_unless_anonymous(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="params.handle is required"):
        BlueskyListener(make_source("bluesky", {}), make_context())
    listener = make_listener(monkeypatch)
    assert isinstance(listener, Listener) and len(listener.queries()) == 5


def test_missing_app_password_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = make_listener(monkeypatch)
    monkeypatch.delenv("BSKY_APP_PASSWORD")
    with pytest.raises(ListenerAuthError, match="env var BSKY_APP_PASSWORD is not set"):
        listener.check()


@respx.mock
def test_logs_in_once_pages_the_window_and_yields_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    login = login_ok()
    api = FakeSearch(10)
    route = respx.get(SEARCH).mock(side_effect=api)
    listener = make_listener(monkeypatch)
    items, cursor = drain(listener.fetch(query_of(listener), None))
    assert ordered_numbers(items) == list(range(1, 11))
    assert login.call_count == 1 and json.loads(login.calls[0].request.content)["password"] == SECRET
    assert route.calls[0].request.headers["Authorization"] == "Bearer jwt-1"
    assert api.calls[0]["sort"] == "latest" and [c.get("cursor") for c in api.calls] == [None, "4", "8"]
    api.add(2)
    more, _ = drain(listener.fetch(query_of(listener), cursor))
    assert ordered_numbers(more) == [11, 12]


@respx.mock
def test_an_empty_result_yields_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    login_ok()
    respx.get(SEARCH).mock(side_effect=FakeSearch(0))
    listener = make_listener(monkeypatch)
    assert drain(listener.fetch(query_of(listener), None)) == ([], None)


@respx.mock
def test_429_waits_for_ratelimit_reset_and_5xx_and_timeouts_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    login_ok()
    sleep = SleepRecorder()
    respx.get(SEARCH).mock(side_effect=[
        httpx.Response(429, headers={"ratelimit-reset": str(int(NOW) + 20)}, json={"error": "RateLimitExceeded"}),
        httpx.Response(502),
        httpx.ConnectTimeout("connect timed out"),
        FakeSearch(3),
    ])
    listener = make_listener(monkeypatch, sleep=sleep)
    listener._retry = type(FAST_RETRY)(attempts=4, base_delay=0.01, max_delay=0.02)
    items, _ = drain(listener.fetch(query_of(listener), None))
    assert ordered_numbers(items) == [1, 2, 3] and sleep.waits[0] == 20.0 and len(sleep.waits) == 3


@respx.mock
def test_truncated_json_is_a_clear_error_and_the_rerun_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    login_ok()
    api = FakeSearch(6)
    respx.get(SEARCH).mock(side_effect=[api, *[httpx.Response(200, text='{"posts": [{"uri": "at:')] * 3])
    listener = make_listener(monkeypatch)
    with pytest.raises(ListenerError, match="not valid JSON"):
        drain(listener.fetch(query_of(listener), None))
    respx.get(SEARCH).mock(side_effect=api)
    items, _ = drain(listener.fetch(query_of(listener), None))
    assert ordered_numbers(items) == list(range(1, 7))


@respx.mock
def test_an_expired_session_logs_in_again(monkeypatch: pytest.MonkeyPatch) -> None:
    login = login_ok()
    respx.get(SEARCH).mock(side_effect=[httpx.Response(400, json={"error": "ExpiredToken", "message": "expired"}),
                                        FakeSearch(2)])
    listener = make_listener(monkeypatch)
    items, _ = drain(listener.fetch(query_of(listener), None))
    assert ordered_numbers(items) == [1, 2] and login.call_count == 2


@pytest.mark.parametrize("crash_every", [None, 2, 5])
@respx.mock
def test_ties_budgets_and_crashes_resume_with_nothing_lost_or_duplicated(monkeypatch: pytest.MonkeyPatch,
                                                                         crash_every: int | None) -> None:
    login_ok()
    api = FakeSearch(19, same_second=3)  # three posts per timestamp: ``since`` is inclusive
    respx.get(SEARCH).mock(side_effect=api)
    listener = make_listener(monkeypatch, limit=4)
    first, cursor = run_until_exhausted(listener.fetch, query_of(listener), crash_every=crash_every)
    api.add(4)
    second, _ = run_until_exhausted(listener.fetch, query_of(listener), cursor, crash_every=crash_every)
    got = ordered_numbers(first + second)
    assert sorted(got) == list(range(1, 24)) and len(got) == 23


@respx.mock
def test_a_refused_anonymous_search_explains_how_to_log_in(monkeypatch: pytest.MonkeyPatch) -> None:
    respx.get("https://api.bsky.app/xrpc/app.bsky.feed.searchPosts").mock(
        return_value=httpx.Response(403, json={"error": "Forbidden"}))
    listener = BlueskyListener(make_source("bluesky", {"anonymous": True}), make_context(), retry=FAST_RETRY)
    with pytest.raises(ListenerAuthError, match="set params.handle and secrets.app_password"):
        drain(listener.fetch(query_of(listener), None))


@respx.mock
def test_the_app_password_and_session_token_never_reach_logs_or_mentions(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    login_ok()
    respx.get(SEARCH).mock(side_effect=[httpx.Response(503), FakeSearch(3)])
    listener = make_listener(monkeypatch)
    items, cursor = drain(listener.fetch(query_of(listener), None))
    assert caplog.records and SECRET not in caplog.text and "jwt-1" not in caplog.text
    assert all(SECRET not in m.model_dump_json() and "real.handle" not in m.model_dump_json() for m in mentions(items))
    assert SECRET not in (cursor or "") and SECRET not in listener.check()


@respx.mock
def test_a_post_indexed_late_behind_the_cursor_is_read_through_the_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    login_ok()
    api = FakeSearch(10)
    respx.get(SEARCH).mock(side_effect=api)
    listener = make_listener(monkeypatch, overlap_minutes=15)
    first, cursor = drain(listener.fetch(query_of(listener), None))
    assert ordered_numbers(first) == list(range(1, 11))
    api.add(1)  # post 11
    api.posts.append((99, NOW - 3600 + 5.5))  # dated between posts 5 and 6, indexed after the first run
    pairs = list(listener.fetch(query_of(listener), cursor))
    got = [int(item.text.rsplit(" ", 1)[1]) for item, _ in pairs]
    assert 99 in got and got[-1] == 11
    assert all(c == cursor for item, c in pairs if int(item.text.rsplit(" ", 1)[1]) != 11), "overlap keeps the cursor"
    late = next(item for item, _ in pairs if item.text.endswith(" 99"))
    assert late.id in listener.overlap_ids


def test_http_services_are_accepted_for_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_listener(monkeypatch, params={"service": "http://127.0.0.1:2583"}).params.service == \
        "http://127.0.0.1:2583"
    with pytest.raises(ConfigError, match="params.service"):
        make_listener(monkeypatch, params={"service": "http://pds.example.com"})


@respx.mock
def test_check_logs_in_and_names_the_variable_when_the_password_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    respx.post(LOGIN).mock(return_value=httpx.Response(401, json={"error": "AuthenticationRequired"}))
    listener = make_listener(monkeypatch)
    with pytest.raises(CredentialsRejectedError, match="env var BSKY_APP_PASSWORD") as exc:
        listener.check()
    assert SECRET not in str(exc.value)
    login_ok()
    assert "login accepted" in make_listener(monkeypatch).check()
