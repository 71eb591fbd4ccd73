"""Token windows and length-sorted batching shared by the torch and ONNX backends (numpy only).

Invariant: a text longer than the window is split into consecutive token windows that together hold
every one of its tokens (never cut); each window is wrapped in the model's special tokens (and the
model's text prefix, if any), and per-text results are token-count-weighted means over its windows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from journeypulse.errors import ScoringError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["TOKENS_PER_ROW", "Window", "Windower", "batch_plan", "batched", "combine", "model_limit", "pad_id",
           "token_budget"]


@dataclass(frozen=True)
class Window:
    """One model input: the index of the text it came from and its token ids (specials included)."""

    text_index: int
    ids: list[int]


class Windower:
    """Splits tokenised texts into windows of at most ``max_tokens`` ids, each wrapped in the model's specials."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_tokens: int, prefix: str, limit: int) -> None:
        self.tokenizer = tokenizer
        with_specials = tokenizer("a", add_special_tokens=True)["input_ids"]
        bare = tokenizer("a", add_special_tokens=False)["input_ids"]
        start = next((i for i in range(len(with_specials)) if with_specials[i:i + len(bare)] == bare), None)
        if start is None:
            raise ScoringError("tokenizer adds special tokens in a way the windowing cannot follow")
        self.head_ids = list(with_specials[:start])
        self.tail_ids = list(with_specials[start + len(bare):])
        self.prefix = prefix
        self.prefix_ids = list(tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else []
        limits = [max_tokens, limit, int(getattr(tokenizer, "model_max_length", 0) or 0)]
        self.max_tokens = min(v for v in limits if v > 0)
        self.room = self.max_tokens - len(self.head_ids) - len(self.tail_ids) - len(self.prefix_ids)
        if self.room < 4:
            raise ScoringError(f"max_tokens {max_tokens} leaves {self.room} tokens per window; raise it")

    def windows(self, texts: Sequence[str]) -> list[Window]:
        # verbose=False: long texts are expected here; they are windowed below, not fed whole.
        content = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        out: list[Window] = []
        for index, ids in enumerate(content):
            # The prefix is tokenised on its own so that every window starts with the same prefix ids.
            body = list(ids)
            for start in range(0, max(len(body), 1), self.room):
                chunk = body[start:start + self.room]
                out.append(Window(index, self.head_ids + self.prefix_ids + chunk + self.tail_ids))
        return out


# Padded tokens per batch row allowed on average: a batch of short windows stays at batch_size rows, a
# batch of long windows (over this many tokens) gets fewer rows, so attention cost per batch stays bounded.
TOKENS_PER_ROW = 64


def token_budget(batch_size: int) -> int:
    """The padded-token budget of one batch for a configured ``batch_size``."""
    return batch_size * TOKENS_PER_ROW


def batch_plan(lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None) -> list[list[int]]:
    """Indices grouped into length-sorted batches: each holds at most ``batch_size`` rows and, when
    ``max_batch_tokens`` is set, at most that many padded tokens (rows x longest row), so short texts
    travel in big batches and long ones in small batches. A single row longer than the budget goes alone.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    plan: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted ascending, so this row is the longest of the batch if it joins.
        too_many = len(current) >= batch_size
        too_wide = max_batch_tokens is not None and (len(current) + 1) * lengths[index] > max_batch_tokens
        if current and (too_many or too_wide):
            plan.append(current)
            current = []
        current.append(index)
    if current:
        plan.append(current)
    return plan


def batched(windows: list[Window], batch_size: int, pad: int,
            forward: Callable[[np.ndarray, np.ndarray], np.ndarray], max_batch_tokens: int | None = None) -> np.ndarray:
    """Run ``forward(ids, mask)`` (int64 arrays) over length-sorted padded batches; rows in the windows' order.

    Batches follow ``batch_plan`` (row count and optional padded-token budget); padding per batch is only
    up to its own longest window.
    """
    if not windows:
        return np.zeros((0, 0), dtype=np.float32)
    lengths = [len(w.ids) for w in windows]
    outputs: np.ndarray | None = None
    for members in batch_plan(lengths, batch_size, max_batch_tokens):
        width = lengths[members[-1]]
        ids = np.full((len(members), width), pad, dtype=np.int64)
        mask = np.zeros((len(members), width), dtype=np.int64)
        for row, index in enumerate(members):
            ids[row, :lengths[index]] = windows[index].ids
            mask[row, :lengths[index]] = 1
        result = np.asarray(forward(ids, mask), dtype=np.float32)
        if outputs is None:
            outputs = np.empty((len(windows), *result.shape[1:]), dtype=np.float32)
        outputs[members] = result
    assert outputs is not None  # windows is not empty, so at least one batch ran
    return outputs


def combine(windows: list[Window], rows: np.ndarray, n_texts: int) -> np.ndarray:
    """Token-count-weighted mean of window rows per text."""
    index = np.fromiter((w.text_index for w in windows), dtype=np.int64, count=len(windows))
    weights = np.fromiter((len(w.ids) for w in windows), dtype=np.float64, count=len(windows))
    sums = np.zeros((n_texts, rows.shape[1]), dtype=np.float64)
    np.add.at(sums, index, rows.astype(np.float64) * weights[:, None])
    totals = np.bincount(index, weights=weights, minlength=n_texts)
    return sums / totals[:, None]


def model_limit(config: object) -> int:
    """Longest input the model's position table allows (RoBERTa-style models reserve pad_id + 1 slots)."""
    positions = int(getattr(config, "max_position_embeddings", 0) or 0)
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    return positions


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else 0
