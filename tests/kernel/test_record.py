"""The mention record: derived ids and hashes, timezone rule, strictness."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from journeypulse.record import MAX_TEXT_CHARS, Mention, content_hash, make_mention_id, normalise_text

NOW = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def _mention(**overrides: object) -> Mention:
    fields: dict[str, object] = {
        "source": "sample", "source_kind": "file", "native_id": "1", "text": "Sorami giao hàng nhanh",
        "created_at": NOW, "fetched_at": NOW,
    }
    fields.update(overrides)
    return Mention.build(**fields)  # type: ignore[arg-type]


def test_id_depends_only_on_source_and_native_id() -> None:
    first = _mention(fetched_at=NOW)
    refetched = _mention(fetched_at=NOW + timedelta(hours=1), text="edited text")
    assert first.id == refetched.id == make_mention_id("sample", "1")
    assert _mention(source="other").id != first.id


def test_content_hash_ignores_case_width_invisible_characters_and_spacing() -> None:
    assert content_hash("Sorami  PAY\u200b rất tốt") == content_hash("sorami pay rất tốt")
    assert content_hash("ＳＯＲＡＭＩ") == content_hash("sorami")  # NFKC folds full-width letters
    assert content_hash("sorami tốt") != content_hash("sorami tot")  # diacritics carry meaning


def test_normalise_text_keeps_thai_and_non_bmp_emoji() -> None:
    assert normalise_text("  ส่งไว มาก 🚚🔥 ") == "ส่งไว มาก 🚚🔥"


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        _mention(created_at=datetime(2026, 10, 1, 8, 0))


def test_offsets_other_than_utc_are_kept() -> None:
    bangkok = timezone(timedelta(hours=7))
    assert _mention(created_at=datetime(2026, 10, 1, 8, 0, tzinfo=bangkok)).created_at.utcoffset() == timedelta(hours=7)


def test_unknown_fields_and_oversized_text_are_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        _mention(handle="@raw_handle")
    with pytest.raises(ValidationError):
        _mention(text="x" * (MAX_TEXT_CHARS + 1))


def test_empty_text_is_rejected() -> None:
    with pytest.raises(ValidationError):
        _mention(text="")
