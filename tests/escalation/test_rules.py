"""Escalation rules on plain candidates: conditions, volume spikes, quiet hours and idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalation.rules import Candidate, LinkFacts, idempotency_key, in_quiet_hours, match, volume_groups
from journeypulse.config import EscalationRuleConfig, QuietHoursConfig

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def rule(**conditions: Any) -> EscalationRuleConfig:
    return EscalationRuleConfig.model_validate({"id": "r", "destinations": ["hook"], **conditions})


def cand(mention_id: str = "m1", *, links: tuple[LinkFacts, ...] = (), minutes: int = 0, **fields: Any) -> Candidate:
    values: dict[str, Any] = {"brand": "Sorami", "source": "sample", "channel": "x", "language": "en",
                              "text": "t", "url": None, "sentiment": "negative", "sentiment_confidence": 0.8,
                              "question": None, "metadata": {}}
    values.update(fields)
    at = T0 + timedelta(minutes=minutes)
    return Candidate(mention_id=mention_id, published_at=at, enriched_at=at, pulled_at=at, links=links, **values)


EXIT = LinkFacts("exit", None, "cancellation", 0.9)
PAYMENT = LinkFacts("purchase", "payment_failed", None, 0.7)


def test_a_rule_without_conditions_matches_every_candidate_and_keeps_its_most_confident_link() -> None:
    hit = match(rule(), cand(links=(PAYMENT, EXIT)))
    assert hit is not None and hit.link == EXIT


@pytest.mark.parametrize(("conditions", "expected"), [
    ({"brands": ["Sorami"]}, True), ({"brands": ["Other"]}, False),
    ({"sources": ["sample"], "channels": ["x"], "languages": ["en", "vi"]}, True), ({"channels": ["reddit"]}, False),
    ({"stages": ["exit"]}, True), ({"stages": ["support"]}, False),
    ({"exit_signal": True}, True), ({"exit_signal": False}, False), ({"exit_types": ["refund_request"]}, False),
    ({"pain_points": ["payment_failed"]}, True), ({"pain_points": ["payment_failed"], "stages": ["exit"]}, False),
    ({"sentiment": ["negative"], "min_confidence": 0.8}, True), ({"min_confidence": 0.81}, False),
    ({"max_confidence": 0.5}, False), ({"min_link_confidence": 0.95}, False),
])
def test_each_condition_holds_or_fails_on_the_candidate(conditions: dict[str, Any], expected: bool) -> None:
    assert (match(rule(**conditions), cand(links=(PAYMENT, EXIT))) is not None) is expected


def test_journey_conditions_must_hold_on_one_link_together() -> None:
    # payment_failed is on the purchase link, the exit type on the exit link: no single link has both
    assert match(rule(pain_points=["payment_failed"], exit_signal=True), cand(links=(PAYMENT, EXIT))) is None
    hit = match(rule(exit_types=["cancellation"]), cand(links=(PAYMENT, EXIT)))
    assert hit is not None and hit.link == EXIT


def test_question_matches_only_the_heads_answer_and_unknown_never_matches() -> None:
    assert match(rule(question=True), cand(question=True)) is not None
    assert match(rule(question=True), cand(question=None)) is None
    assert match(rule(question=False), cand(question=False)) is not None


def test_engagement_reads_each_sources_metadata_key_and_unknown_counts_follow_the_rule() -> None:
    likes = rule(min_engagement={"likes": 10})
    assert match(likes, cand(metadata={"likeCount": 12})) is not None  # bluesky
    assert match(likes, cand(metadata={"favourites_count": 9})) is None  # mastodon
    assert match(likes, cand(metadata={"score": 40})) is not None  # reddit
    assert match(likes, cand(metadata={"like_count": 3, "retweet_count": 50})) is None  # x: likes, not reposts
    assert match(rule(min_engagement={"reposts": 20}), cand(metadata={"retweet_count": 50})) is not None  # x
    assert match(likes, cand(metadata={})) is not None  # the source reports none: undecided -> match
    assert match(rule(min_engagement={"likes": 10}, unknown_engagement="skip"), cand(metadata={})) is None
    assert match(rule(min_engagement={"replies": 1}), cand(metadata={"num_comments": 0})) is None


def test_a_spike_makes_one_group_and_its_later_mentions_are_absorbed() -> None:
    spike = rule(pain_points=["payment_failed"], volume={"min_mentions": 3, "window": "30m"})
    hits = [m for i, minutes in enumerate([0, 5, 10, 12, 20, 200, 205, 209])
            if (m := match(spike, cand(f"m{i}", links=(PAYMENT,), minutes=minutes))) is not None]
    groups = volume_groups(spike, hits, {})
    assert [len(g.matches) for g in groups] == [3, 3]
    assert [g.anchor for g in groups] == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=209)]
    assert groups[0].key == "volume:Sorami:2026-09-01T08:10:00Z"
    assert volume_groups(spike, hits, {"Sorami": [T0 + timedelta(minutes=10)]})[0].anchor == groups[1].anchor


def test_a_slow_trickle_never_makes_a_group_and_brands_count_apart() -> None:
    spike = rule(volume={"min_mentions": 2, "window": "10m"})
    trickle = [match(spike, cand(f"m{i}", minutes=i * 11)) for i in range(5)]
    assert volume_groups(spike, [m for m in trickle if m], {}) == []
    pair = [match(spike, cand("a", brand="A")), match(spike, cand("b", brand="B", minutes=1))]
    assert volume_groups(spike, [m for m in pair if m], {}) == []


@pytest.mark.parametrize(("utc_hour", "quiet"), [(14, False), (15, True), (23, True), (0, False), (1, False)])
def test_quiet_hours_are_read_in_their_time_zone_and_may_span_midnight(utc_hour: int, quiet: bool) -> None:
    window = QuietHoursConfig(start="22:00", end="07:00", timezone="Asia/Bangkok")  # UTC+7: 15:00-24:00 UTC
    assert in_quiet_hours(window, datetime(2026, 9, 1, utc_hour, 30, tzinfo=UTC)) is quiet


def test_the_idempotency_key_is_stable_per_rule_subject_and_destination() -> None:
    key = idempotency_key("r", "m1", "hook")
    assert key == idempotency_key("r", "m1", "hook") and key.startswith("jp-") and len(key) == 35
    assert len({key, idempotency_key("r", "m1", "desk"), idempotency_key("r2", "m1", "hook"),
                idempotency_key("r", "m2", "hook")}) == 4
