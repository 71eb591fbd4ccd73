"""Small frozen records that storage functions take and return (never ORM rows).

Each is plain data; validation of values that would corrupt the tables (labels, probabilities,
confidences) happens in the save functions so the error can name the mention and the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from journeypulse.errors import ConfigError

SENTIMENT_LABELS = ("negative", "neutral", "positive")

MAX_SHARDS = 1024
"""The most shards enrichment may be split into (the shard key has 2**31 values; more shards than
mentions per batch only add empty tasks)."""


@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count`` disjoint parts of the mentions: those whose stored ``shard_key``
    (a hash of the mention id, fixed at ingest) is ``index`` modulo ``count``.

    For one ``count`` the parts cover every mention exactly once, on every database.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ConfigError(f"shard count {self.count} must be between 1 and {MAX_SHARDS}")
        if not 0 <= self.index < self.count:
            raise ConfigError(f"shard {self.index} of {self.count} does not exist: shards are numbered 0 to "
                              f"{self.count - 1}")

    def __str__(self) -> str:
        return f"shard {self.index} of {self.count}"


@dataclass(frozen=True)
class UpsertReport:
    """What one ``store_batch`` call did.

    ``inserted + updated + unchanged + suppressed`` equals the number of mentions passed in (a repeated
    id within a batch is stored once and its repeats count as unchanged). ``quarantined`` counts
    new quarantine rows, ``quarantine_repeats`` rows already quarantined earlier; ``suppressed``
    mentions of an erased person (``erasure_suppression``), dropped and never stored.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    quarantine_repeats: int = 0
    suppressed: int = 0

    @property
    def stored(self) -> int:
        """Mentions written by this batch (new or changed)."""
        return self.inserted + self.updated


@dataclass(frozen=True)
class MentionText:
    """The slice of a mention that language identification, scoring and linking need."""

    id: str
    text: str
    language: str | None
    language_hint: str | None
    channel: str | None
    source_kind: str
    brand: str | None
    created_at: datetime


@dataclass(frozen=True)
class LanguageResult:
    """Identified language of one mention (ISO 639-1 code, or 'und' when undetermined)."""

    mention_id: str
    language: str
    confidence: float
    method: str  # e.g. "py3langid", "hint", "script"


@dataclass(frozen=True)
class SentimentResult:
    """One model's sentiment for one mention; ``revision`` must be non-empty (a hash or version)."""

    mention_id: str
    model: str
    revision: str
    backend: str
    label: str  # one of SENTIMENT_LABELS
    p_negative: float
    p_neutral: float
    p_positive: float
    confidence: float
    needs_review: bool
    classified_at: datetime


@dataclass(frozen=True)
class EnrichmentItem:
    """A mention the one-pass ``enrich`` step must look at, and which of its two results it lacks."""

    mention: MentionText
    needs_sentiment: bool
    needs_links: bool


@dataclass(frozen=True)
class JourneyCorrectionRow:
    """A human correction of a mention's primary stage and/or exit signal (``exit_type`` names the signal).

    ``None`` for stage or exit_signal means that field was not corrected.
    """

    mention_id: str
    stage: str | None
    exit_signal: bool | None
    exit_type: str | None
    source: str  # 'coach_review' or 'manual'
    reviewer: str
    created_at: datetime


@dataclass(frozen=True)
class JourneyLinkRow:
    """One link of a mention to a journey stage; ``exit_signal`` names the signal, None when none."""

    stage: str
    touchpoint: str | None
    pain_point: str | None
    exit_signal: str | None
    method: str  # e.g. "keywords", "model"
    confidence: float
    needs_review: bool


@dataclass(frozen=True)
class StageSummary:
    """Sentiment of the scored mentions linked to one stage ('unlinked' for mentions without links)."""

    stage: str
    mentions: int
    positive: int
    neutral: int
    negative: int
    positive_share: float
    neutral_share: float
    negative_share: float
    net_sentiment: float
    top_pain_points: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class QuarantineEntry:
    """A stored quarantine row; ``payload`` is cut to 64 KB (``payload_truncated``), NUL shown as U+FFFD."""

    id: str
    source: str
    locator: str
    reason: str
    payload: str
    payload_bytes: int
    payload_truncated: bool
    quarantined_at: datetime


@dataclass(frozen=True)
class LinkedMention:
    """One current journey link of a mention, with the mention and its current sentiment (None: not scored)."""

    mention_id: str
    brand: str | None
    source: str
    channel: str | None
    language: str | None
    author: str | None
    text: str
    created_at: datetime
    stage: str
    touchpoint: str | None
    pain_point: str | None
    exit_signal: str | None
    link_confidence: float
    link_needs_review: bool
    label: str | None
    sentiment_confidence: float | None
    sentiment_needs_review: bool | None


@dataclass(frozen=True)
class CoachingExampleRow:
    """A coaching-library entry, one per (mention, stage): ``text`` is already redacted (the raw text stays in
    ``mention``); ``reason`` says why it was picked and ``suggested_*`` how the playbook would handle it."""

    mention_id: str
    text: str
    language: str | None
    stage: str
    pain_point: str | None
    channel: str | None
    sentiment: str
    confidence: float
    source: str
    content_hash: str
    redactions: int
    selected_at: datetime
    exit_signal: str | None = None
    score: float = 0.0
    reason: str = ""
    playbook_rule: str = ""
    suggested_action: str = ""
    suggested_reply: str = ""


