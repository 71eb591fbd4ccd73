"""Mixed exports (app reviews, support chats, e-mails) rarely name the brand: a file source can take the
brand from a column, a per-channel default or the source, so such rows are not lost as "no brand term"."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.record import Mention, QuarantinedRow
from listeners.files import FileListener

SORAMI = BrandConfig(name="Sorami", aliases=["Sorami Mart"])
KALAPA = BrandConfig(name="Kalapa")
ROWS = [
    {"id": "1", "channel": "app_review", "text": "the app crashes at checkout"},
    {"id": "2", "channel": "email", "text": "please close my account"},
    {"id": "3", "channel": "social", "text": "Sorami Mart was quick today"},
    {"id": "4", "channel": "social", "text": "nothing about anyone"},
    {"id": "5", "channel": "chat", "brand": "kalapa", "text": "my flight was late"},
]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps({"created_at": "2026-10-01T08:00:00Z", **r}) + "\n" for r in ROWS),
                    encoding="utf-8")
    return path


@pytest.fixture
def brands_of(make_context: Callable[..., object], mixed: Path) -> Callable[..., dict[str, str]]:
    """``brands_of(**params)`` -> {id: brand or the quarantine reason}."""

    def _read(**params: object) -> dict[str, str]:
        source = SourceConfig(name="mixed", kind="file", params={"path": str(mixed), **params})
        listener = FileListener(source, make_context(SORAMI, KALAPA))  # type: ignore[arg-type]
        out = {}
        for item, _ in listener.fetch("mixed.jsonl", None):
            if isinstance(item, Mention):
                out[item.native_id] = str(item.brand)
            else:
                assert isinstance(item, QuarantinedRow)
                out[item.locator.split(":")[1]] = item.reason
        return out

    return _read


def test_without_brand_settings_rows_that_name_no_brand_are_quarantined_as_no_brand_term(brands_of) -> None:
    assert brands_of() == {"1": "no brand term", "2": "no brand term", "3": "Sorami", "4": "no brand term",
                           "5": "Kalapa"}


def test_the_source_brand_ties_every_row_without_a_brand_column_value_to_it(brands_of) -> None:
    assert brands_of(brand="Sorami") == {"1": "Sorami", "2": "Sorami", "3": "Sorami", "4": "Sorami", "5": "Kalapa"}


def test_brand_by_channel_ties_a_channel_and_other_rows_still_need_a_brand_term(brands_of) -> None:
    found = brands_of(brand_by_channel={"App_Review": "Sorami", "email": "Kalapa"})
    assert found == {"1": "Sorami", "2": "Kalapa", "3": "Sorami", "4": "no brand term", "5": "Kalapa"}


def test_the_brand_column_wins_and_an_unknown_brand_is_quarantined_naming_it(brands_of, mixed: Path) -> None:
    mixed.write_text(mixed.read_text(encoding="utf-8").replace('"kalapa"', '"Nowhere Air"'), encoding="utf-8")
    found = brands_of(brand="Sorami")
    assert found["5"] == "brand 'Nowhere Air' is not one of this source's brands ['Sorami', 'Kalapa']"


def test_matched_terms_are_those_of_the_assigned_brand(make_context, tmp_path: Path) -> None:
    path = tmp_path / "terms.jsonl"
    path.write_text(json.dumps({"id": "t", "created_at": "2026-10-01T08:00:00Z", "channel": "chat",
                                "text": "Kalapa is cheaper than Sorami Mart, I will switch"}) + "\n", encoding="utf-8")
    source = SourceConfig(name="terms", kind="file", params={"path": str(path), "brand_by_channel": {"chat": "Sorami"}})
    mention = next(iter(FileListener(source, make_context(SORAMI, KALAPA)).fetch("terms.jsonl", None)))[0]
    assert isinstance(mention, Mention)
    assert (mention.brand, mention.matched_terms) == ("Sorami", ("Sorami", "Sorami Mart"))
