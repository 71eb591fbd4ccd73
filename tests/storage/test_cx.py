"""CX tables and views on both dialects: contact-center hierarchy, coaching library, corrections, cascades."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from journeypulse.errors import StorageError
from journeypulse.privacy import ErasureTarget
from journeypulse.record import Mention
from storage import AlertRow, CoachingExampleRow, CoachingReviewRow, CorrectionRow, JourneyLinkRow, Store

MakeMention = Callable[..., Mention]
DAY = 24 * 60  # minutes
NOW = datetime(2026, 11, 5, tzinfo=UTC)


def _link(stage: str, confidence: float = 0.9) -> JourneyLinkRow:
    return JourneyLinkRow(stage, None, None, None, "keywords", confidence, False)


def _contact(
    make_mention: MakeMention, native_id: str, minutes: int, channel: str, customer: str, interaction: str | None
) -> Mention:
    metadata: dict[str, str] = {"customer_id": customer}
    if interaction is not None:
        metadata["interaction_id"] = interaction
    return make_mention(native_id, f"contact {native_id}", minutes=minutes, channel=channel, metadata=metadata)


def test_contact_center_levels_count_events_actions_interactions_experiences_and_journeys_per_channel(
    store: Store, make_mention: MakeMention
) -> None:
    events = [
        _contact(make_mention, "e1", 0, "chat", "c_1", "i_1"),  # i_1: support, support, delivery -> 2 actions
        _contact(make_mention, "e2", 5, "chat", "c_1", "i_1"),
        _contact(make_mention, "e3", 10, "chat", "c_1", "i_1"),
        _contact(make_mention, "e4", 3 * DAY, "voice", "c_1", "i_2"),  # 3 days later: same experience
        _contact(make_mention, "e5", 20 * DAY, "chat", "c_1", "i_3"),  # 17 days after i_2: a new experience
        _contact(make_mention, "e6", 60, "email", "c_2", None),  # no interaction id: an interaction of its own
        make_mention("social", "a post, not a contact", minutes=1),
    ]
    store.store_batch("cc", "q", events, [], None)
    ids = {m.native_id: m.id for m in events}
    store.save_journey_links(
        "t1",
        {
            ids["e1"]: [_link("support"), _link("delivery", 0.5)],  # highest confidence wins: support
            ids["e2"]: [_link("support")],
            ids["e3"]: [_link("delivery")],
            ids["e4"]: [_link("support")],
            ids["e6"]: [_link("purchase")],
        },
    )
    columns, rows = store.query_view("v_contact_center_levels", filters={}, limit=None)
    levels = {row[1]: dict(zip(columns[2:], row[2:], strict=True)) for row in rows}
    assert levels == {
        "chat": {"journeys": 1, "experiences": 2, "interactions": 2, "actions": 3, "events": 4},
        "email": {"journeys": 1, "experiences": 1, "interactions": 1, "actions": 1, "events": 1},
        "voice": {"journeys": 1, "experiences": 1, "interactions": 1, "actions": 1, "events": 1},
    }
    columns, rows = store.query_view("v_contact_center_events", filters={"since": date(2026, 11, 2)}, limit=None)
    by_mention = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    assert [
        (by_mention[ids[n]]["stage"], by_mention[ids[n]]["action_no"], by_mention[ids[n]]["experience_no"])
        for n in ("e1", "e2", "e3", "e4", "e5")
    ] == [("support", 1, 1), ("support", 1, 1), ("delivery", 2, 1), ("support", 1, 1), ("unlinked", 1, 2)]
    assert by_mention[ids["e6"]]["interaction_id"] == ids["e6"]


def _example(mention_id: str, stage: str = "support") -> CoachingExampleRow:
    return CoachingExampleRow(
        mention_id,
        "[NAME] waited 3 hours",
        "en",
        stage,
        "long_wait",
        "chat",
        "negative",
        0.9,
        "sample",
        "0" * 32,
        1,
        NOW,
        None,
        3.5,
        "pain point long_wait",
        "pain_long_wait",
        "Apologise for the wait.",
        "Sorry you waited so long.",
    )


def test_library_keeps_one_entry_per_mention_and_stage_and_reviews_round_trip_with_their_stage(
    store: Store, make_mention: MakeMention
) -> None:
    first, second = make_mention("1"), make_mention("2", "other text")
    store.store_batch("sample", "q", [first, second], [], None)
    assert store.save_coaching_examples([_example(first.id), _example(second.id)]) == 2
    assert store.save_coaching_examples([_example(first.id, stage="delivery")]) == 1
    assert {(e.mention_id, e.stage) for e in store.coaching_examples()} == {
        (first.id, "delivery"),
        (first.id, "support"),
        (second.id, "support"),
    }
    saved = store.add_coaching_review(CoachingReviewRow(first.id, "approve", "lan", NOW, None, "ok", "support"))
    assert saved.stage == "support"
    store.add_coaching_review(CoachingReviewRow(second.id, "relabel", "som", NOW, "neutral"))
    assert store.coaching_reviews() == [
        CoachingReviewRow(first.id, "approve", "lan", NOW, None, "ok", "support"),
        CoachingReviewRow(second.id, "relabel", "som", NOW, "neutral", "", "support"),
    ]
    assert store.sentiment_corrections() == [CorrectionRow(second.id, "neutral", "coach_review", "som", NOW)]


def test_a_later_pull_under_another_stage_never_moves_an_approved_example(store: Store, make_mention: MakeMention) -> None:
    mention = make_mention("1")
    store.store_batch("sample", "q", [mention], [], None)
    store.save_coaching_examples([_example(mention.id, stage="support")])
    store.add_coaching_review(CoachingReviewRow(mention.id, "approve", "lan", NOW))
    store.save_coaching_examples([_example(mention.id, stage="delivery")])  # pulled again under another stage
    store.save_coaching_examples([_example(mention.id, stage="support")])  # and re-selected under the first
    assert [(e.stage, e.reason) for e in store.coaching_examples()] == [("delivery", "pain point long_wait"),
                                                                         ("support", "pain point long_wait")]
    assert [(r.mention_id, r.stage, r.action) for r in store.coaching_reviews()] == [(mention.id, "support", "approve")]


def test_a_review_must_name_the_stage_when_the_mention_is_in_the_library_under_several(
    store: Store, make_mention: MakeMention
) -> None:
    mention = make_mention("1")
    store.store_batch("sample", "q", [mention], [], None)
    store.save_coaching_examples([_example(mention.id, stage="support"), _example(mention.id, stage="delivery")])
    with pytest.raises(StorageError, match=r"several stages \(delivery, support\); pass --stage"):
        store.add_coaching_review(CoachingReviewRow(mention.id, "approve", "lan", NOW))
    with pytest.raises(StorageError, match=r"under delivery, support, not 'usage'"):
        store.add_coaching_review(CoachingReviewRow(mention.id, "approve", "lan", NOW, stage="usage"))
    store.add_coaching_review(CoachingReviewRow(mention.id, "reject", "lan", NOW, stage="delivery"))
    assert [(r.stage, r.action) for r in store.coaching_reviews()] == [("delivery", "reject")]


@pytest.mark.parametrize(
    ("review", "message"),
    [
        (CoachingReviewRow("f" * 32, "approve", "lan", NOW), "not in the coaching library"),
        (CoachingReviewRow("X", "relabel", "lan", NOW, "angry"), "label 'angry'"),
        (CoachingReviewRow("X", "approve", "lan", NOW, "neutral"), "only valid with relabel"),
        (CoachingReviewRow("X", "skip", "lan", NOW), "action 'skip'"),
        (CoachingReviewRow("X", "approve", " ", NOW), "reviewer is empty"),
    ],
)
def test_bad_reviews_are_refused_with_the_reason(
    store: Store, make_mention: MakeMention, review: CoachingReviewRow, message: str
) -> None:
    mention = make_mention("1")
    store.store_batch("sample", "q", [mention], [], None)
    store.save_coaching_examples([_example(mention.id)])
    if review.mention_id == "X":
        review = CoachingReviewRow(mention.id, review.action, review.reviewer, NOW, review.new_label)
    with pytest.raises(StorageError, match=message):
        store.add_coaching_review(review)
    assert store.coaching_reviews() == [] and store.sentiment_corrections() == []


def test_a_correction_for_an_unknown_mention_is_refused(store: Store) -> None:
    with pytest.raises(StorageError, match="is not stored"):
        store.add_sentiment_correction(CorrectionRow("e" * 32, "positive", "manual", "lan", NOW))


def test_mention_texts_returns_text_and_language_of_stored_ids_only(store: Store, make_mention: MakeMention) -> None:
    from storage.records import LanguageResult

    first, second = make_mention("1", "giao hàng chậm quá"), make_mention("2", "fine")
    store.store_batch("sample", "q", [first, second], [], None)
    store.save_languages([LanguageResult(first.id, "vi", 0.99, "py3langid")])
    assert store.mention_texts([first.id, second.id, "f" * 32]) == {
        first.id: ("giao hàng chậm quá", "vi"), second.id: ("fine", None)}


def test_alerts_are_stored_once_per_key(store: Store) -> None:
    alert = AlertRow("k1", "negative_share_spike", "Acme", "support", date(2026, 11, 2), None, 0.8, 0.2, "spike", NOW)
    assert store.save_alerts([alert]) == ["k1"]
    assert store.save_alerts([alert]) == []
    assert store.mark_alerts_posted(["k1"]) == 1 and store.alerts(unposted_only=True) == []


def test_forgetting_an_author_cascades_to_every_derived_row_and_keeps_other_authors(
    store: Store, make_mention: MakeMention
) -> None:
    gone, kept = make_mention("1", author="a_gone"), make_mention("2", "other words", author="a_kept")
    store.store_batch("sample", "q", [gone, kept], [], None)
    store.save_journey_links("t1", {gone.id: [_link("support")], kept.id: [_link("support")]})
    store.save_coaching_examples([_example(gone.id), _example(kept.id)])
    store.add_coaching_review(CoachingReviewRow(gone.id, "relabel", "lan", NOW, "positive"))
    store.add_sentiment_correction(CorrectionRow(kept.id, "neutral", "manual", "lan", NOW))
    report = store.forget_author("a_gone")
    assert (report.mentions, report.links, report.coaching_examples, report.coaching_reviews, report.corrections) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert [e.mention_id for e in store.coaching_examples()] == [kept.id]
    assert store.coaching_reviews() == []
    assert [c.mention_id for c in store.sentiment_corrections()] == [kept.id]
    assert [row[0] for row in store.query_view("v_current_journey_link", filters={}, limit=None)[1]] == [kept.id]
    assert store.counts()["mentions"] == 1


def test_an_erased_author_is_not_stored_again_by_a_later_pull_and_the_batch_balances(
    store: Store, make_mention: MakeMention
) -> None:
    first = make_mention("1", "first post", author="a_gone")
    store.store_batch("sample", "q", [first], [], None)
    store.forget_author("a_gone")
    # the next run reads the same post again (overlap window) plus a new one by the same person and one by another
    again = [first, make_mention("3", "new post", author="a_gone"), make_mention("4", "other", author="a_kept")]
    report = store.store_batch("sample", "q", again, [], None)
    assert (report.inserted, report.suppressed) == (1, 2)
    assert report.inserted + report.updated + report.unchanged + report.suppressed == len(again)
    assert store.counts()["mentions"] == 1
    # forgetting twice records the pseudonym once
    store.forget_author("a_gone")
    assert store.store_batch("sample", "q", [first], [], None).suppressed == 1


def test_a_contact_center_customer_erased_by_id_is_suppressed_on_later_exports(
    store: Store, make_mention: MakeMention
) -> None:
    store.forget(ErasureTarget(pseudonyms=frozenset({"c_erased"}), raw=frozenset()))
    rows = [_contact(make_mention, "x1", 0, "chat", "c_erased", "i_9"), _contact(make_mention, "x2", 0, "chat", "c_ok", None)]
    report = store.store_batch("export", "q", rows, [], None)
    assert (report.inserted, report.suppressed) == (1, 1)
