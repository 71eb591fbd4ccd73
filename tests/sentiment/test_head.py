"""The head artifact: round trip through safetensors/json, whatever the memory layout of the weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from journeypulse.errors import ScoringError
from sentiment.head import Head, load_head, save_head


def test_a_fortran_ordered_weight_round_trips_unchanged(tmp_path: Path) -> None:
    weight = np.asfortranarray(np.arange(3 * 8, dtype=np.float32).reshape(3, 8))
    assert not weight.flags["C_CONTIGUOUS"]
    head = Head(weight=weight, bias=np.array([0.1, -0.2, 0.3], dtype=np.float32), encoder="encoder")
    loaded = load_head(save_head(tmp_path / "head", head))
    assert np.array_equal(loaded.weight, weight)
    assert np.array_equal(loaded.bias, head.bias)
    assert (loaded.encoder, loaded.prefix) == ("encoder", "query: ")


def test_head_probabilities_are_a_softmax_over_the_linear_layer() -> None:
    head = Head(weight=np.eye(3, dtype=np.float32), bias=np.zeros(3, dtype=np.float32), encoder="e")
    probabilities = head.probabilities(np.array([[0.0, 0.0, np.log(2.0)]]))
    assert probabilities[0] == pytest.approx([0.25, 0.25, 0.5])


def test_a_head_with_the_wrong_number_of_rows_is_not_saved(tmp_path: Path) -> None:
    head = Head(weight=np.zeros((2, 4), dtype=np.float32), bias=np.zeros(2, dtype=np.float32), encoder="e")
    with pytest.raises(ScoringError, match="must have 3 rows"):
        save_head(tmp_path, head)
