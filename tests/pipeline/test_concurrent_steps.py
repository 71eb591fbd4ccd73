"""Concurrent runs of a step never duplicate rows, on SQLite and PostgreSQL, and say when they wait."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from journeypulse.config import Settings
from pipeline import steps

RUNS = 3


def _links(settings: Settings) -> list[tuple[object, ...]]:
    """Current links without ``linked_at`` (a relink rewrites the time, nothing else)."""
    with steps.open_store(settings) as store:
        columns, rows = store.query_view("v_current_journey_link", filters={}, limit=None)
    keep = [i for i, name in enumerate(columns) if name != "linked_at"]
    return sorted((tuple(row[i] for i in keep) for row in rows), key=repr)


def _in_parallel(settings: Settings, work: Callable[..., object]) -> None:
    """Run ``work(settings, store)`` in RUNS threads at once, each with its own store (like separate processes)."""
    barrier = threading.Barrier(RUNS, timeout=120)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with steps.open_store(settings) as store:
                barrier.wait()
                work(settings, store)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors


@pytest.fixture
def linked(store_url: str, write_config: Callable[..., Path]) -> Settings:
    settings = steps.load_run_settings(write_config(store_url))
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
        steps.link_journeys(settings, store)
        steps.refresh_summaries(settings, store)
    return settings


def test_concurrent_relinks_leave_exactly_the_links_of_one_run(linked: Settings) -> None:
    once = _links(linked)
    assert once
    _in_parallel(linked, lambda settings, store: steps.link_journeys(settings, store, relink=True))
    after = _links(linked)
    assert len(after) == len(once) and after == once
    assert not [key for key, n in Counter(after).items() if n > 1]


def test_concurrent_summary_refreshes_never_double_the_summary_rows(linked: Settings) -> None:
    with steps.open_store(linked) as store:
        rows = steps.refresh_summaries(linked, store).processed
    _in_parallel(linked, steps.refresh_summaries)
    with steps.open_store(linked) as store:
        assert steps.refresh_summaries(linked, store).processed == rows
        _, daily = store.query_view("v_daily_sentiment", filters={}, limit=None)
    assert rows == len(daily)


def test_a_step_whose_lock_is_held_says_another_run_holds_it_and_waits(
    linked: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    finished = threading.Event()

    def second() -> None:
        with steps.open_store(linked) as store:
            steps.refresh_summaries(linked, store)
        finished.set()

    with caplog.at_level(logging.WARNING), steps.open_store(linked) as store, store.step_lock("refresh_summaries"):
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 60
        while "another run holds the lock on refresh_summaries" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "another run holds the lock on refresh_summaries" in caplog.text
        assert not finished.is_set()  # it waits for the holder
    thread.join(timeout=60)
    assert finished.is_set()


def test_concurrent_pulls_each_report_only_what_they_stored(store_url: str, write_config: Callable[..., Path]) -> None:
    settings = steps.load_run_settings(write_config(store_url))
    with steps.open_store(settings):  # created (and its pseudonym key written) once, as a deployment does
        pass
    reports: list[steps.PullReport] = []
    _in_parallel(settings, lambda s, store: reports.append(steps.pull(s, store)))
    with steps.open_store(settings) as store:
        stored = store.counts()["mentions"]
    assert len(reports) == RUNS
    # The source's lock serialises the pulls: one stores the sample, the others find nothing new to read.
    assert sum(r.stored for r in reports) == max(r.stored for r in reports) == stored > 0


def test_concurrent_enrich_runs_score_and_link_each_mention_once(store_url: str,
                                                                 write_config: Callable[..., Path]) -> None:
    settings = steps.load_run_settings(write_config(store_url))
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
    _in_parallel(settings, steps.enrich)
    with steps.open_store(settings) as store:
        counts = store.counts()
        _, sentiments = store.query_view("v_mention_sentiment", filters={}, limit=None)
        again = steps.enrich(settings, store)
    assert len(sentiments) == counts["mentions"] > 0
    assert again.processed == 0  # nothing left: every mention was scored and linked exactly once
    assert not [key for key, n in Counter(_links(settings)).items() if n > 1]
