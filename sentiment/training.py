"""Trains the linear sentiment head on frozen multilingual-e5-small embeddings and writes its model card.

Invariant: embeddings are cached per (encoder revision, data file content, prefix, max_tokens), so a
re-run re-embeds nothing; hyper-parameters are chosen on the validation splits only (no test data).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from journeypulse.errors import ScoringError
from sentiment.datasets import LabelledSplit, discover_splits
from sentiment.encoder_build import ENCODER_DIRNAME, ensure_encoder, read_revision
from sentiment.head import BUILTIN_PREFIX, Head, save_head
from sentiment.model_card import write_model_card

__all__ = ["TrainingReport", "train_head"]

log = logging.getLogger(__name__)
PREFIX = "query: "
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
# Each language weighs the same in the loss (Wisesight alone has more rows than all of UMSAB), times
# this factor; Thai is a first-class product language. Chosen on the validation splits (MODEL_CARD.md).
LANGUAGE_WEIGHTS = {"thai": 3.0}


@dataclass(frozen=True)
class TrainingReport:
    """What a training run produced: the chosen C and validation macro-F1 per language."""

    out_dir: Path
    c: float
    val_macro_f1: dict[str, float]
    train_rows: int
    files: tuple[str, ...]
    comparisons: dict[str, dict[str, float]]


def train_head(data_dir: Path, out_dir: Path, cache_dir: Path, seed: int = 0, *,
               max_tokens: int = 128, batch_size: int = 64,
               language_weights: dict[str, float] | None = None) -> TrainingReport:
    """Embed every split under ``data_dir`` (cached), fit logistic regression, write head + MODEL_CARD.md.

    Rows are weighted so every language carries the same total weight, times ``language_weights``
    (default LANGUAGE_WEIGHTS); C is chosen by mean validation macro-F1 over the languages.
    """
    factors = LANGUAGE_WEIGHTS if language_weights is None else language_weights
    from sentiment.torch_backend import TextEncoder

    splits = discover_splits(Path(data_dir))
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
        return {s.language: _macro_f1(s.labels, head.probabilities(embedded[(s.language, "val")]).argmax(1))
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
    root = Path(data_dir).resolve()
    files = tuple(sorted(str(f.resolve().relative_to(root)) if f.resolve().is_relative_to(root) else str(f)
                         for s in splits for f in s.files))
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


def _row_weights(train: list[LabelledSplit], factors: dict[str, float]) -> np.ndarray:
    """Row weights giving every language the same total (times its factor), scaled to a mean of 1."""
    weights = np.concatenate([np.full(len(s.labels), factors.get(s.language, 1.0) / len(s.labels)) for s in train])
    return weights * (len(weights) / weights.sum())


def _cached_embeddings(encoder: object, split: LabelledSplit, cache: Path, max_tokens: int) -> np.ndarray:
    from sentiment.torch_backend import TextEncoder

    assert isinstance(encoder, TextEncoder)
    digest = hashlib.sha256(json.dumps([PREFIX, max_tokens, split.texts], ensure_ascii=False).encode()).hexdigest()
    path = cache / f"{split.language}-{split.split}-{digest[:16]}.npy"
    if path.is_file():
        cached = np.load(path)
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
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

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


def _macro_f1(truth: tuple[int, ...] | np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score  # type: ignore[import-untyped]

    return float(f1_score(np.asarray(truth), predicted, average="macro", labels=[0, 1, 2]))


def main(argv: list[str] | None = None) -> None:
    """``python -m sentiment.training --data DIR --out DIR [--cache DIR] [--seed N]``: rebuild the head."""
    import argparse

    parser = argparse.ArgumentParser(description="Train the journeypulse sentiment head.")
    parser.add_argument("--data", type=Path, required=True, help="folder holding umsab/ and wisesight/")
    parser.add_argument("--out", type=Path, required=True, help="head folder to write")
    parser.add_argument("--cache", type=Path, required=True, help="cache dir (encoder and embeddings)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    report = train_head(args.data, args.out, args.cache, args.seed)
    print(f"wrote {report.out_dir}: C={report.c}, validation macro-F1 "
          + ", ".join(f"{k} {v:.3f}" for k, v in sorted(report.val_macro_f1.items())))


if __name__ == "__main__":
    main()
