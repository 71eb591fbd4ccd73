"""Every network listener at its boundary, against real local servers in the services' documented shapes.

A transport failure of any client library (requests via tweepy/praw/Mastodon.py, httpx) is a
ListenerError; base URLs are configurable (http only for loopback); the review and feed listeners
read an overlap behind their time cursor; RSS refuses what is not a feed and keeps the text as
written; ``sources check`` says ok / missing / rejected, naming the variable.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from _local_server import LocalServer, Reply
from _net_b_helpers import make_context, make_source
from _services import TOKEN, XRecentSearch, now
from typer.testing import CliRunner

from journeypulse.config import SourceConfig
from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention
from listeners import build_listener, guarded
from listeners.base import Item
from pipeline import steps
from pipeline.cli import app


def cut_everything(method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
    body = json.dumps({"data": [], "items": [], "feed": {}, "posts": [], "accessJwt": "j"}).encode() * 20
    return Reply(200, body, {"Content-Type": "application/json"}, cut_after=40)


@pytest.fixture
def cutting_server() -> Iterator[str]:
    with LocalServer(cut_everything) as server:
        yield server.url


def _source(kind: str, url: str) -> SourceConfig:
    params: dict[str, dict[str, object]] = {
        "x": {"api_url": url},
        "reddit": {"reddit_url": url},
        "mastodon": {"instances": [url]},
        "bluesky": {"handle": "listener.bsky.social", "service": url},
        "youtube": {"video_ids": ["vid1"], "api_url": url},
        "google_play": {"app_ids": ["com.nimbus.app"], "brand": "Nimbus", "api_url": url},
        "app_store": {"app_ids": ["1500000000"], "brand": "Nimbus",
                      "feed_url": url + "/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"},
        "rss": {"urls": [url + "/feed.xml"]},
    }
    secrets = {"x": {"bearer_token": "NET_TOKEN"}, "bluesky": {"app_password": "NET_TOKEN"},
               "youtube": {"api_key": "NET_TOKEN"}}
    return make_source(kind, params[kind], secrets=secrets.get(kind))


@pytest.mark.parametrize("kind", ["x", "reddit", "mastodon", "bluesky", "youtube", "google_play", "app_store", "rss"])
def test_a_response_cut_mid_body_is_a_listener_error_for_every_network_listener(
    kind: str, cutting_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NET_TOKEN", "net-token-value")
    listener = build_listener(_source(kind, cutting_server), make_context())
    listener._sleep = lambda _seconds: None  # type: ignore[attr-defined]
    query = listener.queries()[0]
    with pytest.raises(ListenerError) as failure:
        list(guarded(f"{kind} source 'test_{kind}'", query, listener.fetch(query, None)))
    assert "net-token-value" not in str(failure.value) and '"data"' not in str(failure.value)


def _failing(exc: Exception) -> Iterator[tuple[Item, Cursor | None]]:
    raise exc
    yield  # pragma: no cover - makes this a generator


@pytest.mark.parametrize("exc", [
    urllib.error.URLError("connection refused"),
    http.client.IncompleteRead(b"partial"),
    json.JSONDecodeError("Expecting value", "{", 1),
    ConnectionResetError(104, "reset by peer"),
    KeyError("a bug in a parser"),
], ids=lambda e: type(e).__name__)
def test_the_boundary_maps_any_library_or_unexpected_error_to_a_listener_error_naming_source_and_query(
    exc: Exception,
) -> None:
    with pytest.raises(ListenerError, match=r"rss source 'news' query q1: (network|unexpected) error") as failure:
        list(guarded("rss source 'news'", "q1", _failing(exc)))
    assert failure.value.__cause__ is exc


def test_google_play_requests_go_to_the_configured_base_url() -> None:
    with LocalServer(lambda *_: Reply(404, b"not here", {"Content-Type": "text/plain"})) as server:
        listener = build_listener(_source("google_play", server.url), make_context())
        with pytest.raises(ListenerError, match="HTTP 404"):
            list(listener.fetch(listener.queries()[0], None))
        assert server.requests[0][:2] == ("POST", "/_/PlayStoreUi/data/batchexecute")


# --------------------------------------------------------------------------- RSS


def _rss(items: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
            f"<link>https://news.example.com/</link>{items}</channel></rss>").encode()


def _item(guid: str, published: datetime, description: str) -> str:
    stamp = published.strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (f"<item><title>Nimbus {guid}</title><guid isPermaLink=\"false\">{guid}</guid>"
            f"<link>https://news.example.com/{guid}</link><pubDate>{stamp}</pubDate>"
            f"<description>{description}</description></item>")


def test_an_html_page_answered_with_200_is_refused_naming_the_url() -> None:
    page = b"<!doctype html><html><head><title>Sign in</title></head><body><form>Log in</form></body></html>"
    with LocalServer(lambda *_: Reply(200, page, {"Content-Type": "text/html; charset=utf-8"})) as server:
        listener = build_listener(_source("rss", server.url), make_context())
        with pytest.raises(ListenerError, match=rf"{server.url}/feed.xml did not answer a feed \(content type "
                                                r"text/html"):
            list(listener.fetch(listener.queries()[0], None))


def test_an_empty_but_valid_feed_is_not_an_error() -> None:
    with LocalServer(lambda *_: Reply(200, _rss(""), {"Content-Type": "text/html"})) as server:
        listener = build_listener(_source("rss", server.url), make_context())
        assert list(listener.fetch(listener.queries()[0], None)) == []


def test_rss_text_keeps_non_breaking_spaces_and_line_breaks_as_written() -> None:
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    description = "Nimbus&amp;nbsp;Pay: 100&#160;THB&lt;br/&gt;second line&lt;p&gt;new   paragraph&lt;/p&gt;"
    with LocalServer(lambda *_: Reply(200, _rss(_item("n1", at, description)),
                                      {"Content-Type": "application/rss+xml"})) as server:
        listener = build_listener(_source("rss", server.url), make_context())
        (mention, _), = list(listener.fetch(listener.queries()[0], None))
    assert isinstance(mention, Mention)
    assert mention.text == "Nimbus n1\nNimbus\xa0Pay: 100\xa0THB\nsecond line\nnew paragraph"


def test_a_backdated_feed_entry_is_read_through_the_overlap_and_the_cursor_never_moves_back() -> None:
    entries = {"a": datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "c": datetime(2026, 11, 20, 9, 20, tzinfo=UTC)}

    def feed(*_: object) -> Reply:
        return Reply(200, _rss("".join(_item(g, t, "About Nimbus Pay") for g, t in entries.items())),
                     {"Content-Type": "application/rss+xml"})

    with LocalServer(feed) as server:
        source = _source("rss", server.url).model_copy(update={"overlap_minutes": 15})
        listener = build_listener(source, make_context())
        query = listener.queries()[0]
        first = list(listener.fetch(query, None))
        cursor = first[-1][1]
        entries["b"] = datetime(2026, 11, 20, 9, 10, tzinfo=UTC)  # backdated: published after the first run
        entries["d"] = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
        second = list(listener.fetch(query, cursor))
    got = [(item.native_id, c) for item, c in second]
    assert [g for g, _ in got] == ["c", "b", "d"] or [g for g, _ in got] == ["b", "c", "d"]
    assert all(c == cursor for g, c in got if g != "d"), "overlap entries keep the stored cursor"
    assert json.loads(got[-1][1] or "{}")["t"].startswith("2026-11-20T09:30")
    assert {item.id for item, _ in second if item.native_id in ("b", "c")} == listener.overlap_ids  # type: ignore[attr-defined]


def test_an_app_store_review_dated_behind_the_cursor_is_read_through_the_overlap() -> None:
    reviews = {"r1": "2026-11-20T09:00:00-07:00", "r3": "2026-11-20T09:20:00-07:00"}

    def feed(method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        if "page=1/" not in path:
            return Reply.json({"feed": {"author": {}}})
        entry = [{"id": {"label": rid}, "updated": {"label": at}, "title": {"label": "Nimbus"},
                  "content": {"label": f"Nimbus review {rid}"}, "im:rating": {"label": "4"},
                  "author": {"name": {"label": "someone"}, "uri": {"label": "https://itunes.apple.com/user/1"}}}
                 for rid, at in sorted(reviews.items(), key=lambda kv: kv[1], reverse=True)]
        return Reply.json({"feed": {"entry": entry}})

    with LocalServer(feed) as server:
        source = _source("app_store", server.url).model_copy(update={"overlap_minutes": 15})
        listener = build_listener(source, make_context())
        query = listener.queries()[0]
        cursor = list(listener.fetch(query, None))[-1][1]
        reviews["r2"] = "2026-11-20T09:10:00-07:00"  # released from review moderation late
        second = list(listener.fetch(query, cursor))
    assert sorted(item.native_id for item, _ in second) == ["r2", "r3"]
    assert all(c == cursor for _, c in second)


# --------------------------------------------------------------------------- sources check


def test_sources_check_says_ok_missing_or_rejected_naming_the_variable(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    service = XRecentSearch()
    service.add(1, start=now() - 60)
    with LocalServer(service) as server:
        def x(name: str, env: str) -> dict[str, object]:
            return {"name": name, "kind": "x", "params": {"api_url": server.url}, "secrets": {"bearer_token": env}}

        config = {"data_dir": str(tmp_path / "data"), "brands": [{"name": "Nimbus"}],
                  "storage": {"url": f"sqlite:///{tmp_path / 'pulse.db'}"},
                  "sources": [x("x-good", "X_GOOD"), x("x-wrong", "X_WRONG"), x("x-unset", "X_UNSET")]}
        path = tmp_path / "journeypulse.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        monkeypatch.setenv("X_GOOD", TOKEN)
        monkeypatch.setenv("X_WRONG", "not-the-token-value")
        monkeypatch.delenv("X_UNSET", raising=False)
        checks = {c.source: c for c in steps.check_sources(steps.load_run_settings(path))}
        assert {name: c.status for name, c in checks.items()} == {
            "x-good": "ok", "x-wrong": "rejected", "x-unset": "missing"}
        assert "X_WRONG" in checks["x-wrong"].detail and "not-the-token-value" not in checks["x-wrong"].detail
        assert "X_UNSET" in checks["x-unset"].detail
        result = CliRunner().invoke(app, ["sources", "check", "-c", str(path)])
    assert result.exit_code == 1 and "rejected" in result.output and "missing" in result.output
