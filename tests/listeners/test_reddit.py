"""Reddit listener: Listing parser on documented JSON, then paging against simulated public and OAuth APIs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import responses
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
from listeners.query_building import QueryGroup
from listeners.reddit import RedditListener, parse_listing

SEARCH = r"https://www\.reddit\.com/search\.json.*"
BASE = int("1gx0000", 36)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out


class FakeListing:
    """Newest first; ``after=<fullname>`` continues with older items; ``limit`` per page."""

    def __init__(self, count: int, *, kind: str = "t3", text=lambda n: f"Nimbus post {n}") -> None:
        self.numbers = list(range(1, count + 1))
        self.kind, self.text = kind, text
        self.calls: list[dict[str, str]] = []
        self.repeat = False

    def page(self, params: dict[str, str]) -> dict[str, object]:
        self.calls.append(params)
        newest_first = sorted(self.numbers, reverse=True)
        start = 0
        if "after" in params:
            anchor = int(params["after"].split("_")[1], 36) - BASE
            start = newest_first.index(anchor) + 1 - (1 if self.repeat else 0)
        chunk = newest_first[start : start + int(params["limit"])]
        after = f"{self.kind}_{_b36(BASE + chunk[-1])}" if start + len(chunk) < len(newest_first) and chunk else None
        return {"kind": "Listing", "data": {"after": after, "children": [self._thing(n) for n in chunk]}}

    def _thing(self, n: int) -> dict[str, object]:
        body = {"title": self.text(n), "selftext": ""} if self.kind == "t3" else {"body": self.text(n)}
        return {"kind": self.kind, "data": {"id": _b36(BASE + n), "author": "real_handle", "subreddit": "nimbus",
                                            "created_utc": NOW - 3600 + n, "permalink": f"/r/nimbus/comments/{n}/",
                                            **body}}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        return httpx.Response(200, json=self.page(params))


def make_listener(*, limit: int = 10_000, params: dict | None = None, secrets: dict[str, str] | None = None,
                  sleep=None, overlap_items: int = 0) -> RedditListener:
    source = make_source("reddit", {"page_size": 5, **(params or {})}, secrets=secrets, limit=limit,
                         overlap_items=overlap_items)
    return RedditListener(source, make_context(), sleep=sleep or SleepRecorder(), clock=lambda: NOW,
                          retry=FAST_RETRY)


def numbers(items) -> list[int]:
    return [int(m.native_id.split("_")[1], 36) - BASE for m in mentions(items)]


def test_parser_handles_edited_deleted_empty_thai_and_vietnamese_posts() -> None:
    group = QueryGroup(key="nimbus:q", brand="Nimbus", query='"Nimbus"', terms=("Nimbus",))
    parsed = parse_listing(fixture_json("reddit", "search_new.json"), source="r", group=group,
                           matcher=BrandMatcher(make_context().brands), pseudonymise=PSEUDONYMISE,
                           fetched_at=datetime(2026, 11, 17, tzinfo=UTC))
    items = [item for _, item in parsed]
    vietnamese, thai, deleted = mentions(items)
    assert vietnamese.text == "Nimbus Pay bị lỗi 😡\n\nỨng dụng Nimbus Pay không thanh toán được, rất thất vọng."
    assert vietnamese.metadata["edited"] is True and vietnamese.native_id == "t3_1gx0004"
    assert vietnamese.url == "https://www.reddit.com/r/VietNam/comments/1gx0004/nimbus_pay_bi_loi/"
    assert vietnamese.author == PSEUDONYMISE("reddit:lan_hcm")
    assert thai.text == "แอป นิมบัส ใช้งานง่ายมาก 😍🇹🇭" and thai.matched_terms == ("นิมบัส",)
    assert deleted.text == "NimbusCard charged me twice" and deleted.author is None
    assert deleted.metadata["body_removed"] is True
    assert all("lan_hcm" not in m.model_dump_json() and "somchai_bkk" not in m.model_dump_json() for m in (vietnamese, thai))
    (empty,) = quarantined(items)
    assert "lacks text" in empty.reason and empty.locator == "nimbus:q:t3_1gx0001"


def test_queries_cover_search_groups_and_subreddit_streams() -> None:
    listener = make_listener(params={"subreddits": ["r/nimbus"], "comments": True})
    assert isinstance(listener, Listener)
    keys = listener.queries()
    assert keys[0].startswith("search:nimbus:") and keys[1:] == ["r/nimbus/new", "r/nimbus/comments"]
    with pytest.raises(ConfigError, match="params.subreddits"):
        make_listener(params={"subreddits": ["no spaces/allowed"]})


@respx.mock
def test_pages_back_to_the_cursor_and_yields_oldest_first() -> None:
    api = FakeListing(23)
    route = respx.get(url__regex=SEARCH).mock(side_effect=api)
    listener = make_listener()
    query = listener.queries()[0]
    items, cursor = drain(listener.fetch(query, None))
    assert numbers(items) == list(range(1, 24)) and cursor == _b36(BASE + 23)
    assert api.calls[0]["sort"] == "new" and api.calls[0]["q"].startswith('"NimbusCard"')
    assert route.calls[0].request.headers["User-Agent"].startswith("journeypulse/")
    api.numbers += [24, 25]
    calls_before = len(api.calls)
    items, cursor = drain(listener.fetch(query, cursor))
    assert numbers(items) == [24, 25] and len(api.calls) - calls_before == 1  # stopped at the cursor


@respx.mock
def test_an_empty_listing_yields_nothing() -> None:
    respx.get(url__regex=SEARCH).mock(side_effect=FakeListing(0))
    listener = make_listener()
    assert drain(listener.fetch(listener.queries()[0], None)) == ([], None)


@respx.mock
def test_429_waits_per_the_reset_header_and_5xx_and_timeouts_are_retried() -> None:
    sleep = SleepRecorder()
    respx.get(url__regex=SEARCH).mock(side_effect=[
        httpx.Response(429, headers={"x-ratelimit-reset": "42", "x-ratelimit-remaining": "0"}),
        httpx.Response(500),
        httpx.ReadTimeout("read timed out"),
        FakeListing(3).__call__,
    ])
    listener = make_listener(sleep=sleep, params={})
    listener._retry = type(FAST_RETRY)(attempts=4, base_delay=0.01, max_delay=0.02)
    items, _ = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == [1, 2, 3]
    assert sleep.waits[0] == 42.0 and len(sleep.waits) == 3


@respx.mock
def test_truncated_json_is_a_clear_error_and_the_rerun_loses_nothing() -> None:
    api = FakeListing(8)
    respx.get(url__regex=SEARCH).mock(side_effect=[api, *[httpx.Response(200, text='{"kind": "Listing", "da')] * 3])
    listener = make_listener()
    with pytest.raises(ListenerError, match="not valid JSON"):
        drain(listener.fetch(listener.queries()[0], None))
    respx.get(url__regex=SEARCH).mock(side_effect=api)
    items, _ = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == list(range(1, 9))


@respx.mock
def test_an_item_repeated_across_pages_is_yielded_once() -> None:
    api = FakeListing(12)
    api.repeat = True
    respx.get(url__regex=SEARCH).mock(side_effect=api)
    listener = make_listener()
    items, _ = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == list(range(1, 13))


@pytest.mark.parametrize("crash_every", [None, 3])
@respx.mock
def test_budgeted_and_interrupted_runs_resume_with_nothing_lost_or_duplicated(crash_every: int | None) -> None:
    respx.get(url__regex=SEARCH).mock(side_effect=FakeListing(21))
    listener = make_listener(limit=4)
    items, _ = run_until_exhausted(listener.fetch, listener.queries()[0], crash_every=crash_every)
    assert numbers(items) == list(range(1, 22))


@respx.mock
def test_subreddit_stream_skips_items_naming_no_brand_and_quarantines_deleted_comments() -> None:
    texts = {1: "Nimbus support was quick", 2: "[deleted]", 3: "unrelated chatter"}
    respx.get("https://www.reddit.com/r/nimbus/comments.json").mock(
        side_effect=FakeListing(3, kind="t1", text=texts.__getitem__))
    listener = make_listener(params={"search": False, "subreddits": ["nimbus"], "comments": True})
    items, cursor = drain(listener.fetch("r/nimbus/comments", None))
    assert numbers(items) == [1] and mentions(items)[0].metadata["kind"] == "comment"
    assert "deleted" in quarantined(items)[0].reason and cursor == _b36(BASE + 2)


@respx.mock
def test_a_refused_anonymous_request_says_to_configure_oauth() -> None:
    respx.get(url__regex=SEARCH).mock(return_value=httpx.Response(403, text="blocked"))
    listener = make_listener()
    with pytest.raises(ListenerAuthError, match="client_id/client_secret"):
        drain(listener.fetch(listener.queries()[0], None))


def test_missing_credential_env_var_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "abc")
    monkeypatch.delenv("REDDIT_CLIENT_SECRET", raising=False)
    listener = make_listener(secrets={"client_id": "REDDIT_CLIENT_ID", "client_secret": "REDDIT_CLIENT_SECRET"})
    with pytest.raises(ListenerAuthError, match="env var REDDIT_CLIENT_SECRET is not set"):
        listener.check()


@responses.activate
def test_oauth_path_uses_praw_and_never_logs_the_secret(monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REDDIT_CLIENT_ID", "client-id-123")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", SECRET)
    api = FakeListing(7)
    responses.add(responses.POST, "https://www.reddit.com/api/v1/access_token",
                  json={"access_token": "oauth-token", "token_type": "bearer", "expires_in": 3600, "scope": "*"})
    responses.add_callback(responses.GET, "https://oauth.reddit.com/search",
                           callback=lambda req: (200, {}, json.dumps(api.page(
                               {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}))))
    listener = make_listener(secrets={"client_id": "REDDIT_CLIENT_ID", "client_secret": "REDDIT_CLIENT_SECRET"})
    assert "praw" in listener.check()
    items, _ = drain(listener.fetch(listener.queries()[0], None))
    assert numbers(items) == list(range(1, 8))
    assert responses.calls[-1].request.headers["Authorization"] == "bearer oauth-token"
    assert SECRET not in caplog.text
    assert all(SECRET not in m.model_dump_json() and "real_handle" not in m.model_dump_json() for m in mentions(items))


@respx.mock
@pytest.mark.parametrize(("overlap_items", "recovered"), [(3, True), (0, False)])
def test_an_item_released_behind_the_cursor_is_read_through_the_overlap_of_n_items(overlap_items: int,
                                                                                     recovered: bool) -> None:
    api = FakeListing(10)
    api.numbers.remove(8)  # held by moderation during the first run
    respx.get(url__regex=SEARCH).mock(side_effect=api)
    listener = make_listener(overlap_items=overlap_items)
    query = listener.queries()[0]
    first, cursor = drain(listener.fetch(query, None))
    assert numbers(first) == [1, 2, 3, 4, 5, 6, 7, 9, 10]
    api.numbers += [8, 11, 12]  # approved later: its id (and place in the listing) is older than the cursor
    second, new_cursor = drain(listener.fetch(query, cursor))
    if recovered:
        assert numbers(second) == [8, 9, 10, 11, 12], "overlap items first (old cursor), then the new ones"
        assert {m.id for m in mentions(second)[:3]} == listener.overlap_ids
    else:
        assert numbers(second) == [11, 12]
    assert new_cursor == _b36(BASE + 12)


@respx.mock
def test_the_public_json_base_url_is_configurable() -> None:
    api = FakeListing(3)
    route = respx.get(url__regex=r"http://127\.0\.0\.1:8765/search\.json.*").mock(side_effect=api)
    listener = make_listener(params={"reddit_url": "http://127.0.0.1:8765/"})
    assert numbers(drain(listener.fetch(listener.queries()[0], None))[0]) == [1, 2, 3] and route.called
    with pytest.raises(ConfigError, match="reddit_url"):
        make_listener(params={"reddit_url": "http://reddit.example.com"})


@responses.activate
def test_a_wrong_oauth_secret_is_rejected_naming_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "app-id")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "wrong-secret-value")
    responses.add(responses.POST, "http://127.0.0.1:8766/api/v1/access_token", status=401,
                  json={"message": "Unauthorized", "error": 401})
    listener = make_listener(secrets={"client_id": "REDDIT_CLIENT_ID", "client_secret": "REDDIT_CLIENT_SECRET"},
                             params={"reddit_url": "http://127.0.0.1:8766", "oauth_url": "http://127.0.0.1:8767"})
    with pytest.raises(CredentialsRejectedError,
                       match="rejected the credentials in env var REDDIT_CLIENT_ID / REDDIT_CLIENT_SECRET") as exc:
        listener.check()
    assert "wrong-secret-value" not in str(exc.value)
    with pytest.raises(CredentialsRejectedError):
        drain(listener.fetch(listener.queries()[0], None))


@responses.activate
def test_sources_check_with_accepted_oauth_credentials_makes_one_listing_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "app-id")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "right-secret")
    responses.add(responses.POST, "http://127.0.0.1:8766/api/v1/access_token",
                  json={"access_token": "tok", "token_type": "bearer", "expires_in": 3600, "scope": "*"})
    listing = responses.add(responses.GET, "http://127.0.0.1:8767/search",
                            json={"kind": "Listing", "data": {"after": None, "children": []}})
    listener = make_listener(secrets={"client_id": "REDDIT_CLIENT_ID", "client_secret": "REDDIT_CLIENT_SECRET"},
                             params={"reddit_url": "http://127.0.0.1:8766", "oauth_url": "http://127.0.0.1:8767"})
    assert "credentials accepted" in listener.check()
    assert listing.call_count == 1 and "limit=1" in responses.calls[-1].request.url


@respx.mock
def test_a_chunked_body_cut_mid_way_is_retried_then_a_listener_error() -> None:
    respx.get(url__regex=SEARCH).mock(side_effect=httpx.RemoteProtocolError("peer closed connection"))
    listener = make_listener()
    with pytest.raises(ListenerError, match="failed after 3 attempts"):
        drain(listener.fetch(listener.queries()[0], None))
