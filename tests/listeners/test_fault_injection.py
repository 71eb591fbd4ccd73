"""Fault injection through the real pull: dropped connections, a killed process, late items.

Real HTTP servers on 127.0.0.1 (``_local_server``) answer in the documented shapes of X recent
search and RSS 2.0; the pull runs through ``pipeline.steps`` (and the CLI) on a SQLite file. Every
test checks the pull's accounting (read = stored + duplicates + quarantined) and, against the
server's own list, that nothing was lost and nothing stored twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from _local_server import LocalServer, Reply
from _services import TOKEN, Feed, XRecentSearch, now
from typer.testing import CliRunner

from listeners.base import Listener, ListenerContext
from pipeline import steps
from pipeline.cli import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def x_service() -> Iterator[tuple[XRecentSearch, str]]:
    service = XRecentSearch()
    with LocalServer(service) as server:
        yield service, server.url


@pytest.fixture
def feed_service() -> Iterator[tuple[Feed, str]]:
    feed = Feed()
    with LocalServer(feed) as server:
        yield feed, f"{server.url}/feed.xml"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    monkeypatch.setenv("JOURNEYPULSE_PSEUDONYM_KEY", "fault-injection-pseudonym-key-0123456789")


@pytest.fixture(autouse=True)
def _no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries still happen (and still fail); only their back-off sleeps are skipped."""
    real = steps.build_listener

    def build(source: object, context: ListenerContext) -> Listener:
        listener = real(source, context)  # type: ignore[arg-type]
        listener._sleep = lambda _seconds: None  # type: ignore[attr-defined]
        return listener

    monkeypatch.setattr(steps, "build_listener", build)


def write_config(tmp_path: Path, sources: list[dict[str, object]]) -> Path:
    config = {
        "data_dir": str(tmp_path / "data"),
        "brands": [{"name": "Nimbus", "aliases": ["Nimbus Pay"], "hashtags": ["#nimbus"]}],
        "sources": sources,
        "storage": {"url": f"sqlite:///{tmp_path / 'pulse.db'}"},
    }
    path = tmp_path / "journeypulse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def x_source(url: str, **extra: object) -> dict[str, object]:
    return {"name": "x-nimbus", "kind": "x", "params": {"api_url": url, "page_size": 50},
            "secrets": {"bearer_token": "X_BEARER_TOKEN"}, **extra}


def stored_ids(tmp_path: Path, source: str) -> list[str]:
    with sqlite3.connect(tmp_path / "pulse.db") as db:
        return [row[0] for row in db.execute("SELECT native_id FROM mention WHERE source = ?", (source,))]


def assert_balanced(report: steps.PullReport) -> None:
    assert report.read == report.stored + report.duplicates + report.quarantined, report.as_dict()


