"""Every CSV export goes through journeypulse.csv_export: ``query --format csv`` escapes formulas too."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app


def test_query_csv_escapes_formula_text_like_the_coaching_export(tmp_path: Path, sqlite_url: str,
                                                                 write_config: Callable[..., Path]) -> None:
    export = tmp_path / "evil.jsonl"
    export.write_text(json.dumps({"id": "e1", "created_at": "2026-11-01T10:00:00+00:00",
                                  "text": '=HYPERLINK("http://e.vil","Sorami")'}) + "\n", encoding="utf-8")
    config = str(write_config(sqlite_url, files=[export]))
    runner = CliRunner()
    assert runner.invoke(app, ["pull", "-c", config]).exit_code == 0
    result = runner.invoke(app, ["query", "v_mention_sentiment", "-c", config, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["text"] for r in rows] == ['\'=HYPERLINK("http://e.vil","Sorami")']
