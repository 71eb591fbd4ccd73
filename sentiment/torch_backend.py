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
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from journeypulse.errors import ScoringError
from sentiment.windows import Window, Windower, batched, combine, model_limit, pad_id, token_budget

__all__ = ["SequenceClassifierRunner", "TextEncoder", "Window", "configure_threads", "load_tokenizer"]

log = logging.getLogger(__name__)
_THREADS_SET = False


def configure_threads() -> None:
    """One intra-op pool sized to the machine (or JOURNEYPULSE_TORCH_THREADS), set once per process."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    wanted = os.environ.get("JOURNEYPULSE_TORCH_THREADS")
    if wanted is not None and not (wanted.isdigit() and int(wanted) > 0):
        raise ScoringError(f"env var JOURNEYPULSE_TORCH_THREADS is {wanted!r}; set a positive integer or unset it")
    threads = int(wanted) if wanted else max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    log.info("torch uses %d intra-op threads", threads)
    # Weight-loading progress bars would interleave with the CLI's own progress display.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
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


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


def pool_layers(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """One forward pass: the L2-normalised mean-pooled last layer, then each of ``layers`` (indices into
    ``hidden_states``: 0 = embeddings, n = layer n), concatenated in that order."""
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=bool(layers))
    blocks = [_masked_mean(out.last_hidden_state, mask)]
    blocks.extend(_masked_mean(out.hidden_states[index], mask) for index in layers)
    return torch.cat(blocks, dim=-1)


class _PooledEncoder(torch.nn.Module):
    """Export wrapper: (input_ids, attention_mask) -> L2-normalised mean-pooled embedding."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return mean_pool(self.model, ids, mask)


