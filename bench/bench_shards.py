"""Enrichment throughput with one worker process vs two processes each enriching one shard, same machine.

What the classify workers of the enrichment DAG do, without Airflow's per-task overhead: a SQLite store is
filled with N synthetic mentions (languages set) and copied; on one copy one process runs the unsharded
``enrich`` step, on the other two processes run shard 0 and shard 1 of 2 at the same time. Each process
loads the model itself (as each Airflow task does). Reports wall time from start to the last process's
end and mentions per second. A benchmark, not a test.

    .venv/bin/python bench/bench_shards.py                    # 1000 mentions, the default model
    .venv/bin/python bench/bench_shards.py --n 2000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def _settings(db: Path, cache: Path) -> object:
    from journeypulse.config import Settings

    return Settings(brands=[{"name": "Acme"}], cache_dir=cache, data_dir=db.parent, storage={"url": f"sqlite:///{db}"})


def fill(db: Path, n: int) -> None:
    from bench_ingest import synthetic_mentions

    from storage import LanguageResult, Store

    mentions = synthetic_mentions(n)
    with Store.open(f"sqlite:///{db}") as store:
        store.store_batch("bench", "acme", mentions, [], None)
        store.save_languages([LanguageResult(m.id, m.language_hint or "und", 1.0, "hint") for m in mentions])


def enrich(db: Path, cache: Path, shard: str) -> dict[str, float]:
    """Run ``enrich`` (``shard`` "K/N", or "all"); seconds of the step itself, after the model load."""
    from pipeline import steps
    from storage import Shard

    settings = _settings(db, cache)
    part = None if shard == "all" else Shard(*(int(x) for x in shard.split("/")))
    with steps.open_store(settings) as store:  # type: ignore[arg-type]
        started = time.perf_counter()
        report = steps.enrich(settings, store, shard=part)  # type: ignore[arg-type]
    return {"processed": report.processed, "seconds": round(time.perf_counter() - started, 1)}


def _run(db: Path, cache: Path, shards: list[str], threads: int | None) -> tuple[float, list[dict[str, float]]]:
    env = dict(os.environ)
    if threads is not None:
        env["JOURNEYPULSE_TORCH_THREADS"] = str(threads)
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--db", str(db), "--cache", str(cache), "--worker", shard],
                              stdout=subprocess.PIPE, text=True, env=env) for shard in shards]
    outs = [proc.communicate()[0] for proc in procs]
    wall = time.perf_counter() - started
    if any(proc.returncode for proc in procs):
        raise SystemExit(f"an enrich process failed: {[proc.returncode for proc in procs]}")
    return wall, [json.loads(out.strip().splitlines()[-1]) for out in outs]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "journeypulse")
    parser.add_argument("--threads", type=int, help="JOURNEYPULSE_TORCH_THREADS per process (default: torch's)")
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(enrich(args.db, args.cache, args.worker)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        one, two = Path(tmp) / "one" / "jp.db", Path(tmp) / "two" / "jp.db"
        one.parent.mkdir()
        two.parent.mkdir()
        fill(one, args.n)
        shutil.copy(one, two)
        print(f"{args.n} mentions, default model, {os.cpu_count()} CPUs, torch threads per process: "
              f"{args.threads or 'default'}")
        for label, db, shards in (("1 process, unsharded", one, ["all"]), ("2 processes, 1 shard each", two,
                                                                            ["0/2", "1/2"])):
            wall, results = _run(db, args.cache, shards, args.threads)
            done = sum(int(r["processed"]) for r in results)
            steps_s = ", ".join(f"{r['seconds']} s" for r in results)
            print(f"{label:28} {done} enriched, wall {wall:.1f} s (step itself: {steps_s}), "
                  f"{done / wall:.1f} mentions/s", flush=True)


if __name__ == "__main__":
    main()
