"""The speed path keeps results exact: token-budget batches cover every window once and keep input order."""

from __future__ import annotations

import numpy as np

from sentiment.windows import Window, batch_plan, batched, combine


def test_batch_plan_sorts_by_length_and_caps_rows_and_padded_tokens() -> None:
    lengths = [50, 10, 12, 100, 11, 60, 9]
    plan = batch_plan(lengths, batch_size=3, max_batch_tokens=120)
    assert sorted(i for batch in plan for i in batch) == list(range(len(lengths)))
    for batch in plan:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 120
    flat = [lengths[i] for batch in plan for i in batch]
    assert flat == sorted(lengths)
    assert plan[-1] == [3]  # 100 tokens: alone, as two rows would pass the budget


def test_batched_returns_rows_in_window_order_whatever_the_batching() -> None:
    windows = [Window(i, list(range(1, 2 + (i * 7) % 13))) for i in range(20)]

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        assert ids.shape == mask.shape
        assert (mask.sum(axis=1) > 0).all()
        return np.stack([mask.sum(axis=1), ids.sum(axis=1)], axis=1).astype(np.float32)

    expected = np.array([[len(w.ids), sum(w.ids)] for w in windows], dtype=np.float32)
    for size, budget in ((1, None), (4, None), (8, 40), (32, 16)):
        assert np.array_equal(batched(windows, size, 0, forward, budget), expected)


def test_combine_weights_each_window_by_its_token_count() -> None:
    windows = [Window(0, [1, 2, 3]), Window(0, [4]), Window(1, [5, 6])]
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert np.allclose(combine(windows, rows, 2), [[0.75, 0.25], [0.5, 0.5]])
