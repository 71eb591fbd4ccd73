"""Transformers/torch inference: token windows, length-sorted batches, pooled embeddings and logits.

Invariant: texts longer than ``max_tokens`` are split into token windows (never cut); each window is
scored and a text's probabilities are the token-weighted mean of its windows'. Imported lazily.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from journeypulse.errors import ScoringError

__all__ = ["SequenceClassifierRunner", "TextEncoder", "Window", "configure_threads", "load_tokenizer"]

log = logging.getLogger(__name__)
_THREADS_SET = False


def configure_threads() -> None:
    """One intra-op pool sized to the machine (or JOURNEYPULSE_TORCH_THREADS), set once per process."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    wanted = os.environ.get("JOURNEYPULSE_TORCH_THREADS")
    threads = int(wanted) if wanted and wanted.isdigit() and int(wanted) > 0 else max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    _THREADS_SET = True


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ScoringError(f"model {folder}: could not load its tokenizer offline ({exc}); the folder needs "
                           "tokenizer.json or the tokenizer files of its model type") from exc


@dataclass(frozen=True)
class Window:
    """One model input: the index of the text it came from and its token ids (specials included)."""

    text_index: int
    ids: list[int]


class _Windower:
    """Splits tokenised texts into windows of at most ``max_tokens`` ids, each wrapped in the model's specials."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_tokens: int, prefix: str, model_limit: int) -> None:
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
        limits = [max_tokens, model_limit, int(getattr(tokenizer, "model_max_length", 0) or 0)]
        self.max_tokens = min(v for v in limits if v > 0)
        self.room = self.max_tokens - len(self.head_ids) - len(self.tail_ids) - len(self.prefix_ids)
        if self.room < 4:
            raise ScoringError(f"max_tokens {max_tokens} leaves {self.room} tokens per window; raise it")

    def windows(self, texts: Sequence[str]) -> list[Window]:
        content = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        out: list[Window] = []
        for index, ids in enumerate(content):
            # The prefix is tokenised on its own so that every window starts with the same prefix ids.
            body = list(ids)
            for start in range(0, max(len(body), 1), self.room):
                chunk = body[start:start + self.room]
                out.append(Window(index, self.head_ids + self.prefix_ids + chunk + self.tail_ids))
        return out


def _batched(windows: list[Window], batch_size: int, pad_id: int,
             forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Run ``forward`` over length-sorted padded batches; rows come back in the windows' order."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
    outputs: list[np.ndarray | None] = [None] * len(windows)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = [windows[i] for i in order[start:start + batch_size]]
            width = max(len(w.ids) for w in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, window in enumerate(batch):
                ids[row, :len(window.ids)] = torch.tensor(window.ids, dtype=torch.long)
                mask[row, :len(window.ids)] = 1
            result = forward(ids, mask).float().numpy()
            for row, index in enumerate(order[start:start + batch_size]):
                outputs[index] = result[row]
    return np.stack([o for o in outputs if o is not None]) if outputs else np.zeros((0, 0), dtype=np.float32)


def _combine(windows: list[Window], rows: np.ndarray, n_texts: int) -> np.ndarray:
    """Token-count-weighted mean of window rows per text."""
    sums = np.zeros((n_texts, rows.shape[1]), dtype=np.float64)
    weights = np.zeros(n_texts, dtype=np.float64)
    for window, row in zip(windows, rows, strict=True):
        sums[window.text_index] += len(window.ids) * row
        weights[window.text_index] += len(window.ids)
    return sums / weights[:, None]


def _model_limit(config: object) -> int:
    """Longest input the model's position table allows (RoBERTa-style models reserve pad_id + 1 slots)."""
    positions = int(getattr(config, "max_position_embeddings", 0) or 0)
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    return positions


def _pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else 0


class TextEncoder:
    """A transformers encoder (AutoModel) producing L2-normalised mean-pooled embeddings."""

    def __init__(self, folder: Path, *, max_tokens: int, batch_size: int, prefix: str) -> None:
        configure_threads()
        self.folder = folder
        self.tokenizer = load_tokenizer(folder)
        try:
            self.model = AutoModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ScoringError(f"encoder {folder}: could not load it with AutoModel ({exc}); rebuild or replace "
                               "the folder") from exc
        self.model.eval()
        self.windower = _Windower(self.tokenizer, max_tokens, prefix, _model_limit(self.model.config))
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _pool(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def embed_windows(self, texts: Sequence[str]) -> tuple[list[Window], np.ndarray]:
        windows = self.windower.windows(texts)
        return windows, _batched(windows, self.batch_size, _pad_id(self.tokenizer), self._pool)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised embedding per text (long texts: normalised token-weighted mean of windows)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows, rows = self.embed_windows(texts)
        combined = _combine(windows, rows, len(texts))
        combined /= np.linalg.norm(combined, axis=1, keepdims=True).clip(min=1e-12)
        return combined.astype(np.float32)

    def combine(self, windows: list[Window], rows: np.ndarray, n_texts: int) -> np.ndarray:
        return _combine(windows, rows, n_texts)


class SequenceClassifierRunner:
    """Any AutoModelForSequenceClassification with 3 labels; returns per-text (neg, neu, pos) probabilities."""

    def __init__(self, source: Path, *, max_tokens: int, batch_size: int,
                 order: Callable[[dict[int, str]], list[int]]) -> None:
        configure_threads()
        self.tokenizer = load_tokenizer(source)
        try:
            self.model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ScoringError(f"model {source}: could not load it offline with "
                               f"AutoModelForSequenceClassification ({exc}); download it first or point "
                               "model.name at a local folder") from exc
        self.model.eval()
        self.order = order({int(k): str(v) for k, v in self.model.config.id2label.items()})
        self.windower = _Windower(self.tokenizer, max_tokens, "", _model_limit(self.model.config))
        self.batch_size = batch_size

    def _probs(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.model(input_ids=ids, attention_mask=mask).logits
        return torch.softmax(logits.float(), dim=-1)[:, self.order]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 3), dtype=np.float64)
        windows = self.windower.windows(texts)
        rows = _batched(windows, self.batch_size, _pad_id(self.tokenizer), self._probs)
        return _combine(windows, rows, len(texts))
