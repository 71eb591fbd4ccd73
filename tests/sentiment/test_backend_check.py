"""The int8-as-default rule: validation mean within 0.5 points of torch and every language within 1.5."""

import numpy as np

from sentiment.backend_check import compare_backends


def _one_hot(labels: list[int]) -> np.ndarray:
    return np.eye(3)[labels]


GOLD = [0, 1, 2] * 20


def _flip(labels: list[int], n: int) -> list[int]:
    """The first ``n`` labels moved to the next class: n wrong predictions."""
    return [(y + 1) % 3 if i < n else y for i, y in enumerate(labels)]


def _splits(candidate_errors: dict[str, int]) -> tuple[dict[str, list[int]], dict[str, np.ndarray], dict[str, np.ndarray]]:
    keys = ["val:thai", "val:vietnamese/uit-vsfc", "val:vietnamese/uit-visfd", "test:thai"]
    gold = {k: GOLD for k in keys}
    reference = {k: _one_hot(GOLD) for k in keys}
    candidate = {k: _one_hot(_flip(GOLD, candidate_errors.get(k, 0))) for k in keys}
    return gold, reference, candidate


def test_identical_predictions_make_the_candidate_the_default() -> None:
    result = compare_backends(*_splits({}))
    assert result["verdict"] == {"default": "onnx-int8", "why": "validation mean difference +0.00 points "
                                 "(budget -0.5); every language within -1.5"}
    assert result["splits"]["val:thai"]["flips"] == 0.0


def test_one_language_over_its_budget_keeps_torch_and_is_named() -> None:
    gold, reference, candidate = _splits({"val:vietnamese/uit-vsfc": 6})
    result = compare_backends(gold, reference, candidate)
    verdict = result["verdict"]
    assert verdict["default"] == "torch"
    assert "vietnamese" in verdict["why"] and "thai" not in verdict["why"].split("budget (-1.5):")[-1]
    row = result["splits"]["val:vietnamese/uit-vsfc"]
    assert row["flips"] == 0.1 and row["difference"] < -0.05
    # a language with two sets is judged on the mean of its sets
    language = result["val"]["language_difference"]["vietnamese"]
    assert language == row["difference"] / 2


def test_test_like_splits_are_reported_but_choose_nothing() -> None:
    gold, reference, candidate = _splits({"test:thai": 30})
    result = compare_backends(gold, reference, candidate)
    assert result["verdict"]["default"] == "onnx-int8"
    assert result["test"]["mean_difference"] < -0.3
