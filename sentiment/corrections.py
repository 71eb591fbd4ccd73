"""Corrected labels as training and evaluation data: reading an export and the train/held-out split.

Invariant: the split depends only on the mention id (sha256 of it), never on order, time or the other
rows, so ``model train --corrections`` and ``model eval --corrections-holdout`` agree on which
corrections are held out, and a correction never moves between parts when more are added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from journeypulse.errors import ConfigError, ScoringError
from sentiment.evaluation import LabelledRow, TableSpec, read_labelled

__all__ = ["DEFAULT_HOLDOUT_PERCENT", "Correction", "is_held_out", "read_corrections_export", "split_corrections",
           "to_labelled"]

DEFAULT_HOLDOUT_PERCENT = 20
_BUCKETS = 10_000


@dataclass(frozen=True)
class Correction:
    """One analyst-corrected label: the mention id, its text and language, and the label index (LABELS)."""

    mention_id: str
    text: str
    language: str
    label: int


def is_held_out(mention_id: str, percent: int = DEFAULT_HOLDOUT_PERCENT) -> bool:
    """True for about ``percent`` % of mention ids, decided by the id's sha256 alone."""
    if not 0 < percent < 100:
        raise ConfigError(f"held-out share {percent}% must be between 1 and 99; pass e.g. 20")
    if not mention_id:
        raise ScoringError("a correction has an empty mention id; every correction must name its mention")
    bucket = int.from_bytes(hashlib.sha256(mention_id.encode("utf-8")).digest()[:8], "big") % _BUCKETS
    return bucket < percent * _BUCKETS // 100


def split_corrections(corrections: Iterable[Correction],
                      percent: int = DEFAULT_HOLDOUT_PERCENT) -> tuple[list[Correction], list[Correction]]:
    """(train, held_out), each sorted by mention id; a mention corrected twice keeps its last correction."""
    latest: dict[str, Correction] = {}
    for correction in corrections:
        latest[correction.mention_id] = correction
    train: list[Correction] = []
    held_out: list[Correction] = []
    for mention_id in sorted(latest):
        (held_out if is_held_out(mention_id, percent) else train).append(latest[mention_id])
    return train, held_out


def to_labelled(corrections: Sequence[Correction], source: str = "corrections") -> list[LabelledRow]:
    """Corrections as evaluation rows (reported under ``source``)."""
    return [LabelledRow(c.text, c.label, c.language, source) for c in corrections]


def read_corrections_export(path: Path) -> list[Correction]:
    """Corrections from a CSV or JSONL export with columns mention_id, text, language, label.

    ``label`` holds negative/neutral/positive (or neg/neu/pos, 0/1/2). The source column carries
    the mention id, so the rows are read with the id as their source and turned back into corrections.
    """
    suffix = path.suffix.casefold()
    if suffix not in (".csv", ".jsonl"):
        raise ConfigError(f"corrections export {path} must be .csv or .jsonl (columns mention_id, text, "
                          "language, label)")
    spec = TableSpec(format=suffix.lstrip("."), text_col="text", label_col="label", lang_col="language",
                     source_col="mention_id")
    rows = read_labelled(path, spec)
    return [Correction(mention_id=r.source, text=r.text, language=r.language, label=r.label) for r in rows]
