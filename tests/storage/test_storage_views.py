"""Analyst views and summaries on a small hand-built data set; same columns and numbers on both dialects.

Data (brand Acme unless noted; day is the UTC day):
  m1 sample/vi  negative (older r0 result positive)  links delivery+late_delivery, support+slow_response
  m2 sample/vi  positive  links delivery+late_delivery (an older taxonomy v0 linked it to awareness)
  m3 sample/th  negative  links exit+price_increase with exit signal 'cancel' (22:00 UTC, 05:00 next day +07)
  m4 appstore/en neutral  no links
  m5 sample/vi  not scored  links delivery+late_delivery
  m6 appstore/vi negative  day 2026-11-03, same text and author as m1  links delivery+late_delivery
  m7 Beta sample/en positive  no links
  m8 sample, same text as m2 (same source: not a cross-source duplicate), no language
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from journeypulse.errors import StorageError
from journeypulse.record import Mention
from storage import VIEW_COLUMNS, FactQuery, JourneyLinkRow, LanguageResult, SentimentResult, StageSummary, Store
from storage.facts import METRICS

MakeMention = Callable[..., Mention]
DAY1, DAY2 = date(2026, 11, 2), date(2026, 11, 3)
LATE = "Giao hàng chậm quá, đợi 5 ngày rồi"


def _score(mention_id: str, label: str, revision: str = "r1") -> SentimentResult:
    probs = {"negative": (0.8, 0.1, 0.1), "neutral": (0.1, 0.8, 0.1), "positive": (0.1, 0.1, 0.8)}[label]
    return SentimentResult(
        mention_id, "e5", revision, "torch", label, *probs, 0.8, False, datetime(2026, 11, 4, tzinfo=UTC)
    )


def _link(stage: str, pain: str | None = None, exit_signal: str | None = None) -> JourneyLinkRow:
    return JourneyLinkRow(stage, "app" if stage == "support" else None, pain, exit_signal, "keywords", 0.9, False)


@pytest.fixture
def data(store: Store, make_mention: MakeMention) -> dict[str, Mention]:
    late_night = datetime(2026, 11, 3, 5, 0, tzinfo=timezone(timedelta(hours=7)))
    m = {
        "m1": make_mention("1", LATE, author="p_1"),
        "m2": make_mention("2", "Acme giao nhanh, rất hài lòng", minutes=5),
        "m3": make_mention("3", "จะยกเลิกแล้ว ขึ้นราคาอีกแล้ว").model_copy(update={"created_at": late_night}),
        "m4": make_mention("4", "The app is fine I guess", source="appstore", channel="review", minutes=10),
        "m5": make_mention("5", "Vẫn chưa nhận được hàng", minutes=15),
        "m6": make_mention("6", LATE, source="appstore", channel="review", author="p_1", minutes=24 * 60 + 30),
        "m7": make_mention("7", "Beta is great", brand="Beta", minutes=20),
        "m8": make_mention("8", "Acme giao nhanh, rất hài lòng", minutes=25),
    }
    store.store_batch("sample", "q", list(m.values()), [], None)
    lang = {"m1": "vi", "m2": "vi", "m3": "th", "m4": "en", "m5": "vi", "m6": "vi", "m7": "en"}
    store.save_languages([LanguageResult(m[k].id, v, 0.95, "py3langid") for k, v in lang.items()])
    store.save_sentiments([_score(m["m1"].id, "positive", revision="r0")])
    labels = {"m1": "negative", "m2": "positive", "m3": "negative", "m4": "neutral", "m6": "negative", "m7": "positive"}
    store.save_sentiments([_score(m[k].id, v) for k, v in labels.items()])
    store.save_journey_links("v0", {m["m2"].id: [_link("awareness")]})
    store.save_journey_links(
        "v1",
        {
            m["m1"].id: [_link("delivery", "late_delivery"), _link("support", "slow_response")],
            m["m2"].id: [_link("delivery", "late_delivery")],
            m["m3"].id: [_link("exit", "price_increase", "cancel")],
            m["m4"].id: [],
            m["m5"].id: [_link("delivery", "late_delivery")],
            m["m6"].id: [_link("delivery", "late_delivery")],
        },
    )
    return m


def _rows(store: Store, view: str, **filters: object) -> list[dict[str, object]]:
    columns, rows = store.query_view(view, filters=filters, limit=None)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_each_view_has_the_documented_columns_in_order(store: Store) -> None:
    for view, columns in VIEW_COLUMNS.items():
        assert store.view_columns(view) == list(columns), view
        assert store.query_view(view, filters={}, limit=1) == (list(columns), []), view


def test_daily_sentiment_counts_current_results_per_day_stage_and_language(
    store: Store, data: dict[str, Mention]
) -> None:
    got = [
        (
            r["day"],
            r["brand"],
            r["source"],
            r["channel"],
            r["language"],
            r["stage"],
            r["mentions"],
            r["positive"],
            r["neutral"],
            r["negative"],
            r["positive_share"],
            r["neutral_share"],
            r["negative_share"],
            r["net_sentiment"],
        )
        for r in _rows(store, "v_daily_sentiment")
    ]
    assert got == [
        (DAY1, "Acme", "appstore", "review", "en", "unlinked", 1, 0, 1, 0, 0.0, 1.0, 0.0, 0.0),
        (DAY1, "Acme", "sample", "social", "th", "exit", 1, 0, 0, 1, 0.0, 0.0, 1.0, -1.0),
        (DAY1, "Acme", "sample", "social", "vi", "delivery", 2, 1, 0, 1, 0.5, 0.0, 0.5, 0.0),
        (DAY1, "Acme", "sample", "social", "vi", "support", 1, 0, 0, 1, 0.0, 0.0, 1.0, -1.0),
        (DAY1, "Beta", "sample", "social", "en", "unlinked", 1, 1, 0, 0, 1.0, 0.0, 0.0, 1.0),
        (DAY2, "Acme", "appstore", "review", "vi", "delivery", 1, 0, 0, 1, 0.0, 0.0, 1.0, -1.0),
    ]


def test_stage_pain_points_count_mentions_scored_negatives_and_distinct_authors(
    store: Store, data: dict[str, Mention]
) -> None:
    got = {(r["stage"], r["pain_point"]): r for r in _rows(store, "v_stage_pain_points", brand="Acme")}
    assert set(got) == {("delivery", "late_delivery"), ("support", "slow_response"), ("exit", "price_increase")}
    late = got["delivery", "late_delivery"]
    assert (late["mentions"], late["scored"], late["authors"]) == (4, 3, 3)
    assert late["negative_share"] == pytest.approx(2 / 3)
    assert (late["first_seen"], late["last_seen"]) == (data["m1"].created_at, data["m6"].created_at)
    assert (got["exit", "price_increase"]["mentions"], got["exit", "price_increase"]["negative_share"]) == (1, 1.0)


def test_exit_signals_list_current_links_with_a_signal(store: Store, data: dict[str, Mention]) -> None:
    (row,) = _rows(store, "v_exit_signals")
    assert (row["mention_id"], row["stage"], row["exit_signal"], row["label"], row["day"], row["language"]) == (
        data["m3"].id,
        "exit",
        "cancel",
        "negative",
        DAY1,
        "th",
    )
    assert row["created_at"] == datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
    assert row["text"] == data["m3"].text and row["link_needs_review"] is False


def test_content_duplicates_list_text_shared_across_sources_only(store: Store, data: dict[str, Mention]) -> None:
    rows = _rows(store, "v_content_duplicates")
    assert [(r["mention_id"], r["source"], r["mentions"], r["sources"], r["day"]) for r in rows] == [
        (data["m1"].id, "sample", 2, 2, DAY1),
        (data["m6"].id, "appstore", 2, 2, DAY2),
    ]


def test_mention_sentiment_shows_every_mention_with_its_current_result(store: Store, data: dict[str, Mention]) -> None:
    rows = {r["mention_id"]: r for r in _rows(store, "v_mention_sentiment")}
    assert len(rows) == 8
    m1 = rows[data["m1"].id]
    assert (m1["label"], m1["revision"], m1["language"], m1["day"]) == ("negative", "r1", "vi", DAY1)
    assert m1["p_negative"] == pytest.approx(0.8) and m1["needs_review"] is False
    assert rows[data["m5"].id]["label"] is None and rows[data["m8"].id]["language"] is None


def test_query_view_filters_by_brand_source_language_stage_and_inclusive_day_range(
    store: Store, data: dict[str, Mention]
) -> None:
    assert [r["stage"] for r in _rows(store, "v_daily_sentiment", brand="Acme", language="vi")] == [
        "delivery",
        "support",
        "delivery",
    ]
    assert [r["day"] for r in _rows(store, "v_daily_sentiment", source="appstore", since="2026-11-03", until=DAY2)] == [
        DAY2
    ]
    assert [r["stage"] for r in _rows(store, "v_daily_sentiment", stage="exit")] == ["exit"]
    assert len(store.query_view("v_mention_sentiment", filters={}, limit=3)[1]) == 3


def test_stage_summary_reports_shares_net_sentiment_and_top_pain_points(store: Store, data: dict[str, Mention]) -> None:
    assert store.stage_summary() == [
        StageSummary("delivery", 3, 1, 0, 2, 1 / 3, 0.0, 2 / 3, -1 / 3, (("late_delivery", 3),)),
        StageSummary("unlinked", 2, 1, 1, 0, 0.5, 0.5, 0.0, 0.5, ()),
        StageSummary("exit", 1, 0, 0, 1, 0.0, 0.0, 1.0, -1.0, (("price_increase", 1),)),
        StageSummary("support", 1, 0, 0, 1, 0.0, 0.0, 1.0, -1.0, (("slow_response", 1),)),
    ]
    day2 = datetime(2026, 11, 3, tzinfo=UTC)
    assert [(s.stage, s.mentions) for s in store.stage_summary(brand="Acme", since=day2)] == [("delivery", 1)]
    assert [(s.stage, s.mentions) for s in store.stage_summary(brand="Beta", until=day2)] == [("unlinked", 1)]


def test_linked_mentions_return_current_links_with_sentiment_paged_by_mention(
    store: Store, data: dict[str, Mention]
) -> None:
    rows = store.linked_mentions(brand="Acme")
    by_mention = {key: [r for r in rows if r.mention_id == data[key].id] for key in data}
    assert {k: len(v) for k, v in by_mention.items() if v} == {"m1": 2, "m2": 1, "m3": 1, "m5": 1, "m6": 1}
    assert [(r.stage, r.pain_point, r.label) for r in by_mention["m1"]] == [
        ("delivery", "late_delivery", "negative"),
        ("support", "slow_response", "negative"),
    ]
    assert by_mention["m5"][0].label is None and by_mention["m3"][0].exit_signal == "cancel"
    assert by_mention["m1"][0].author == "p_1" and by_mention["m1"][0].created_at.tzinfo is not None
    first = store.linked_mentions(brand="Acme", limit=2)
    rest = store.linked_mentions(brand="Acme", after_id=first[-1].mention_id)
    assert len({r.mention_id for r in first}) == 2 and first + rest == rows
    day2 = datetime(2026, 11, 3, tzinfo=UTC)
    assert [r.mention_id for r in store.linked_mentions(since=day2)] == [data["m6"].id]


def test_refreshing_summaries_rewrites_the_stored_copy_of_daily_sentiment(
    store: Store, data: dict[str, Mention]
) -> None:
    assert store.refresh_summaries() == 6
    store.save_sentiments([_score(data["m5"].id, "neutral")])  # m5 (vi, delivery, day 1) is now scored
    assert store.refresh_summaries() == 6  # rewritten, not appended
    live = _rows(store, "v_daily_sentiment")
    stored = _rows(store, "summary_daily_sentiment")
    assert [{k: v for k, v in r.items() if k not in ("id", "refreshed_at")} for r in stored] == live
    assert live[2]["mentions"] == 3 and stored[0]["refreshed_at"].tzinfo is not None


def test_counts_report_each_stage_of_processing(store: Store, data: dict[str, Mention]) -> None:
    assert store.counts() == {"mentions": 8, "quarantined": 0, "with_language": 7, "with_sentiment": 6, "linked": 6}


REJECTED: list[tuple[str, dict[str, object], str]] = [
    ("mention; DROP TABLE mention", {}, "is not queryable"),
    ("mention", {}, "is not queryable"),
    ("v_daily_sentiment", {"brand = 'x' OR 1=1 --": "x"}, "is not available on view"),
    ("v_daily_sentiment", {"text": "x"}, "is not available on view"),
    ("v_stage_pain_points", {"since": "2026-11-01"}, "use one of: brand, stage"),
    ("v_daily_sentiment", {"since": "yesterday"}, "is not a day"),
    ("v_daily_sentiment", {"brand": 3}, "must be a string"),
]


def test_query_view_rejects_view_and_filter_names_outside_the_whitelist(store: Store) -> None:
    for view, filters, message in REJECTED:
        with pytest.raises(StorageError, match=message):
            store.query_view(view, filters=filters, limit=None)
    with pytest.raises(StorageError, match="is not queryable"):
        store.view_columns("sqlite_master")
    with pytest.raises(StorageError, match="limit must be a positive number"):
        store.query_view("v_daily_sentiment", filters={}, limit=0)
    assert store.counts()["mentions"] == 0


def _facts(store: Store, **where: list[str]) -> dict[tuple[str, str], dict[str, object]]:
    columns, rows = store.query_view("v_journey_facts", filters={}, limit=None, where=where)
    return {(str(r["mention_id"]), str(r["stage"])): r for r in (dict(zip(columns, row, strict=True)) for row in rows)}


def test_journey_facts_have_one_row_per_mention_and_stage_with_unlinked_mentions_under_unlinked(
    store: Store, data: dict[str, Mention]
) -> None:
    facts = _facts(store)
    ids = {k: m.id for k, m in data.items()}
    assert set(facts) == {
        (ids["m1"], "delivery"), (ids["m1"], "support"), (ids["m2"], "delivery"), (ids["m3"], "exit"),
        (ids["m4"], "unlinked"), (ids["m5"], "delivery"), (ids["m6"], "delivery"), (ids["m7"], "unlinked"),
        (ids["m8"], "unlinked"),
    }
    m1 = facts[(ids["m1"], "delivery")]
    assert (m1["brand"], m1["language"], m1["channel"], m1["source"], m1["day"]) == ("Acme", "vi", "social", "sample", DAY1)
    assert (m1["sentiment"], m1["pain_point"], m1["pain_points"], m1["exit_signal"], m1["exit_type"]) == (
        "negative", "late_delivery", 1, 0, None)
    # equal confidence: the first stage by name is the primary one; flags are 0/1 on both databases
    assert (m1["is_primary"], facts[(ids["m1"], "support")]["is_primary"]) == (1, 0)
    m3 = facts[(ids["m3"], "exit")]
    assert (m3["exit_signal"], m3["exit_type"], m3["exit_reason"], m3["day"]) == (1, "cancel", "price_increase", DAY1)
    m8 = facts[(ids["m8"], "unlinked")]
    assert (m8["sentiment"], m8["is_primary"], m8["pain_points"], m8["exit_signal"]) == (None, 1, 0, 0)
    assert set(_facts(store, lang=["th", "en"], exit_signal=["1"])) == {(ids["m3"], "exit")}


def test_an_exit_row_takes_its_reason_from_the_mentions_pain_point_at_another_stage(
    store: Store, make_mention: MakeMention
) -> None:
    mention = make_mention("9", "Where is my refund?? I want my money back")
    store.store_batch("sample", "q", [mention], [], None)
    store.save_journey_links("v1", {mention.id: [
        JourneyLinkRow("support", None, "refund_delay", None, "rules", 0.7, False),
        JourneyLinkRow("exit", None, None, "refund_request", "rules", 0.85, True),
    ]})
    facts = _facts(store)
    exit_row, support_row = facts[(mention.id, "exit")], facts[(mention.id, "support")]
    assert (exit_row["exit_type"], exit_row["exit_reason"], exit_row["pain_point"]) == (
        "refund_request", "refund_delay", None)
    assert (exit_row["is_primary"], exit_row["needs_review"], exit_row["question"]) == (1, 1, 1)
    assert (support_row["exit_reason"], support_row["is_primary"], support_row["needs_review"]) == (None, 0, 0)


def _aggregate(store: Store, **fields: object) -> list[dict[str, object]]:
    columns, rows = store.aggregate_facts(FactQuery(**fields))  # type: ignore[arg-type]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_aggregating_facts_by_stage_counts_distinct_mentions_and_shares_of_scored_ones(
    store: Store, data: dict[str, Mention]
) -> None:
    rows = {r["stage"]: r for r in _aggregate(store, by=["stage"], where={"brand": ["Acme"]},
                                              metrics=[*METRICS])}
    assert list(rows) == ["delivery", "exit", "support", "unlinked"]
    delivery = rows["delivery"]  # m1 m2 m5 m6; m5 is not scored
    assert (delivery["mentions"], delivery["scored"], delivery["negative"], delivery["positive"]) == (4, 3, 2, 1)
    assert delivery["negative_share"] == pytest.approx(0.667) and delivery["net_sentiment"] == pytest.approx(-0.333)
    assert (delivery["pain_points"], delivery["top_pain_points"], delivery["top_exit_types"]) == (
        4, "late_delivery (4)", "")
    assert (rows["exit"]["exit_signals"], rows["exit"]["top_exit_types"], rows["exit"]["top_exit_reasons"]) == (
        1, "cancel (1)", "price_increase (1)")
    assert rows["unlinked"]["mentions"] == 2 and rows["unlinked"]["negative_share"] == 0.0  # m4 neutral, m8 unscored


def test_aggregating_facts_filters_by_language_and_day_sorts_and_groups_by_week_and_month(
    store: Store, data: dict[str, Mention]
) -> None:
    assert _aggregate(store, by=["lang"], metrics=["mentions"], where={"lang": ["vi"]}) == [
        {"language": "vi", "mentions": 4}]
    assert _aggregate(store, by=[], metrics=["mentions"], since=DAY2, until=DAY2) == [{"mentions": 1}]
    assert _aggregate(store, by=["week", "month"], metrics=["mentions", "exit_signals"]) == [
        {"week": "2026-11-02", "month": "2026-11", "mentions": 8, "exit_signals": 1}]
    by_pain = _aggregate(store, by=["channel"], metrics=["pain_points"], sort="pain_points", limit=1)
    assert by_pain == [{"channel": "social", "pain_points": 4}]  # m1 m2 m3 m5 (m6 is a review)
    assert _aggregate(store, by=["stage"], metrics=["mentions"], where={"stage": ["nowhere"]}) == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"by": ["text"]}, "cannot group by text"),
    ({"by": ["brand; DROP TABLE mention"]}, "cannot group by"),
    ({"by": ["stage"], "metrics": ["mentions", "avg(confidence)"]}, "unknown metric"),
    ({"by": ["stage"], "sort": "top_pain_points"}, "sort by one of"),
    ({"by": ["stage"], "where": {"1=1 OR brand": ["x"]}}, "is not available on view v_journey_facts"),
    ({"by": ["stage"], "where": {"exit_signal": ["yes please"]}}, "is a whole number"),
])
def test_aggregating_facts_rejects_names_outside_the_whitelists(store: Store, fields: dict[str, object],
                                                                message: str) -> None:
    with pytest.raises(StorageError, match=message):
        store.aggregate_facts(FactQuery(**fields))  # type: ignore[arg-type]
