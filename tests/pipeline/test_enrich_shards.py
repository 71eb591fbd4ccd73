"""Sharded enrichment with the tiny real classifier, on SQLite and PostgreSQL: shards run in parallel give
exactly the rows of one unsharded run, a shard re-run adds nothing, and the CLI takes --shard/--shards."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from journeypulse.config import Settings
from pipeline import steps
from pipeline.cli import app

SHARDS = 2


def _value(value: object) -> object:
    """One comparable form on both databases: floats rounded (batches differ between shards), bools as ints."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, bool):
        return int(value)
    return value


def _results(settings: Settings) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Current sentiments and links without their timestamps, sorted."""
    def rows(view: str, drop: set[str]) -> list[tuple[object, ...]]:
        with steps.open_store(settings) as store:
            columns, found = store.query_view(view, filters={}, limit=None)
        keep = [i for i, name in enumerate(columns) if name not in drop]
        return sorted((tuple(_value(row[i]) for i in keep) for row in found), key=repr)

    return (rows("v_mention_sentiment", {"classified_at", "created_at"}), rows("v_current_journey_link", {"linked_at"}))


def _pulled(write_config: Callable[..., Path], url: str, **overrides: object) -> Settings:
    settings = steps.load_run_settings(write_config(url, **overrides))
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
        steps.identify_languages(settings, store)
    return settings


def test_shards_enriched_in_parallel_threads_give_the_rows_of_one_unsharded_run_and_a_rerun_adds_nothing(
    store_url: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    sharded = _pulled(write_config, store_url, pipeline={"enrich_shards": SHARDS})
    with steps.open_store(sharded) as store:
        mentions = store.counts()["mentions"]
        assert steps.plan_enrich(sharded, store) == list(range(SHARDS))
    reports: dict[int, steps.EnrichReport] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(SHARDS, timeout=120)

    def one(index: int) -> None:
        try:
            with steps.open_store(sharded) as store:  # each shard its own store, like separate workers
                barrier.wait()
                reports[index] = steps.enrich(sharded, store, shard=steps.enrich_shard(sharded, index))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(SHARDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert sum(r.processed for r in reports.values()) == mentions and all(r.processed for r in reports.values())
    with steps.open_store(sharded) as store:
        assert steps.plan_enrich(sharded, store) == []
        again = steps.enrich(sharded, store, shard=steps.enrich_shard(sharded, 0))
        counts = store.counts()
    assert (again.processed, again.classified, again.linked) == (0, 0, 0)
    assert counts["with_sentiment"] == counts["linked"] == mentions

    (tmp_path / "one").mkdir()  # the same input enriched in one unsharded run, in a database of its own
    whole = _pulled(write_config, f"sqlite:///{tmp_path / 'one' / 'whole.db'}")
    with steps.open_store(whole) as store:
        steps.enrich(whole, store)
    assert _results(sharded) == _results(whole)


def test_enrich_cli_takes_a_shard_of_a_count_and_refuses_a_shard_outside_it(
    sqlite_url: str, write_config: Callable[..., Path]
) -> None:
    config = write_config(sqlite_url)
    runner = CliRunner()
    assert runner.invoke(app, ["pull", "--config", str(config)]).exit_code == 0
    assert runner.invoke(app, ["detect-languages", "--config", str(config)]).exit_code == 0
    first = runner.invoke(app, ["enrich", "--config", str(config), "--shard", "0", "--shards", "2"])
    assert first.exit_code == 0, first.output
    assert "shard 0 of 2" in first.output
    bad = runner.invoke(app, ["enrich", "--config", str(config), "--shard", "2", "--shards", "2"])
    assert bad.exit_code == 2 and "shard 2 of 2 does not exist" in bad.output
    alone = runner.invoke(app, ["enrich", "--config", str(config), "--shards", "2"])
    assert alone.exit_code == 2 and "--shards 2 needs --shard" in alone.output
    second = runner.invoke(app, ["enrich", "--config", str(config), "--shard", "1", "--shards", "2"])
    assert second.exit_code == 0, second.output
    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        counts = store.counts()
    assert counts["with_sentiment"] == counts["linked"] == counts["mentions"] > 0


@pytest.mark.parametrize("value", [0, 1025, "two"])
def test_enrich_shards_setting_is_validated(write_config: Callable[..., Path], sqlite_url: str, value: object) -> None:
    from journeypulse.errors import ConfigError

    with pytest.raises(ConfigError, match="enrich_shards"):
        steps.load_run_settings(write_config(sqlite_url, pipeline={"enrich_shards": value}))
