"""Transformers/torch inference: token windows, length-sorted batches, pooled embeddings and logits.

Invariant: texts longer than ``max_tokens`` are split into token windows (never cut); each window is
scored and a text's probabilities are the token-weighted mean of its windows'. Imported lazily.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from journeypulse.errors import ScoringError
from sentiment.windows import Window, Windower, batched, combine, model_limit, pad_id

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


def mean_pool(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L2-normalised mean of the last hidden states over real (unpadded) tokens."""
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


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
        self.windower = Windower(self.tokenizer, max_tokens, prefix, model_limit(self.model.config))
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _pool(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return mean_pool(self.model, torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    def embed_windows(self, texts: Sequence[str]) -> tuple[list[Window], np.ndarray]:
        windows = self.windower.windows(texts)
        return windows, batched(windows, self.batch_size, pad_id(self.tokenizer), self._pool)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised embedding per text (long texts: normalised token-weighted mean of windows)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows, rows = self.embed_windows(texts)
        combined = combine(windows, rows, len(texts))
        combined /= np.linalg.norm(combined, axis=1, keepdims=True).clip(min=1e-12)
        return combined.astype(np.float32)

    def combine(self, windows: list[Window], rows: np.ndarray, n_texts: int) -> np.ndarray:
        return combine(windows, rows, n_texts)


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
        self.windower = Windower(self.tokenizer, max_tokens, "", model_limit(self.model.config))
        self.batch_size = batch_size

    def _probs(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits
            return torch.softmax(logits.float(), dim=-1)[:, self.order].numpy()

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 3), dtype=np.float64)
        windows = self.windower.windows(texts)
        rows = batched(windows, self.batch_size, pad_id(self.tokenizer), self._probs)
        return combine(windows, rows, len(texts))
