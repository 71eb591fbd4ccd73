"""Temperature scaling and ECE: the fitted temperature undoes over-confidence and never changes a prediction."""

from __future__ import annotations

import numpy as np
import pytest

from journeypulse.errors import ScoringError
from sentiment.calibration import expected_calibration_error, fit_temperature, softmax


def _overconfident(seed: int = 0, rows: int = 4000, true_temperature: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(logits / 3): the raw logits are 3x too sharp."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 4.0, size=(rows, 3))
    probabilities = softmax(logits, true_temperature)
    labels = np.array([rng.choice(3, p=p) for p in probabilities])
    return logits, labels


def test_temperature_scaling_recovers_the_temperature_of_overconfident_logits_and_lowers_ece() -> None:
    logits, labels = _overconfident()
    report = fit_temperature(logits, labels)
    assert report.temperature == pytest.approx(3.0, rel=0.15)
    assert report.ece_after < report.ece_before / 3
    assert report.nll_after < report.nll_before
    assert report.rows == len(labels)


def test_temperature_scaling_never_changes_the_predicted_label() -> None:
    logits, labels = _overconfident(seed=1)
    report = fit_temperature(logits, labels)
    assert np.array_equal(softmax(logits).argmax(1), softmax(logits, report.temperature).argmax(1))


def test_ece_is_zero_when_confidence_equals_accuracy_in_every_bin() -> None:
    probabilities = np.tile([[0.8, 0.1, 0.1]], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_ece_of_a_confidently_wrong_predictor_is_its_confidence() -> None:
    probabilities = np.tile([[0.9, 0.05, 0.05]], (5, 1))
    assert expected_calibration_error(probabilities, np.full(5, 2)) == pytest.approx(0.9)


def test_mismatched_probabilities_and_labels_are_an_error_naming_both_shapes() -> None:
    with pytest.raises(ScoringError, match=r"\(4, 3\).*\(3,\)"):
        expected_calibration_error(np.full((4, 3), 1 / 3), np.zeros(3, dtype=int))
    with pytest.raises(ScoringError, match="non-empty"):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int))
