"""The ``top-layers`` method of ``train_model``: cache the frozen lower layers, fine-tune the top layers and
the head (``sentiment.finetune``), calibrate, save the model folder, re-measure it through the ordinary
loading path and write its card. Imported lazily (imports torch and transformers).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from journeypulse.errors import ScoringError
from sentiment.datasets import LabelledSplit
from sentiment.evaluation import macro_f1
from sentiment.finetune import (
    CachedStates,
    FinetuneSettings,
    TopModel,
    cache_states,
    finetune_top,
    load_split_encoder,
    states_cache_path,
)

if TYPE_CHECKING:
    from sentiment.scores import SentimentModel
    from sentiment.training import TrainingReport

log = logging.getLogger(__name__)

__all__ = ["run_top_layers", "save_finetuned"]


def save_finetuned(out_dir: Path, model: TopModel, lower: int, temperature: float, encoder: str, prefix: str,
                   extra: dict[str, object]) -> Path:
    """Write head (temperature folded in: W/T, b/T), the top layers in fp16 under their base-model names,
    and head.json (format /2) to ``out_dir``."""
    from safetensors.torch import save_file

    from sentiment.head import LAYERS_FILE, Head, save_head

    tensors = {f"encoder.layer.{lower + i}.{name}": value.detach().to(torch.float16).contiguous()
               for i, layer in enumerate(model.layers) for name, value in layer.state_dict().items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / LAYERS_FILE), metadata={"format": "pt"})
    weight = model.head.weight.detach().double().numpy() / temperature
    bias = model.head.bias.detach().double().numpy() / temperature
    layers = {"file": LAYERS_FILE, "indices": list(range(lower, lower + len(model.layers))), "dtype": "float16"}
    head = Head(weight=weight.astype(np.float32), bias=bias.astype(np.float32), encoder=encoder, prefix=prefix,
                extra={"layers": layers, "temperature": temperature, **extra})
    return save_head(out_dir, head)


def run_top_layers(splits: Sequence[LabelledSplit], out_dir: Path, cache_dir: Path, *, seed: int,
                   epochs: int | None, top_layers: int | None, max_tokens: int | None, encoder: Path | None,
                   init_head: Path | None,
                   max_steps: int | None, baseline: Path | None, files: tuple[str, ...],
                   settings: FinetuneSettings | None = None,
                   probes: Sequence[LabelledSplit] = (), resume: bool = False) -> TrainingReport:
    """The ``top-layers`` method of ``train_model`` (train splits already cut to ``max_train_rows``):
    cache, fine-tune, calibrate, save, re-measure, card."""
    from sentiment.calibration import fit_temperature
    from sentiment.classifier import _folder_revision
    from sentiment.encoder_build import ENCODER_DIRNAME, ensure_encoder, read_revision
    from sentiment.head import BUILTIN_PREFIX
    from sentiment.model_card import write_model_folder_card
    from sentiment.torch_backend import load_tokenizer
    from sentiment.training import TrainingReport

    started = time.monotonic()
    if encoder is None:
        folder, name = ensure_encoder(cache_dir), f"{BUILTIN_PREFIX}{ENCODER_DIRNAME}"
        revision = read_revision(folder)
    else:
        folder = Path(encoder).resolve()
        name, revision = str(folder), _folder_revision(folder)
    base = settings or FinetuneSettings()
    overrides: dict[str, int | None] = {"top_layers": top_layers, "max_tokens": max_tokens, "epochs": epochs, "max_steps": max_steps}
    settings = dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    top_layers, max_tokens, epochs = settings.top_layers, settings.max_tokens, settings.epochs
    lower_model, top, lower = load_split_encoder(folder, top_layers)
    tokenizer = load_tokenizer(folder)
    states = {(s.language, s.split): (cache_states(lower_model, tokenizer, s.texts, prefix=settings.prefix,
                                                   max_tokens=max_tokens,
                                                   path=states_cache_path(cache_dir, revision, lower, settings,
                                                                          s.texts)),
                                      np.asarray(s.labels, dtype=np.int64)) for s in splits if s.split != "test"}
    cached_at = time.monotonic()
    train = {lang: v for (lang, split), v in states.items() if split == "train"}
    val = {lang: v for (lang, split), v in states.items() if split == "val"}
    weight, bias, head_init = _initial_head(init_head, revision, top, train, seed)
    checkpoint = _checkpoint_path(cache_dir, out_dir, settings, seed, splits)
    log.info("checkpoints: %s (every %d steps)", checkpoint, settings.checkpoint_every)
    result = finetune_top(top, weight, bias, train, val, settings, seed, checkpoint=checkpoint, resume=resume)
    trained_at = time.monotonic()
    languages = sorted(result.val_logits)
    calibration = fit_temperature(np.concatenate([result.val_logits[k] for k in languages]),
                                  np.concatenate([val[k][1] for k in languages]))
    training = {"method": "top-layers", "seed": seed, "top_layers": top_layers, "layers_trained": f"{lower}-"
                f"{lower + top_layers - 1}", "max_tokens_training": max_tokens, "epochs_max": epochs, "max_steps": settings.max_steps,
                "best_epoch": result.best_epoch, "steps": result.steps, "batch_size": settings.batch_size,
                "lr_layers": settings.lr_layers, "lr_head": settings.lr_head, "weight_decay": settings.weight_decay,
                "patience": settings.patience, "language_factors": settings.language_factors,
                "rows_per_language": settings.rows_per_language or
                f"{int(np.median([len(y) for _s, y in train.values()]))} (the median train split)",
                "max_train_rows": settings.max_train_rows, "max_repeats": settings.max_repeats,
                "head_init": head_init, "files": list(files)}
    extra: dict[str, object] = {"encoder_revision": revision,
                                "trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "training": training}
    val_f1 = {lang: macro_f1(val[lang][1], result.val_logits[lang].argmax(1)) for lang in languages}
    save_finetuned(out_dir, result.model, lower, calibration.temperature, name, settings.prefix, extra)
    # The full shipped path (fp16 layers, 128-token windows) re-runs all layers: checked on one language only.
    check = "english" if "english" in val else languages[0]
    shipped, ece_shipped = _evaluate_shipped(out_dir, [s for s in splits if s.split == "val" and s.language == check],
                                             cache_dir)
    extra["validation_macro_f1"] = {k: round(v, 6) for k, v in val_f1.items()}
    # Final figures through the shipped path: validation (which chose epoch and temperature) and the untouched
    # test-like part of every train file (chose nothing).
    from sentiment.evaluation import split_report

    extra["shipped"] = {split.split + ":" + split.language: split_report(_shipped_probabilities(out_dir, split, cache_dir),
                                                                       split.labels, seed=seed)
                        for split in splits if split.split in ("val", "test")}
    if probes:  # small sets written for the project: measured only, never trained or tuned on
        extra["probes"] = {p.language: {"this model": round(_evaluate_shipped(out_dir, [p], cache_dir)[0][p.language], 4),
                                        **({"first head": round(_evaluate_shipped(baseline, [p], cache_dir)[0][p.language], 4)}
                                           if baseline is not None else {}), "rows": len(p.texts)} for p in probes}
    extra["shipped_path_check"] = {"language": check, "macro_f1": round(shipped[check], 6),
                                   "training_path_macro_f1": round(val_f1[check], 6), "ece": round(ece_shipped, 4)}
    extra["calibration"] = {"temperature": round(calibration.temperature, 4),
                            "ece_before": round(calibration.ece_before, 4),
                            "ece_after": round(calibration.ece_after, 4),
                            "nll_before": round(calibration.nll_before, 4), "nll_after": round(calibration.nll_after, 4)}
    save_finetuned(out_dir, result.model, lower, calibration.temperature, name, settings.prefix, extra)
    report = TrainingReport(
        out_dir=out_dir, c=None, val_macro_f1=val_f1, train_rows=sum(len(y) for _s, y in train.values()),
        files=files, comparisons=_baseline_scores(baseline), method="top-layers",
        calibration=extra["calibration"], history=tuple(result.history),  # type: ignore[arg-type]
        settings={**training, "shipped_path_check": extra["shipped_path_check"], "probes": extra.get("probes", {})}, seconds={"cache_lower_layers": cached_at - started,
                                    "per_epoch": result.seconds_per_epoch, "training": trained_at - cached_at,
                                    "total": time.monotonic() - started})
    (out_dir / "training_report.json").write_text(json.dumps(
        {"val_macro_f1": val_f1, "shipped_path_check": extra["shipped_path_check"], "history": result.history, "seconds": report.seconds,
         "calibration": report.calibration}, indent=2) + "\n", encoding="utf-8")
    write_model_folder_card(out_dir)
    return report


def _initial_head(init_head: Path | None, revision: str, top: torch.nn.ModuleList,
                  train: dict[str, tuple[CachedStates, np.ndarray]], seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The starting head: ``init_head``'s weights when it was trained on this encoder, else a logistic
    regression on the pooled outputs of the unchanged top layers (at most 2000 rows per language)."""
    from sentiment.head import is_head_folder, load_head

    if init_head is not None and is_head_folder(init_head):
        head = load_head(init_head)
        if head.extra.get("encoder_revision") == revision and "layers" not in head.extra:
            return head.weight, head.bias, f"weights of {init_head.name} (frozen-encoder head)"
        log.info("init head %s was trained on another encoder; fitting a new starting head", init_head)
    from sklearn.linear_model import LogisticRegression

    width = int(getattr(getattr(top[0], "output").dense, "out_features"))  # noqa: B009
    probe = TopModel(top, np.zeros((3, width)), np.zeros(3)).eval()
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    with torch.inference_mode():
        for states, labels in train.values():
            rows = rng.permutation(len(labels))[:2000]
            for start in range(0, len(rows), 64):
                hidden, mask = states.batch(list(rows[start:start + 64]))
                xs.append(_pooled(probe, hidden, mask))
            ys.append(labels[rows])
    clf = LogisticRegression(C=10.0, max_iter=2000, random_state=seed).fit(np.concatenate(xs), np.concatenate(ys))
    if list(clf.classes_) != [0, 1, 2]:
        raise ScoringError(f"fine-tuning: training data must contain all three labels, got {list(clf.classes_)}")
    return clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32), "logistic regression on pooled states"


