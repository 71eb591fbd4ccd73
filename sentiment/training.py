"""Trains sentiment models on labelled files and writes their model cards: the entry point ``train_model``.

    train_model(data_files: Sequence[LabelledFile], out_dir: Path, cache_dir: Path, *, seed: int = 0,
                method: "top-layers" | "linear" = "top-layers", epochs: int | None = None,
                top_layers: int | None = None, max_tokens: int | None = None, encoder: Path | None = None,
                init_head: Path | None = <first head>,
                max_steps: int | None = None, baseline: Path | None = <first head>,
                settings: FinetuneSettings | None = None, probes: Sequence[LabelledFile] = ()) -> TrainingReport

``probes``: small labelled sets (e.g. the Vietnamese seed) scored by the trained model and the baseline for
the card only; they are never trained or tuned on.
``settings`` (a ``sentiment.finetune.FinetuneSettings``; its defaults are the shipped model's recipe) holds
every top-layer knob; ``epochs``, ``top_layers``, ``max_tokens`` and ``max_steps`` override it when given.
``LabelledFile(path, format, language, split, label_map)``: format ``umsab`` (path = ``<split>_text.txt``,
labels read from the sibling ``<split>_labels.txt``), ``wisesight``, ``jsonl`` or ``csv`` (fields ``text`` and
``label``; ``label_map`` maps each raw label to negative/neutral/positive). ``split`` is train or val.
Invariant: cached embeddings / hidden states are keyed by (encoder revision, texts, prefix, max_tokens), so a
re-run recomputes nothing; everything is chosen on the validation splits only (no test data).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from journeypulse.errors import ScoringError
from sentiment.datasets import (
    DATASETS,
    LICENCE_CLASSES,
    UMSAB_LANGUAGES,
    LabelledSplit,
    carve_test_like,
    read_converted,
    read_umsab,
    read_wisesight,
)
from sentiment.encoder_build import ENCODER_DIRNAME, ensure_encoder, read_revision
from sentiment.evaluation import macro_f1
from sentiment.head import BUILTIN_PREFIX, Head, save_head

if TYPE_CHECKING:
    from sentiment.finetune import FinetuneSettings
from sentiment.model_card import write_model_card

__all__ = ["LabelledFile", "TrainingReport", "discover_files", "read_labelled_file", "train_model"]

log = logging.getLogger(__name__)
PREFIX = "query: "
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
# Each language weighs the same in the loss (Wisesight alone has more rows than all of UMSAB), times
# this factor; Thai is a first-class product language. Chosen on the validation splits (MODEL_CARD.md).
LANGUAGE_WEIGHTS = {"thai": 3.0}


@dataclass(frozen=True)
class TrainingReport:
    """What a training run produced: validation macro-F1 per language (through the shipped loading path for
    ``top-layers``), the chosen C (``linear``), calibration and the per-epoch history."""

    out_dir: Path
    c: float | None
    val_macro_f1: dict[str, float]
    train_rows: int
    files: tuple[str, ...]
    comparisons: dict[str, dict[str, float]]
    method: str = "linear"
    calibration: dict[str, float] = field(default_factory=dict)
    history: tuple[dict[str, float], ...] = ()
    settings: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


_LABEL_NAMES = {"negative": 0, "neutral": 1, "positive": 2}


@dataclass(frozen=True)
class LabelledFile:
    """One labelled file: where it is, how to read it, its language and split, and its raw label -> label map."""

    path: Path
    format: str  # umsab | wisesight | converted | jsonl | csv
    language: str
    split: str = "train"  # train | val
    label_map: Mapping[str, str] = field(default_factory=lambda: {"0": "negative", "1": "neutral", "2": "positive"})
    # False: every row is used even when top-layer training cuts train files to max_train_rows
    # (recorded corrections are few and were written to be learnt from).
    capped: bool = True
    dataset: str | None = None  # the shared set's folder name (licence lookup), for the shipped layout's files


def read_labelled_file(file: LabelledFile) -> LabelledSplit:
    """The file's texts and label indices; ScoringError names the file, line and fix for bad rows."""
    path = Path(file.path)
    if file.split not in ("train", "val"):
        raise ScoringError(f"labelled file {path}: split {file.split!r} must be 'train' or 'val'")
    if file.format == "umsab":
        split = read_umsab(path.parent, file.language, path.name.removesuffix("_text.txt"))
        return LabelledSplit(file.language, file.split, split.texts, split.labels, split.files)
    if file.format == "wisesight":
        split = read_wisesight(path, file.split)
        return LabelledSplit(file.language, file.split, split.texts, split.labels, split.files)
    if file.format == "converted":
        for part in read_converted(path, file.dataset or path.parent.name, file.split):
            if part.language == file.language:
                return part
        raise ScoringError(f"labelled file {path}: no rows of {file.language!r}")
    if file.format not in ("jsonl", "csv"):
        raise ScoringError(f"labelled file {path}: format {file.format!r} is not umsab, wisesight, jsonl or csv")
    mapping = {str(k): _LABEL_NAMES.get(str(v)) for k, v in file.label_map.items()}
    if any(v is None for v in mapping.values()):
        raise ScoringError(f"labelled file {path}: label_map {dict(file.label_map)} must map to negative, neutral "
                           "or positive")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = (list(csv.DictReader(fh)) if file.format == "csv"
                    else [json.loads(line) for line in fh if line.strip()])
    except (OSError, ValueError) as exc:
        raise ScoringError(f"labelled file {path}: cannot read it as {file.format} ({exc}); fix the file") from exc
    texts, labels = [], []
    for number, row in enumerate(rows, start=1):
        raw = str(row.get("label")) if isinstance(row, dict) else None
        label = mapping.get(raw) if raw is not None else None
        if label is None or not isinstance(row.get("text"), str):
            raise ScoringError(f"labelled file {path} row {number}: needs a text and a label in "
                               f"{sorted(mapping)}, got label {raw!r}; fix the row or the label_map")
        texts.append(row["text"])
        labels.append(label)
    return LabelledSplit(file.language, file.split, tuple(texts), tuple(labels), (path,))


