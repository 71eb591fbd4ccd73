"""Held-out evaluation of the journey linkers on the project's own labelled mentions.

Invariant: only the held-out part (``journeys.dataset.held_out``: sha256 rule, never trained or tuned on)
is scored; the multi-task method uses the same sentiment model pass and heads as the ``enrich`` step,
so the figures describe production.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from journeys.dataset import STAGES, JourneyExample
from journeys.linker import Link

NONE = "none"


@dataclass(frozen=True)
class Predicted:
    """One method's answer for one mention (``question`` None: the method does not answer it)."""

    stage: str | None
    exit_signal: bool
    pain_point: str | None
    question: bool | None = None


def from_links(links: Sequence[Link]) -> Predicted:
    """Top-1 stage = the most confident link; exit signal = any link with one; pain point = the most
    confident link's that has one."""
    return Predicted(stage=links[0].stage if links else None,
                     exit_signal=any(link.exit_signal for link in links),
                     pain_point=next((link.pain_point for link in links if link.pain_point), None))


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def method_metrics(examples: Sequence[JourneyExample], predicted: Sequence[Predicted]) -> dict[str, Any]:
    """Accuracy (overall, per language, per stage), confusion, exit P/R/F1, pain P/R/F1, question F1."""
    n = len(examples)
    pairs = list(zip(examples, predicted, strict=True))
    correct = [e.stage == p.stage for e, p in pairs]
    by_lang: dict[str, list[bool]] = {}
    by_stage: dict[str, list[bool]] = {}
    for (e, _), ok in zip(pairs, correct, strict=True):
        by_lang.setdefault(e.language, []).append(ok)
        by_stage.setdefault(str(e.stage), []).append(ok)
    confusion = Counter((str(e.stage), p.stage or NONE) for e, p in pairs)
    exit_counts = Counter((bool(e.exit_signal), p.exit_signal) for e, p in pairs)
    pain_tp = sum(1 for e, p in pairs if p.pain_point is not None and p.pain_point == e.pain_point)
    pain_fp = sum(1 for e, p in pairs if p.pain_point is not None and p.pain_point != e.pain_point)
    pain_fn = sum(1 for e, p in pairs if e.pain_point is not None and p.pain_point != e.pain_point)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": round(sum(correct) / n, 4) if n else 0.0,
        "accuracy_by_language": {k: round(sum(v) / len(v), 4) for k, v in sorted(by_lang.items())},
        "accuracy_by_stage": {s: round(sum(by_stage[s]) / len(by_stage[s]), 4) for s in STAGES if s in by_stage},
        "confusion": {g: {p: confusion[(g, p)] for p in (*STAGES, NONE) if confusion[(g, p)]} for g in STAGES
                      if g in by_stage},
        "exit_signal": _prf(exit_counts[(True, True)], exit_counts[(False, True)], exit_counts[(True, False)]),
        "pain_point": _prf(pain_tp, pain_fp, pain_fn),
    }
    if all(p.question is not None for p in predicted) and predicted:
        q = Counter((bool(e.question), bool(p.question)) for e, p in pairs)
        out["question"] = _prf(q[(True, True)], q[(False, True)], q[(True, False)])
    return out


def sentiment_macro_f1(examples: Sequence[JourneyExample], labels: Sequence[str]) -> dict[str, Any]:
    """Macro-F1 over negative/neutral/positive of the sentiment model's labels, overall and per language."""
    def macro(pairs: list[tuple[str | None, str]]) -> float:
        scores = []
        for label in ("negative", "neutral", "positive"):
            tp = sum(1 for g, p in pairs if g == label and p == label)
            fp = sum(1 for g, p in pairs if g != label and p == label)
            fn = sum(1 for g, p in pairs if g == label and p != label)
            scores.append(_prf(tp, fp, fn)["f1"])
        return round(sum(scores) / 3, 4)

    pairs = [(e.sentiment, p) for e, p in zip(examples, labels, strict=True)]
    langs = sorted({e.language for e in examples})
    return {"macro_f1": macro(pairs), "n": len(pairs),
            "by_language": {lang: macro([(e.sentiment, p) for e, p in zip(examples, labels, strict=True)
                                         if e.language == lang]) for lang in langs}}


__all__ = ["NONE", "Predicted", "from_links", "method_metrics", "sentiment_macro_f1"]