def _pooled(model: TopModel, hidden: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    saved = model.head
    model.head = torch.nn.Identity()  # type: ignore[assignment]
    try:
        pooled: np.ndarray = model(hidden, mask).numpy()
        return pooled
    finally:
        model.head = saved


def _evaluate_shipped(out_dir: Path, val: Sequence[LabelledSplit], cache_dir: Path) -> tuple[dict[str, float], float]:
    """Validation macro-F1 per language and overall ECE of the saved folder, loaded the ordinary way."""
    from journeypulse.config import ModelConfig
    from sentiment.calibration import expected_calibration_error
    from sentiment.classifier import load_sentiment_model

    model = load_sentiment_model(ModelConfig(name=str(out_dir)), cache_dir)
    scores, probabilities, labels = {}, [], []
    for split in val:
        probs = np.array([s.probabilities for s in model.score(list(split.texts))])
        scores[split.language] = macro_f1(split.labels, probs.argmax(1))
        probabilities.append(probs)
        labels.append(np.asarray(split.labels))
    return scores, expected_calibration_error(np.concatenate(probabilities), np.concatenate(labels))


def _shipped_probabilities(out_dir: Path, split: LabelledSplit, cache_dir: Path) -> np.ndarray:
    """Class probabilities of ``split``'s texts from the saved folder loaded the ordinary way (once per folder)."""
    from journeypulse.config import ModelConfig
    from sentiment.classifier import load_sentiment_model

    key = str(out_dir.resolve())
    if key not in _LOADED:
        _LOADED[key] = load_sentiment_model(ModelConfig(name=str(out_dir)), cache_dir)
    return np.array([s.probabilities for s in _LOADED[key].score(list(split.texts))])


_LOADED: dict[str, SentimentModel] = {}


def _checkpoint_path(cache_dir: Path, out_dir: Path, settings: FinetuneSettings, seed: int,
                     splits: Sequence[LabelledSplit]) -> Path:
    """One checkpoint file per (output folder, recipe, seed, data): a resumed run finds exactly its own."""
    import hashlib

    key = json.dumps([str(out_dir.resolve()), dataclasses.asdict(settings), seed,
                      [(s.language, s.split, len(s.texts), hashlib.sha256("\n".join(s.texts).encode()).hexdigest())
                       for s in splits]], sort_keys=True, default=str)
    return cache_dir / "checkpoints" / f"{out_dir.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def _baseline_scores(baseline: Path | None) -> dict[str, dict[str, float]]:
    from sentiment.head import is_head_folder, load_head

    if baseline is None or not is_head_folder(baseline):
        return {}
    recorded = load_head(baseline).extra.get("validation_macro_f1")
    return {"first head": {str(k): float(v) for k, v in recorded.items()}} if isinstance(recorded, dict) else {}
