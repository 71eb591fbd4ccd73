"""store_batch on SQLite and PostgreSQL: idempotent upserts, cursors in the batch transaction, quarantine."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from journeypulse.errors import StorageError
from journeypulse.record import Mention, QuarantinedRow
from storage import JourneyLinkRow, LanguageResult, SentimentResult, Store, UpsertReport, ingest
from storage.schema import QUARANTINE_PAYLOAD_MAX_BYTES

MakeMention = Callable[..., Mention]


def _sentiment(mention_id: str) -> SentimentResult:
    return SentimentResult(
        mention_id, "m", "r1", "torch", "negative", 0.8, 0.15, 0.05, 0.8, False, datetime(2026, 11, 4, tzinfo=UTC)
    )


def test_storing_the_same_batch_twice_inserts_once_and_reports_unchanged(
    store: Store, make_mention: MakeMention
) -> None:
    batch = [make_mention("1"), make_mention("2", "Acme app crashed ❤️"), make_mention("3", "ok")]
    first = store.store_batch("sample", "q", batch, [], "c1")
    second = store.store_batch("sample", "q", batch, [], "c1")
    assert first == UpsertReport(inserted=3, updated=0, unchanged=0, quarantined=0, quarantine_repeats=0)
    assert second == UpsertReport(inserted=0, updated=0, unchanged=3, quarantined=0, quarantine_repeats=0)
    assert store.counts()["mentions"] == 3


def test_same_id_twice_in_one_batch_is_stored_once_and_the_repeat_is_unchanged(
    store: Store, make_mention: MakeMention
) -> None:
    report = store.store_batch("sample", "q", [make_mention("1"), make_mention("1"), make_mention("2")], [], None)
    assert (report.inserted, report.updated, report.unchanged) == (2, 0, 1)
    assert store.counts()["mentions"] == 2


def test_refetch_that_only_changes_fetched_at_is_unchanged(store: Store, make_mention: MakeMention) -> None:
    original = make_mention("1")
    store.store_batch("sample", "q", [original], [], None)
    refetched = original.model_copy(update={"fetched_at": original.fetched_at + timedelta(days=3)})
    report = store.store_batch("sample", "q", [refetched], [], None)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 1)


def test_same_instant_in_another_timezone_is_unchanged(store: Store, make_mention: MakeMention) -> None:
    original = make_mention("1")
    store.store_batch("sample", "q", [original], [], None)
    bangkok = original.model_copy(update={"created_at": original.created_at.astimezone(timezone(timedelta(hours=7)))})
    assert store.store_batch("sample", "q", [bangkok], [], None).unchanged == 1


def test_changed_field_other_than_text_is_updated_and_keeps_annotations(
    store: Store, make_mention: MakeMention
) -> None:
    original = make_mention("1")
    store.store_batch("sample", "q", [original], [], None)
    store.save_languages([LanguageResult(original.id, "vi", 0.99, "py3langid")])
    store.save_sentiments([_sentiment(original.id)])
    report = store.store_batch("sample", "q", [original.model_copy(update={"channel": "review"})], [], None)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    assert store.counts() == {"mentions": 1, "quarantined": 0, "with_language": 1, "with_sentiment": 1, "linked": 0}


def test_edited_text_is_updated_and_clears_language_sentiment_and_links(
    store: Store, make_mention: MakeMention
) -> None:
    original = make_mention("1")
    store.store_batch("sample", "q", [original], [], None)
    store.save_languages([LanguageResult(original.id, "vi", 0.99, "py3langid")])
    store.save_sentiments([_sentiment(original.id)])
    store.save_journey_links(
        "v1", {original.id: [JourneyLinkRow("delivery", "shipping", "late_delivery", None, "keywords", 0.9, False)]}
    )
    edited = Mention.build(
        source="sample",
        source_kind="file",
        native_id="1",
        text="Giao hàng nhanh, cảm ơn Acme",
        created_at=original.created_at,
        fetched_at=original.fetched_at,
        brand="Acme",
        channel="social",
        author="p_1",
        matched_terms=("Acme",),
    )
    report = store.store_batch("sample", "q", [edited], [], None)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    assert store.counts() == {"mentions": 1, "quarantined": 0, "with_language": 0, "with_sentiment": 0, "linked": 0}
    assert [m.text for m in store.mentions_without_language(10)] == ["Giao hàng nhanh, cảm ơn Acme"]
    assert [m.id for m in store.mentions_without_links("v1", 10)] == [original.id]
    _, rows = store.query_view("v_current_journey_link", filters={}, limit=None)
    assert rows == []


def test_cursor_is_saved_with_the_batch_and_advanced_by_the_next(store: Store, make_mention: MakeMention) -> None:
    assert store.get_cursor("sample", "acme") is None
    store.store_batch("sample", "acme", [make_mention("1")], [], "offset=1")
    assert store.get_cursor("sample", "acme") == "offset=1"
    store.store_batch("sample", "acme", [], [], "offset=2")
    store.store_batch("sample", "acme", [], [], None)  # None leaves the cursor where it is
    assert store.get_cursor("sample", "acme") == "offset=2"
    assert store.get_cursor("sample", "other query") is None


def test_batch_that_fails_in_the_database_leaves_cursor_and_mentions_untouched(
    store: Store, make_mention: MakeMention
) -> None:
    store.store_batch("sample", "q", [make_mention("1")], [], "c1")
    broken = Mention.model_construct(
        **{**make_mention("3").model_dump(), "created_at": None}
    )  # NOT NULL in the database
    with pytest.raises(StorageError, match="storing 2 mentions from source 'sample'"):
        store.store_batch("sample", "q", [make_mention("2"), broken], [], "c2")
    assert store.get_cursor("sample", "q") == "c1"
    assert store.counts()["mentions"] == 1


def test_batch_whose_cursor_write_fails_rolls_back_its_mentions_and_quarantine(
    store: Store, make_mention: MakeMention, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object) -> None:
        raise ingest.sa.exc.OperationalError("UPDATE source_cursor", {}, RuntimeError("disk I/O error"))

    monkeypatch.setattr(ingest, "write_cursor", fail)
    bad = QuarantinedRow(source="sample", reason="not JSON", payload="{oops", locator="f.jsonl:3")
    with pytest.raises(StorageError, match="nothing was written"):
        store.store_batch("sample", "q", [make_mention("1")], [bad], "c1")
    monkeypatch.undo()
    assert store.counts() == {"mentions": 0, "quarantined": 0, "with_language": 0, "with_sentiment": 0, "linked": 0}
    assert store.get_cursor("sample", "q") is None


def test_rereading_the_same_bad_row_does_not_duplicate_the_quarantine_row(store: Store) -> None:
    bad = QuarantinedRow(source="sample", reason="missing text", payload='{"id": 7}', locator="f.jsonl:7")
    other_line = QuarantinedRow(source="sample", reason="missing text", payload='{"id": 7}', locator="f.jsonl:9")
    first = store.store_batch("sample", "q", [], [bad, bad], None)
    second = store.store_batch("sample", "q", [], [bad, other_line], None)
    assert (first.quarantined, first.quarantine_repeats) == (1, 1)
    assert (second.quarantined, second.quarantine_repeats) == (1, 1)
    assert store.counts()["quarantined"] == 2


def test_oversized_quarantine_payload_is_cut_on_a_character_boundary_and_flagged(store: Store) -> None:
    payload = "ก" * (QUARANTINE_PAYLOAD_MAX_BYTES // 3 + 10)  # Thai: 3 bytes per character
    store.store_batch("sample", "q", [], [QuarantinedRow("sample", "too long", payload, "big.jsonl:1")], None)
    (row,) = store.quarantine_rows()
    text = row.payload
    assert row.payload_truncated is True and row.payload_bytes == len(payload.encode())
    assert len(text.encode()) <= QUARANTINE_PAYLOAD_MAX_BYTES and payload.startswith(text) and text.endswith("ก")


def test_mention_holding_nul_characters_is_quarantined_on_both_backends(
    store: Store, make_mention: MakeMention
) -> None:
    batch = [make_mention("1", "bad\x00byte"), make_mention("2"), make_mention("3", metadata={"title": "a\x00"})]
    report = store.store_batch("sample", "q", batch, [], "c")
    assert (report.inserted, report.quarantined) == (1, 2)
    assert store.counts()["quarantined"] == 2 and store.get_cursor("sample", "q") == "c"
    assert {row.reason for row in store.quarantine_rows()} == {
        "mention holds NUL (U+0000) characters, which cannot be stored"
    }


UNICODE_TEXTS = [
    "Acme 😡🙏🏽 giao hàng trễ 𝕏 👨‍👩‍👧",  # non-BMP emoji, ZWJ sequence, math letter
    "ส่งของช้ามาก ไม่ประทับใจเลย Acme",  # Thai
    "Dịch vụ khách hàng của Acme tệ quá, hủy đơn luôn",  # Vietnamese, precomposed
    unicodedata.normalize("NFD", "Dịch vụ tệ"),  # Vietnamese as combining marks: must not be normalised
    "خدمة العملاء سيئة جدا",  # Arabic
]


def test_unicode_text_round_trips_byte_identical(store: Store, make_mention: MakeMention) -> None:
    mentions = [
        make_mention(f"u{i}", text, metadata={"title": text, "stars": 1, "score": 0.5, "verified": True})
        for i, text in enumerate(UNICODE_TEXTS)
    ]
    store.store_batch("sample", "q", mentions, [], None)
    stored = {m.id: m.text for m in store.mentions_without_language(10)}
    for mention in mentions:
        assert stored[mention.id].encode("utf-8") == mention.text.encode("utf-8")
    again = store.store_batch("sample", "q", mentions, [], None)
    assert again.unchanged == len(UNICODE_TEXTS)  # metadata JSON compares equal after the round trip too
