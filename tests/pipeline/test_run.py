"""The whole pipeline through the CLI, on SQLite and PostgreSQL, with a tiny real classifier."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline import steps
from pipeline.cli import app

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample_mentions.jsonl"
BAD_ROWS = REPO / "examples" / "bad_rows.jsonl"

runner = CliRunner()
SAMPLE_ROWS = sum(1 for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip())


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _pull_line(output: str) -> tuple[int, int, int, int]:
    match = re.search(r"read (\d+) = stored (\d+) \+ duplicates (\d+) \+ quarantined (\d+)", output)
    assert match, output
    read, stored, duplicates, quarantined = (int(g) for g in match.groups())
    return read, stored, duplicates, quarantined


def test_run_on_the_sample_prints_the_stage_table_and_a_rerun_changes_no_counts(
    store_url: str, write_config: Callable[..., Path]
) -> None:
    config = write_config(store_url)
    code, first = _invoke("run", "-c", str(config))
    assert code == 0, first
    assert _pull_line(first) == (SAMPLE_ROWS, SAMPLE_ROWS, 0, 0)
    for stage in ("awareness", "consideration", "purchase", "support", "exit"):
        assert stage in first
    assert f"classified: {SAMPLE_ROWS}" in first

    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        counts_after_first = store.counts()
    code, second = _invoke("run", "-c", str(config))
    assert code == 0, second
    assert _pull_line(second) == (0, 0, 0, 0), "the stored cursor says the file was read"
    assert "classified: 0" in second and "linked: 0" in second
    with steps.open_store(settings) as store:
        assert store.counts() == counts_after_first
    assert counts_after_first["mentions"] == SAMPLE_ROWS
    assert counts_after_first["with_sentiment"] == SAMPLE_ROWS


def test_bad_rows_are_quarantined_and_every_row_is_accounted_for(sqlite_url: str, write_config: Callable[..., Path]) -> None:
    code, output = _invoke("pull", "-c", str(write_config(sqlite_url, files=[BAD_ROWS])))
    assert code == 0, output
    read, stored, duplicates, quarantined = _pull_line(output)
    assert read == stored + duplicates + quarantined
    assert stored > 0 and quarantined > 0
    settings = steps.load_run_settings(write_config(sqlite_url, files=[BAD_ROWS]))
    with steps.open_store(settings) as store:
        assert store.counts()["quarantined"] == quarantined
        assert all(row.reason for row in store.quarantine_rows())


def test_run_fails_and_says_why_when_nothing_usable_was_read(sqlite_url: str, tmp_path: Path,
                                                             write_config: Callable[..., Path]) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"id": "1", "text": "   "}\nnot json at all\n', encoding="utf-8")
    code, output = _invoke("run", "-c", str(write_config(sqlite_url, files=[junk])))
    assert code == 1
    assert "nothing usable was read" in output and "quarantined" in output


def test_a_config_error_exits_2_with_the_field_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("brands: [{name: Sorami}]\nmodel: {batch_size: 0}\n", encoding="utf-8")
    code, output = _invoke("run", "-c", str(bad))
    assert code == 2
    assert "model.batch_size" in output


def test_an_interrupted_pull_resumes_with_nothing_lost_or_doubled(
    sqlite_url: str, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = steps.load_run_settings(write_config(sqlite_url))
    monkeypatch.setattr(steps, "PULL_BATCH_SIZE", 50)
    with steps.open_store(settings) as store:
        real_store_batch = store.store_batch
        calls = {"n": 0}

        def failing_third_batch(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("worker killed")
            return real_store_batch(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "store_batch", failing_third_batch)
        with pytest.raises(RuntimeError):
            steps.pull(settings, store)
        assert store.counts()["mentions"] == 100
        monkeypatch.setattr(store, "store_batch", real_store_batch)
        resumed = steps.pull(settings, store)
        assert (resumed.read, resumed.stored, resumed.duplicates) == (SAMPLE_ROWS - 100, SAMPLE_ROWS - 100, 0)
        assert store.counts()["mentions"] == SAMPLE_ROWS


def test_a_new_model_classifies_again_and_keeps_the_old_results(
    sqlite_url: str, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    from helpers.tiny_models import build_tiny_classifier

    config = write_config(sqlite_url)
    assert _invoke("run", "-c", str(config))[0] == 0
    other = build_tiny_classifier(tmp_path / "other", name="other-classifier", seed=1)
    code, output = _invoke("classify", "-c", str(config), "--model", str(other))
    assert code == 0, output
    assert f"classified: {SAMPLE_ROWS}" in output
    code, output = _invoke("classify", "-c", str(config), "--model", str(other))
    assert "classified: 0" in output
    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        columns, rows = store.query_view("v_mention_sentiment", filters={}, limit=None)
        models = {row[columns.index("model")] for row in rows}
    assert models == {str(other)}, "the newest result is the current one"


def test_language_routes_send_thai_to_its_own_model_and_the_rest_to_the_default(
    sqlite_url: str, tmp_path: Path, tiny_model: Path, write_config: Callable[..., Path]
) -> None:
    from helpers.tiny_models import build_tiny_classifier

    thai_model = build_tiny_classifier(tmp_path / "thai", name="thai-classifier", seed=2)
    config = write_config(sqlite_url, model={"name": str(tiny_model), "routes": {"th": str(thai_model)}})
    code, output = _invoke("run", "-c", str(config))
    assert code == 0, output
    assert f"classified: {SAMPLE_ROWS}" in output, "every mention is scored once, by one model"
    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        columns, rows = store.query_view("v_mention_sentiment", filters={}, limit=None)
    model_by_language = {(row[columns.index("language")], row[columns.index("model")]) for row in rows}
    assert {model for language, model in model_by_language if language == "th"} == {str(thai_model)}
    assert {model for language, model in model_by_language if language != "th"} == {str(tiny_model)}
    assert _invoke("classify", "-c", str(config))[1].startswith("classified: 0")
