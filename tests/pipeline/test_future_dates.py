"""Mentions dated beyond pipeline.max_future_skew are quarantined where mentions are stored, and no single
row moves the CX-map period or the alert day."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from journeypulse.record import Mention
from pipeline import analytics, steps


def _export(tmp_path: Path, *dates: str) -> Path:
    path = tmp_path / "dated.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "created_at": when, "text": f"Sorami order {i} was late"}) + "\n"
                            for i, when in enumerate(dates)), encoding="utf-8")
    return path


def test_a_row_dated_2099_is_quarantined_with_the_reason_and_the_pull_still_balances(
    store_url: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    settings = steps.load_run_settings(write_config(store_url, files=[_export(
        tmp_path, "2026-11-01T10:00:00+00:00", "2099-01-01T00:00:00+00:00")]))
    with steps.open_store(settings) as store:
        report = steps.pull(settings, store)
        assert (report.read, report.stored, report.quarantined) == (2, 1, 1) and report.balanced
        [row] = store.quarantine_rows()
        assert "max_future_skew" in row.reason and "2099-01-01" in row.reason
        period = store.mention_period()
        assert period is not None and period[1].year == 2026


def test_the_skew_is_configurable(sqlite_url: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    settings = steps.load_run_settings(write_config(sqlite_url, files=[_export(tmp_path, soon)],
                                                    pipeline={"max_future_skew": "1h"}))
    with steps.open_store(settings) as store:
        assert steps.pull(settings, store).quarantined == 1


def test_a_future_row_already_stored_does_not_choose_the_map_period_or_the_alert_day(
    sqlite_url: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    settings = steps.load_run_settings(write_config(sqlite_url, files=[], pipeline={"max_future_skew": "100000d"}))
    now = datetime.now(UTC)
    rows = [Mention.build(source="f", source_kind="file", native_id=str(i), text="Sorami late", created_at=when,
                          fetched_at=now, brand="Sorami")
            for i, when in enumerate([now - timedelta(days=2), datetime(2099, 1, 1, tzinfo=UTC)])]
    with steps.open_store(settings) as store:
        store.store_batch("f", "q", rows, [], None)
        since, until = analytics.map_period(store, "Sorami", None, None)
        assert until.date() == now.date() + timedelta(days=1) and since == until - timedelta(days=analytics.WINDOW_DAYS)
        assert analytics.check_alerts(settings, store).detail.startswith(f"day={now.date()}")
