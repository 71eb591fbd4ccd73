"""Throughput of the project's scoring path vs a plain transformers pipeline (batch size 1) and vs a bare
ONNX Runtime int8 session, same model and texts, in one process. A benchmark, not a test.

Usage: python bench/bench_classify.py [--model NAME_OR_FOLDER] [--backend torch|onnx-int8] [--texts FILE]
       [--n 512] [--repeats 3] [--cache DIR] [--skip-pipeline]
Without --texts it reads the UMSAB and Wisesight validation texts under ../shared/datasets (or
$JOURNEYPULSE_DATASETS). Each measurement runs ``--repeats`` times, interleaved; the medians and their
ratios are printed. The bare-ORT baseline (onnx-int8 only) runs the project's own int8 export with the
texts tokenised beforehand (untimed) in length-sorted batches of --batch-size: the project's overhead is
then tokenisation, windowing, batching and the head.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from journeypulse.config import DEFAULT_MODEL, ModelConfig
from sentiment import LABELS, load_sentiment_model
from sentiment.classifier import EncoderHeadModel, SequenceClassificationModel

Model = EncoderHeadModel | SequenceClassificationModel


def _texts(path: Path | None, n: int) -> list[str]:
    if path is not None:
        lines = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    else:
        shared = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"  # ../shared beside the repo
        root = Path(os.environ.get("JOURNEYPULSE_DATASETS", shared))
        lines = []
        for file in sorted((root / "umsab").glob("*/val_text.txt")):
            lines += file.read_text(encoding="utf-8").splitlines()[:40]
        wisesight = root / "wisesight" / "valid.jsonl"
        if wisesight.is_file():
            lines += [json.loads(line)["texts"] for line in wisesight.read_text(encoding="utf-8").splitlines()[:200]]
    if not lines:
        raise SystemExit("no texts found: pass --texts FILE (one text per line)")
    return (lines * (n // len(lines) + 1))[:n]


def _pipeline_baseline(model: Model, texts: list[str], max_tokens: int) -> tuple[float, np.ndarray]:
    """Seconds and labels of a transformers pipeline called once per text (batch size 1), torch weights."""
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


def _bare_ort(model: Model, texts: list[str], max_tokens: int, batch_size: int) -> Callable[[], float]:
    """A timer for a bare ORT session over the project's int8 export; tokenisation happens here, untimed."""
    import onnxruntime as ort

    holder = model.encoder if isinstance(model, EncoderHeadModel) else model.runner
    path = holder.onnx_path
    assert path is not None, "the bare-ORT baseline needs --backend onnx-int8"
    prefix = model.head.prefix if isinstance(model, EncoderHeadModel) else ""
    encoded = holder.tokenizer([prefix + t for t in texts], truncation=True, max_length=max_tokens)["input_ids"]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        members = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in members)
        ids = np.full((len(members), width), holder.tokenizer.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(members):
            ids[row, :len(encoded[i])] = encoded[i]
            mask[row, :len(encoded[i])] = 1
        batches.append((ids, mask))
    options = ort.SessionOptions()
    import torch

    options.intra_op_num_threads = torch.get_num_threads()
    # As in the project's runner: idle ORT threads would otherwise spin and slow the pipeline timed next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    head = model.head if isinstance(model, EncoderHeadModel) else None

    def run() -> float:
        start = time.perf_counter()
        for ids, mask in batches:
            (out,) = session.run(["output"], {"input_ids": ids, "attention_mask": mask})
            if head is not None:
                head.probabilities(out)
        return time.perf_counter() - start

    run()  # warm-up
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--texts", type=Path)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--backend", choices=["torch", "onnx-int8"], default="onnx-int8")
    parser.add_argument("--skip-pipeline", action="store_true", help="leave out the slow pipeline baseline")
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

    lengths = [len(ids) for ids in (model.encoder if isinstance(model, EncoderHeadModel) else model.runner)
               .tokenizer(texts)["input_ids"]]
    print(f"model {model.name} revision {model.revision} backend {model.backend}; {len(texts)} texts "
          f"(mean {np.mean(lengths):.0f} tokens); torch threads {torch.get_num_threads()}; cores {os.cpu_count()}")
    bare = _bare_ort(model, texts, args.max_tokens, args.batch_size) if args.backend == "onnx-int8" else None
    model.score(texts[:8])  # warm-up, excluded from the timings
    times: dict[str, list[float]] = {"ours": [], "bare": [], "pipeline": []}
    labels = np.zeros(0)
    scores = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scores = model.score(texts)
        times["ours"].append(time.perf_counter() - start)
        if bare is not None:
            times["bare"].append(bare())
        if not args.skip_pipeline:
            elapsed, labels = _pipeline_baseline(reference, texts, args.max_tokens)
            times["pipeline"].append(elapsed)
    rate = {k: len(texts) / statistics.median(v) for k, v in times.items() if v}
    runs = {k: ", ".join(f"{len(texts) / s:.1f}" for s in v) for k, v in times.items() if v}
    layout = ("one window per call (batch-independent int8)" if model.backend == "onnx-int8"
              else f"length-sorted, token-budget batches of <= {args.batch_size}")
    print(f"journeypulse {model.backend} ({layout}): "
          f"{rate['ours']:.1f} texts/s median (runs: {runs['ours']})")
    if "bare" in rate:
        print(f"bare ONNX Runtime int8 session, pre-tokenised, sorted batches of {args.batch_size}: "
              f"{rate['bare']:.1f} texts/s median (runs: {runs['bare']})")
        print(f"journeypulse / bare ORT: {rate['ours'] / rate['bare']:.0%} (target >= 80%)")
    if "pipeline" in rate:
        agree = float(np.mean([s.label == LABELS[int(i)] for s, i in zip(scores, labels, strict=True)]))
        print(f"transformers pipeline (torch), batch size 1: {rate['pipeline']:.1f} texts/s median "
              f"(runs: {runs['pipeline']})")
        print(f"speed-up vs pipeline: {rate['ours'] / rate['pipeline']:.2f}x (target >= 8x); label agreement "
              f"with it: {agree:.3f}")


if __name__ == "__main__":
    main()
