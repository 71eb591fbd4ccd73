"""Coaching selection (filters, redaction, near-duplicates, ranking, diversity, suggestions), exports, reviews,
training packs keyed by (mention, stage)."""

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
from journeys.coaching_rank import is_how_to_question
from journeys.playbook import load_playbook

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def cand(mid, text, *, conf=0.9, source="x", lang="en", stage="delivery", pain="late delivery",
         sentiment="negative", author=None, channel="social", exit=None):
    return CoachingCandidate(mid, text, lang, stage, pain, channel, sentiment, conf, source, content_hash(text),
                             author or f"a_{mid}", exit)


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


def test_exit_signals_and_pain_points_outrank_neutral_how_to_questions_whatever_their_confidence():
    pool = [
        cand("howto", "How do I change the delivery address in the app?", sentiment="neutral", pain=None, conf=0.99),
        cand("pain", "Parcel is a week late and the courier keeps saying tomorrow", pain="late_delivery", conf=0.7),
        cand("exit", "Cancelling my plan today, three failed deliveries in a row", pain=None, exit="cancellation",
             stage="exit", conf=0.8),
        cand("praise", "The agent sorted my refund in five minutes, really kind", stage="support", pain=None,
             sentiment="positive", conf=0.8),
    ]
    chosen = select_examples(pool)
    assert [e.mention_id for e in chosen] == ["exit", "pain", "praise", "howto"]
    reasons = {e.mention_id: e.reason for e in chosen}
    assert reasons["exit"].startswith("exit signal cancellation; clear negative situation (0.80)")
    assert "agent interaction" in reasons["praise"] and "new stage" in reasons["praise"]
    assert reasons["howto"].startswith("neutral how-to question")


def test_one_busy_stage_language_and_channel_cannot_fill_the_list():
    busy = [cand(f"d{i}", f"late parcel story {i}: the courier never came " + "zxcvbnmasdf"[i:] * 3,
                 pain="late_delivery", conf=0.95) for i in range(6)]
    other = [cand("th", "แอปเด้งทุกครั้งที่จ่ายเงิน พนักงานบอกให้รอ ผ่านมาสามวันแล้ว", lang="th", stage="usage",
                  pain="app_crash", channel="app_review", conf=0.7),
             cand("es", "El cajero me cobró dos veces y nadie me devuelve el dinero", lang="es", stage="purchase",
                  pain="payment_failed", channel="chat", conf=0.65)]
    chosen = [e.mention_id for e in select_examples(busy + other, limit=4)]
    assert chosen[:3] == ["d0", "th", "es"]


def test_each_example_carries_the_playbook_suggestion_in_its_language():
    playbook = load_playbook()
    [example] = select_examples([cand("1", "Hủy gói ngay, chuyển sang nhà mạng khác", lang="vi", stage="exit",
                                      pain=None, exit="switch_to_competitor")], playbook=playbook)
    expected = playbook.suggest("exit", None, "switch_to_competitor")
    assert example.playbook_rule == "exit_switch_to_competitor"
    assert example.suggested_action == expected.action
    assert example.suggested_reply == expected.reply("vi")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How do I top up my wallet?", True),
        ("làm sao để đổi mật khẩu", True),
        ("¿Cómo cambio mi plan?", True),
        ("วิธีเปลี่ยนเบอร์โทร", True),
        ("The courier threw my parcel over the fence and left", False),
    ],
)
def test_how_to_questions_are_recognised_in_several_languages(text, expected):
    assert is_how_to_question(text) is expected


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
    rows = {r["mention_id"]: r for r in csv.DictReader(export_csv(examples, tmp_path / "ex.csv").open(encoding="utf-8"))}
    assert rows["1"]["text"].startswith("'=HYPERLINK") and "[EMAIL]" in rows["1"]["text"]
    assert rows["1"]["reason"] and rows["1"]["suggested_action"]
    jsonl = {r["mention_id"]: r for r in
             map(json.loads, export_jsonl(examples, tmp_path / "ex.jsonl").read_text("utf-8").splitlines())}
    assert jsonl["2"]["text"] == "Giao hàng trễ, tên tôi là [NAME]" and jsonl["2"]["language"] == "vi"
    page = export_html(examples, tmp_path / "ex.html", title="<b>x</b>").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "a@b.co" not in page and "Nguyễn" not in page


def _decision(mid, action, *, label=None, minutes=0, reviewer="qa.lead", stage="delivery"):
    return ReviewDecision(mid, stage, action, reviewer, T0 + timedelta(minutes=minutes), new_label=label)


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
        _decision("3", ReviewAction.APPROVE, stage="support"),
        _decision("3", ReviewAction.REJECT, minutes=9, stage="support"),
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


def test_an_approval_stays_with_the_stage_it_was_made_under_when_the_mention_is_pulled_under_another(
        tmp_path: Path):
    text = "Courier was rude and the parcel is a week late"
    under_delivery = select_examples([cand("1", text, stage="delivery", pain="rude_agent")])
    under_support = select_examples([cand("1", text, stage="support", pain="rude_agent")])
    report = export_training_pack(under_delivery + under_support, [_decision("1", ReviewAction.APPROVE)], tmp_path)
    assert [f.name for f in report.files] == ["delivery__rude_agent.jsonl"]
    assert (report.examples, report.undecided) == (1, 1)
    [row] = [json.loads(line) for line in report.files[0].read_text(encoding="utf-8").splitlines()]
    assert row["stage"] == "delivery" and row["suggested_action"] == under_delivery[0].suggested_action
    assert row["reason"] == under_delivery[0].reason
    with pytest.raises(ValueError, match="under stage 'usage' has no matching example"):
        export_training_pack(under_delivery, [_decision("1", ReviewAction.APPROVE, stage="usage")], tmp_path)
