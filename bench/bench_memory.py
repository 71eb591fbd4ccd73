"""Peak RSS of the classify step (``pipeline.steps.classify``) on SQLite for growing numbers of mentions.

Each size runs in two fresh processes: one fills a SQLite database with N synthetic mentions (languages
set), one runs the classify step over all of them and reports its own peak RSS (ru_maxrss) and the RSS
right after loading the model. Flat peaks across sizes mean memory does not grow with the mention count.
A benchmark, not a test.

    .venv/bin/python bench/bench_memory.py                       # 10k, 50k, 100k with a tiny real model
    .venv/bin/python bench/bench_memory.py --sizes 10000 --model journeypulse/sentiment-e5-small
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The repository first and tests/ last: tests/storage/ (no __init__) must not shadow the storage package.
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
sys.path.append(str(ROOT / "tests"))


def _rss_now_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fill(db: Path, n: int) -> None:
    """Store n synthetic mentions and give each its language (the classify step needs one)."""
    from bench_ingest import synthetic_mentions

    from storage import LanguageResult, Store

    mentions = synthetic_mentions(n)
    with Store.open(f"sqlite:///{db}") as store:
        for start in range(0, n, 2000):
            part = mentions[start:start + 2000]
            store.store_batch("bench", "acme", part, [], f"offset={start + len(part)}")
            store.save_languages([LanguageResult(m.id, m.language_hint or "und", 1.0, "hint") for m in part])


def classify(db: Path, model: str, cache: Path, batch_size: int) -> dict[str, float]:
    """Run the classify step over the whole database; RSS figures in MiB."""
    from journeypulse.config import ModelConfig, Settings
    from pipeline import steps
    from sentiment import load_sentiment_model
    from storage import Store

    settings = Settings(brands=[{"name": "Acme"}], model=ModelConfig(name=model, batch_size=batch_size),
                        cache_dir=cache, data_dir=db.parent)
    load_sentiment_model(settings.model, cache)  # model load cost shown apart from the per-mention growth
    loaded = _rss_now_mib()
    started = time.perf_counter()
    with Store.open(f"sqlite:///{db}") as store:
        report = steps.classify(settings, store)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"classified": report.processed, "seconds": round(seconds, 1), "rss_after_load_mib": round(loaded, 1),
            "peak_rss_mib": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--model", help="model name or folder (default: a tiny real BERT classifier built here)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--worker", nargs=2, metavar=("ACTION", "ARG"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        action, value = args.worker
        if action == "fill":
            fill(args.db, int(value))
        else:
            print(json.dumps(classify(args.db, value, args.cache, args.batch_size)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            from helpers.tiny_models import build_tiny_classifier

            model = str(build_tiny_classifier(work / "models"))
        cache = args.cache or work / "cache"
        print(f"model {model}; batch size {args.batch_size}; classify step on SQLite (page 256)")
        print(f"{'mentions':>9} {'classified':>10} {'seconds':>8} {'RSS after load':>15} {'peak RSS':>9}")
        for n in (int(s) for s in args.sizes.split(",")):
            db = work / f"m{n}.db"
            base = [sys.executable, __file__, "--db", str(db), "--cache", str(cache), "--batch-size",
                    str(args.batch_size)]
            subprocess.run([*base, "--worker", "fill", str(n)], check=True)
            out = subprocess.run([*base, "--worker", "classify", model], check=True, capture_output=True, text=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:>9} {result['classified']:>10} {result['seconds']:>8} "
                  f"{result['rss_after_load_mib']:>11.1f} MiB {result['peak_rss_mib']:>5.1f} MiB", flush=True)
            db.unlink()


if __name__ == "__main__":
    main()
