"""The int8 ONNX Runtime backend on tiny real models: same answers as torch, export made once and cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeypulse.config import ModelConfig
from sentiment import load_sentiment_model
from sentiment.onnx_backend import RECIPE, RECIPE_NO_VNNI, RECIPE_VNNI, cpu_has_vnni, int8_recipe

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


def _weighted_matmuls(export: Path) -> tuple[list[str], list[str]]:
    """(names of MatMuls whose weight stayed fp32, names of quantised MatMuls) of an export."""
    import onnx

    graph = onnx.load(str(export)).graph
    weights = {init.name for init in graph.initializer}
    # MatMuls with a weight (not the attention score products of two activations) left in fp32:
    float_weighted = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]
    quantised = [n.name for n in graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    return float_weighted, quantised


def _export(folder: Path, dest: Path, recipe: str) -> Path:
    from sentiment.onnx_backend import ensure_int8_export
    from sentiment.torch_backend import _PooledEncoder

    def module():  # type: ignore[no-untyped-def]
        from transformers import AutoModel

        return _PooledEncoder(AutoModel.from_pretrained(folder, add_pooling_layer=False, attn_implementation="eager"))

    return ensure_int8_export(module, dest, recipe)


def test_without_vnni_the_feed_forward_output_matmuls_stay_fp32(tiny_head_model: Path, tmp_path: Path) -> None:
    float_weighted, quantised = _weighted_matmuls(_export(tiny_head_model / "encoder", tmp_path / "a.onnx", RECIPE_NO_VNNI))
    assert quantised
    assert float_weighted and all("/output/dense/" in name and "/attention/" not in name for name in float_weighted)


def test_with_vnni_every_weighted_matmul_is_quantised(tiny_head_model: Path, tmp_path: Path) -> None:
    float_weighted, quantised = _weighted_matmuls(_export(tiny_head_model / "encoder", tmp_path / "b.onnx", RECIPE_VNNI))
    assert quantised and not float_weighted


def test_the_eight_bit_recipe_with_fp32_feed_forward_outputs_keeps_only_those_in_fp32(tiny_head_model: Path,
                                                                                      tmp_path: Path) -> None:
    from sentiment.onnx_backend import RECIPE_VNNI_FFN_FP32

    float_weighted, quantised = _weighted_matmuls(_export(tiny_head_model / "encoder", tmp_path / "c.onnx",
                                                          RECIPE_VNNI_FFN_FP32))
    assert quantised
    assert float_weighted and all("/output/dense/" in name and "/attention/" not in name for name in float_weighted)


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu sse2 avx avx2 avx512f avx512_vnni avx512_bf16", RECIPE_VNNI),
    ("fpu sse2 avx avx2 avx_vnni", RECIPE_VNNI),
    ("fpu sse2 avx avx2 fma", RECIPE_NO_VNNI),
])
def test_the_recipe_follows_the_cpu_flags(tmp_path: Path, flags: str, expected: str) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n", encoding="utf-8")
    assert int8_recipe(cpu_has_vnni(cpuinfo)) == expected
    assert not cpu_has_vnni(tmp_path / "missing")


def test_an_int8_score_does_not_depend_on_the_texts_sharing_its_batch(tiny_head_model: Path, tmp_path: Path) -> None:
    model = load_sentiment_model(ModelConfig(name=str(tiny_head_model), max_tokens=32, backend="onnx-int8"), tmp_path)
    texts = ["great service, thanks!", "the parcel came late and broken", "ok", "สินค้าดีมาก ส่งเร็ว",
             "Giao hàng quá chậm, shop không trả lời tin nhắn nào cả " * 3, "الخدمة سيئة"]
    together = [s.probabilities for s in model.score(texts)]
    alone = [model.score([t])[0].probabilities for t in texts]
    reordered = [s.probabilities for s in model.score(list(reversed(texts)) + ["x " * 30])][:len(texts)][::-1]
    # Equal to the last bits of float64 arithmetic in the head (was: 10-16 of 324 labels flipped by the batch).
    for a, b, c in zip(together, alone, reordered, strict=True):
        assert a == pytest.approx(b, abs=1e-9) and a == pytest.approx(c, abs=1e-9)
        assert max(range(3), key=a.__getitem__) == max(range(3), key=b.__getitem__) == max(range(3), key=c.__getitem__)


def _with_recipe(folder: Path, dest: Path, recipe: str) -> Path:
    """A copy of a head-model folder whose backends.json names ``recipe`` as its measured int8 recipe."""
    import json
    import shutil

    shutil.copytree(folder, dest)
    (dest / "backends.json").write_text(json.dumps({"int8_recipe": recipe}), encoding="utf-8")
    return dest


def test_a_model_that_names_its_int8_recipe_is_exported_and_revised_with_it(tiny_head_model: Path,
                                                                             tmp_path: Path) -> None:
    other = RECIPE_VNNI if RECIPE != RECIPE_VNNI else RECIPE_NO_VNNI  # not what this CPU would pick
    folder = _with_recipe(tiny_head_model, tmp_path / "model", other)
    model = load_sentiment_model(ModelConfig(name=str(folder), max_tokens=32, backend="onnx-int8"), tmp_path)
    plain = load_sentiment_model(ModelConfig(name=str(tiny_head_model), max_tokens=32), tmp_path)
    assert model.revision == f"{plain.revision}+onnx-int8:{other}"  # the torch revision is unchanged
    assert [p.name for p in (tmp_path / "onnx").glob("*/encoder-*.onnx")] == [f"encoder-{other}.onnx"]
    assert len(model.score(TEXTS)) == len(TEXTS)


def test_an_unknown_int8_recipe_in_head_json_is_a_clear_error(tiny_head_model: Path, tmp_path: Path) -> None:
    from journeypulse.errors import ScoringError

    folder = _with_recipe(tiny_head_model, tmp_path / "model", "matmul-4bit")
    with pytest.raises(ScoringError, match="int8_recipe 'matmul-4bit' is not one of"):
        load_sentiment_model(ModelConfig(name=str(folder), backend="onnx-int8"), tmp_path)


def test_the_int8_recipe_setting_wins_over_the_folders_and_an_unknown_one_is_refused(tiny_head_model: Path,
                                                                                     tmp_path: Path) -> None:
    from journeypulse.errors import ScoringError

    folder = _with_recipe(tiny_head_model, tmp_path / "model", RECIPE_VNNI)
    model = load_sentiment_model(ModelConfig(name=str(folder), max_tokens=32, backend="onnx-int8",
                                             int8_recipe=RECIPE_NO_VNNI), tmp_path)
    assert model.revision.endswith(f"+onnx-int8:{RECIPE_NO_VNNI}")
    assert [p.name for p in (tmp_path / "onnx").glob("*/encoder-*.onnx")] == [f"encoder-{RECIPE_NO_VNNI}.onnx"]
    with pytest.raises(ScoringError, match="model.int8_recipe 'matmul-4bit' is not one of"):
        load_sentiment_model(ModelConfig(name=str(folder), backend="onnx-int8", int8_recipe="matmul-4bit"), tmp_path)
