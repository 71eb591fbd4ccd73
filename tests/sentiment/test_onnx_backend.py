"""The int8 ONNX Runtime backend on tiny real models: same answers as torch, export made once and cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeypulse.config import ModelConfig
from sentiment import load_sentiment_model
from sentiment.onnx_backend import RECIPE

TEXTS = ["great service, thanks!", "Giao hàng quá chậm " * 20, "", "สินค้าดีมาก ส่งเร็ว", "الخدمة سيئة"]


@pytest.mark.parametrize("fixture", ["tiny_classifier", "tiny_head_model"])
def test_the_onnx_int8_backend_agrees_with_torch_and_marks_its_revision(
        fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    folder: Path = request.getfixturevalue(fixture)
    torch_model = load_sentiment_model(ModelConfig(name=str(folder), max_tokens=32), tmp_path)
    onnx_model = load_sentiment_model(ModelConfig(name=str(folder), max_tokens=32, backend="onnx-int8"), tmp_path)
    assert onnx_model.backend == "onnx-int8"
    assert onnx_model.revision == f"{torch_model.revision}+onnx-int8:{RECIPE}"
    for expected, got in zip(torch_model.score(TEXTS), onnx_model.score(TEXTS), strict=True):
        assert got.probabilities == pytest.approx(expected.probabilities, abs=0.03)


def test_the_onnx_export_is_made_once_and_reused(tiny_classifier: Path, tmp_path: Path) -> None:
    config = ModelConfig(name=str(tiny_classifier), backend="onnx-int8")
    load_sentiment_model(config, tmp_path)
    (export,) = (tmp_path / "onnx").glob("*/classifier-*.onnx")
    first = export.stat().st_mtime_ns
    model = load_sentiment_model(config, tmp_path)
    assert export.stat().st_mtime_ns == first
    assert len(model.score(["ok", "fine"])) == 2
    assert not list((tmp_path / "onnx").glob("*/.export-*"))


def test_the_int8_export_keeps_the_feed_forward_output_matmuls_in_fp32(tiny_head_model: Path, tmp_path: Path) -> None:
    import onnx

    load_sentiment_model(ModelConfig(name=str(tiny_head_model), backend="onnx-int8"), tmp_path)
    (export,) = (tmp_path / "onnx").glob(f"*/encoder-{RECIPE}.onnx")
    graph = onnx.load(str(export)).graph
    weights = {init.name for init in graph.initializer}
    # MatMuls with a weight (not the attention score products of two activations) left in fp32:
    float_weighted = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]
    quantised = [n.name for n in graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    assert quantised
    assert float_weighted and all("/output/dense/" in name and "/attention/" not in name for name in float_weighted)
