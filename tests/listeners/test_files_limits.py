"""Values longer than their database column: refused by the Mention record for every source, so SQLite
and PostgreSQL store exactly the same rows (PostgreSQL would otherwise fail the whole batch)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.record import MENTION_COLUMN_CHARS, Mention, QuarantinedRow, rejection_reason
from listeners.files import FileListener
from storage import Store
from storage.schema import DbMention

NOW = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
SORAMI = BrandConfig(name="Sorami")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _fields(field: str, value: str) -> dict[str, object]:
    fields: dict[str, object] = {"source": "limits", "source_kind": "file", "native_id": "n1", "text": "Sorami ok",
                                 "created_at": NOW, "fetched_at": NOW}
    fields[field] = value
    return fields


def test_the_record_limits_are_the_mention_table_column_sizes() -> None:
    sized = {c.name: c.type.length for c in DbMention.__table__.columns
             if getattr(c.type, "length", None) and c.name not in ("id", "content_hash", "language", "language_method")}
    assert sized == MENTION_COLUMN_CHARS


@pytest.mark.parametrize("field", sorted(MENTION_COLUMN_CHARS))
def test_a_value_at_its_column_limit_is_stored_and_one_character_more_is_refused_naming_the_field(
        store: Store, field: str) -> None:
    limit = MENTION_COLUMN_CHARS[field]
    value = "é" * limit  # characters, not bytes, on both databases
    fitting = Mention.build(**_fields(field, value))  # type: ignore[arg-type]
    report = store.store_batch("limits", "q", [fitting], [], None)
    assert report.inserted == 1
    with pytest.raises(ValidationError) as info:
        Mention.build(**_fields(field, value + "x"))  # type: ignore[arg-type]
    assert rejection_reason(info.value) == (f"{field} is {limit + 1} characters, over the {limit}-character limit "
                                            "of its database column")


def test_a_long_language_tag_is_cut_at_subtag_boundaries_and_stored(store: Store) -> None:
    mention = Mention.build(**_fields("language_hint", "zh-Hant-TW-u-ca-chinese-x-private"))  # type: ignore[arg-type]
    assert mention.language_hint == "zh-Hant-TW"
    assert store.store_batch("limits", "q", [mention], [], None).inserted == 1


@pytest.fixture
def export(tmp_path: Path) -> Path:
    rows = [
        {"id": "ok-1", "text": "Sorami fine", "lang": "en"},
        {"id": "i" * 501, "text": "Sorami long id"},
        {"id": "long-channel", "text": "Sorami", "channel": "c" * 101},
        {"id": "long-lang", "text": "Sorami", "lang": "this language hint is no tag at all"},
        {"id": "long-tag", "text": "Sorami", "lang": "sr-Latn-RS-u-nu-latn-x-private"},  # kept as sr-latn-rs
        {"id": "max-id-" + "9" * 493, "text": "Sorami at the limit", "channel": "c" * 100},
        {"id": "ok-2", "text": "Sorami after"},
    ]
    path = tmp_path / "limits.jsonl"
    path.write_text("".join(json.dumps({"created_at": "2026-10-01T08:00:00Z", **r}) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_over_long_fields_of_a_file_row_are_quarantined_and_the_batch_is_stored_on_both_databases(
        store: Store, export: Path, make_context: Callable[..., object]) -> None:
    source = SourceConfig(name="limits", kind="file", params={"path": str(export)})
    listener = FileListener(source, make_context(SORAMI))  # type: ignore[arg-type]
    items = [item for item, _ in listener.fetch("limits.jsonl", None)]
    mentions = [i for i in items if isinstance(i, Mention)]
    quarantined = {q.locator: q.reason for q in items if isinstance(q, QuarantinedRow)}
    assert quarantined == {
        "limits.jsonl:2": "record rejected: native_id is 501 characters, over the 500-character limit of its "
                          "database column",
        "limits.jsonl:3": "record rejected: channel is 101 characters, over the 100-character limit of its "
                          "database column",
        "limits.jsonl:4": "record rejected: language_hint is 35 characters, over the 20-character limit of its "
                          "database column",
    }
    report = store.store_batch("limits", "limits.jsonl", mentions, [q for q in items if isinstance(q, QuarantinedRow)],
                               None)
    assert (report.inserted, report.quarantined) == (4, 3)
    stored = {m.language_hint for m in store.mentions_without_language(100)}
    assert "sr-latn-rs" in stored
