"""Standard analyst queries on N synthetic mentions (default 1M) with sentiment and journey links.

Loads the data through the storage functions (``store_batch``, ``save_languages``, ``save_sentiments``,
``save_journey_links``), then times each standard query a few times and prints the best and median
wall times. It asserts nothing: the figures go in the report, never in tests.

    .venv/bin/python bench/bench_queries.py                         # 1M, SQLite + throwaway PostgreSQL 15
    .venv/bin/python bench/bench_queries.py -n 100000 --skip-postgres
    .venv/bin/python bench/bench_queries.py --pg-url postgresql+psycopg://u@host/db   # an existing empty db
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench_ingest import throwaway_postgres  # same throwaway cluster recipe as tests/conftest.py

from journeypulse.record import Mention
from storage import JourneyLinkRow, LanguageResult, SentimentResult, Store

BRANDS = ("Sorami", "Kalapa", "Nuvo", "Tigra", "Belo")
STAGES = ("awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "exit")
PAINS = {"delivery": ("late_delivery", "damaged_item", "wrong_item"), "support": ("long_wait", "rude_agent"),
         "purchase": ("payment_failed", "hidden_fees"), "exit": ("price_increase",), "usage": ("app_crash", "login")}
LANGS = ("en", "vi", "th", "es", "pt", "id", "ar")
SOURCES = ("x", "reddit", "app_store", "google_play", "contact_center")
START = datetime(2025, 11, 1, tzinfo=UTC)
DAYS = 365
PROBS = {"negative": (0.7, 0.2, 0.1), "neutral": (0.15, 0.7, 0.15), "positive": (0.1, 0.2, 0.7)}


def batches(n: int, size: int, seed: int = 11) -> Iterator[tuple[list[Mention], dict[str, str], dict[str, list[JourneyLinkRow]]]]:
    """Deterministic synthetic mentions spread over a year, with a label and 1-2 stage links each."""
    rng = random.Random(seed)
    fetched = datetime(2026, 11, 1, tzinfo=UTC)
    for start in range(0, n, size):
        mentions, labels, links = [], {}, {}
        for i in range(start, min(start + size, n)):
            source = rng.choice(SOURCES)
            mention = Mention.build(
                source=source, source_kind="file", native_id=str(i), text=f"synthetic mention {i} {rng.random():.6f}",
                created_at=START + timedelta(seconds=rng.randrange(DAYS * 86400)), fetched_at=fetched,
                brand=rng.choice(BRANDS), channel=source, author=f"a_{rng.randrange(200_000):016x}",
                matched_terms=("Sorami Pay",) if rng.random() < 0.1 else (), language_hint=rng.choice(LANGS),
            )
            mentions.append(mention)
            labels[mention.id] = rng.choices(("negative", "neutral", "positive"), (0.35, 0.35, 0.3))[0]
            rows = []
            for stage in rng.sample(STAGES, rng.choice((1, 1, 2))):
                pain = rng.choice(PAINS[stage]) if stage in PAINS and rng.random() < 0.5 else None
                rows.append(JourneyLinkRow(stage, None, pain, "cancel" if stage == "exit" else None, "keywords", 0.8, False))
            links[mention.id] = rows
        yield mentions, labels, links


def load(store: Store, n: int, size: int) -> float:
    started = time.perf_counter()
    at = datetime(2026, 11, 2, tzinfo=UTC)
    for mentions, labels, links in batches(n, size):
        store.store_batch("bench", "q", mentions, [], None)
        store.save_languages([LanguageResult(m.id, m.language_hint or "und", 0.9, "bench") for m in mentions])
        store.save_sentiments([SentimentResult(mid, "bench", "r1", "torch", label, *PROBS[label], max(PROBS[label]),
                                               False, at) for mid, label in labels.items()])
        store.save_journey_links("bench-1", links)
    return time.perf_counter() - started


def timed(action: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


def bench(label: str, url: str, n: int, size: int, repeats: int) -> None:
    with Store.open(url) as store:
        load_s = load(store, n, size)
        print(f"[{label}] loaded {n} mentions (+ language, sentiment, links) in {load_s:.1f} s "
              f"({n / load_s:,.0f}/s)", flush=True)
        refresh = timed(store.refresh_summaries, 1)
        print(f"[{label}] refresh_summaries: {refresh[0]:.2f} s ({refresh[2]} rows)", flush=True)
        since, until = date(2026, 9, 1), date(2026, 9, 28)
        window = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 29, tzinfo=UTC))
        queries: dict[str, Callable[[], object]] = {
            "v_daily_sentiment brand+28 days": lambda: store.query_view(
                "v_daily_sentiment", filters={"brand": "Sorami", "since": since, "until": until}, limit=None),
            "summary_daily_sentiment brand+28 days": lambda: store.query_view(
                "summary_daily_sentiment", filters={"brand": "Sorami", "since": since, "until": until}, limit=None),
            "v_stage_pain_points brand+stage": lambda: store.query_view(
                "v_stage_pain_points", filters={"brand": "Sorami", "stage": "delivery"}, limit=None),
            "v_stage_pain_points brand": lambda: store.query_view(
                "v_stage_pain_points", filters={"brand": "Sorami"}, limit=None),
            "summary_stage_pain_points brand+stage": lambda: store.query_view(
                "summary_stage_pain_points", filters={"brand": "Sorami", "stage": "delivery"}, limit=None),
            "stage_summary brand+28 days": lambda: store.stage_summary(brand="Sorami", since=window[0], until=window[1]),
            "v_exit_signals brand+28 days": lambda: store.query_view(
                "v_exit_signals", filters={"brand": "Sorami", "since": since, "until": until}, limit=None),
        }
        for name, action in queries.items():
            best, median, result = timed(action, repeats)
            rows = len(result[1]) if isinstance(result, tuple) else len(result)  # type: ignore[arg-type]
            print(f"[{label}] {name:40s} best {best * 1000:8.1f} ms  median {median * 1000:8.1f} ms  ({rows} rows)",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--mentions", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg-url", help="an existing empty PostgreSQL database instead of a throwaway cluster")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            bench("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.mentions, args.batch, args.repeats)
    if not args.skip_postgres:
        if args.pg_url:
            bench("postgresql", args.pg_url, args.mentions, args.batch, args.repeats)
        else:
            with throwaway_postgres() as url:
                bench("postgresql", url, args.mentions, args.batch, args.repeats)


if __name__ == "__main__":
    main()
