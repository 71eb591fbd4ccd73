"""Label mapping and Score construction (no model needed)."""

from __future__ import annotations

import pytest

from journeypulse.errors import ScoringError
from sentiment.scores import LABELS, label_order, make_score


@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({0: "negative", 1: "neutral", 2: "positive"}, [0, 1, 2]),
        ({0: "Positive", 1: "Negative", 2: "Neutral"}, [1, 2, 0]),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, [0, 1, 2]),
        ({0: "pos", 1: "neu", 2: "neg"}, [2, 1, 0]),
    ],
)
def test_model_label_names_map_onto_negative_neutral_positive(id2label: dict[int, str], expected: list[int]) -> None:
    assert label_order(id2label, "m") == expected


@pytest.mark.parametrize(
    "id2label",
    [{0: "joy", 1: "anger", 2: "fear"}, {0: "negative", 1: "positive"}, {0: "neg", 1: "negative", 2: "pos"}],
)
def test_unmappable_labels_raise_an_error_naming_them(id2label: dict[int, str]) -> None:
    with pytest.raises(ScoringError, match="cannot map its labels"):
        label_order(id2label, "some/model")


def test_score_label_is_the_most_probable_class_and_probabilities_sum_to_one() -> None:
    score = make_score([2.0, 1.0, 7.0], review_threshold=0.6)
    assert score.label == "positive"
    assert score.probabilities == pytest.approx((0.2, 0.1, 0.7))
    assert score.confidence == pytest.approx(0.7)
    assert not score.needs_review


def test_score_below_the_review_threshold_needs_review() -> None:
    score = make_score([0.3, 0.45, 0.25], review_threshold=0.6)
    assert (score.label, score.needs_review) == ("neutral", True)


@pytest.mark.parametrize("probabilities", [[0.5, 0.5], [float("nan"), 0.5, 0.5], [0.0, 0.0, 0.0], [-1.0, 1.0, 1.0]])
def test_invalid_probabilities_raise_a_scoring_error(probabilities: list[float]) -> None:
    with pytest.raises(ScoringError):
        make_score(probabilities, review_threshold=0.5)


def test_labels_are_in_the_fixed_order() -> None:
    assert LABELS == ("negative", "neutral", "positive")
