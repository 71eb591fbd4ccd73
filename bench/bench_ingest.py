"""Ingest throughput: N synthetic mentions through ``Store.store_batch`` on SQLite and PostgreSQL.

Two passes per database: the first inserts everything, the second re-stores the same mentions
(all unchanged, the idempotent refetch path). Prints mentions/second; it asserts nothing.

    .venv/bin/python bench/bench_ingest.py                      # 100k, SQLite + throwaway PostgreSQL 15
    .venv/bin/python bench/bench_ingest.py --pg-url postgresql+psycopg://u@host/db  # existing (empty) db
    .venv/bin/python bench/bench_ingest.py -n 20000 --batch 500 --skip-postgres
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from journeypulse.record import Mention
from storage import Store

PG_BIN = Path(os.environ.get("TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
WORDS = {
    "vi": [
        "giao",
        "hàng",
        "chậm",
        "quá",
        "đơn",
        "hủy",
        "hoàn",
        "tiền",
        "nhân",
        "viên",
        "hỗ",
        "trợ",
        "tốt",
        "tuyệt",
        "vời",
        "ứng",
        "dụng",
        "lỗi",
    ],
    "th": ["ส่ง", "ของ", "ช้า", "มาก", "บริการ", "ดี", "แอป", "ค้าง", "คืนเงิน", "ยกเลิก", "ประทับใจ", "พนักงาน"],
    "en": [
        "delivery",
        "late",
        "refund",
        "app",
        "crashed",
        "support",
        "great",
        "love",
        "cancel",
        "price",
        "checkout",
        "slow",
    ],
    "es": ["entrega", "tarde", "reembolso", "aplicación", "soporte", "excelente", "cancelar", "precio", "lento"],
}


def synthetic_mentions(n: int, seed: int = 7) -> list[Mention]:
    """Deterministic mentions in four languages with emoji, ~12 words each, over 30 days."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    fetched = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        lang = rng.choice(list(WORDS))
        text = " ".join(rng.choices(WORDS[lang], k=12)) + f" Acme #{i} " + rng.choice(["😡", "🙏🏽", "❤️", ""])
        out.append(
            Mention.build(
                source="bench",
                source_kind="file",
                native_id=str(i),
                text=text,
                created_at=start + timedelta(seconds=rng.randrange(30 * 86400)),
                fetched_at=fetched,
                brand="Acme",
                channel=rng.choice(["social", "review", "forum"]),
                author=f"p_{rng.randrange(n // 3 + 1)}",
                matched_terms=("Acme",),
                language_hint=lang,
                metadata={"likes": rng.randrange(100), "lang": lang},
            )
        )
    return out


def run_pass(store: Store, mentions: list[Mention], batch: int) -> tuple[float, int, int]:
    """Store all mentions in batches (cursor advanced per batch): (seconds, inserted, unchanged)."""
    inserted = unchanged = 0
    began = time.perf_counter()
    for start in range(0, len(mentions), batch):
        report = store.store_batch("bench", "acme", mentions[start : start + batch], [], f"offset={start + batch}")
        inserted += report.inserted
        unchanged += report.unchanged
    return time.perf_counter() - began, inserted, unchanged


def bench(label: str, url: str, mentions: list[Mention], batch: int) -> None:
    with Store.open(url) as store:
        for name in ("first pass", "re-run (all duplicates)"):
            seconds, inserted, unchanged = run_pass(store, mentions, batch)
            print(
                f"{label:10s} {name:24s} {len(mentions):>7d} mentions in {seconds:7.2f} s = "
                f"{len(mentions) / seconds:9.0f} mentions/s  (inserted {inserted}, unchanged {unchanged})"
            )
        assert store.counts()["mentions"] == len(mentions), "bench data set was not stored exactly once"


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL 15 cluster in a temp dir (same settings as tests/conftest.py), stopped afterwards."""
    root = Path(tempfile.mkdtemp(prefix="jp-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "--no-sync",
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-c fsync=off -c listen_addresses=127.0.0.1 -p {port} -k {root}"
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,  # best effort: the folder is removed either way
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="mentions (default 100000)")
    parser.add_argument("--batch", type=int, default=1000, help="mentions per store_batch call (default 1000)")
    parser.add_argument("--pg-url", help="an existing, empty PostgreSQL database instead of a throwaway server")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    began = time.perf_counter()
    mentions = synthetic_mentions(args.n)
    print(
        f"built {len(mentions)} mentions in {time.perf_counter() - began:.1f} s (not timed below); "
        f"batch size {args.batch}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="jp-bench-") as tmp:
        bench("sqlite", f"sqlite:///{tmp}/bench.db", mentions, args.batch)
    if args.skip_postgres:
        return
    if args.pg_url:
        bench("postgres", args.pg_url, mentions, args.batch)
    else:
        with throwaway_postgres() as url:
            bench("postgres", url, mentions, args.batch)


if __name__ == "__main__":
    main()
