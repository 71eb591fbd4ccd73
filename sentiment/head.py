"""The trained head artifact: ``head.safetensors`` (weight [3, dim], bias [3]) plus ``head.json``, and for
fine-tuned models (format /2) ``layers.safetensors``: the encoder layers that differ from the base encoder.

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

__all__ = ["BUILTIN_PREFIX", "HEAD_FORMAT", "HEAD_FORMAT_LAYERS", "LAYERS_FILE", "Head", "head_digest",
           "is_head_folder", "load_head", "materialise_encoder", "save_head"]

HEAD_FORMAT = "journeypulse-head/1"
HEAD_FORMAT_LAYERS = "journeypulse-head/2"
LAYERS_FILE = "layers.safetensors"
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
        probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probabilities


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
    fmt = HEAD_FORMAT_LAYERS if "layers" in head.extra else HEAD_FORMAT
    meta = {"format": fmt, "labels": list(LABELS), "encoder": head.encoder, "prefix": head.prefix,
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
    if not isinstance(meta, dict) or meta.get("format") not in (HEAD_FORMAT, HEAD_FORMAT_LAYERS):
        raise ScoringError(f"head {folder / HEAD_JSON}: format must be {HEAD_FORMAT!r} or {HEAD_FORMAT_LAYERS!r}")
    if meta["format"] == HEAD_FORMAT_LAYERS and not isinstance(meta.get("layers"), dict):
        raise ScoringError(f"head {folder / HEAD_JSON}: format {HEAD_FORMAT_LAYERS!r} needs a 'layers' object "
                           f"naming {LAYERS_FILE} and the layer indices")
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
    names = (HEAD_JSON, HEAD_WEIGHTS, LAYERS_FILE) if (folder / LAYERS_FILE).is_file() else (HEAD_JSON, HEAD_WEIGHTS)
    for name in names:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def materialise_encoder(folder: Path, head: Head, base: Path, cache_dir: Path) -> Path:
    """A full encoder folder = ``base`` with the layers of ``folder/layers.safetensors`` swapped in.

    Written once per (base, layers) digest under ``cache_dir/models/`` (atomic rename), so the ordinary
    AutoModel loading and the ONNX export see the fine-tuned encoder. Every shipped tensor must replace a
    base tensor of the same shape, or ScoringError names the tensor.
    """
    import shutil

    from safetensors import SafetensorError
    from safetensors.numpy import load_file, save_file

    layers_file = folder / LAYERS_FILE
    digest = hashlib.sha256()
    try:
        digest.update(layers_file.read_bytes())
    except OSError as exc:
        raise ScoringError(f"head {folder}: {LAYERS_FILE} is missing or unreadable ({exc}); restore the file or "
                           "retrain the model") from exc
    digest.update(str(base.resolve()).encode())
    target = cache_dir / "models" / f"{base.name}-ft-{digest.hexdigest()[:16]}"
    if (target / "model.safetensors").is_file():
        return target
    try:
        tensors = load_file(str(base / "model.safetensors"))
        shipped = load_file(str(layers_file))
    except (OSError, SafetensorError) as exc:
        raise ScoringError(f"head {folder}: could not read the base encoder weights or {LAYERS_FILE}: {exc}") from exc
    for name, value in shipped.items():
        if name not in tensors or tensors[name].shape != value.shape:
            raise ScoringError(f"head {folder}: {LAYERS_FILE} tensor {name} {value.shape} has no match in the base "
                               f"encoder {base}; the model was trained on another encoder")
        tensors[name] = value.astype(tensors[name].dtype)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for file in base.iterdir():
        if file.is_file() and file.name != "model.safetensors":
            shutil.copy2(file, tmp / file.name)
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: its folder is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return target
