"""Throughput of the project's scoring path vs a plain transformers pipeline (batch size 1), same model and texts.

Usage: python bench/bench_classify.py [--model NAME_OR_FOLDER] [--backend torch|onnx-int8] [--texts FILE]
       [--n 512] [--cache DIR]
Without --texts it reads the UMSAB and Wisesight validation texts under /work/shared/datasets (or
$JOURNEYPULSE_DATASETS). One run each; prints texts/second for both and their ratio. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from journeypulse.config import DEFAULT_MODEL, ModelConfig
from sentiment import LABELS, load_sentiment_model
from sentiment.classifier import EncoderHeadModel, SequenceClassificationModel


def _texts(path: Path | None, n: int) -> list[str]:
    if path is not None:
        lines = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    else:
        root = Path(os.environ.get("JOURNEYPULSE_DATASETS", "/work/shared/datasets"))
        lines = []
        for file in sorted((root / "umsab").glob("*/val_text.txt")):
            lines += file.read_text(encoding="utf-8").splitlines()[:40]
        wisesight = root / "wisesight" / "valid.jsonl"
        if wisesight.is_file():
            lines += [json.loads(line)["texts"] for line in wisesight.read_text(encoding="utf-8").splitlines()[:200]]
    if not lines:
        raise SystemExit("no texts found: pass --texts FILE (one text per line)")
    return (lines * (n // len(lines) + 1))[:n]


def _pipeline_baseline(model: EncoderHeadModel | SequenceClassificationModel, texts: list[str],
                       max_tokens: int) -> tuple[float, np.ndarray]:
    from transformers import pipeline

    if isinstance(model, SequenceClassificationModel):
        pipe = pipeline("text-classification", model=model.runner.model, tokenizer=model.runner.tokenizer,
                        device="cpu", top_k=None)
        start = time.perf_counter()
        out = [pipe(t, batch_size=1, truncation=True, max_length=max_tokens) for t in texts]
        elapsed = time.perf_counter() - start
        id2label = model.runner.model.config.id2label
        ours = {id2label[index]: k for k, index in enumerate(model.runner.order)}
        flat = [o[0] if o and isinstance(o[0], list) else o for o in out]
        return elapsed, np.array([ours[max(o, key=lambda d: d["score"])["label"]] for o in flat])
    encoder = model.encoder
    pipe = pipeline("feature-extraction", model=encoder.model, tokenizer=encoder.tokenizer, device="cpu")
    start = time.perf_counter()
    pooled = []
    for text in texts:
        tokens = np.asarray(pipe(model.head.prefix + text, batch_size=1, truncation=True,
                                 tokenize_kwargs={"max_length": max_tokens}))[0]
        vector = tokens.mean(axis=0)
        pooled.append(vector / np.linalg.norm(vector))
    probabilities = model.head.probabilities(np.stack(pooled))
    elapsed = time.perf_counter() - start
    return elapsed, probabilities.argmax(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--texts", type=Path)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--backend", choices=["torch", "onnx-int8"], default="torch")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("JOURNEYPULSE_CACHE", "~/.cache/journeypulse")).expanduser())
    args = parser.parse_args()

    texts = _texts(args.texts, args.n)
    config = ModelConfig(name=args.model, batch_size=args.batch_size, max_tokens=args.max_tokens,
                         backend=args.backend)
    model = load_sentiment_model(config, args.cache)
    reference = model if args.backend == "torch" else load_sentiment_model(
        config.model_copy(update={"backend": "torch"}), args.cache)
    assert isinstance(model, (EncoderHeadModel, SequenceClassificationModel))
    assert isinstance(reference, (EncoderHeadModel, SequenceClassificationModel))
    import torch

    print(f"model {model.name} revision {model.revision} backend {model.backend}; {len(texts)} texts; "
          f"torch threads {torch.get_num_threads()}")
    model.score(texts[:8])  # warm-up, excluded from both timings
    start = time.perf_counter()
    scores = model.score(texts)
    ours = time.perf_counter() - start
    base, base_labels = _pipeline_baseline(reference, texts, args.max_tokens)
    agree = float(np.mean([s.label == LABELS[int(i)] for s, i in zip(scores, base_labels, strict=True)]))
    print(f"journeypulse {model.backend} (length-sorted batches of {args.batch_size}): "
          f"{len(texts) / ours:.1f} texts/s ({ours:.1f} s)")
    print(f"transformers pipeline, batch size 1: {len(texts) / base:.1f} texts/s ({base:.1f} s)")
    print(f"speed-up: {base / ours:.2f}x; label agreement with the baseline: {agree:.3f}")


if __name__ == "__main__":
    main()
