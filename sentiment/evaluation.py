"""Evaluation of any sentiment model on labelled files: readers with label maps, and the metrics report.

Invariant: labels are indices into LABELS (0 negative, 1 neutral, 2 positive) after the file's label
map is applied; a raw label the map does not know raises ScoringError naming file, line and value.
Metrics are plain numpy (no torch): accuracy, macro-F1, confusion matrix, expected calibration error.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from journeypulse.errors import ConfigError, ScoringError
from sentiment.calibration import expected_calibration_error
from sentiment.scores import LABELS, SentimentModel

__all__ = ["DEFAULT_LABEL_MAP", "FORMATS", "GroupMetrics", "LabelledRow", "TableSpec", "bootstrap_interval",
           "evaluate_model", "macro_f1", "split_report",
           "metrics", "parse_label_map", "read_labelled", "report"]

FORMATS = ("jsonl", "csv", "txt")
ECE_BINS = 15
# What a label cell may hold without a --label-map: our names, their short forms, and UMSAB's 0/1/2.
DEFAULT_LABEL_MAP: dict[str, int] = {
    "negative": 0, "neg": 0, "0": 0, "neutral": 1, "neu": 1, "1": 1, "positive": 2, "pos": 2, "2": 2,
}


@dataclass(frozen=True)
class LabelledRow:
    """One labelled text: gold label index, language tag (or 'und'), and the source it is reported under."""

    text: str
    label: int
    language: str
    source: str


@dataclass(frozen=True)
class TableSpec:
    """How to read one labelled file: its format, columns, language and label map."""

    format: str = "jsonl"
    text_col: str = "text"
    label_col: str = "label"
    lang_col: str | None = None
    lang: str | None = None
    source_col: str | None = None
    label_map: Mapping[str, int] | None = None


def parse_label_map(spec: str) -> dict[str, int]:
    """``"0=negative,1=neutral,2=positive"`` (or ``pos=positive,...,q=neutral``) -> raw value -> LABELS index."""
    mapping: dict[str, int] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        raw, sep, name = part.partition("=")
        label = name.strip().casefold()
        target = None if label.isdigit() else DEFAULT_LABEL_MAP.get(label)
        if not sep or not raw.strip() or target is None:
            raise ConfigError(f"label map entry {part!r} is not RAW=LABEL with LABEL one of {', '.join(LABELS)}; "
                              "write e.g. --label-map \"0=negative,1=neutral,2=positive\"")
        mapping[raw.strip()] = target
    if not mapping:
        raise ConfigError(f"label map {spec!r} is empty; write e.g. --label-map \"0=negative,1=neutral,2=positive\"")
    return mapping


def _records(path: Path, spec: TableSpec) -> Iterator[tuple[int, Mapping[str, object]]]:
    """(line number, record) pairs; a txt file pairs ``*text*.txt`` lines with its ``*labels*.txt`` sibling."""
    try:
        if spec.format == "jsonl":
            with path.open(encoding="utf-8") as fh:
                for number, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
                        raise ScoringError(f"{path} line {number}: not valid JSON ({exc}); fix the line") from exc
                    if not isinstance(record, dict):
                        raise ScoringError(f"{path} line {number}: expected a JSON object, got "
                                           f"{type(record).__name__}")
                    yield number, record
        elif spec.format == "csv":
            with path.open(encoding="utf-8", newline="") as fh:
                for number, record in enumerate(csv.DictReader(fh), start=2):
                    yield number, record
        elif spec.format == "txt":
            labels_path = _sibling_labels(path)
            texts = path.read_text(encoding="utf-8").splitlines()
            labels = labels_path.read_text(encoding="utf-8").splitlines()
            if len(texts) != len(labels):
                raise ScoringError(f"{path} has {len(texts)} lines but {labels_path} has {len(labels)}; "
                                   "they must pair line by line")
            for number, (text, label) in enumerate(zip(texts, labels, strict=True), start=1):
                yield number, {spec.text_col: text, spec.label_col: label}
        else:
            raise ConfigError(f"data format {spec.format!r} is not one of {', '.join(FORMATS)}")
    except OSError as exc:
        raise ScoringError(f"cannot read labelled file {exc.filename or path} ({exc.strerror}); fix --data") from exc


def _sibling_labels(path: Path) -> Path:
    if "text" not in path.name:
        raise ConfigError(f"txt data file {path} must be named like val_text.txt so its labels file "
                          "(val_labels.txt) can be found; rename it or use --format jsonl/csv")
    return path.with_name(path.name.replace("text", "labels"))


def read_labelled(path: Path, spec: TableSpec) -> list[LabelledRow]:
    """Every labelled row of ``path``; source is ``spec.source_col``'s value or the file's folder/name."""
    label_map = dict(spec.label_map) if spec.label_map is not None else DEFAULT_LABEL_MAP
    default_source = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    rows: list[LabelledRow] = []
    for number, record in _records(path, spec):
        for column in (spec.text_col, spec.label_col, spec.lang_col, spec.source_col):
            if column is not None and column not in record:
                raise ScoringError(f"{path} line {number}: column {column!r} is missing (has: "
                                   f"{', '.join(map(str, record))}); fix --text-col/--label-col/--lang-col")
        raw = str(record[spec.label_col]).strip()
        key = raw if raw in label_map else raw.casefold()
        if key not in label_map:
            raise ScoringError(f"{path} line {number}: label {raw!r} is not in the label map "
                               f"({', '.join(sorted(label_map))}); pass --label-map, e.g. \"{raw}=neutral,...\"")
        language = str(record[spec.lang_col]) if spec.lang_col else (spec.lang or "und")
        source = str(record[spec.source_col]) if spec.source_col else default_source
        rows.append(LabelledRow(str(record[spec.text_col]), label_map[key], language or "und", source))
    if not rows:
        raise ScoringError(f"labelled file {path} has no rows; check --format and the file")
    return rows


@dataclass(frozen=True)
class GroupMetrics:
    """Metrics of one group of rows; F1 values and accuracy are fractions in [0, 1]."""

    n: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    ece: float
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "accuracy": self.accuracy, "macro_f1": self.macro_f1, "f1": self.f1,
                "ece": self.ece, "confusion": {"rows": "gold", "columns": "predicted", "labels": list(LABELS),
                                               "counts": self.confusion}}


def metrics(truth: Sequence[int] | np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> GroupMetrics:
    """Accuracy, macro-F1 (over the classes present in gold or predictions), confusion, top-label ECE."""
    gold = np.asarray(truth, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.shape != (len(gold), 3):
        raise ScoringError(f"expected {len(gold)} rows of 3 probabilities, got shape {probs.shape}")
    if len(gold) == 0:
        raise ScoringError("cannot compute metrics on zero rows")
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((3, 3), dtype=np.int64)
    np.add.at(confusion, (gold, predicted), 1)
    f1: dict[str, float] = {}
    present = []
    for k, name in enumerate(LABELS):
        tp = confusion[k, k]
        gold_k, pred_k = confusion[k].sum(), confusion[:, k].sum()
        f1[name] = float(2 * tp / (gold_k + pred_k)) if gold_k + pred_k else 0.0
        if gold_k + pred_k:
            present.append(f1[name])
    return GroupMetrics(n=len(gold), accuracy=float((predicted == gold).mean()), macro_f1=float(np.mean(present)),
                        f1=f1, ece=expected_calibration_error(probs, gold, bins), confusion=confusion.tolist())


def macro_f1(truth: Sequence[int] | np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over all three labels (a label absent from gold and predictions counts 0), as training
    reports it per language."""
    from sklearn.metrics import f1_score

    return float(f1_score(np.asarray(truth), predicted, average="macro", labels=[0, 1, 2], zero_division=0))


