"""Escalation rules on plain records: which enriched mentions a rule picks, volume spikes, quiet hours.

Pure functions over ``Candidate`` (one enriched mention: its text, current sentiment and current
journey links); no I/O, so the pipeline step feeds them rows from storage and the tests feed them
hand-built candidates. Idempotency keys are derived here so that a re-send reuses the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from journeypulse.config import EscalationRuleConfig, QuietHoursConfig
from journeypulse.record import JsonScalar

ENGAGEMENT_KEYS: Mapping[str, tuple[str, ...]] = {
    "likes": ("likeCount", "favourites_count", "like_count", "thumbs_up", "score"),
    "reposts": ("repostCount", "reblogs_count", "retweet_count"),
    "replies": ("replyCount", "replies_count", "num_comments", "reply_count"),
}
"""Metadata keys the listeners store per engagement metric: Bluesky (likeCount, repostCount,
replyCount), Mastodon (favourites_count, reblogs_count, replies_count), Reddit (score, num_comments),
YouTube (like_count), Google Play (thumbs_up), X (like_count, retweet_count, reply_count, as fetched); files store
what their ``metadata_columns`` name."""


@dataclass(frozen=True)
class LinkFacts:
    """One current journey link of a candidate; ``exit_type`` is the stored ``exit_signal`` name."""

    stage: str
    pain_point: str | None
    exit_type: str | None
    confidence: float


@dataclass(frozen=True)
class Candidate:
    """An enriched mention as the rules see it."""

    mention_id: str
    brand: str | None
    source: str
    channel: str | None
    language: str | None
    text: str
    url: str | None
    published_at: datetime
    enriched_at: datetime
    pulled_at: datetime
    sentiment: str | None
    sentiment_confidence: float | None
    question: bool | None
    links: tuple[LinkFacts, ...] = ()
    metadata: Mapping[str, JsonScalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """A rule's hit on a candidate; ``link`` is the link that met the journey conditions (most confident)."""

    rule_id: str
    candidate: Candidate
    link: LinkFacts | None


def _one_of(wanted: Sequence[str], value: str | None) -> bool:
    return not wanted or (value is not None and value in wanted)


def _engagement(metric: str, metadata: Mapping[str, JsonScalar]) -> int | None:
    for key in ENGAGEMENT_KEYS[metric]:
        value = metadata.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _engaged(rule: EscalationRuleConfig, metadata: Mapping[str, JsonScalar]) -> bool:
    for metric, minimum in rule.min_engagement.items():
        value = _engagement(metric, metadata)
        if value is None:
            if rule.unknown_engagement == "skip":
                return False
        elif value < minimum:
            return False
    return True


def _link_fits(rule: EscalationRuleConfig, link: LinkFacts) -> bool:
    needs_exit = rule.exit_signal is True or bool(rule.exit_types)
    return (_one_of(rule.stages, link.stage) and _one_of(rule.pain_points, link.pain_point)
            and _one_of(rule.exit_types, link.exit_type) and (not needs_exit or link.exit_type is not None)
            and (rule.min_link_confidence is None or link.confidence >= rule.min_link_confidence))


def _journey_link(rule: EscalationRuleConfig, links: Sequence[LinkFacts]) -> tuple[bool, LinkFacts | None]:
    """(holds, the link that made it hold): the journey conditions hold on one link (stage, pain point
    and exit type together), and ``exit_signal: false`` on no link carrying an exit."""
    if rule.exit_signal is False and any(link.exit_type is not None for link in links):
        return False, None
    journey = bool(rule.stages or rule.pain_points or rule.exit_types or rule.exit_signal
                   or rule.min_link_confidence is not None)
    fitting = sorted((link for link in links if _link_fits(rule, link)), key=lambda link: -link.confidence)
    if not journey:
        best = max(links, key=lambda link: link.confidence) if links else None
        return True, best
    return (True, fitting[0]) if fitting else (False, None)


