"""Shared test helpers for the network listeners part B (YouTube, Google Play, App Store, RSS)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.privacy import Pseudonymiser
from journeypulse.record import Cursor, Mention, QuarantinedRow
from listeners.base import ListenerContext

FIXTURES = Path(__file__).parent / "fixtures"
FETCHED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PSEUDONYMISE = Pseudonymiser(b"test-key-0123456789abcdef")
BRANDS = (
    BrandConfig(name="Nimbus", aliases=["นิมบัส", "Nimbus Pay"], products=["NimbusCard"], hashtags=["nimbus"]),
    BrandConfig(name="Other", aliases=["OtherCo"]),
)


def fixture_text(kind: str, name: str) -> str:
    return (FIXTURES / kind / name).read_text(encoding="utf-8")


def fixture_json(kind: str, name: str) -> dict:
    return json.loads(fixture_text(kind, name))


def make_source(kind: str, params: dict, *, secrets: dict[str, str] | None = None, limit: int = 10_000,
                brands: list[str] | None = None, overlap_minutes: float = 0.0) -> SourceConfig:
    """A source config; no overlap behind cursors unless a test asks for it."""
    return SourceConfig(name=f"test_{kind}", kind=kind, params=params, secrets=secrets or {},
                        max_items_per_run=limit, brands=brands or [], overlap_minutes=overlap_minutes)


def make_context() -> ListenerContext:
    return ListenerContext(brands=BRANDS, pseudonymise=PSEUDONYMISE)


def clock() -> datetime:
    return FETCHED_AT


class FakeSleep:
    """Records requested waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def mentions(items: Iterable[tuple[Mention | QuarantinedRow, Cursor | None]]) -> list[Mention]:
    return [item for item, _ in items if isinstance(item, Mention)]