def discover_files(data_dir: Path, licence_classes: Sequence[str] = LICENCE_CLASSES,
                   exclude: Sequence[str] = ()) -> list[LabelledFile]:
    """The LabelledFiles of the shared datasets layout under data_dir (``umsab/<language>/``, ``wisesight/`` and
    the converted sets of ``sentiment.datasets.DATASETS``), keeping only sets whose licence class is in
    ``licence_classes`` and whose name is not in ``exclude``."""
    unknown = sorted(set(licence_classes) - set(LICENCE_CLASSES)) + sorted(set(exclude) - set(DATASETS))
    if unknown:
        raise ScoringError(f"unknown licence class or data set {unknown}; licence classes: {list(LICENCE_CLASSES)}, "
                           f"sets: {sorted(DATASETS)}")
    wanted = {name for name, info in DATASETS.items() if info.licence_class in licence_classes and name not in exclude}
    files = [LabelledFile(data_dir / "umsab" / lang / f"{split}_text.txt", "umsab", lang, split, dataset="umsab")
             for lang in UMSAB_LANGUAGES for split in ("train", "val")
             if "umsab" in wanted and (data_dir / "umsab" / lang / f"{split}_text.txt").is_file()]
    files += [LabelledFile(data_dir / "wisesight" / name, "wisesight", "thai", split, dataset="wisesight")
              for name, split in (("train.jsonl", "train"), ("valid.jsonl", "val"))
              if "wisesight" in wanted and (data_dir / "wisesight" / name).is_file()]
    for name in sorted(wanted - {"umsab", "wisesight"}):
        for file_name, split in (("train.jsonl", "train"), ("valid.jsonl", "val")):
            path = data_dir / name / file_name
            if path.is_file():
                files += [LabelledFile(path, "converted", part.language, split, dataset=name)
                          for part in read_converted(path, name, split)]
    if not any(f.split == "train" for f in files):
        raise ScoringError(f"no training data under {data_dir}: expected umsab/<language>/train_text.txt or "
                           "wisesight/train.jsonl")
    return files


