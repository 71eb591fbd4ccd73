"""Language, sentiment and journey-link annotations: work queues, current results, atomic replacement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from journeypulse.errors import StorageError
from journeypulse.record import Mention
from storage import JourneyLinkRow, LanguageResult, SentimentResult, Store

MakeMention = Callable[..., Mention]
AT = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)


def _score(mention_id: str, label: str = "negative", *, model: str = "e5", revision: str = "r1") -> SentimentResult:
    probs = {"negative": (0.7, 0.2, 0.1), "neutral": (0.2, 0.6, 0.2), "positive": (0.1, 0.2, 0.7)}[label]
    return SentimentResult(mention_id, model, revision, "torch", label, *probs, max(probs), False, AT)


def _link(stage: str, pain_point: str | None = None, exit_signal: str | None = None) -> JourneyLinkRow:
    return JourneyLinkRow(stage, None, pain_point, exit_signal, "keywords", 0.8, False)


def _rows(store: Store, view: str) -> list[dict[str, object]]:
    columns, rows = store.query_view(view, filters={}, limit=None)
    return [dict(zip(columns, row, strict=True)) for row in rows]


@pytest.fixture
def three(store: Store, make_mention: MakeMention) -> list[Mention]:
    mentions = [make_mention(str(i), f"text {i}", minutes=i) for i in range(3)]
    store.store_batch("sample", "q", mentions, [], None)
    return sorted(mentions, key=lambda m: m.id)


def test_mentions_without_language_are_listed_by_id_until_a_language_is_saved(
    store: Store, three: list[Mention]
) -> None:
    listed = store.mentions_without_language(10)
    assert [m.id for m in listed] == [m.id for m in three]
    assert listed[0].created_at.tzinfo is not None and listed[0].source_kind == "file"
    saved = store.save_languages(
        [LanguageResult(three[0].id, "vi", 0.97, "py3langid"), LanguageResult("f" * 32, "th", 0.9, "py3langid")]
    )  # unknown id: not counted
    assert saved == 1
    assert [m.id for m in store.mentions_without_language(10)] == [m.id for m in three[1:]]


def test_sentiment_queue_needs_a_language_and_pages_by_id(store: Store, three: list[Mention]) -> None:
    assert store.mentions_without_sentiment("e5", "r1", 10) == []
    store.save_languages(
        [LanguageResult(m.id, lang, 0.9, "py3langid") for m, lang in zip(three, ["vi", "th", "en"], strict=True)]
    )
    page1 = store.mentions_without_sentiment("e5", "r1", 2)
    page2 = store.mentions_without_sentiment("e5", "r1", 2, after_id=page1[-1].id)
    assert [m.id for m in page1 + page2] == [m.id for m in three]
    assert [m.language for m in store.mentions_without_sentiment("e5", "r1", 10, languages=["th", "vi"])] == [
        "vi",
        "th",
    ]


def test_sentiment_and_link_queues_filter_by_brand_and_half_open_time_window(
    store: Store, make_mention: MakeMention
) -> None:
    mentions = [
        make_mention("a", minutes=0),
        make_mention("b", minutes=60),
        make_mention("c", minutes=120),
        make_mention("d", minutes=60, brand="Beta"),
    ]
    store.store_batch("sample", "q", mentions, [], None)
    store.save_languages([LanguageResult(m.id, "vi", 0.9, "py3langid") for m in mentions])
    start = mentions[0].created_at + timedelta(minutes=60)
    window = {"brand": "Acme", "since": start, "until": start + timedelta(minutes=60)}
    assert [m.id for m in store.mentions_without_sentiment("e5", "r1", 10, **window)] == [mentions[1].id]
    assert [m.id for m in store.mentions_without_links("v1", 10, **window)] == [mentions[1].id]


def test_saving_a_new_model_revision_keeps_the_old_result_but_makes_the_new_one_current(
    store: Store, three: list[Mention]
) -> None:
    target = three[0].id
    store.save_languages([LanguageResult(target, "vi", 0.9, "py3langid")])
    assert store.save_sentiments([_score(target, "negative")]) == 1
    assert store.save_sentiments([_score(target, "positive", revision="r2")]) == 1
    (current,) = [r for r in _rows(store, "v_mention_sentiment") if r["mention_id"] == target]
    assert (current["label"], current["revision"], current["model"]) == ("positive", "r2", "e5")
    assert store.counts()["with_sentiment"] == 1
    assert store.mentions_without_sentiment("e5", "r1", 10) == []  # the old revision's result still exists
    store.save_sentiments([_score(target, "neutral")])  # re-scoring r1 makes r1 current again, upserted in place
    assert [(r["label"], r["revision"]) for r in _rows(store, "v_mention_sentiment") if r["label"]] == [
        ("neutral", "r1")
    ]


INVALID_SENTIMENT: list[tuple[dict[str, object], str]] = [
    ({"label": "pos"}, "label 'pos' is not one of"),
    ({"p_negative": 1.5}, "p_negative is 1.5"),
    ({"p_negative": 0.5}, "probabilities sum to 0.8000"),
    ({"revision": ""}, "must be non-empty"),
    ({"classified_at": datetime(2026, 11, 4)}, "classified_at is naive"),
]


def test_invalid_sentiment_is_refused_with_a_message_naming_the_value(store: Store, three: list[Mention]) -> None:
    for change, message in INVALID_SENTIMENT:
        bad = SentimentResult(**{**_score(three[0].id).__dict__, **change})
        with pytest.raises(StorageError, match=message):
            store.save_sentiments([_score(three[1].id), bad])
    assert store.counts()["with_sentiment"] == 0


def test_sentiment_for_an_unknown_mention_is_refused_and_nothing_is_written(store: Store, three: list[Mention]) -> None:
    with pytest.raises(StorageError, match="refused by the database"):
        store.save_sentiments([_score(three[0].id), _score("0" * 32)])
    assert store.counts()["with_sentiment"] == 0


def test_saving_links_replaces_that_versions_links_and_marks_mentions_linked_even_with_none(
    store: Store, three: list[Mention]
) -> None:
    a, b, _ = three
    written = store.save_journey_links("v1", {a.id: [_link("delivery", "late_delivery"), _link("support")], b.id: []})
    assert written == 2
    assert [m.id for m in store.mentions_without_links("v1", 10)] == [three[2].id]
    store.save_journey_links("v1", {a.id: [_link("purchase", "payment_failed")]})
    rows = _rows(store, "v_current_journey_link")
    assert [(r["mention_id"], r["stage"], r["pain_point"]) for r in rows] == [(a.id, "purchase", "payment_failed")]
    assert store.counts()["linked"] == 2


def test_linking_under_a_new_taxonomy_version_makes_it_current_and_reset_relinks(
    store: Store, three: list[Mention]
) -> None:
    a = three[0]
    store.save_journey_links("v1", {a.id: [_link("delivery")]})
    store.save_journey_links("v2", {a.id: [_link("usage")]})
    assert [(r["taxonomy_version"], r["stage"]) for r in _rows(store, "v_current_journey_link")] == [("v2", "usage")]
    assert store.counts()["linked"] == 1
    assert store.reset_links("v2") == 1
    assert a.id in [m.id for m in store.mentions_without_links("v2", 10)]
    assert a.id not in [m.id for m in store.mentions_without_links("v1", 10)]


def test_reset_of_a_period_relinks_only_mentions_created_in_it(store: Store, three: list[Mention]) -> None:
    store.save_journey_links("v1", {m.id: [_link("support")] for m in three})
    by_time = sorted(three, key=lambda m: m.created_at)
    since = by_time[1].created_at
    assert store.reset_links("v1", since=since, until=since + timedelta(minutes=1)) == 1
    assert [m.id for m in store.mentions_without_links("v1", 10)] == [by_time[1].id]
    assert len(_rows(store, "v_current_journey_link")) == 2


def test_links_for_an_unknown_mention_roll_back_the_whole_call(store: Store, three: list[Mention]) -> None:
    with pytest.raises(StorageError):
        store.save_journey_links("v1", {three[0].id: [_link("delivery")], "0" * 32: [_link("usage")]})
    assert store.counts()["linked"] == 0
    assert len(store.mentions_without_links("v1", 10)) == 3


def test_work_queue_limit_must_be_positive(store: Store) -> None:
    with pytest.raises(StorageError, match="limit must be a positive number"):
        store.mentions_without_language(0)
