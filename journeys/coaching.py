"""Coaching examples: selection, review decisions and training packs, from candidates the caller loads.

Only redacted text ever leaves this module (selection redacts; exports write nothing else), and
selection is deterministic: the same candidates give the same examples in the same order. An
example is a (mention, stage) pair: reviews and training packs are keyed by both.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from journeypulse.csv_export import write_csv_file
from journeypulse.record import normalise_text
from journeys.coaching_rank import assess, diversity_penalty
from journeys.playbook import Playbook, load_playbook
from journeys.redaction import redact

__all__ = [
    "SENTIMENT_LABELS",
    "CoachingCandidate",
    "CoachingExample",
    "CoachingFilter",
    "ReviewAction",
    "ReviewDecision",
    "TrainingPackReport",
    "export_csv",
    "export_html",
    "export_jsonl",
    "export_training_pack",
    "select_examples",
]

log = logging.getLogger(__name__)

SENTIMENT_LABELS = ("positive", "neutral", "negative")
_SHINGLE = 5
_EXPORT_FIELDS = ("mention_id", "stage", "text", "language", "pain_point", "exit_signal", "channel", "sentiment",
                  "confidence", "source", "score", "reason", "suggested_action", "suggested_reply", "playbook_rule",
                  "content_hash")


@dataclass(frozen=True)
class CoachingCandidate:
    """A stage-linked, scored mention offered for coaching (text still raw: selection redacts it)."""

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
    author: str | None = None  # keyed pseudonym, used only to limit examples per author
    exit_signal: str | None = None

    def __post_init__(self) -> None:
        if self.sentiment not in SENTIMENT_LABELS:
            raise ValueError(f"candidate {self.mention_id}: sentiment {self.sentiment!r} is not one of "
                             f"{SENTIMENT_LABELS}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"candidate {self.mention_id}: confidence {self.confidence} is outside 0..1")


@dataclass(frozen=True)
class CoachingFilter:
    """Which candidates qualify; ``None`` means any value."""

    stages: frozenset[str] | None = None
    sentiments: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    pain_points: frozenset[str] | None = None
    min_confidence: float = 0.0

    def accepts(self, c: CoachingCandidate) -> bool:
        return (c.confidence >= self.min_confidence
                and (self.stages is None or c.stage in self.stages)
                and (self.sentiments is None or c.sentiment in self.sentiments)
                and (self.languages is None or c.language in self.languages)
                and (self.pain_points is None or c.pain_point in self.pain_points))


@dataclass(frozen=True)
class CoachingExample:
    """A selected candidate whose ``text`` is the redacted text."""

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
    exit_signal: str | None = None
    score: float = 0.0
    reason: str = ""  # why it was picked, e.g. "exit signal cancellation; clear negative situation (0.91)"
    playbook_rule: str = ""
    suggested_action: str = ""
    suggested_reply: str = ""  # in the example's language (English when the playbook has none)

    def as_row(self) -> dict[str, str | float | None]:
        return {name: getattr(self, name) for name in _EXPORT_FIELDS}


def _shingles(text: str) -> frozenset[str]:
    norm = re.sub(r"\[[A-Z]+\]", " ", normalise_text(text))  # placeholders say nothing about similarity
    norm = re.sub(r"\s+", " ", norm).strip()
    if len(norm) <= _SHINGLE:
        return frozenset({norm})
    return frozenset(norm[i : i + _SHINGLE] for i in range(len(norm) - _SHINGLE + 1))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@lru_cache(maxsize=1)
def _bundled_playbook() -> Playbook:
    return load_playbook()


@dataclass(frozen=True)
class _Scored:
    candidate: CoachingCandidate
    score: float
    reasons: tuple[str, ...]

    @property
    def facets(self) -> tuple[str, str, str]:
        c = self.candidate
        return c.stage, c.language or "unknown", c.channel or "unknown"


def _best_next(buckets: dict[tuple[str, str, str], deque[_Scored]], picked: Counter[tuple[str, str]]) -> _Scored:
    """The bucket head with the highest score after the diversity penalty (ties: higher score, then ids)."""
    def key(item: _Scored) -> tuple[float, float, str, str]:
        stage, language, channel = item.facets
        adjusted = item.score - diversity_penalty(stage, language, channel, picked)
        return (-adjusted, -item.score, item.candidate.mention_id, stage)

    head = min((bucket[0] for bucket in buckets.values() if bucket), key=key)
    buckets[head.facets].popleft()
    return head


def _novelty(item: _Scored, picked: Counter[tuple[str, str]]) -> list[str]:
    stage, language, channel = item.facets
    fresh = [name for name, value in (("stage", stage), ("language", language), ("channel", channel))
             if picked[(name, value)] == 0]
    return [f"new {' and '.join(fresh)}"] if fresh and sum(picked.values()) else []


def select_examples(
    candidates: Iterable[CoachingCandidate],
    *,
    filters: CoachingFilter | None = None,
    limit: int = 50,
    similarity: float = 0.8,
    max_per_author: int | None = 2,
    keep: Sequence[str] = (),
    playbook: Playbook | None = None,
) -> list[CoachingExample]:
    """Pick up to ``limit`` redacted examples a trainer can teach from, best first, with why and how to handle.

    Each candidate is scored by ``journeys.coaching_rank.assess`` (pain point or exit signal, a
    clear customer situation rather than a neutral how-to question, an agent interaction); the
    next pick is the best score after a penalty for every example already picked in the same
    stage, language or channel, so one loud stage cannot fill the list. Exact duplicates (same
    content hash) and near-duplicates (character 5-shingle Jaccard >= ``similarity`` with an
    example already picked) are skipped, as are authors past ``max_per_author``. Each example
    carries its ``reason`` and the ``playbook``'s suggestion (default: the bundled playbook).
    ``keep`` lists brand/product words redaction must leave alone.
    """
    if limit < 1 or not 0.0 < similarity <= 1.0:
        raise ValueError(f"select_examples: limit={limit} must be >= 1 and similarity={similarity} in (0, 1]")
    filters = filters or CoachingFilter()
    playbook = playbook or _bundled_playbook()
    pool: dict[tuple[str, str, str], list[_Scored]] = defaultdict(list)
    qualified = 0
    for c in candidates:
        if not filters.accepts(c):
            continue
        qualified += 1
        rating = assess(c.text, c.sentiment, c.confidence, c.pain_point, c.exit_signal)  # raw text: redact picks only
        item = _Scored(c, rating.score, rating.reasons)
        pool[item.facets].append(item)
    buckets = {facets: deque(sorted(items, key=lambda i: (-i.score, i.candidate.mention_id)))
               for facets, items in pool.items()}
    picked: list[CoachingExample] = []
    picked_shingles: list[frozenset[str]] = []
    seen_hashes: set[str] = set()
    per_author: dict[str, int] = defaultdict(int)
    facets: Counter[tuple[str, str]] = Counter()
    duplicates = 0
    while len(picked) < limit and any(buckets.values()):
        item = _best_next(buckets, facets)
        c = item.candidate
        if max_per_author is not None and c.author and per_author[c.author] >= max_per_author:
            continue
        if c.content_hash in seen_hashes:
            duplicates += 1
            continue
        redacted = redact(c.text, language=c.language, keep=keep)
        shingles = _shingles(redacted.text)
        if any(_jaccard(shingles, other) >= similarity for other in picked_shingles):
            duplicates += 1
            continue
        seen_hashes.add(c.content_hash)
        picked_shingles.append(shingles)
        if c.author:
            per_author[c.author] += 1
        reason = "; ".join([*item.reasons, *_novelty(item, facets)]) or f"{c.sentiment} ({c.confidence:.2f})"
        for name, value in zip(("stage", "language", "channel"), item.facets, strict=True):
            facets[(name, value)] += 1
        suggestion = playbook.suggest(c.stage, c.pain_point, c.exit_signal)
        picked.append(CoachingExample(
            c.mention_id, redacted.text, c.language, c.stage, c.pain_point, c.channel, c.sentiment, c.confidence,
            c.source, c.content_hash, redacted.total, c.exit_signal, item.score, reason, suggestion.rule,
            suggestion.action, suggestion.reply(c.language),
        ))
    log.info("coaching selection: %d qualified, %d picked, %d duplicates skipped", qualified, len(picked), duplicates)
    return picked


# ------------------------------------------------------------------------------ exports
def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def export_csv(examples: Sequence[CoachingExample], path: Path | str) -> Path:
    """CSV with a header row, through the project's one CSV writer (formula-looking cells get a leading ')."""
    rows = ([example.as_row()[k] for k in _EXPORT_FIELDS] for example in examples)
    return write_csv_file(Path(path), list(_EXPORT_FIELDS), rows)


def export_jsonl(examples: Sequence[CoachingExample], path: Path | str) -> Path:
    lines = (json.dumps(e.as_row(), ensure_ascii=False, sort_keys=True) for e in examples)
    return _write(Path(path), "".join(f"{line}\n" for line in lines))


def export_html(examples: Sequence[CoachingExample], path: Path | str, *, title: str = "Coaching examples") -> Path:
    """A plain, escaped HTML table for reviewers (no scripts, no external resources)."""
    e = html.escape
    head = "".join(f"<th>{e(name)}</th>" for name in _EXPORT_FIELDS if name != "content_hash")
    rows = []
    for example in examples:
        row = example.as_row()
        cells = "".join(
            f'<td lang="{e(str(row["language"] or ""))}">{e(str(value))}</td>' if name == "text"
            else f"<td>{e('' if value is None else str(value))}</td>"
            for name, value in row.items() if name != "content_hash"
        )
        rows.append(f"<tr>{cells}</tr>")
    page = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(title)}</title>'
            "<style>body{font-family:system-ui,sans-serif}td,th{border:1px solid #ccd;padding:4px;vertical-align:top}"
            "table{border-collapse:collapse}</style></head>"
            f"<body><h1>{e(title)}</h1><p>{len(examples)} examples, personal data redacted.</p>"
            f"<table><tr>{head}</tr>{''.join(rows)}</table></body></html>\n")
    return _write(Path(path), page)


# ------------------------------------------------------------------------------ review and training packs
class ReviewAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RELABEL = "relabel"


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's verdict on one example (a mention under a stage); the latest ``decided_at`` per example wins."""

    mention_id: str
    stage: str
    action: ReviewAction
    reviewer: str
    decided_at: datetime
    new_label: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.reviewer.strip():
            raise ValueError(f"review of {self.mention_id}: reviewer is empty; name who decided")
        if self.decided_at.tzinfo is None:
            raise ValueError(f"review of {self.mention_id}: decided_at {self.decided_at} must be timezone-aware")
        if self.action is ReviewAction.RELABEL and self.new_label not in SENTIMENT_LABELS:
            raise ValueError(f"review of {self.mention_id}: relabel needs new_label in {SENTIMENT_LABELS}, "
                             f"got {self.new_label!r}")
        if self.action is not ReviewAction.RELABEL and self.new_label is not None:
            raise ValueError(f"review of {self.mention_id}: new_label {self.new_label!r} is only valid with relabel")