def _grouped(rows: Sequence[LabelledRow], probabilities: np.ndarray,
             key: Callable[[LabelledRow], str]) -> dict[str, dict[str, object]]:
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(key(row), []).append(index)
    gold = np.asarray([r.label for r in rows])
    return {name: metrics(gold[idx], probabilities[idx]).as_dict() for name, idx in sorted(groups.items())}


def report(rows: Sequence[LabelledRow], probabilities: np.ndarray, *, model: str, revision: str,
           backend: str, files: Sequence[str]) -> dict[str, object]:
    """The machine-readable evaluation: overall, per language and per source (all fractions in [0, 1])."""
    gold = [r.label for r in rows]
    return {
        "model": model, "revision": revision, "backend": backend, "files": list(files), "labels": list(LABELS),
        "ece_bins": ECE_BINS, "overall": metrics(gold, probabilities).as_dict(),
        "by_language": _grouped(rows, probabilities, lambda r: r.language),
        "by_source": _grouped(rows, probabilities, lambda r: r.source),
    }


def evaluate_model(model: SentimentModel, texts: Sequence[str], *, chunk: int = 1024,
                   advance: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, 3) probabilities of ``model`` on ``texts``, scored in chunks so memory stays bounded."""
    parts: list[np.ndarray] = []
    for start in range(0, len(texts), chunk):
        batch = list(texts[start:start + chunk])
        scores = model.score(batch)
        if len(scores) != len(batch):
            raise ScoringError(f"model {model.name} returned {len(scores)} results for {len(batch)} texts")
        parts.append(np.asarray([s.probabilities for s in scores], dtype=np.float64))
        if advance is not None:
            advance(len(batch))
    return np.concatenate(parts) if parts else np.zeros((0, 3), dtype=np.float64)


def _macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 of a stack of 3x3 confusion matrices [..., gold, predicted] (an absent label counts 0)."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    gold, predicted = confusion.sum(axis=-1), confusion.sum(axis=-2)
    denominator = gold + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    result: np.ndarray = f1.mean(axis=-1)
    return result


def bootstrap_interval(truth: Sequence[int] | np.ndarray, predicted: np.ndarray, *, resamples: int = 1000,
                       seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of macro-F1 (rows resampled with replacement, seeded)."""
    gold = np.asarray(truth, dtype=np.int64)
    pred = np.asarray(predicted, dtype=np.int64)
    rows = np.random.default_rng(seed).integers(0, len(gold), size=(resamples, len(gold)))
    confusion = np.zeros((resamples, 3, 3), dtype=np.int64)
    np.add.at(confusion, (np.arange(resamples)[:, None], gold[rows], pred[rows]), 1)
    scores = _macro_f1_from_confusion(confusion)
    return float(np.percentile(scores, 2.5)), float(np.percentile(scores, 97.5))


def split_report(probabilities: np.ndarray, truth: Sequence[int] | np.ndarray, *, seed: int = 0) -> dict[str, object]:
    """What a model card reports for one labelled split: rows, macro-F1 with its 95% bootstrap interval, accuracy,
    ECE, the gold and predicted label shares and the confusion matrix (rows gold, columns predicted)."""
    gold = np.asarray(truth, dtype=np.int64)
    predicted = np.asarray(probabilities).argmax(axis=1)
    confusion = np.zeros((3, 3), dtype=np.int64)
    np.add.at(confusion, (gold, predicted), 1)
    low, high = bootstrap_interval(gold, predicted, seed=seed)
    return {"rows": int(len(gold)), "macro_f1": float(_macro_f1_from_confusion(confusion)), "ci95": [low, high],
            "accuracy": float((gold == predicted).mean()) if len(gold) else 0.0,
            "ece": expected_calibration_error(np.asarray(probabilities), gold) if len(gold) else 0.0,
            "gold_shares": (np.bincount(gold, minlength=3) / max(1, len(gold))).tolist(),
            "predicted_shares": (np.bincount(predicted, minlength=3) / max(1, len(gold))).tolist(),
            "confusion": confusion.tolist()}
