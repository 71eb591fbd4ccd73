"""Shared test helpers for the network listeners part A (X, Reddit, Mastodon, Bluesky)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.privacy import Pseudonymiser
from journeypulse.record import Cursor, Mention, QuarantinedRow
from listeners.base import Item, ListenerContext
from listeners.retry import RetryPolicy

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1_795_000_000.0  # 2026-11-17T08:53:20Z, a fixed "now" for clocks
PSEUDONYMISE = Pseudonymiser(b"net-a-test-key-0123456789")
BRANDS = (
    BrandConfig(
        name="Nimbus",
        aliases=["นิมบัส", "Nimbus Pay"],
        products=["NimbusCard"],
        hashtags=["nimbus"],
        languages=["en", "th", "vi"],
    ),
)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
SECRET = "s3cr3t-token-value-never-logged"


def fixture_json(kind: str, name: str) -> dict:
    return json.loads((FIXTURES / kind / name).read_text(encoding="utf-8"))


def make_source(kind: str, params: dict | None = None, *, secrets: dict[str, str] | None = None,
                limit: int = 10_000, overlap_minutes: float = 0.0, overlap_items: int = 0) -> SourceConfig:
    """A source config; no overlap behind cursors unless a test asks for it."""
    return SourceConfig(name=f"test_{kind}", kind=kind, params=params or {}, secrets=secrets or {},
                        max_items_per_run=limit, overlap_minutes=overlap_minutes, overlap_items=overlap_items)


def make_context() -> ListenerContext:
    return ListenerContext(brands=BRANDS, pseudonymise=PSEUDONYMISE)


class SleepRecorder:
    """A fake ``sleep`` that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def mentions(items: Iterable[Item]) -> list[Mention]:
    return [item for item in items if isinstance(item, Mention)]


def drain(pairs: Iterator[tuple[Item, Cursor | None]], stop_after: int | None = None) -> tuple[list[Item], Cursor | None]:
    """Consume a fetch like the pipeline does (store, then keep the cursor); stop early to simulate a crash."""
    items: list[Item] = []
    cursor: Cursor | None = None
    for item, item_cursor in pairs:
        items.append(item)
        cursor = item_cursor
        if stop_after is not None and len(items) >= stop_after:
            break
    return items, cursor


def run_until_exhausted(fetch, query: str, cursor: Cursor | None = None, *, crash_every: int | None = None,
                        max_runs: int = 50) -> tuple[list[Item], Cursor | None]:
    """Run ``fetch`` repeatedly from the stored cursor until a run yields nothing."""
    collected: list[Item] = []
    for _ in range(max_runs):
        items, new_cursor = drain(fetch(query, cursor), stop_after=crash_every)
        if not items:
            return collected, cursor
        collected.extend(items)
        cursor = new_cursor if new_cursor is not None else cursor
    raise AssertionError(f"still yielding after {max_runs} runs")


def assert_no_secret(secret: str, texts: Iterable[str]) -> None:
    for text in texts:
        assert secret not in text


def quarantined(items: Iterable[Item]) -> list[QuarantinedRow]:
    return [item for item in items if isinstance(item, QuarantinedRow)]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
