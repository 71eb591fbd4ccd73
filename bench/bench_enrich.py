"""Enrichment cost: the two-pass path (``classify`` then ``link`` with the hybrid linker, its own encoder)
against the one-pass ``enrich`` (multi-task heads over the sentiment model's features), same mentions, same
machine, one process. A benchmark, not a test: it prints seconds, mentions/second and the ratio.

Usage: python bench/bench_enrich.py [--n 10000] [--repeats 1] [--batch-size 256] [--cache DIR]

The mentions are the texts of the project's journey set (journeys/data/mentions, all seven languages),
repeated with a running number until there are ``--n``; each path gets its own fresh SQLite store with
the languages already identified (untimed). Model loading is inside the timed steps (once per step), as in
a scheduled run. Repeats alternate the two paths so that machine load hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from journeypulse.config import BrandConfig, JourneyConfig, Settings
from journeypulse.record import Mention
from journeys.dataset import load_mentions
from pipeline import steps


def _mentions(n: int) -> list[Mention]:
    rows = load_mentions(None)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        row = rows[i % len(rows)]
        text = row.text if i < len(rows) else f"{row.text} #{i // len(rows)}"
        out.append(Mention.build(source="bench", source_kind="file", native_id=str(i), text=text,
                                 created_at=start + timedelta(minutes=i), fetched_at=start + timedelta(days=7),
                                 brand="Acme", channel="social", author=f"p_{i % 997}", matched_terms=("Acme",),
                                 language_hint=row.language, metadata={}))
    return out


def _settings(folder: Path, method: str, cache: Path | None) -> Settings:
    extra = {"cache_dir": cache} if cache is not None else {}
    return Settings(brands=[BrandConfig(name="Acme")], data_dir=folder,
                    journeys=JourneyConfig(method=method), **extra)  # type: ignore[arg-type]


def _prepared(folder: Path, method: str, mentions: list[Mention], cache: Path | None) -> Settings:
    settings = _settings(folder, method, cache)
    with steps.open_store(settings) as store:
        store.store_batch("bench", "bench", mentions, [], None)
        steps.identify_languages(settings, store)
    return settings


def two_pass(folder: Path, mentions: list[Mention], batch: int, cache: Path | None) -> float:
    settings = _prepared(folder, "hybrid", mentions, cache)
    with steps.open_store(settings) as store:
        start = time.perf_counter()
        classified = steps.classify(settings, store, batch_size=batch)
        linked = steps.link_journeys(settings, store)
        elapsed = time.perf_counter() - start
    assert classified.processed == linked.processed == len(mentions), (classified, linked)
    return elapsed


def one_pass(folder: Path, mentions: list[Mention], batch: int, cache: Path | None) -> float:
    settings = _prepared(folder, "multitask", mentions, cache)
    with steps.open_store(settings) as store:
        start = time.perf_counter()
        report = steps.enrich(settings, store, batch_size=batch)
        elapsed = time.perf_counter() - start
    assert report.classified == report.linked == len(mentions), report
    assert "multitask" in report.link_detail, f"the heads were not used: {report.link_detail}"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--cache", type=Path, default=None, help="model cache (default: the settings' default)")
    args = parser.parse_args()
    mentions = _mentions(args.n)
    times: dict[str, list[float]] = {"two-pass (classify + hybrid link)": [], "one-pass enrich (multitask)": []}
    for repeat in range(args.repeats):
        for label, run in zip(times, (two_pass, one_pass), strict=True):
            with tempfile.TemporaryDirectory() as tmp:
                seconds = run(Path(tmp), mentions, args.batch_size, args.cache)
            times[label].append(seconds)
            print(f"repeat {repeat + 1}: {label}: {seconds:.1f} s ({len(mentions) / seconds:.1f} mentions/s)",
                  flush=True)
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, seconds in medians.items():
        print(f"{label}: median {seconds:.1f} s, {len(mentions) / seconds:.1f} mentions/s")
    before, after = medians.values()
    print(f"one-pass / two-pass time: {after / before:.2f}")


if __name__ == "__main__":
    main()