def _train_linear(splits: list[LabelledSplit], out_dir: Path, cache_dir: Path, seed: int, files: tuple[str, ...], *,
                  max_tokens: int = 128, batch_size: int = 64, factors: dict[str, float]) -> TrainingReport:
    from sentiment.torch_backend import TextEncoder

    encoder_folder = ensure_encoder(Path(cache_dir))
    revision = read_revision(encoder_folder)
    encoder = TextEncoder(encoder_folder, max_tokens=max_tokens, batch_size=batch_size, prefix=PREFIX)
    cache = Path(cache_dir) / "embeddings" / hashlib.sha256(revision.encode()).hexdigest()[:16]
    embedded = {(s.language, s.split): _cached_embeddings(encoder, s, cache, max_tokens) for s in splits}
    train = [s for s in splits if s.split == "train"]
    val = [s for s in splits if s.split == "val"]
    x_train = np.concatenate([embedded[(s.language, s.split)] for s in train])
    y_train = np.concatenate([np.asarray(s.labels) for s in train])
    weights = _row_weights(train, factors)

    def evaluate(head: Head) -> dict[str, float]:
        return {s.language: macro_f1(s.labels, head.probabilities(embedded[(s.language, "val")]).argmax(1))
                for s in val}

    best: tuple[float, float, dict[str, float], Head] | None = None
    for c in C_GRID:
        head = _fit(x_train, y_train, weights, c, seed)
        scores = evaluate(head)
        mean = float(np.mean(list(scores.values()))) if scores else 0.0
        log.info("C=%s mean validation macro-F1 %.4f", c, mean)
        if best is None or mean > best[1]:
            best = (c, mean, scores, head)
    assert best is not None  # C_GRID is not empty
    c, _mean, scores, head = best
    # The same fit without the weighting choices, so the model card shows what they bought.
    comparisons = {
        "every row weighs the same": evaluate(_fit(x_train, y_train, np.ones(len(y_train)), c, seed)),
        "every language weighs the same, no factors": evaluate(_fit(x_train, y_train, _row_weights(train, {}), c,
                                                                    seed)),
    }
    extra: dict[str, object] = {
        "encoder_revision": revision, "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {"c": c, "seed": seed, "max_tokens": max_tokens, "train_rows": len(y_train),
                     "language_weights": "equal per language, times " + json.dumps(factors), "files": list(files)},
        "validation_macro_f1": {k: round(v, 6) for k, v in scores.items()},
    }
    final = Head(weight=head.weight, bias=head.bias, encoder=head.encoder, prefix=PREFIX, extra=extra)
    save_head(Path(out_dir), final)
    report = TrainingReport(Path(out_dir), c, scores, len(y_train), files, comparisons)
    counts = {s.language: len(s.labels) for s in train}
    write_model_card(Path(out_dir) / "MODEL_CARD.md", report, revision, counts, max_tokens, seed, factors)
    return report


FIRST_HEAD_DIR = Path(__file__).parent / "artifacts" / "first-head"


def train_model(data_files: Sequence[LabelledFile], out_dir: Path, cache_dir: Path, *, seed: int = 0,
                method: str = "top-layers", epochs: int | None = None, top_layers: int | None = None,
                max_tokens: int | None = None,
                encoder: Path | None = None, init_head: Path | None = FIRST_HEAD_DIR,
                max_steps: int | None = None, baseline: Path | None = FIRST_HEAD_DIR,
                settings: FinetuneSettings | None = None, probes: Sequence[LabelledFile] = (),
                resume: bool = False) -> TrainingReport:
    """Train a model folder on ``data_files`` and write its MODEL_CARD.md; see the module docstring.

    ``top-layers``: fine-tune the top ``top_layers`` encoder layers + head on cached lower-layer states,
    early-stopped on mean validation macro-F1, temperature-scaled on validation, then re-measured through
    the ordinary loading path. ``linear``: logistic regression on frozen embeddings (the first head's recipe).
    ``encoder`` None is the built-in multilingual-e5-small; ``init_head`` seeds the head (else a logistic
    regression on the pooled train states); ``baseline`` is a model folder whose recorded validation scores
    the card shows side by side.
    """
    if method == "top-layers":
        from sentiment.finetune import FinetuneSettings

        base = settings or FinetuneSettings()
        splits = _merged_splits(data_files, base.max_train_rows, base.language_factors, seed)
    else:
        splits = _merged_splits(data_files)
    if method == "linear":
        if encoder is not None:
            raise ScoringError("train_model: method 'linear' trains on the built-in encoder only; drop --encoder")
        return _train_linear(splits, Path(out_dir), Path(cache_dir), seed, _relative_files(data_files),
                             max_tokens=max_tokens or 128, factors=LANGUAGE_WEIGHTS)
    if method != "top-layers":
        raise ScoringError(f"train_model: method {method!r} is not 'top-layers' or 'linear'")
    from sentiment.top_layers import run_top_layers

    return run_top_layers(splits, Path(out_dir), Path(cache_dir), seed=seed, epochs=epochs, top_layers=top_layers,
                          max_tokens=max_tokens, encoder=encoder, init_head=init_head, max_steps=max_steps,
                          baseline=baseline, files=_relative_files(data_files), settings=settings,
                          probes=[read_labelled_file(p) for p in probes], resume=resume)


