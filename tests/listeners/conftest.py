"""Generic fixtures for listener tests: a fixed-key pseudonymiser, a listener context, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from journeypulse.config import BrandConfig
from journeypulse.privacy import Pseudonymiser
from listeners.base import ListenerContext

FIXED_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    """Deterministic across runs: the same identity always gets the same pseudonym in tests."""
    return Pseudonymiser(b"listener-tests-key-0123456789abcdef")


@pytest.fixture
def make_context(pseudonymiser: Pseudonymiser) -> Callable[..., ListenerContext]:
    """``make_context(BrandConfig(...), ...)`` -> a ListenerContext with the test pseudonymiser."""

    def _make(*brands: BrandConfig) -> ListenerContext:
        return ListenerContext(brands=tuple(brands), pseudonymise=pseudonymiser)

    return _make


@pytest.fixture
def fixed_clock() -> Callable[[], datetime]:
    """A clock for ``fetched_at`` that always says FIXED_NOW."""
    return lambda: FIXED_NOW
