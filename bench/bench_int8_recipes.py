"""Scoring speed of the default model per int8 quantisation recipe against torch, same texts, one process.

Usage: python bench/bench_int8_recipes.py [--n 512] [--repeats 3] [--recipes R1,R2,...]

Texts as in bench_classify.py (UMSAB and Wisesight validation texts). Each recipe's export is built once into
the cache (untimed); then torch and every recipe score the same texts ``--repeats`` times, interleaved, and the
medians are printed with their ratio to torch. The recipe this CPU gets by default is marked. A benchmark, not a
test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_classify import _texts  # noqa: E402

import sentiment.onnx_backend as onnx_backend  # noqa: E402
from journeypulse.config import ModelConfig, Settings  # noqa: E402
from sentiment import load_sentiment_model  # noqa: E402
from sentiment.classifier import DEFAULT_HEAD_DIR, EncoderHeadModel, chosen_int8_recipe  # noqa: E402


def _load(recipe: str | None, cache: Path) -> EncoderHeadModel:
    """The default model on torch (recipe None) or on onnx-int8 exported with ``recipe`` (``model.int8_recipe``)."""
    config = ModelConfig() if recipe is None else ModelConfig(backend="onnx-int8", int8_recipe=recipe)
    model = load_sentiment_model(config, cache)
    assert isinstance(model, EncoderHeadModel)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recipes", default=",".join(sorted(onnx_backend.INT8_RECIPES)))
    args = parser.parse_args()
    cache = Settings(brands=[{"name": "x"}]).cache_dir  # type: ignore[list-item]
    texts = _texts(None, args.n)
    default = chosen_int8_recipe(ModelConfig(), DEFAULT_HEAD_DIR) or onnx_backend.int8_recipe()
    models = {"torch": _load(None, cache)}
    for recipe in args.recipes.split(","):
        models[recipe] = _load(recipe, cache)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.score(texts)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["torch"])
    for name, values in times.items():
        median = statistics.median(values)
        mark = " (the default model's recipe here)" if name == default else ""
        print(f"{name}{mark}: {len(texts) / median:.1f} texts/s, {base / median:.2f}x torch")


if __name__ == "__main__":
    main()