def test_a_connection_cut_mid_body_fails_that_source_only_and_keeps_what_it_read(
    tmp_path: Path, x_service: tuple[XRecentSearch, str], feed_service: tuple[Feed, str]
) -> None:
    service, x_url = x_service
    feed, feed_url = feed_service
    posts = service.add(80, start=now() - 3600)
    service.cut_offsets = {50}  # page 2 drops mid-body on every attempt
    feed.entries = {f"news-{i}": now() - 600 + i for i in range(3)}
    config = write_config(tmp_path, [x_source(x_url, overlap_minutes=0),
                                     {"name": "news", "kind": "rss", "params": {"urls": [feed_url]},
                                      "overlap_minutes": 0}])

    result = CliRunner().invoke(app, ["pull", "-c", str(config)])

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "x-nimbus/" in result.output and "ChunkedEncodingError" in result.output
    assert "pull incomplete: 1 query(s) of 1 source(s) failed (x-nimbus)" in " ".join(result.output.split())
    assert "read 53 = stored 53 + duplicates 0 + quarantined 0" in result.output
    assert sorted(stored_ids(tmp_path, "x-nimbus")) == sorted(str(i) for i in posts[-50:])
    assert len(stored_ids(tmp_path, "news")) == 3, "the source after the failing one was still read"

    service.cut_offsets = set()  # the network heals: the next run fills the gap
    result = CliRunner().invoke(app, ["pull", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "read 30 = stored 30 + duplicates 0 + quarantined 0" in result.output
    ids = stored_ids(tmp_path, "x-nimbus")
    assert sorted(ids) == sorted(str(i) for i in posts) and len(ids) == len(set(ids)), "0 lost, 0 doubled"


def test_fifty_items_before_a_failing_second_page_are_stored_with_their_cursor_and_the_rerun_continues(
    tmp_path: Path, x_service: tuple[XRecentSearch, str]
) -> None:
    service, x_url = x_service
    posts = service.add(75, start=now() - 7200)
    service.cut_offsets = {50}
    settings = steps.load_run_settings(write_config(tmp_path, [x_source(x_url, overlap_minutes=0)]))
    with steps.open_store(settings) as store:
        first = steps.pull(settings, store)
        assert (first.read, first.stored) == (50, 50) and len(first.failed) == 1
        query = steps.pull_tasks(settings)[0].query
        assert store.get_cursor("x-nimbus", query) is not None, "the cursor moved with the stored items"
        assert_balanced(first)
        service.cut_offsets = set()
        second = steps.pull(settings, store)
        assert (second.read, second.stored, second.duplicates, second.failed) == (25, 25, 0, [])
    assert sorted(stored_ids(tmp_path, "x-nimbus")) == sorted(str(i) for i in posts)


KILLER = textwrap.dedent('''
    import json, os, signal, sys
    from pipeline import steps

    config, kill_at = sys.argv[1], int(sys.argv[2])
    steps.PULL_BATCH_SIZE = 20
    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        real_store_batch, calls = store.store_batch, [0]

        def store_batch(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at:  # the items are read and in hand, not stored yet
                os.kill(os.getpid(), signal.SIGKILL)
            return real_store_batch(*args, **kwargs)

        store.store_batch = store_batch
        print(json.dumps(steps.pull(settings, store).as_dict()))
''')


def run_pull_process(config: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", KILLER, str(config), str(kill_at)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120, check=False)


def test_a_process_killed_between_yield_and_store_resumes_with_nothing_lost_or_doubled(
    tmp_path: Path, x_service: tuple[XRecentSearch, str]
) -> None:
    service, x_url = x_service
    posts = service.add(90, start=now() - 5000)
    config = write_config(tmp_path, [x_source(x_url, params={"api_url": x_url, "page_size": 100}, overlap_minutes=0)])

    killed = run_pull_process(config, kill_at=3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert len(stored_ids(tmp_path, "x-nimbus")) == 40, "two batches of 20 were committed before the kill"

    resumed = run_pull_process(config, kill_at=0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert report["read"] == report["stored"] + report["duplicates"] + report["quarantined"]
    assert (report["read"], report["stored"]) == (50, 50)
    ids = stored_ids(tmp_path, "x-nimbus")
    assert sorted(ids) == sorted(str(i) for i in posts) and len(ids) == len(set(ids)), "0 lost, 0 doubled"


def test_late_items_behind_the_cursor_are_read_through_the_overlap_and_counted(
    tmp_path: Path, x_service: tuple[XRecentSearch, str]
) -> None:
    service, x_url = x_service
    start = now() - 4000
    first_posts = service.add(30, start=start, step=60)  # one a minute; the newest at start + 29 min
    settings = steps.load_run_settings(write_config(tmp_path, [x_source(x_url, overlap_minutes=15)]))
    with steps.open_store(settings) as store:
        first = steps.pull(settings, store)
        assert (first.read, first.stored, first.late_arrivals) == (30, 30, 0)

        late = service.add(5, start=start + 1000, step=1)  # indexed after newer posts were read
        too_late = service.add(1, start=start + 600)  # 19 minutes behind the cursor: beyond the overlap
        new = service.add(10, start=start + 2000, step=1)
        second = steps.pull(settings, store)
    assert_balanced(second)
    assert second.late_arrivals == 5
    assert second.stored == 15
    assert second.duplicates == 15, "the stored posts of the last 15 minutes were read again and dropped"
    ids = stored_ids(tmp_path, "x-nimbus")
    assert sorted(ids) == sorted(str(i) for i in first_posts + late + new) and len(ids) == len(set(ids))
    assert str(too_late[0]) not in ids  # overlap_minutes is the documented limit of what is recovered


def test_a_rejected_token_fails_that_source_and_the_others_are_still_pulled(
    tmp_path: Path, x_service: tuple[XRecentSearch, str], feed_service: tuple[Feed, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, x_url = x_service
    feed, feed_url = feed_service
    service.add(5, start=now() - 600)
    feed.entries = {"news-1": now() - 300}
    monkeypatch.setenv("X_BEARER_TOKEN", "a-revoked-token-value")
    config = write_config(tmp_path, [x_source(x_url), {"name": "news", "kind": "rss", "params": {"urls": [feed_url]}}])
    result = CliRunner().invoke(app, ["pull", "-c", str(config)])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "rejected the credentials in env var X_BEARER_TOKEN" in output and "a-revoked-token-value" not in output
    assert stored_ids(tmp_path, "news") == ["news-1"] and stored_ids(tmp_path, "x-nimbus") == []


def test_forty_mastodon_statuses_before_a_dropped_page_are_stored_and_the_rerun_continues(tmp_path: Path) -> None:
    base = int((now() - 600) * 1000) << 16
    ids = [base + i for i in range(1, 61)]
    cut = {"on": True}

    def timeline(method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        after = [i for i in ids if i > int(query.get("min_id", 0))][: int(query.get("limit", 20))]
        body = [{"id": str(i), "uri": f"https://social.example/users/someone/statuses/{i}", "language": "en",
                 "created_at": "2026-11-20T10:00:00.000Z", "content": f"<p>#nimbus status {i - base}</p>",
                 "account": {"id": "7", "acct": "someone"}} for i in sorted(after, reverse=True)]
        reply = Reply.json(body)
        if cut["on"] and after and after[0] > base + 40:
            reply.cut_after = len(reply.body) // 3
        return reply

    with LocalServer(timeline) as server:
        source = {"name": "masto", "kind": "mastodon", "overlap_minutes": 0,
                  "params": {"instances": [server.url], "page_size": 40}}
        settings = steps.load_run_settings(write_config(tmp_path, [source]))
        with steps.open_store(settings) as store:
            first = steps.pull(settings, store)
            assert (first.read, first.stored, len(first.failed)) == (40, 40, 1), first.as_dict()
            cut["on"] = False
            second = steps.pull(settings, store)
            assert (second.read, second.stored, second.duplicates, second.failed) == (20, 20, 0, [])
    assert len(set(stored_ids(tmp_path, "masto"))) == len(stored_ids(tmp_path, "masto")) == 60
