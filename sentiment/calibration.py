"""Calibration of class probabilities: temperature scaling fitted on validation logits, and its measures.

Invariant: the temperature is fitted on validation data only and is a single positive scalar, so it never
changes a prediction (argmax), only the confidence; ECE uses equal-width confidence bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from journeypulse.errors import ScoringError

__all__ = ["CalibrationReport", "expected_calibration_error", "fit_temperature", "negative_log_likelihood",
           "softmax"]

_T_MIN, _T_MAX = 0.05, 20.0


@dataclass(frozen=True)
class CalibrationReport:
    """Temperature and validation ECE / NLL before (T=1) and after scaling."""

    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    rows: int


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of the labels under softmax(logits / temperature)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    picked = shifted[np.arange(len(labels)), np.asarray(labels)]
    return float(np.mean(log_norm - picked))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: the row-weighted mean |accuracy - confidence| over ``bins`` equal-width bins."""
    probs = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(truth):
        raise ScoringError(f"calibration: probabilities {probs.shape} and labels {truth.shape} do not match; pass "
                           "one probability row per label")
    if len(truth) == 0:
        raise ScoringError("calibration: no rows to measure; pass at least one validation row")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == truth).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.sum() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total / len(truth))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bins: int = 15) -> CalibrationReport:
    """The temperature minimising validation NLL (golden-section search on log T in [0.05, 20])."""
    values = np.asarray(logits, dtype=np.float64)
    truth = np.asarray(labels)
    if values.ndim != 2 or len(values) != len(truth) or len(truth) == 0:
        raise ScoringError(f"temperature scaling: logits {values.shape} and labels {truth.shape} must be a "
                           "non-empty [rows, classes] array with one label per row")
    lo, hi = np.log(_T_MIN), np.log(_T_MAX)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa = negative_log_likelihood(values, truth, float(np.exp(a)))
    fb = negative_log_likelihood(values, truth, float(np.exp(b)))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = negative_log_likelihood(values, truth, float(np.exp(a)))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = negative_log_likelihood(values, truth, float(np.exp(b)))
    temperature = float(np.exp((lo + hi) / 2.0))
    return CalibrationReport(
        temperature=temperature,
        ece_before=expected_calibration_error(softmax(values), truth, bins),
        ece_after=expected_calibration_error(softmax(values, temperature), truth, bins),
        nll_before=negative_log_likelihood(values, truth),
        nll_after=negative_log_likelihood(values, truth, temperature),
        rows=len(truth),
    )