class _Softmax(torch.nn.Module):
    """Export wrapper: (input_ids, attention_mask) -> class probabilities in the model's own order."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)


def _load(loader: Callable[[], torch.nn.Module], what: str) -> torch.nn.Module:
    try:
        return loader().eval()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScoringError(f"{what}: could not load it offline with transformers ({exc}); download it first, "
                           "rebuild it, or point model.name at a local model folder") from exc


class TextEncoder:
    """A transformers encoder (AutoModel) producing L2-normalised mean-pooled embeddings.

    ``backend="onnx-int8"`` runs an int8 ONNX export of the same model (made once under ``onnx_dir``).
    """

    def __init__(self, folder: Path, *, max_tokens: int, batch_size: int, prefix: str, backend: str = "torch",
                 onnx_dir: Path | None = None, int8_recipe: str | None = None) -> None:
        configure_threads()
        self.folder = folder
        self.tokenizer = load_tokenizer(folder)
        self.config = _load_config(folder)
        self.model: torch.nn.Module | None = None
        self.onnx_path: Path | None = None
        self._forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
        if backend == "onnx-int8":
            from sentiment.onnx_backend import RECIPE, OnnxRunner, ensure_int8_export

            if onnx_dir is None:
                raise ScoringError("the onnx-int8 backend needs a cache folder for its export")
            recipe = int8_recipe or RECIPE
            self.onnx_path = ensure_int8_export(lambda: _PooledEncoder(self._torch_model("eager")),
                                                onnx_dir / f"encoder-{recipe}.onnx", recipe)
            self._forward = OnnxRunner(self.onnx_path, torch.get_num_threads())
        else:
            self.model = self._torch_model(None)
            self._forward = self._pool
        self.windower = Windower(self.tokenizer, max_tokens, prefix, model_limit(self.config))
        self.batch_size = _rows_per_call(backend, batch_size)

    def _torch_model(self, attention: str | None) -> torch.nn.Module:
        extra = {"attn_implementation": attention} if attention else {}
        return _load(lambda: AutoModel.from_pretrained(self.folder, local_files_only=True, add_pooling_layer=False,
                                                       **extra), f"encoder {self.folder}")

    @property
    def dim(self) -> int:
        return int(self.config.hidden_size)

    def _pool(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        assert self.model is not None
        with torch.inference_mode():
            return mean_pool(self.model, torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    def embed_windows(self, texts: Sequence[str]) -> tuple[list[Window], np.ndarray]:
        windows = self.windower.windows(texts)
        return windows, batched(windows, self.batch_size, pad_id(self.tokenizer), self._forward, token_budget(self.batch_size))

    @property
    def middle_layer(self) -> int:
        """The index (into hidden_states) of the middle transformer layer: 6 of 12 for e5-small."""
        return max(1, int(self.config.num_hidden_layers) // 2)

    def embed_layers(self, texts: Sequence[str], layers: Sequence[int]) -> tuple[list[Window], np.ndarray]:
        """Per window, in one forward pass: [pooled last layer | pooled ``layers``...], each block L2-normalised.

        Only the torch backend exposes inner layers; ``layers=()`` works on every backend.
        """
        if not layers:
            return self.embed_windows(texts)
        if self.model is None:
            raise ScoringError("inner-layer features need the torch backend (model.backend: torch); the int8 "
                               "ONNX export returns only the pooled last layer")
        model = self.model
        limit = int(self.config.num_hidden_layers)
        bad = [index for index in layers if not 0 <= index <= limit]
        if bad:
            raise ScoringError(f"encoder {self.folder} has {limit} layers; layer index(es) {bad} do not exist")

        def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return pool_layers(model, torch.from_numpy(ids), torch.from_numpy(mask), layers).numpy()

        windows = self.windower.windows(texts)
        return windows, batched(windows, self.batch_size, pad_id(self.tokenizer), forward, token_budget(self.batch_size))

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
                 order: Callable[[dict[int, str]], list[int]], backend: str = "torch",
                 onnx_dir: Path | None = None, int8_recipe: str | None = None) -> None:
        configure_threads()
        self.source = source
        self.tokenizer = load_tokenizer(source)
        self.config = _load_config(source)
        self.order = order({int(k): str(v) for k, v in (self.config.id2label or {}).items()})
        self.model: torch.nn.Module | None = None
        self.onnx_path: Path | None = None
        self._forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
        if backend == "onnx-int8":
            from sentiment.onnx_backend import RECIPE, OnnxRunner, ensure_int8_export

            if onnx_dir is None:
                raise ScoringError("the onnx-int8 backend needs a cache folder for its export")
            recipe = int8_recipe or RECIPE
            self.onnx_path = ensure_int8_export(lambda: _Softmax(self._torch_model("eager")),
                                                onnx_dir / f"classifier-{recipe}.onnx", recipe)
            self._forward = OnnxRunner(self.onnx_path, torch.get_num_threads())
        else:
            self.model = self._torch_model(None)
            self._forward = self._softmax
        self.windower = Windower(self.tokenizer, max_tokens, "", model_limit(self.config))
        self.batch_size = _rows_per_call(backend, batch_size)

    def _torch_model(self, attention: str | None) -> torch.nn.Module:
        extra = {"attn_implementation": attention} if attention else {}
        return _load(lambda: AutoModelForSequenceClassification.from_pretrained(self.source, local_files_only=True,
                                                                                **extra), f"model {self.source}")

    def _softmax(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        assert self.model is not None
        with torch.inference_mode():
            logits = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits
            return torch.softmax(logits.float(), dim=-1).numpy()

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 3), dtype=np.float64)
        windows = self.windower.windows(texts)
        rows = batched(windows, self.batch_size, pad_id(self.tokenizer), self._forward, token_budget(self.batch_size))
        return combine(windows, rows[:, self.order], len(texts))


def _rows_per_call(backend: str, batch_size: int) -> int:
    """Rows per forward call. Dynamic int8 quantisation computes each activation's scale over the whole input
    tensor, padding included, so a text's int8 result would depend on the texts sharing its batch: the int8
    backend runs every window on its own (no padding either), which makes its results batch-independent."""
    return 1 if backend == "onnx-int8" else batch_size


def _load_config(folder: Path) -> PretrainedConfig:
    try:
        config: PretrainedConfig = AutoConfig.from_pretrained(folder, local_files_only=True)
        return config
    except (OSError, ValueError, KeyError) as exc:
        raise ScoringError(f"model {folder}: its config.json is missing or invalid ({exc}); fix or rebuild the "
                           "folder") from exc