@dataclass(frozen=True)
class CoachingReviewRow:
    """A reviewer's decision on a coaching example: action approve/reject/relabel (relabel sets ``new_label``).

    ``stage`` names the example (a mention can be in the library under several stages); None when
    saving means "the mention's only stage in the library" and is refused when it has several.
    """

    mention_id: str
    action: str
    reviewer: str
    decided_at: datetime
    new_label: str | None = None
    note: str = ""
    stage: str | None = None


@dataclass(frozen=True)
class CorrectionRow:
    """A human sentiment label for a mention; ``source`` is 'coach_review' or 'manual'."""

    mention_id: str
    label: str
    source: str
    reviewer: str
    created_at: datetime


@dataclass(frozen=True)
class AlertRow:
    """A raised alert as stored; ``key`` is the alert's stable hash (rule, brand, stage, day, pain point)."""

    key: str
    rule: str
    brand: str
    stage: str
    day: date
    pain_point: str | None
    value: float
    baseline: float
    message: str
    raised_at: datetime
    posted_at: datetime | None = None


@dataclass(frozen=True)
class DailyStageCount:
    """One brand's scored mentions linked to one stage on one UTC day, with pain-point mention counts."""

    brand: str
    stage: str
    day: date
    total: int
    negative: int
    pain_points: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ForgetReport:
    """Rows removed (and texts scrubbed) when a person was forgotten; derived rows go by cascade with their mention."""

    mentions: int
    sentiments: int
    links: int
    coaching_examples: int
    coaching_reviews: int
    corrections: int
    link_runs: int = 0
    quarantine: int = 0
    alerts: int = 0
    escalations: int = 0  # escalation rows of the person's mentions (deleted with them)
    texts_scrubbed: int = 0  # other people's mentions that named the person (name replaced by "[erased]")
    examples_scrubbed: int = 0  # the same in coaching-library texts
    summary_rows: int = 0  # summary rows rewritten from the remaining data
    matched: tuple[str, ...] = ()  # the pseudonyms that matched stored mentions

    def per_table(self) -> list[tuple[str, str, int]]:
        """(table, what happened, rows) for every table the erasure touches, in a fixed order."""
        return [
            ("mention", "deleted", self.mentions),
            ("sentiment", "deleted", self.sentiments),
            ("journey_link_run", "deleted", self.link_runs),
            ("journey_link", "deleted", self.links),
            ("coaching_example", "deleted", self.coaching_examples),
            ("coaching_review", "deleted", self.coaching_reviews),
            ("sentiment_correction", "deleted", self.corrections),
            ("quarantine", "deleted", self.quarantine),
            ("alert", "deleted", self.alerts),
            ("escalation", "deleted", self.escalations),
            ("mention (other authors)", "name replaced by [erased]", self.texts_scrubbed),
            ("coaching_example (others)", "name replaced by [erased]", self.examples_scrubbed),
            ("summary tables", "rebuilt", self.summary_rows),
        ]


@dataclass(frozen=True)
class CandidateLink:
    """One current journey link of an escalation candidate (``exit_signal`` names the exit type)."""

    stage: str
    pain_point: str | None
    exit_signal: str | None
    confidence: float


@dataclass(frozen=True)
class EscalationCandidate:
    """An enriched mention as the escalation rules read it: text, current sentiment and current links."""

    mention_id: str
    brand: str | None
    source: str
    source_kind: str
    channel: str | None
    language: str | None
    text: str
    url: str | None
    created_at: datetime
    stored_at: datetime
    linked_at: datetime
    question: bool | None
    label: str | None
    sentiment_confidence: float | None
    links: tuple[CandidateLink, ...]
    metadata: dict[str, str | int | float | bool | None]


@dataclass(frozen=True)
class EscalationClaim:
    """A delivery to claim: (rule, subject, destination) is inserted once, ``pending``, before sending."""

    rule_id: str
    subject_key: str
    destination: str
    mention_id: str | None
    priority: str
    idempotency_key: str
    brand: str | None
    stage: str | None
    pain_point: str | None
    exit_type: str | None
    mentions: int
    playbook_rule: str | None
    reply_language: str | None
    published_at: datetime
    pulled_at: datetime


@dataclass(frozen=True)
class EscalationRow:
    """One stored delivery (no payload: messages are rebuilt from the mention when re-sent)."""

    id: int
    rule_id: str
    subject_key: str
    destination: str
    mention_id: str | None
    status: str
    priority: str
    idempotency_key: str
    attempts: int
    runs: int
    external_id: str | None
    status_code: int | None
    last_error: str | None
    brand: str | None
    stage: str | None
    pain_point: str | None
    mentions: int
    published_at: datetime
    pulled_at: datetime
    created_at: datetime
    first_attempt_at: datetime | None
    sent_at: datetime | None
