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

__all__ = ["Window", "Windower", "batched", "combine", "model_limit", "pad_id"]


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


def batched(windows: list[Window], batch_size: int, pad: int,
            forward: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Run ``forward(ids, mask)`` (int64 arrays) over length-sorted padded batches; rows in the windows' order."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
    outputs: list[np.ndarray | None] = [None] * len(windows)
    for start in range(0, len(order), batch_size):
        members = order[start:start + batch_size]
        width = max(len(windows[i].ids) for i in members)
        ids = np.full((len(members), width), pad, dtype=np.int64)
        mask = np.zeros((len(members), width), dtype=np.int64)
        for row, index in enumerate(members):
            length = len(windows[index].ids)
            ids[row, :length] = windows[index].ids
            mask[row, :length] = 1
        result = np.asarray(forward(ids, mask), dtype=np.float32)
        for row, index in enumerate(members):
            outputs[index] = result[row]
    return np.stack([o for o in outputs if o is not None]) if outputs else np.zeros((0, 0), dtype=np.float32)


def combine(windows: list[Window], rows: np.ndarray, n_texts: int) -> np.ndarray:
    """Token-count-weighted mean of window rows per text."""
    sums = np.zeros((n_texts, rows.shape[1]), dtype=np.float64)
    weights = np.zeros(n_texts, dtype=np.float64)
    for window, row in zip(windows, rows, strict=True):
        sums[window.text_index] += len(window.ids) * row
        weights[window.text_index] += len(window.ids)
    return sums / weights[:, None]


def model_limit(config: object) -> int:
    """Longest input the model's position table allows (RoBERTa-style models reserve pad_id + 1 slots)."""
    positions = int(getattr(config, "max_position_embeddings", 0) or 0)
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    return positions


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else 0
