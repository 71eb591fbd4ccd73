"""A file source through ``journeypulse pull``: the report line says when rows remain unread and how
many rows were quarantined for naming no brand, and the log says the same."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline import steps
from pipeline.cli import app

runner = CliRunner()


def _export(path: Path, count: int, *, unbranded: int = 0) -> Path:
    rows = [{"id": f"r{i}", "created_at": "2026-10-01T08:00:00Z",
             "text": "the app keeps crashing" if i < unbranded else f"Sorami order {i} arrived"} for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(tmp_path: Path, url: str, export: Path, **source: object) -> Path:
    config = {
        "data_dir": str(tmp_path / "data"),
        "brands": [{"name": "Sorami"}],
        "sources": [{"name": "export", "kind": "file", "params": {"path": str(export)}, **source}],
        "storage": {"url": url},
    }
    path = tmp_path / "journeypulse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_a_pull_stopped_by_max_items_per_run_says_more_remain_until_the_file_is_read(
        store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = _config(tmp_path, store_url, _export(tmp_path / "big.jsonl", 25), max_items_per_run=10)
    with caplog.at_level(logging.WARNING, logger="pipeline.steps"):
        first = runner.invoke(app, ["pull", "-c", str(config)])
    assert first.exit_code == 0, first.output
    assert "read 10 = stored 10" in first.output
    assert "limit reached export: 10 read, more remain: run again (max_items_per_run)" in first.output
    assert "export: 10 read, more remain: run again" in caplog.text
    second = runner.invoke(app, ["pull", "-c", str(config)])
    assert "read 10 = stored 10" in second.output and "more remain" in second.output
    third = runner.invoke(app, ["pull", "-c", str(config)])
    assert "read 5 = stored 5" in third.output and "more remain" not in third.output


def test_a_file_exactly_as_long_as_the_limit_does_not_claim_more_remain(sqlite_url: str, tmp_path: Path) -> None:
    settings = steps.load_run_settings(_config(tmp_path, sqlite_url, _export(tmp_path / "ten.jsonl", 10),
                                               max_items_per_run=10))
    with steps.open_store(settings) as store:
        report = steps.pull(settings, store)
    assert (report.read, report.stored, report.more_remain) == (10, 10, [])


def test_rows_quarantined_for_naming_no_brand_are_counted_loudly_in_the_report_and_the_log(
        store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    export = _export(tmp_path / "mixed.jsonl", 30, unbranded=8)
    with caplog.at_level(logging.WARNING, logger="pipeline.steps"):
        result = runner.invoke(app, ["pull", "-c", str(_config(tmp_path, store_url, export))])
    assert result.exit_code == 0, result.output
    assert "read 30 = stored 22 + duplicates 0 + quarantined 8 (no brand term: 8)" in result.output
    assert "8 row(s) named no configured brand" in result.output
    assert "8 of 8 quarantined rows named no configured brand" in caplog.text


def test_a_source_brand_stores_the_rows_that_name_no_brand(sqlite_url: str, tmp_path: Path) -> None:
    export = _export(tmp_path / "mixed.jsonl", 30, unbranded=8)
    settings = steps.load_run_settings(_config(tmp_path, sqlite_url, export))
    settings = settings.model_copy(update={"sources": [settings.sources[0].model_copy(
        update={"params": {**settings.sources[0].params, "brand": "Sorami"}})]})
    with steps.open_store(settings) as store:
        report = steps.pull(settings, store)
    assert (report.stored, report.quarantined, report.no_brand) == (30, 0, 0)