@dataclass(frozen=True)
class TrainingPackReport:
    files: tuple[Path, ...]
    examples: int
    rejected: int
    undecided: int
    relabelled: int


def _slug(value: str) -> str:
    return re.sub(r"[^\w\u0E00-\u0E7F]+", "-", value.casefold()).strip("-_") or "x"


def _pack_names(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """File stem per (stage, pain point); names that slug alike get a short hash so none overwrite."""
    stems = {key: f"{_slug(key[0])}__{_slug(key[1])}" for key in keys}
    counts: dict[str, int] = defaultdict(int)
    for stem in stems.values():
        counts[stem] += 1
    return {key: stem if counts[stem] == 1 else f"{stem}-{hashlib.sha256('|'.join(key).encode()).hexdigest()[:8]}"
            for key, stem in stems.items()}


def export_training_pack(
    examples: Sequence[CoachingExample], decisions: Iterable[ReviewDecision], out_dir: Path | str
) -> TrainingPackReport:
    """Write approved and relabelled examples as one JSONL file per (stage, pain point) plus manifest.json.

    Decisions apply to the (mention, stage) they were made on, so an example is filed under the
    stage it was reviewed under even when the same mention was also pulled under another stage.
    A relabelled example carries the reviewer's label; rejected and undecided ones are left out and
    counted. Files of an earlier pack in ``out_dir`` (listed in its manifest) are replaced, so a
    re-run never leaves stale groups behind. Decisions for unknown mention ids raise ValueError.
    """
    out_dir = Path(out_dir)
    by_key = {(e.mention_id, e.stage): e for e in examples}
    latest: dict[tuple[str, str], ReviewDecision] = {}
    for decision in decisions:
        key = (decision.mention_id, decision.stage)
        if key not in by_key:
            raise ValueError(f"review decision for mention {decision.mention_id} under stage {decision.stage!r} has no "
                             "matching example; export the pack from the same selection the reviewers saw")
        current = latest.get(key)
        if current is None or decision.decided_at >= current.decided_at:
            latest[key] = decision
    groups: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    rejected = relabelled = 0
    for example in examples:
        verdict = latest.get((example.mention_id, example.stage))
        if verdict is None:
            continue
        if verdict.action is ReviewAction.REJECT:
            rejected += 1
            continue
        if verdict.action is ReviewAction.RELABEL:
            relabelled += 1
        label = verdict.new_label or example.sentiment
        groups[(example.stage, example.pain_point or "general")].append({
            "mention_id": example.mention_id, "text": example.text, "label": label, "model_label": example.sentiment,
            "language": example.language, "stage": example.stage, "pain_point": example.pain_point,
            "exit_signal": example.exit_signal, "reason": example.reason, "suggested_action": example.suggested_action,
            "suggested_reply": example.suggested_reply, "reviewer": verdict.reviewer, "note": verdict.note,
        })
    manifest = out_dir / "manifest.json"
    if manifest.exists():
        for name in json.loads(manifest.read_text(encoding="utf-8")).get("files", []):
            (out_dir / Path(name).name).unlink(missing_ok=True)
    files = []
    stems = _pack_names(groups)
    for key, rows in sorted(groups.items()):
        lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        files.append(_write(out_dir / f"{stems[key]}.jsonl", lines))
    total = sum(len(rows) for rows in groups.values())
    _write(manifest, json.dumps({"files": [f.name for f in files], "examples": total, "rejected": rejected,
                                 "relabelled": relabelled}, indent=2) + "\n")
    undecided = len(examples) - len(latest)
    log.info("training pack: %d examples in %d files, %d rejected, %d undecided",
             total, len(files), rejected, undecided)
    return TrainingPackReport(tuple(files), total, rejected, undecided, relabelled)
