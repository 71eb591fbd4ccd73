"""Operator options and commands: -v/-q, --log-format json, quiet payload loggers, quarantine list/count, 0600 db."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from journeypulse.logs import PAYLOAD_LOGGERS, reset_logging
from pipeline import steps
from pipeline.cli import app

runner = CliRunner()
BAD_ROWS = Path(__file__).resolve().parents[2] / "examples" / "bad_rows.jsonl"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    levels = {name: logging.getLogger(name).level for name in PAYLOAD_LOGGERS}
    yield
    reset_logging()
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture
def config(sqlite_url: str, write_config: Callable[..., Path]) -> str:
    path = str(write_config(sqlite_url, files=[BAD_ROWS]))
    result = runner.invoke(app, ["pull", "-c", path])
    assert result.exit_code == 0, result.output
    return path


def test_verbose_json_logs_are_one_json_object_per_line(config: str) -> None:
    result = runner.invoke(app, ["-v", "--log-format", "json", "pull", "-c", config])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry["logger"] == "pipeline.steps" and entry["level"] == "INFO" for entry in lines)
    assert {"time", "level", "logger", "message"} <= set(lines[0])


def test_quiet_hides_info_and_default_hides_info_too(config: str) -> None:
    assert "INFO" not in runner.invoke(app, ["pull", "-c", config]).stderr
    assert "INFO" not in runner.invoke(app, ["-q", "pull", "-c", config]).stderr
    assert logging.getLogger().level == logging.ERROR


def test_payload_printing_client_loggers_stay_at_info_even_with_debug(config: str) -> None:
    result = runner.invoke(app, ["-vv", "sources", "list", "-c", config])
    assert result.exit_code == 0, result.output
    assert logging.getLogger().level == logging.DEBUG
    for name in ("tweepy", "praw", "prawcore", "urllib3", "httpx", "httpcore", "mastodon", "google_play_scraper"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
        assert not logging.getLogger(f"{name}.client").isEnabledFor(logging.DEBUG), name
    logging.getLogger("tweepy.client").debug("PAYLOAD user maria_l said hi")
    assert "maria_l" not in result.stderr


def test_quarantine_list_shows_reasons_but_payloads_only_when_asked(config: str) -> None:
    plain = runner.invoke(app, ["quarantine", "list", "-c", config, "--reason", "list, expected", "--limit", "5"])
    assert plain.exit_code == 0, plain.output
    assert "JSON line is a list" in plain.output and "(1 rows" in plain.output
    assert "payload" not in plain.output and '["' not in plain.output
    shown = runner.invoke(app, ["quarantine", "list", "-c", config, "--reason", "list, expected", "--show-payload"])
    assert shown.exit_code == 0 and "payload" in shown.output and "[" in shown.output


def test_quarantine_count_groups_rows_by_source_and_reason(config: str) -> None:
    result = runner.invoke(app, ["quarantine", "count", "-c", config, "--source", "file0"])
    assert result.exit_code == 0, result.output
    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        counts = store.quarantine_counts(source="file0")
        total = store.counts()["quarantined"]
    assert sum(n for _, _, n in counts) == total and ("file0", "text is empty or whitespace only", 2) in counts
    assert f"quarantine ({total} rows)" in result.output


def test_the_sqlite_database_file_is_created_readable_by_its_owner_only(config: str) -> None:
    db = steps.load_run_settings(config).database_url.removeprefix("sqlite:///")
    assert stat.S_IMODE(Path(db).stat().st_mode) == 0o600
