"""Training the multi-task journey heads (scikit-learn logistic regressions) on precomputed features.

Invariant: only rows outside the held-out part reach this module's fitting (``fit_journey_heads`` raises
if a held-out project row is passed); C, the feature set and every threshold are chosen on the
validation part of the train data, then the heads are refitted on train + validation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from journeypulse.errors import ConfigError
from journeys.dataset import EXIT_TYPES, PAIN_POINTS, STAGES, JourneyExample
from journeys.multitask import NO_PAIN, FeatureSpec, JourneyHeads, LinearHead

log = logging.getLogger(__name__)

RECIPE = "journey-heads-logreg/1"
C_GRID = (1.0, 4.0, 16.0)
FEATURE_OPTIONS = (FeatureSpec(("last",), False), FeatureSpec(("last", "mid"), False),
                   FeatureSpec(("last", "mid"), True), FeatureSpec(("last",), True))
THRESHOLD_GRID = tuple(round(float(x), 2) for x in np.arange(0.2, 0.81, 0.05))
PAIN_CLASSES = (*PAIN_POINTS, NO_PAIN)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TrainingData:
    """Rows and their features: ``encoded`` = [last | mid] blocks of ``dim`` columns, ``rules`` = rule features."""

    examples: Sequence[JourneyExample]
    encoded: np.ndarray
    rules: np.ndarray
    dim: int

    def features(self, spec: FeatureSpec, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        blocks = [self.encoded[rows, : self.dim]]
        if "mid" in spec.layers:
            blocks.append(self.encoded[rows, self.dim: 2 * self.dim])
        if spec.rules:
            blocks.append(self.rules[rows])
        return np.hstack(blocks).astype(np.float64)


def _fit_softmax(x: np.ndarray, labels: Sequence[str], weights: np.ndarray, classes: Sequence[str],
                 c: float) -> LinearHead:
    """Multinomial logistic regression; classes absent from ``labels`` get a -30 bias (never predicted)."""
    from sklearn.linear_model import LogisticRegression

    present = sorted(set(labels))
    weight = np.zeros((len(classes), x.shape[1]))
    bias = np.full(len(classes), -30.0)
    if len(present) == 1:
        bias[list(classes).index(present[0])] = 0.0
        return LinearHead(tuple(classes), "softmax", weight, bias)
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(x, list(labels), sample_weight=weights)
    coef, intercept = model.coef_, model.intercept_
    if len(present) == 2:  # sklearn keeps one row for two classes: logit of the second
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    for row, name in enumerate(model.classes_):
        weight[list(classes).index(str(name))] = coef[row]
        bias[list(classes).index(str(name))] = intercept[row]
    return LinearHead(tuple(classes), "softmax", weight, bias)


def _fit_sigmoid(x: np.ndarray, targets: np.ndarray, weights: np.ndarray, classes: Sequence[str],
                 c: float) -> LinearHead:
    """One binary logistic regression per column of ``targets`` (rows, classes) of 0/1."""
    from sklearn.linear_model import LogisticRegression

    weight = np.zeros((len(classes), x.shape[1]))
    bias = np.zeros(len(classes))
    for col in range(len(classes)):
        y = targets[:, col]
        if y.min() == y.max():  # one value only: a constant at the (smoothed) base rate
            rate = (y.sum() + 0.5) / (len(y) + 1.0)
            bias[col] = math.log(rate / (1.0 - rate))
            continue
        model = LogisticRegression(C=c, max_iter=1000)
        model.fit(x, y, sample_weight=weights)
        weight[col], bias[col] = model.coef_[0], model.intercept_[0]
    return LinearHead(tuple(classes), "sigmoid", weight, bias)


def _rows(examples: Sequence[JourneyExample], keep: Callable[[JourneyExample], bool]) -> np.ndarray:
    return np.array([i for i, e in enumerate(examples) if keep(e)], dtype=np.int64)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _best_threshold(scores: Callable[[float], float]) -> tuple[float, float]:
    best = max(THRESHOLD_GRID, key=lambda t: (scores(t), -abs(t - 0.5)))
    return best, scores(best)


def binary_f1(gold: Sequence[bool], p: np.ndarray, threshold: float) -> float:
    tp = sum(1 for g, q in zip(gold, p, strict=True) if g and q >= threshold)
    fp = sum(1 for g, q in zip(gold, p, strict=True) if not g and q >= threshold)
    fn = sum(1 for g, q in zip(gold, p, strict=True) if g and q < threshold)
    return _f1(tp, fp, fn)


def pain_scores(gold: Sequence[str | None], predicted: Sequence[str | None]) -> tuple[float, float, float]:
    """(precision, recall, F1) of pain-point tags: a predicted tag is right when it equals the gold tag."""
    tp = sum(1 for g, p in zip(gold, predicted, strict=True) if p is not None and p == g)
    fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p is not None and p != g)
    fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g is not None and p != g)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, _f1(tp, fp, fn)


def _pain_predictions(head: LinearHead, x: np.ndarray, threshold: float) -> list[str | None]:
    p = head.probabilities(x)
    none = head.classes.index(NO_PAIN)
    out: list[str | None] = []
    for row in p:
        if 1.0 - row[none] < threshold:
            out.append(None)
            continue
        ranked = [j for j in np.argsort(-row) if j != none]
        out.append(head.classes[int(ranked[0])])
    return out


class _Fitter:
    def __init__(self, data: TrainingData, spec: FeatureSpec, c: float, rows: np.ndarray) -> None:
        self.data, self.spec, self.c = data, spec, c
        self.x = data.features(spec, rows)
        self.examples = [data.examples[i] for i in rows]
        self.w = np.array([e.weight for e in self.examples], dtype=np.float64)

    def _subset(self, keep: Callable[[JourneyExample], bool]) -> np.ndarray:
        return _rows(self.examples, keep)

    def stage(self) -> LinearHead:
        idx = self._subset(lambda e: e.stage is not None)
        missing = sorted(set(STAGES) - {self.examples[i].stage for i in idx})
        if missing:
            raise ConfigError(f"journey training data has no rows for stage(s) {missing}; add labelled mentions")
        return _fit_softmax(self.x[idx], [str(self.examples[i].stage) for i in idx], self.w[idx], STAGES, self.c)

    def secondary(self) -> LinearHead:
        idx = self._subset(lambda e: e.secondary is not None)
        targets = np.array([[1.0 if s in (self.examples[i].secondary or ()) else 0.0 for s in STAGES] for i in idx])
        return _fit_sigmoid(self.x[idx], targets.reshape(len(idx), len(STAGES)), self.w[idx], STAGES, self.c)

    def exit(self) -> LinearHead:
        idx = self._subset(lambda e: e.exit_signal is not None)
        targets = np.array([[1.0 if self.examples[i].exit_signal else 0.0] for i in idx]).reshape(len(idx), 1)
        return _fit_sigmoid(self.x[idx], targets, self.w[idx], ("exit",), self.c)

    def exit_type(self) -> LinearHead:
        idx = self._subset(lambda e: e.exit_type is not None)
        if len(idx) == 0:
            raise ConfigError("journey training data has no exit rows with an exit type; add labelled mentions")
        return _fit_softmax(self.x[idx], [str(self.examples[i].exit_type) for i in idx], self.w[idx], EXIT_TYPES,
                            self.c)

    def question(self) -> LinearHead:
        idx = self._subset(lambda e: e.question is not None)
        targets = np.array([[1.0 if self.examples[i].question else 0.0] for i in idx]).reshape(len(idx), 1)
        return _fit_sigmoid(self.x[idx], targets, self.w[idx], ("question",), self.c)

    def pain(self) -> LinearHead:
        idx = self._subset(lambda e: e.pain_known)
        labels = [self.examples[i].pain_point or NO_PAIN for i in idx]
        return _fit_softmax(self.x[idx], labels, self.w[idx], PAIN_CLASSES, self.c)

    def all(self) -> dict[str, LinearHead]:
        return {"stage": self.stage(), "secondary": self.secondary(), "exit": self.exit(),
                "exit_type": self.exit_type(), "question": self.question(), "pain": self.pain()}


def validation_figures(heads: dict[str, LinearHead], x: np.ndarray, examples: Sequence[JourneyExample],
                       thresholds: dict[str, float]) -> dict[str, float]:
    """Stage accuracy, exit F1, question F1, pain precision/recall of heads on labelled rows."""
    stage_p = heads["stage"].probabilities(x)
    stage_pred = [heads["stage"].classes[int(i)] for i in stage_p.argmax(axis=1)]
    exit_p = heads["exit"].probabilities(x)[:, 0]
    question_p = heads["question"].probabilities(x)[:, 0]
    pains = _pain_predictions(heads["pain"], x, thresholds["pain"])
    acc = float(np.mean([p == e.stage for p, e in zip(stage_pred, examples, strict=True)])) if examples else 0.0
    precision, recall, f1 = pain_scores([e.pain_point for e in examples], pains)
    return {"stage_accuracy": round(acc, 4),
            "exit_f1": round(binary_f1([bool(e.exit_signal) for e in examples], exit_p, thresholds["exit"]), 4),
            "question_f1": round(binary_f1([bool(e.question) for e in examples], question_p,
                                           thresholds["question"]), 4),
            "pain_precision": round(precision, 4), "pain_recall": round(recall, 4), "pain_f1": round(f1, 4)}


def _choose_thresholds(heads: dict[str, LinearHead], x: np.ndarray,
                       examples: Sequence[JourneyExample]) -> dict[str, float]:
    exit_p = heads["exit"].probabilities(x)[:, 0]
    question_p = heads["question"].probabilities(x)[:, 0]
    secondary_p = heads["secondary"].probabilities(x)
    stage_pred = heads["stage"].probabilities(x).argmax(axis=1)
    exit_gold = [bool(e.exit_signal) for e in examples]
    question_gold = [bool(e.question) for e in examples]

    def secondary_f1(t: float) -> float:
        tp = fp = fn = 0
        for i, e in enumerate(examples):
            gold = set(e.secondary or ())
            picked = {s for j, s in enumerate(STAGES) if secondary_p[i, j] >= t and j != stage_pred[i]}
            tp, fp, fn = tp + len(gold & picked), fp + len(picked - gold), fn + len(gold - picked)
        return _f1(tp, fp, fn)

    gold_pain = [e.pain_point for e in examples]
    exit_t, _ = _best_threshold(lambda t: binary_f1(exit_gold, exit_p, t))
    question_t, _ = _best_threshold(lambda t: binary_f1(question_gold, question_p, t))
    secondary_t, _ = _best_threshold(secondary_f1)
    pain_t, _ = _best_threshold(lambda t: pain_scores(gold_pain, _pain_predictions(heads["pain"], x, t))[2])
    return {"exit": exit_t, "question": question_t, "secondary": secondary_t, "pain": pain_t}


def fit_journey_heads(data: TrainingData, *, encoder_revision: str, rule_names: Sequence[str],
                      progress: Progress = _quiet, options: Sequence[FeatureSpec] = FEATURE_OPTIONS,
                      c_grid: Sequence[float] = C_GRID) -> JourneyHeads:
    """Choose features and C on the validation part, thresholds too, then refit on train + validation."""
    if any(e.source == "project" and e.part == "holdout" for e in data.examples):
        raise ConfigError("held-out journey mentions reached training; filter them with dataset.training_rows")
    train_rows = _rows(data.examples, lambda e: e.part == "train")
    val_rows = _rows(data.examples, lambda e: e.part == "validation")
    if len(val_rows) == 0:
        raise ConfigError("journey training data has no validation rows (project mentions); add labelled mentions")
    val_examples = [data.examples[i] for i in val_rows]
    search: list[dict[str, object]] = []
    best: tuple[float, FeatureSpec, float] | None = None
    for spec in options:
        for c in c_grid:
            fitter = _Fitter(data, spec, c, train_rows)
            heads = {"stage": fitter.stage(), "exit": fitter.exit()}
            x_val = data.features(spec, val_rows)
            acc = float(np.mean([heads["stage"].classes[int(i)] == e.stage for i, e in
                                 zip(heads["stage"].probabilities(x_val).argmax(axis=1), val_examples, strict=True)]))
            exit_p = heads["exit"].probabilities(x_val)[:, 0]
            exit_gold = [bool(e.exit_signal) for e in val_examples]

            def exit_score(t: float, p: np.ndarray = exit_p, gold: list[bool] = exit_gold) -> float:
                return binary_f1(gold, p, t)

            _, exit_f1 = _best_threshold(exit_score)
            search.append({"features": spec.as_dict(), "C": c, "stage_accuracy": round(acc, 4),
                           "exit_f1": round(exit_f1, 4)})
            progress(f"  features={'+'.join(spec.layers)}{'+rules' if spec.rules else ''} C={c:g}: "
                     f"validation stage accuracy {acc:.3f}, exit F1 {exit_f1:.3f}")
            score = acc + exit_f1
            if best is None or score > best[0] + 1e-9:
                best = (score, spec, c)
    assert best is not None
    _, spec, c = best
    progress(f"chosen: features={'+'.join(spec.layers)}{'+rules' if spec.rules else ''} C={c:g}; fitting all heads")
    heads = _Fitter(data, spec, c, train_rows).all()
    x_val = data.features(spec, val_rows)
    thresholds = _choose_thresholds(heads, x_val, val_examples)
    figures = validation_figures(heads, x_val, val_examples, thresholds)
    progress(f"validation ({len(val_rows)} rows): {figures}; thresholds {thresholds}")
    progress("refitting on train + validation")
    final = _Fitter(data, spec, c, np.concatenate([train_rows, val_rows])).all()
    meta: dict[str, object] = {
        "recipe": RECIPE, "C": c, "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "validation": figures, "search": search,
        "rows": {"train": int(len(train_rows)), "validation": int(len(val_rows))},
    }
    return JourneyHeads(heads=final, features=spec, encoder_revision=encoder_revision, thresholds=thresholds,
                        rule_names=tuple(rule_names) if spec.rules else (), meta=meta)


__all__ = ["C_GRID", "FEATURE_OPTIONS", "PAIN_CLASSES", "RECIPE", "TrainingData", "binary_f1", "fit_journey_heads",
           "pain_scores", "validation_figures"]
