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

__all__ = ["BACKENDS_FILE", "INT8_RECIPES", "RECIPE", "RECIPE_NO_VNNI", "RECIPE_VNNI", "RECIPE_VNNI_FFN_FP32", "OnnxRunner", "cpu_has_vnni", "ensure_int8_export",
           "export_dir", "int8_recipe"]

log = logging.getLogger(__name__)
OPSET = 17
# The recipe is part of every export's file name and of the int8 model revision, so changing how models are
# quantised (or moving the cache to a CPU of the other kind) never reuses an old export or old results.
# Without VNNI, ONNX Runtime's u8 x s8 int8 kernels can saturate: measured on the validation splits with a
# fine-tuned model on an AVX2 CPU, every MatMul at 8 bits cost about 3 macro-F1 points, 7-bit weights
# (reduce_range) 0.9, 7-bit weights with the feed-forward output MatMuls kept in fp32 (their GELU inputs have the
# widest range) 0.4. With AVX512-VNNI or AVX-VNNI the kernels do not saturate and full 8-bit weights are used.
RECIPE_NO_VNNI = "matmul-perchannel-7bit-ffnout-fp32"
RECIPE_VNNI = "matmul-perchannel-8bit-vnni"
RECIPE_VNNI_FFN_FP32 = "matmul-perchannel-8bit-vnni-ffnout-fp32"
# recipe -> (7-bit weights, feed-forward output MatMuls kept in fp32)
_RECIPES = {RECIPE_NO_VNNI: (True, True), RECIPE_VNNI: (False, False), RECIPE_VNNI_FFN_FP32: (False, True)}
INT8_RECIPES = frozenset(_RECIPES)
BACKENDS_FILE = "backends.json"
"""In a model folder: the int8-against-torch measurement (sentiment/backend_check.py) and the recipe it chose."""
# A model folder may name the recipe measured for it (backends.json "int8_recipe"; sentiment/backend_check.py decides
# whether it holds torch's accuracy): the default v3 model, every layer fine-tuned, loses up to 2 macro-F1 points
# on a language with full 8-bit weights even on a VNNI CPU (its feed-forward outputs have outliers), and stays
# within the budget only with 7-bit weights and those MatMuls in fp32. Models that name none get the CPU's recipe.


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has AVX512-VNNI or AVX-VNNI (read from the kernel's CPU flags; False where unreadable)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_vnni", "avx_vnni"})
    return False


def int8_recipe(vnni: bool | None = None) -> str:
    """The quantisation recipe for this machine (detected at export time unless ``vnni`` is given)."""
    return RECIPE_VNNI if (cpu_has_vnni() if vnni is None else vnni) else RECIPE_NO_VNNI


RECIPE = int8_recipe()


def export_dir(cache_dir: Path, revision: str) -> Path:
    """The cache folder for one model revision's exports (name: readable prefix + digest)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in revision)[:48]
    return Path(cache_dir) / "onnx" / f"{safe}-{hashlib.sha256(revision.encode()).hexdigest()[:12]}"


def ensure_int8_export(module: Callable[[], torch.nn.Module], dest: Path, recipe: str = RECIPE) -> Path:
    """``dest`` (an int8 ONNX file), exported from ``module()`` and quantised with ``recipe`` on first use."""
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
            if recipe not in _RECIPES:
                raise ValueError(f"unknown int8 recipe {recipe!r}")
            seven_bit, ffn_out_fp32 = _RECIPES[recipe]
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=seven_bit, op_types_to_quantize=["MatMul"],
                             nodes_to_exclude=_feed_forward_outputs(fp32) if ffn_out_fp32 else [])
        except Exception as exc:  # the exporter raises many unrelated types; all mean "cannot export"
            raise ScoringError(f"could not export the model to ONNX int8 at {dest} ({type(exc).__name__}: {exc}); "
                               "use model.backend: torch") from exc
        os.replace(int8, dest)
    log.info("exported int8 ONNX model to %s", dest)
    return dest


def _feed_forward_outputs(path: Path) -> list[str]:
    """Names of the feed-forward output MatMuls (``.../layer.N/output/dense/MatMul``, not the attention
    output) in a BERT-family export; an architecture named otherwise simply has every MatMul quantised."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [node.name for node in graph.node if node.op_type == "MatMul" and "/output/dense/" in node.name
            and "/attention/" not in node.name]


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
