"""Storage: the only package that talks SQL (SQLAlchemy 2 models, Alembic migrations, analyst views).

Use ``Store.open(url)``; it migrates to the newest revision and offers the methods the pipeline needs.
Views and their columns are documented in storage/VIEWS.md.
"""

from storage.facts import FactQuery
from storage.records import (
    SENTIMENT_LABELS,
    AlertRow,
    CandidateLink,
    CoachingExampleRow,
    CoachingReviewRow,
    CorrectionRow,
    DailyStageCount,
    EnrichmentItem,
    EscalationCandidate,
    EscalationClaim,
    EscalationRow,
    ForgetReport,
    JourneyCorrectionRow,
    JourneyLinkRow,
    LanguageResult,
    LinkedMention,
    MentionText,
    QuarantineEntry,
    SentimentResult,
    Shard,
    StageSummary,
    UpsertReport,
)
from storage.store import Store
from storage.views import VIEW_COLUMNS

__all__ = [
    "SENTIMENT_LABELS",
    "VIEW_COLUMNS",
    "AlertRow",
    "CandidateLink",
    "CoachingExampleRow",
    "CoachingReviewRow",
    "CorrectionRow",
    "DailyStageCount",
    "EnrichmentItem",
    "EscalationCandidate",
    "EscalationClaim",
    "EscalationRow",
    "FactQuery",
    "ForgetReport",
    "JourneyCorrectionRow",
    "JourneyLinkRow",
    "LanguageResult",
    "LinkedMention",
    "MentionText",
    "QuarantineEntry",
    "SentimentResult",
    "Shard",
    "StageSummary",
    "Store",
    "UpsertReport",
]
