"""Reads the labelled sentiment data sets (UMSAB per language, Wisesight Thai) into uniform splits.

Invariant: labels come out as indices into LABELS (0 negative, 1 neutral, 2 positive); Wisesight's
question class ``q`` is read as neutral. A malformed line raises ScoringError naming file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from journeypulse.errors import ScoringError

__all__ = ["UMSAB_LANGUAGES", "LabelledSplit", "read_umsab", "read_wisesight"]

UMSAB_LANGUAGES = ("arabic", "english", "french", "german", "hindi", "italian", "portuguese", "spanish")
_WISESIGHT_LABELS = {"neg": 0, "neu": 1, "q": 1, "pos": 2}


@dataclass(frozen=True)
class LabelledSplit:
    """One file's texts and labels: ``language`` (e.g. thai), ``split`` (train or val), source files."""

    language: str
    split: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    files: tuple[Path, ...]


def read_umsab(folder: Path, language: str, split: str) -> LabelledSplit:
    text_file = folder / f"{split}_text.txt"
    label_file = folder / f"{split}_labels.txt"
    try:
        texts = text_file.read_text(encoding="utf-8").splitlines()
        raw_labels = label_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ScoringError(f"UMSAB {language} {split}: cannot read {exc.filename}; point the data directory at "
                           "a copy of cardiffnlp/xlm-t data/sentiment") from exc
    if len(texts) != len(raw_labels):
        raise ScoringError(f"UMSAB {language} {split}: {text_file} has {len(texts)} lines but {label_file} "
                           f"has {len(raw_labels)}")
    labels = []
    for number, raw in enumerate(raw_labels, start=1):
        if raw.strip() not in ("0", "1", "2"):
            raise ScoringError(f"{label_file} line {number}: label {raw!r} is not 0, 1 or 2")
        labels.append(int(raw))
    return LabelledSplit(language, split, tuple(texts), tuple(labels), (text_file, label_file))


def read_wisesight(path: Path, split: str) -> LabelledSplit:
    texts: list[str] = []
    labels: list[int] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ScoringError(f"Wisesight {split}: cannot read {path}; point the data directory at a copy of "
                           "PyThaiNLP/wisesight-sentiment") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = _WISESIGHT_LABELS[row["category"]]
            text = str(row["texts"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoringError(f"{path} line {number}: expected {{category: pos/neu/neg/q, texts}}") from exc
        texts.append(text)
        labels.append(label)
    return LabelledSplit("thai", split, tuple(texts), tuple(labels), (path,))
