"""Coaching examples: selection, review decisions and training packs, from candidates the caller loads.

Only redacted text ever leaves this module (selection redacts; exports write nothing else), and
selection is deterministic: the same candidates give the same examples in the same order.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from journeypulse.csv_export import write_csv_file
from journeypulse.record import normalise_text
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
_EXPORT_FIELDS = ("mention_id", "text", "language", "stage", "pain_point", "channel", "sentiment", "confidence",
                  "source", "content_hash")


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


def _round_robin(candidates: list[CoachingCandidate]) -> Iterable[CoachingCandidate]:
    """Best first within each (source, language) bucket; buckets take turns, strongest bucket first."""
    buckets: dict[tuple[str, str], list[CoachingCandidate]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: (-c.confidence, c.mention_id)):
        buckets[(c.source, c.language or "")].append(c)
    order = sorted(buckets.values(), key=lambda b: (-b[0].confidence, b[0].source, b[0].language or ""))
    for depth in range(max((len(b) for b in order), default=0)):
        for bucket in order:
            if depth < len(bucket):
                yield bucket[depth]


def select_examples(
    candidates: Iterable[CoachingCandidate],
    *,
    filters: CoachingFilter | None = None,
    limit: int = 50,
    similarity: float = 0.8,
    max_per_author: int | None = 2,
    keep: Sequence[str] = (),
) -> list[CoachingExample]:
    """Pick up to ``limit`` redacted, diverse, high-confidence examples.

    Exact duplicates (same content hash) and near-duplicates (character 5-shingle Jaccard >=
    ``similarity`` with an example already picked) are skipped: the copy kept is the first one
    reached in round-robin order, i.e. the most confident within its (source, language) bucket.
    ``keep`` lists brand/product words redaction must leave alone.
    """
    if limit < 1 or not 0.0 < similarity <= 1.0:
        raise ValueError(f"select_examples: limit={limit} must be >= 1 and similarity={similarity} in (0, 1]")
    filters = filters or CoachingFilter()
    pool = [c for c in candidates if filters.accepts(c)]
    picked: list[CoachingExample] = []
    picked_shingles: list[frozenset[str]] = []
    seen_hashes: set[str] = set()
    per_author: dict[str, int] = defaultdict(int)
    duplicates = 0
    for c in _round_robin(pool):
        if len(picked) == limit:
            break
        if c.content_hash in seen_hashes:
            duplicates += 1
            continue
        if max_per_author is not None and c.author and per_author[c.author] >= max_per_author:
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
        picked.append(CoachingExample(c.mention_id, redacted.text, c.language, c.stage, c.pain_point, c.channel,
                                      c.sentiment, c.confidence, c.source, c.content_hash, redacted.total))
    log.info("coaching selection: %d qualified, %d picked, %d duplicates skipped", len(pool), len(picked), duplicates)
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
    """A reviewer's verdict on one example; the latest ``decided_at`` per mention wins."""

    mention_id: str
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

    A relabelled example carries the reviewer's label; rejected and undecided ones are left out and
    counted. Files of an earlier pack in ``out_dir`` (listed in its manifest) are replaced, so a
    re-run never leaves stale groups behind. Decisions for unknown mention ids raise ValueError.
    """
    out_dir = Path(out_dir)
    by_id = {e.mention_id: e for e in examples}
    latest: dict[str, ReviewDecision] = {}
    for decision in decisions:
        if decision.mention_id not in by_id:
            raise ValueError(f"review decision for mention {decision.mention_id} has no matching example; "
                             "export the pack from the same selection the reviewers saw")
        current = latest.get(decision.mention_id)
        if current is None or decision.decided_at >= current.decided_at:
            latest[decision.mention_id] = decision
    groups: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    rejected = relabelled = 0
    for example in examples:
        verdict = latest.get(example.mention_id)
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
            "reviewer": verdict.reviewer, "note": verdict.note,
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
