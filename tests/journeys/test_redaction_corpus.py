"""The redactor meets its recall and false-positive targets on the hand-written multilingual corpus."""

from pathlib import Path

import pytest

from journeys.redaction import redact
from journeys.redaction_corpus import PII_KINDS, format_table, load_corpus, score_corpus

CORPUS = Path(__file__).parent / "data" / "pii_corpus.jsonl"


@pytest.fixture(scope="module")
def score():
    return score_corpus(load_corpus(CORPUS))


def test_the_corpus_holds_at_least_200_personal_data_items_and_200_look_alikes_in_every_language():
    entries = load_corpus(CORPUS)
    pii = [e for e in entries if e.kind != "none"]
    lookalikes = [e for e in entries if e.kind == "none"]
    assert sum(len(e.spans) for e in pii) >= 200
    assert sum(len(e.spans) for e in lookalikes) >= 200
    for language in ("en", "vi", "th", "id", "es", "pt", "ar"):
        assert {e.kind for e in pii if e.language == language} >= {"phone", "email", "address", "name"}, language
        assert any(e.language == language for e in lookalikes), language


def test_phone_and_email_recall_is_at_least_098(score):
    assert score.recall("phone") >= 0.98, score.misses
    assert score.recall("email") >= 0.98, score.misses


def test_address_recall_is_at_least_090_and_names_are_reported(score):
    assert score.recall("address") >= 0.90, score.misses
    assert score.total["name"] >= 40


def test_at_most_2_percent_of_look_alikes_are_redacted(score):
    assert score.false_positive_rate <= 0.02, score.wrongly_redacted


def test_the_table_lists_every_kind_and_the_false_positive_rate(score):
    table = format_table(score)
    for kind in PII_KINDS:
        assert f"| {kind} | {score.total[kind]} |" in table
    assert f"FP rate {score.false_positive_rate:.3f}" in table


def test_a_span_that_does_not_match_its_text_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "phone", "language": "en", "text": "call 555", "spans": [[0, 4, "nope"]]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: span 0..4 is 'call', not 'nope'"):
        load_corpus(bad)


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "Account holder J. Doe called", "Account holder [NAME] called"),
        ("en", "mobile 234-5678 please", "mobile [PHONE] please"),
        ("en", "Called from (212) 010-2231 twice", "Called from [PHONE] twice"),
        ("pt", "Moro na Rua Augusta, 1500 desde 2019", "Moro na [ADDRESS] desde 2019"),
        ("pt", "a Rua Augusta está cheia", "a Rua Augusta está cheia"),
        ("es", "Sr. García vive en Calle Mayor 5", "Sr. [NAME] vive en [ADDRESS]"),
        ("id", "Bapak Budi di Jl. Sudirman No. 5", "Bapak [NAME] di [ADDRESS]"),
        ("vi", "anh Nam ở số 12 đường Lê Lợi", "anh [NAME] ở [ADDRESS]"),
        ("th", "คุณสมชาย อยู่ซอยลาดพร้าว 101", "คุณ[NAME] อยู่[ADDRESS]"),
        ("th", "คุณภาพดีมาก ขอบคุณมากค่ะ", "คุณภาพดีมาก ขอบคุณมากค่ะ"),
        ("ar", "السيد أحمد في شارع الملك فهد", "السيد [NAME] في [ADDRESS]"),
        ("ar", "جوالي ٠٥٥٥١٢٣٤٥٦", "جوالي [PHONE]"),
        ("en", "v2.3.1 costs $1,299 on 2024-05-12, hotline 1800 1234", "v2.3.1 costs $1,299 on 2024-05-12, hotline 1800 1234"),
    ],
)
def test_issue_examples_are_redacted_and_their_look_alikes_stay(language, text, expected):
    assert redact(text, language=language).text == expected