def _merged_splits(data_files: Sequence[LabelledFile], max_train_rows: int | None = None,
                   factors: Mapping[str, float] | None = None, seed: int = 0) -> list[LabelledSplit]:
    """One split per (language, split). Each capped train file first gives up its test-like rows (split
    ``test``, ``sentiment.datasets.is_test_like``: never trained or tuned on, only reported), then is cut to
    max_train_rows x its language factor by a seeded draw (val files and ``capped=False`` files are never cut)."""
    merged: dict[tuple[str, str], list[LabelledSplit]] = {}
    for file in data_files:
        split = read_labelled_file(file)
        if file.capped and split.split == "train":  # corrections (uncapped) are never held back
            split, test_like = carve_test_like(split)
            merged.setdefault((test_like.language, "test"), []).append(test_like)
        if file.capped and max_train_rows is not None:
            split = _capped(split, round(max_train_rows * (factors or {}).get(split.language, 1.0)), seed)
        merged.setdefault((split.language, split.split), []).append(split)
    if not any(key[1] == "train" for key in merged):
        raise ScoringError("train_model: no training file given; pass at least one LabelledFile with split='train'")
    if not any(key[1] == "val" for key in merged):
        raise ScoringError("train_model: no validation file given; pass at least one LabelledFile with split='val' "
                           "(early stopping and calibration need it)")
    return [LabelledSplit(lang, split, tuple(t for p in parts for t in p.texts),
                          tuple(y for p in parts for y in p.labels), tuple(f for p in parts for f in p.files))
            for (lang, split), parts in sorted(merged.items())]


def _capped(split: LabelledSplit, cap: int, seed: int) -> LabelledSplit:
    """A train split cut to ``cap`` rows by a seeded draw (order kept); val splits are never cut."""
    if split.split != "train" or len(split.texts) <= cap:
        return split
    keep = np.sort(np.random.default_rng(seed).choice(len(split.texts), size=cap, replace=False))
    log.info("%s train: using %d of %d rows (max_train_rows)", split.language, cap, len(split.texts))
    return LabelledSplit(split.language, split.split, tuple(split.texts[i] for i in keep),
                         tuple(split.labels[i] for i in keep), split.files)


def _relative_files(data_files: Sequence[LabelledFile]) -> tuple[str, ...]:
    """File names as recorded in the card: relative to the common datasets folder when there is one."""
    names = set()
    for file in data_files:
        split = read_labelled_file(file) if file.format == "umsab" else None
        for path in (split.files if split else (Path(file.path),)):
            resolved = Path(path).resolve()
            parts = resolved.parts
            if "datasets" in parts:
                names.add(str(Path(*parts[parts.index("datasets") + 1:])))
            else:
                names.add(str(resolved))
    return tuple(sorted(names))


def _row_weights(train: list[LabelledSplit], factors: dict[str, float]) -> np.ndarray:
    """Row weights giving every language the same total (times its factor), scaled to a mean of 1."""
    weights = np.concatenate([np.full(len(s.labels), factors.get(s.language, 1.0) / len(s.labels)) for s in train])
    scaled: np.ndarray = weights * (len(weights) / weights.sum())
    return scaled


def _cached_embeddings(encoder: object, split: LabelledSplit, cache: Path, max_tokens: int) -> np.ndarray:
    from sentiment.torch_backend import TextEncoder

    assert isinstance(encoder, TextEncoder)
    digest = hashlib.sha256(json.dumps([PREFIX, max_tokens, split.texts], ensure_ascii=False).encode()).hexdigest()
    path = cache / f"{split.language}-{split.split}-{digest[:16]}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        if cached.shape == (len(split.texts), encoder.dim):
            return cached
    log.info("embedding %s %s: %d texts", split.language, split.split, len(split.texts))
    vectors = _embed_with_progress(encoder, list(split.texts), f"{split.language} {split.split}")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


def _embed_with_progress(encoder: object, texts: list[str], what: str) -> np.ndarray:
    from rich.progress import Progress

    from sentiment.torch_backend import TextEncoder

    assert isinstance(encoder, TextEncoder)
    step = 1024
    parts: list[np.ndarray] = []
    with Progress(transient=True) as progress:
        task = progress.add_task(f"embedding {what}", total=len(texts))
        for start in range(0, len(texts), step):
            parts.append(encoder.embed(texts[start:start + step]))
            progress.advance(task, len(texts[start:start + step]))
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), dtype=np.float32)


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, c: float, seed: int) -> Head:
    """Standardised multinomial logistic regression, folded back into one linear layer over raw embeddings."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0).clip(min=1e-6)
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit((x - mean) / scale, y, sample_weight=weights)
    if list(clf.classes_) != [0, 1, 2]:
        raise ScoringError(f"training data must contain all three labels, got {list(clf.classes_)}")
    weight = clf.coef_ / scale
    bias = clf.intercept_ - weight @ mean
    return Head(weight=weight.astype(np.float32), bias=bias.astype(np.float32),
                encoder=f"{BUILTIN_PREFIX}{ENCODER_DIRNAME}", prefix=PREFIX)
