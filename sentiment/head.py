"""The trained linear head artifact: ``head.safetensors`` (weight [3, dim], bias [3]) plus ``head.json``.

Invariant: a head folder names the encoder it was trained on (``builtin:<name>`` or a path relative to
the folder), the text prefix and the pooling, so scoring embeds texts exactly as training did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from journeypulse.errors import ScoringError
from sentiment.scores import LABELS

__all__ = ["BUILTIN_PREFIX", "HEAD_FORMAT", "Head", "head_digest", "is_head_folder", "load_head", "save_head"]

HEAD_FORMAT = "journeypulse-head/1"
BUILTIN_PREFIX = "builtin:"
HEAD_JSON = "head.json"
HEAD_WEIGHTS = "head.safetensors"


@dataclass(frozen=True)
class Head:
    """A softmax-linear head over L2-normalised mean-pooled sentence embeddings."""

    weight: np.ndarray
    bias: np.ndarray
    encoder: str
    prefix: str = "query: "
    extra: dict[str, object] = field(default_factory=dict)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def is_head_folder(folder: Path) -> bool:
    return (folder / HEAD_JSON).is_file()


def save_head(folder: Path, head: Head) -> Path:
    from safetensors.numpy import save_file

    if head.weight.shape[0] != len(LABELS) or head.bias.shape != (len(LABELS),):
        raise ScoringError(f"head weight shape {head.weight.shape} / bias {head.bias.shape} must have "
                           f"{len(LABELS)} rows, one per label")
    folder.mkdir(parents=True, exist_ok=True)
    # safetensors writes the raw buffer: a Fortran-ordered array (sklearn's coef_) must be made C-ordered.
    save_file({"weight": np.ascontiguousarray(head.weight, dtype=np.float32),
               "bias": np.ascontiguousarray(head.bias, dtype=np.float32)}, str(folder / HEAD_WEIGHTS))
    meta = {"format": HEAD_FORMAT, "labels": list(LABELS), "encoder": head.encoder, "prefix": head.prefix,
            "pooling": "mean", "normalize": True, "dim": int(head.weight.shape[1]), **head.extra}
    (folder / HEAD_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def load_head(folder: Path) -> Head:
    """Read and validate a head folder; ScoringError names the file and the problem."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        meta = json.loads((folder / HEAD_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScoringError(f"head {folder / HEAD_JSON} is missing or not JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != HEAD_FORMAT:
        raise ScoringError(f"head {folder / HEAD_JSON}: format must be {HEAD_FORMAT!r}")
    if meta.get("labels") != list(LABELS) or meta.get("pooling") != "mean" or not isinstance(meta.get("encoder"), str):
        raise ScoringError(f"head {folder / HEAD_JSON}: needs labels {list(LABELS)}, pooling 'mean' and an "
                           "encoder name")
    try:
        tensors = load_file(str(folder / HEAD_WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise ScoringError(f"head weights {folder / HEAD_WEIGHTS} are missing or unreadable: {exc}") from exc
    weight, bias = tensors.get("weight"), tensors.get("bias")
    if weight is None or bias is None or weight.shape != (len(LABELS), meta.get("dim")) or bias.shape != (3,):
        raise ScoringError(f"head weights {folder / HEAD_WEIGHTS}: expected weight [3, {meta.get('dim')}] and "
                           "bias [3]")
    extra = {k: v for k, v in meta.items() if k not in ("format", "labels", "encoder", "prefix", "pooling",
                                                         "normalize", "dim")}
    return Head(weight=weight, bias=bias, encoder=meta["encoder"], prefix=str(meta.get("prefix", "")), extra=extra)


def head_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in (HEAD_JSON, HEAD_WEIGHTS):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]
