"""Whether the int8 backend may be the default: its macro-F1 against torch's on the same labelled splits.

The rule (issue #12): int8 becomes the default only where, on the validation splits, its macro-F1 is within
``MEAN_BUDGET`` points of torch on the mean over all splits and within ``LANGUAGE_BUDGET`` points on every
language (a language with several sets is the mean of its sets). The test-like splits are reported beside
it and choose nothing. Label flips (the share of rows whose label differs) are reported per split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sentiment.datasets import language_of
from sentiment.evaluation import macro_f1

MEAN_BUDGET = 0.005
LANGUAGE_BUDGET = 0.015

__all__ = ["LANGUAGE_BUDGET", "MEAN_BUDGET", "compare_backends"]


def _language(split_key: str) -> str:
    """``val:vietnamese/uit-vsfc`` -> its language (``vietnamese``)."""
    return language_of(split_key.split(":", 1)[1])


def compare_backends(gold: Mapping[str, Sequence[int] | np.ndarray], reference: Mapping[str, np.ndarray],
                     candidate: Mapping[str, np.ndarray], *, reference_name: str = "torch",
                     candidate_name: str = "onnx-int8") -> dict[str, object]:
    """Per split ``<val|test>:<key>``: both macro-F1s, their difference and the label-flip share; per language
    and on the mean of the validation splits, the differences; ``verdict`` applies the budgets to validation."""
    splits: dict[str, dict[str, float]] = {}
    for key in sorted(gold):
        truth = np.asarray(gold[key], dtype=np.int64)
        ref, cand = np.asarray(reference[key]).argmax(axis=1), np.asarray(candidate[key]).argmax(axis=1)
        ref_f1, cand_f1 = macro_f1(truth, ref), macro_f1(truth, cand)
        splits[key] = {"rows": int(len(truth)), reference_name: ref_f1, candidate_name: cand_f1,
                       "difference": cand_f1 - ref_f1, "flips": float((ref != cand).mean()) if len(truth) else 0.0}
    out: dict[str, object] = {"reference": reference_name, "candidate": candidate_name, "splits": splits,
                              "budgets": {"mean": MEAN_BUDGET, "language": LANGUAGE_BUDGET}}
    for part in ("val", "test"):
        keys = [k for k in splits if k.startswith(part + ":")]
        if not keys:
            continue
        by_language: dict[str, list[float]] = {}
        for key in keys:
            by_language.setdefault(_language(key), []).append(splits[key]["difference"])
        out[part] = {"mean_difference": float(np.mean([splits[k]["difference"] for k in keys])),
                     "language_difference": {lang: float(np.mean(v)) for lang, v in sorted(by_language.items())}}
    val = out.get("val")
    if not isinstance(val, dict):
        out["verdict"] = {"default": reference_name, "why": "no validation splits to decide on"}
        return out
    mean = float(val["mean_difference"])
    over = {lang: d for lang, d in val["language_difference"].items() if d < -LANGUAGE_BUDGET}
    passes = mean >= -MEAN_BUDGET and not over
    why = (f"validation mean difference {100 * mean:+.2f} points (budget -{100 * MEAN_BUDGET:.1f})"
           + (f"; over the per-language budget (-{100 * LANGUAGE_BUDGET:.1f}): "
              + ", ".join(f"{lang} {100 * d:+.2f}" for lang, d in over.items()) if over else
              f"; every language within -{100 * LANGUAGE_BUDGET:.1f}"))
    out["verdict"] = {"default": candidate_name if passes else reference_name, "why": why}
    return out