def match(rule: EscalationRuleConfig, candidate: Candidate) -> Match | None:
    """The rule's hit on ``candidate`` when every condition it sets holds, else None (volume not judged here)."""
    c = candidate
    if not (_one_of(rule.brands, c.brand) and _one_of(rule.sources, c.source) and _one_of(rule.channels, c.channel)
            and _one_of(rule.languages, c.language) and _one_of(rule.sentiment, c.sentiment)):
        return None
    if rule.min_confidence is not None and (c.sentiment_confidence is None or c.sentiment_confidence < rule.min_confidence):
        return None
    if rule.max_confidence is not None and (c.sentiment_confidence is None or c.sentiment_confidence > rule.max_confidence):
        return None
    if rule.question is not None and c.question is not rule.question:
        return None
    if not _engaged(rule, c.metadata):
        return None
    holds, link = _journey_link(rule, c.links)
    return Match(rule.id, c, link) if holds else None


# ------------------------------------------------------------------------------ volume spikes


@dataclass(frozen=True)
class VolumeGroup:
    """A spike: ``matches`` (oldest first) published within the rule's window, the last one reaching the count."""

    rule_id: str
    key: str
    """``volume:<brand or *>:<UTC ISO time the count was reached>`` (the subject key of its escalation)."""
    brand: str | None
    anchor: datetime
    matches: tuple[Match, ...]


def volume_key(brand: str | None, anchor: datetime) -> str:
    return f"volume:{brand or '*'}:{anchor.astimezone(ZoneInfo('UTC')).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def volume_groups(rule: EscalationRuleConfig, matches: Iterable[Match], fired: Mapping[str | None, Sequence[datetime]]
                  ) -> list[VolumeGroup]:
    """Spikes among ``matches``: a group fires when ``min_mentions`` matches fall within ``window`` (by
    publication time) and no group of the same brand (``fired``: earlier anchors per brand, None when
    counted across brands) was anchored less than a window before or after; later matches of that spike
    are absorbed by the cooldown, so one spike makes one message."""
    volume = rule.volume
    if volume is None:
        return []
    by_key: dict[str | None, list[Match]] = {}
    for m in matches:
        by_key.setdefault(m.candidate.brand if volume.per_brand else None, []).append(m)
    groups = []
    for brand, found in sorted(by_key.items(), key=lambda item: item[0] or ""):
        found.sort(key=lambda m: (m.candidate.published_at, m.candidate.mention_id))
        anchors = list(fired.get(brand, ()))
        start = 0
        for end, m in enumerate(found):
            t = m.candidate.published_at
            while found[start].candidate.published_at <= t - volume.window:
                start += 1
            if end - start + 1 < volume.min_mentions:
                continue
            if any(abs(t - a) < volume.window for a in anchors):
                continue
            anchors.append(t)
            groups.append(VolumeGroup(rule.id, volume_key(brand, t), brand, t, tuple(found[start : end + 1])))
    return groups


# ------------------------------------------------------------------------------ quiet hours, keys


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(quiet: QuietHoursConfig | None, now: datetime) -> bool:
    """Whether ``now`` (aware) falls in the daily window, read in the window's time zone."""
    if quiet is None:
        return False
    local = now.astimezone(ZoneInfo(quiet.timezone)).time().replace(second=0, microsecond=0, tzinfo=None)
    start, end = _clock(quiet.start), _clock(quiet.end)
    if start == end:
        return False
    return start <= local < end if start < end else (local >= start or local < end)


def idempotency_key(rule_id: str, subject_key: str, destination: str) -> str:
    """Stable for (rule, subject, destination): the same on every re-send, different for anything else."""
    digest = hashlib.sha256(f"{rule_id}\x1f{subject_key}\x1f{destination}".encode()).hexdigest()
    return f"jp-{digest[:32]}"



__all__ = ["ENGAGEMENT_KEYS", "Candidate", "LinkFacts", "Match", "VolumeGroup", "idempotency_key",
           "in_quiet_hours", "match", "volume_groups", "volume_key"]
