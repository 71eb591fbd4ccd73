"""ONNX Runtime backend with dynamic int8 weights: export a loaded transformers model once, cache it, run it.

Importing this module imports neither torch nor onnxruntime. Invariant: an export lives at
``<cache_dir>/onnx/<model revision>/<kind>-<RECIPE>.onnx``, is written
atomically (temp file, then rename) and is keyed by the model revision, so a changed model is never
scored with a stale export.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from journeypulse.errors import ScoringError

if TYPE_CHECKING:
    import torch

__all__ = ["RECIPE", "OnnxRunner", "ensure_int8_export", "export_dir"]

log = logging.getLogger(__name__)
OPSET = 17
# Part of every export's file name, so changing how models are quantised never reuses an old export.
# Only MatMul weights are quantised (per channel): also quantising the word embeddings cost 8 macro-F1
# points on Thai validation text, this recipe about 2 (English about 1).
RECIPE = "matmul-perchannel-qint8"


def export_dir(cache_dir: Path, revision: str) -> Path:
    """The cache folder for one model revision's exports (name: readable prefix + digest)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in revision)[:48]
    return Path(cache_dir) / "onnx" / f"{safe}-{hashlib.sha256(revision.encode()).hexdigest()[:12]}"


def ensure_int8_export(module: Callable[[], torch.nn.Module], dest: Path) -> Path:
    """``dest`` (an int8 ONNX file), exported from ``module()`` and quantised (RECIPE) on first use."""
    if dest.is_file():
        return dest
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".export-") as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        int8 = Path(tmp) / "model-int8.onnx"
        wrapper = module().eval()
        ids = torch.ones((2, 8), dtype=torch.long)
        mask = torch.ones((2, 8), dtype=torch.long)
        mask[1, 5:] = 0  # trace with padding present so the exported graph keeps the masking path
        try:
            # The legacy exporter warns about tracing and deprecation on every transformers model; the
            # export's agreement with torch is checked by tests instead, so the warnings are not shown.
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapper, (ids, mask), str(fp32), input_names=["input_ids", "attention_mask"],
                    output_names=["output"], opset_version=OPSET, dynamo=False,
                    dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                  "output": {0: "batch"}})
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        except Exception as exc:  # the exporter raises many unrelated types; all mean "cannot export"
            raise ScoringError(f"could not export the model to ONNX int8 at {dest} ({type(exc).__name__}: {exc}); "
                               "use model.backend: torch") from exc
        os.replace(int8, dest)
    log.info("exported int8 ONNX model to %s", dest)
    return dest


class OnnxRunner:
    """One ONNX Runtime session (CPU) taking int64 input_ids / attention_mask, returning ``output``.

    Session options: every graph optimisation, ``threads`` intra-op threads (the torch setting, i.e. the
    machine's cores), one inter-op thread, sequential execution, and no busy-wait spinning between
    batches (spinning threads steal the cores that tokenisation and other tasks need on a small machine).
    """

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        self.path = path
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
            raise ScoringError(f"ONNX model {path} could not be loaded ({exc}); delete it so it is exported "
                               "again") from exc

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (output,) = self.session.run(["output"], {"input_ids": ids, "attention_mask": mask})
        return np.asarray(output, dtype=np.float32)
