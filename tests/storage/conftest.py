"""Builders for storage tests: mentions and annotations with fixed, readable values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from journeypulse.record import Mention
from storage import Store

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
"""Creation time of the first built mention; every test uses fixed times."""


def build_mention(
    native_id: str,
    text: str = "Giao hàng chậm quá, đợi 5 ngày rồi",
    *,
    source: str = "sample",
    minutes: int = 0,
    **fields: object,
) -> Mention:
    values: dict[str, object] = {
        "source_kind": "file",
        "brand": "Acme",
        "channel": "social",
        "author": f"p_{native_id}",
        "matched_terms": ("Acme",),
    }
    values.update(fields)
    return Mention.build(
        source=source,
        native_id=native_id,
        text=text,
        created_at=T0 + timedelta(minutes=minutes),
        fetched_at=datetime(2026, 11, 3, tzinfo=UTC),
        **values,
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def make_mention() -> Callable[..., Mention]:
    return build_mention
