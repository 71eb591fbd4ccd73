"""The mention record: derived ids and hashes, timezone rule, strictness."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.record import (
    MAX_TEXT_CHARS,
    Mention,
    content_hash,
    fit_language_tag,
    make_mention_id,
    normalise_text,
    rejection_reason,
)

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


@pytest.mark.parametrize(
    ("tag", "stored"),
    [
        ("en", "en"),
        ("  pt-BR ", "pt-BR"),
        ("zh-Hant-TW-u-ca-chinese-x-private", "zh-Hant-TW"),
        ("sr_Latn_RS_u_nu_latn_x_private", "sr-Latn-RS"),
        ("de-DE-1901-1996-abcdefgh-bcdefghi", "de-DE-1901-1996"),
        ("English (United States of America)", "English (United States of America)"),  # no tag: left to refuse
    ],
)
def test_language_tags_longer_than_their_column_are_cut_at_subtag_boundaries(tag: str, stored: str) -> None:
    assert fit_language_tag(tag) == stored


def test_a_language_hint_that_is_no_tag_and_too_long_is_refused_with_a_reason_naming_the_field() -> None:
    assert _mention(language_hint="zh-Hant-TW-u-ca-chinese-x-private").language_hint == "zh-Hant-TW"
    with pytest.raises(ValidationError) as info:
        _mention(language_hint="English (United States of America)", channel="c" * 101)
    assert rejection_reason(info.value) == (
        "channel is 101 characters, over the 100-character limit of its database column; "
        "language_hint is 34 characters, over the 20-character limit of its database column")


def test_source_and_brand_names_longer_than_their_columns_are_configuration_errors() -> None:
    with pytest.raises(ValidationError, match="at most 200 characters"):
        SourceConfig(name="s" * 201, kind="file")
    with pytest.raises(ValidationError, match="at most 200 characters"):
        BrandConfig(name="b" * 201)


@pytest.mark.parametrize("field", ["native_id", "channel", "url", "metadata"])
def test_a_lone_surrogate_in_any_field_is_refused_naming_the_field(field: str) -> None:
    value: object = {"note": "bad \ud800"} if field == "metadata" else "bad \ud800"
    with pytest.raises(ValidationError) as info:
        _mention(**{field: value})
    reason = rejection_reason(info.value)  # pydantic itself refuses some constrained fields ("unicode string")
    assert reason.startswith(field) and ("unpaired surrogate" in reason or "unicode string" in reason), reason
