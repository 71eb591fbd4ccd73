"""Coaching selection (filters, redaction, near-duplicates, diversity), exports, reviews, training packs."""

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from journeypulse.record import content_hash
from journeys.coaching import (
    CoachingCandidate,
    CoachingFilter,
    ReviewAction,
    ReviewDecision,
    export_csv,
    export_html,
    export_jsonl,
    export_training_pack,
    select_examples,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def cand(mid, text, *, conf=0.9, source="x", lang="en", stage="delivery", pain="late delivery",
         sentiment="negative", author=None, channel="social"):
    return CoachingCandidate(mid, text, lang, stage, pain, channel, sentiment, conf, source, content_hash(text),
                             author or f"a_{mid}")


def test_filters_keep_only_matching_stage_sentiment_language_pain_point_and_confidence():
    pool = [
        cand("1", "Parcel came two weeks late, nobody answered the chat"),
        cand("2", "Love the new app design", stage="usage", sentiment="positive", pain=None),
        cand("3", "Giao hàng trễ cả tuần, không ai trả lời", lang="vi"),
        cand("4", "Courier lost my parcel and the refund is still pending", conf=0.4),
        cand("5", "The box arrived crushed and wet", pain="damaged parcel"),
    ]
    chosen = select_examples(pool, filters=CoachingFilter(
        stages=frozenset({"delivery"}), sentiments=frozenset({"negative"}), languages=frozenset({"en"}),
        pain_points=frozenset({"late delivery"}), min_confidence=0.5))
    assert [e.mention_id for e in chosen] == ["1"]


def test_selected_text_is_redacted_and_counts_its_redactions():
    [example] = select_examples([cand("1", "Hi Anna, order #123456 late, call me on +84 912 345 678", lang="vi")])
    assert example.text == "Hi [NAME], order #[ORDER] late, call me on [PHONE]"
    assert example.redactions == 3


def test_exact_and_near_duplicates_are_dropped_keeping_the_most_confident_copy():
    pool = [
        cand("low", "My parcel is two weeks late and support never replies!!", conf=0.7),
        cand("high", "my parcel is two weeks late and support never replies", conf=0.95),
        cand("copy", "my parcel is two weeks late and support never replies", conf=0.9, source="reddit"),
        cand("other", "The courier threw the box over the fence", conf=0.8),
    ]
    chosen = select_examples(pool)
    assert sorted(e.mention_id for e in chosen) == ["high", "other"]


def test_texts_that_differ_only_in_redacted_details_count_as_near_duplicates():
    pool = [cand("1", "Order #123456 still not delivered after ten days, please help", conf=0.9),
            cand("2", "Order #987654 still not delivered after ten days, please help", conf=0.8)]
    assert [e.mention_id for e in select_examples(pool)] == ["1"]


def test_sources_and_languages_take_turns_so_one_loud_source_cannot_fill_the_limit():
    loud = [cand(f"x{i}", f"late parcel story number {i} " + "zxcvbnmasdf"[i:] * 3, conf=0.99 - i / 100)
            for i in range(8)]
    quiet = [cand("r1", "reddit says the courier never showed up", source="reddit", conf=0.6),
             cand("v1", "shipper không giao hàng mà báo đã giao", source="x", lang="vi", conf=0.5)]
    chosen = select_examples(loud + quiet, limit=3)
    assert [e.mention_id for e in chosen] == ["x0", "r1", "v1"]


def test_high_confidence_comes_first_within_a_bucket_and_ties_break_by_id():
    pool = [cand("b", "first distinct complaint about fees", conf=0.8),
            cand("a", "second unrelated note on the courier", conf=0.8),
            cand("c", "third text about refunds taking ages", conf=0.99)]
    assert [e.mention_id for e in select_examples(pool)] == ["c", "a", "b"]


def test_one_author_contributes_at_most_max_per_author_examples():
    pool = [cand(str(i), f"distinct complaint {i} " + "qwertyuiop"[i:] * 4, author="a_same") for i in range(5)]
    assert len(select_examples(pool, max_per_author=2)) == 2
    assert len(select_examples(pool, max_per_author=None)) == 5


def test_invalid_candidates_and_arguments_are_rejected_with_the_value():
    with pytest.raises(ValueError, match="'angry'"):
        cand("1", "x", sentiment="angry")
    with pytest.raises(ValueError, match="1.5"):
        cand("1", "x", conf=1.5)
    with pytest.raises(ValueError, match="limit=0"):
        select_examples([], limit=0)


def test_exports_write_redacted_text_escaped_html_and_formula_safe_csv(tmp_path: Path):
    examples = select_examples([
        cand("1", '=HYPERLINK("http://evil") <script>alert(1)</script> mail me a@b.co'),
        cand("2", "Giao hàng trễ, tên tôi là Nguyễn Văn An", lang="vi"),
    ])
    rows = list(csv.DictReader(export_csv(examples, tmp_path / "ex.csv").open(encoding="utf-8")))
    assert rows[0]["text"].startswith("'=HYPERLINK") and "[EMAIL]" in rows[0]["text"]
    jsonl = [json.loads(line) for line in export_jsonl(examples, tmp_path / "ex.jsonl").read_text("utf-8").splitlines()]
    assert jsonl[1]["text"] == "Giao hàng trễ, tên tôi là [NAME]" and jsonl[1]["language"] == "vi"
    page = export_html(examples, tmp_path / "ex.html", title="<b>x</b>").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "a@b.co" not in page and "Nguyễn" not in page


def _decision(mid, action, *, label=None, minutes=0, reviewer="qa.lead"):
    return ReviewDecision(mid, action, reviewer, T0 + timedelta(minutes=minutes), new_label=label)


def test_training_pack_holds_approved_and_relabelled_examples_per_stage_and_pain_point(tmp_path: Path):
    examples = select_examples([
        cand("1", "Parcel two weeks late"),
        cand("2", "Box arrived crushed", pain="damaged parcel"),
        cand("3", "Chat bot loops forever", stage="support", pain="unresolved contact"),
        cand("4", "fine i guess, parcel came", sentiment="neutral"),
        cand("5", "undecided example text here"),
    ])
    decisions = [
        _decision("1", ReviewAction.APPROVE),
        _decision("2", ReviewAction.REJECT),
        _decision("2", ReviewAction.APPROVE, minutes=5),  # the later decision wins
        _decision("3", ReviewAction.APPROVE),
        _decision("3", ReviewAction.REJECT, minutes=9),
        _decision("4", ReviewAction.RELABEL, label="negative"),
    ]
    report = export_training_pack(examples, decisions, tmp_path / "pack")
    assert sorted(f.name for f in report.files) == ["delivery__damaged-parcel.jsonl",
                                                     "delivery__late-delivery.jsonl"]
    assert (report.examples, report.rejected, report.undecided, report.relabelled) == (3, 1, 1, 1)
    late = [json.loads(line) for line in (tmp_path / "pack" / "delivery__late-delivery.jsonl")
            .read_text(encoding="utf-8").splitlines()]
    assert [(r["mention_id"], r["label"], r["model_label"]) for r in late] == [("1", "negative", "negative"),
                                                                               ("4", "negative", "neutral")]
    manifest = json.loads((tmp_path / "pack" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["examples"] == 3 and len(manifest["files"]) == 2


def test_re_exporting_a_pack_replaces_groups_that_no_longer_have_approved_examples(tmp_path: Path):
    examples = select_examples([cand("1", "Parcel two weeks late"), cand("2", "Box crushed", pain="damaged parcel")])
    export_training_pack(examples, [_decision("1", ReviewAction.APPROVE), _decision("2", ReviewAction.APPROVE)],
                         tmp_path)
    report = export_training_pack(examples, [_decision("1", ReviewAction.APPROVE)], tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == [f.name for f in report.files]
    assert len(report.files) == 1


def test_review_decisions_must_be_consistent():
    with pytest.raises(ValueError, match="relabel needs new_label"):
        _decision("1", ReviewAction.RELABEL)
    with pytest.raises(ValueError, match="only valid with relabel"):
        _decision("1", ReviewAction.APPROVE, label="positive")
    with pytest.raises(ValueError, match="reviewer is empty"):
        _decision("1", ReviewAction.APPROVE, reviewer=" ")
    with pytest.raises(ValueError, match="no matching example"):
        export_training_pack([], [_decision("9", ReviewAction.APPROVE)], Path("/nonexistent"))
