"""Fine-tunes the top N transformer layers of an encoder plus the linear head, on cached lower-layer states.

Invariant: the lower layers stay frozen and run once per (encoder revision, texts, max_tokens, split
point); their outputs are cached in fp16 under the cache dir, so an epoch runs only the top layers.
Imported lazily (imports torch and transformers).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, PreTrainedTokenizerBase

from journeypulse.errors import ScoringError
from sentiment.evaluation import macro_f1
from sentiment.torch_backend import configure_threads

__all__ = ["CachedStates", "FinetuneResult", "FinetuneSettings", "TopModel", "cache_states", "finetune_top",
           "load_split_encoder", "states_cache_path"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    """Knobs of a top-layer fine-tuning run; defaults are the ones the shipped model was trained with."""

    # Every transformer layer is trained (the token embeddings, 96M of the 118M parameters, stay frozen and their
    # outputs are cached), at 128 tokens (64 cut about 8% of texts).
    top_layers: int = 12
    max_tokens: int = 128
    epochs: int = 3
    batch_size: int = 32
    lr_layers: float = 5e-5
    lr_head: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    patience: int = 2
    rows_per_language: int | None = 1800  # rows each split key gives an epoch; None: the median train rows
    max_train_rows: int | None = 6000  # per train file (times its factor): seeded subsample before caching
    # Split keys are languages (UMSAB, Wisesight) or language/set: the factors balance languages and sets, so the
    # big sets (AIVIVN, SmSA, Wisesight) do not drown the small ones and weak product languages get more.
    language_factors: dict[str, float] = field(default_factory=lambda: {
        "thai": 2.0, "hindi/sentimix-hinglish": 1.5, "indonesian/indonlu-smsa": 1.5, "indonesian/nusax-senti": 0.5,
        "english/nusax-senti": 0.25, "vietnamese/uit-vsfc": 1.5, "vietnamese/uit-visfd": 1.0,
        "vietnamese/aivivn-2019": 0.75, "arabic/astd": 1.0})
    # A language with few rows (e.g. a handful of corrections) is repeated at most this many times per
    # epoch instead of up to rows_per_language: repeating 20 rows 90 times would only memorise them.
    max_repeats: float = 4.0
    max_steps: int | None = None  # stop after this many optimiser steps (smoke runs)
    evaluate_start: bool = False  # also measure the untrained start, and keep it if no epoch beats it
    prefix: str = "query: "
    checkpoint_every: int = 200  # optimiser steps between checkpoints (with a checkpoint path)


@dataclass
class CachedStates:
    """Lower-layer hidden states of many texts: a flat fp16 [tokens, dim] array and per-text offsets."""

    hidden: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def batch(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded float32 hidden states [B, T, dim] and the 0/1 mask [B, T] of the given texts."""
        lengths = [int(self.offsets[r + 1] - self.offsets[r]) for r in rows]
        width = max(lengths)
        hidden = np.zeros((len(rows), width, self.hidden.shape[1]), dtype=np.float32)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, (r, n) in enumerate(zip(rows, lengths, strict=True)):
            hidden[i, :n] = self.hidden[self.offsets[r]:self.offsets[r] + n]
            mask[i, :n] = 1
        return torch.from_numpy(hidden), torch.from_numpy(mask)


class TopModel(torch.nn.Module):
    """The top encoder layers, mean pooling over real tokens, L2 normalisation and a linear head."""

    def __init__(self, layers: torch.nn.ModuleList, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.layers = layers
        self.head = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
            self.head.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            out = layer(hidden, additive)
            hidden = out[0] if isinstance(out, tuple) else out
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        logits: torch.Tensor = self.head(torch.nn.functional.normalize(pooled, dim=-1))
        return logits


def load_split_encoder(folder: Path, top_layers: int) -> tuple[torch.nn.Module, torch.nn.ModuleList, int]:
    """The encoder cut after its lower layers (frozen, eval), a copy of its top layers, and the split index."""
    configure_threads()
    model = AutoModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False,
                                      attn_implementation="eager").eval()
    layers = list(model.encoder.layer)
    if not 0 < top_layers <= len(layers):
        raise ScoringError(f"fine-tuning: top_layers={top_layers} but encoder {folder} has {len(layers)} layers; "
                           f"choose 1 to {len(layers)}")
    lower = len(layers) - top_layers
    top = torch.nn.ModuleList(copy.deepcopy(layer) for layer in layers[lower:])
    model.encoder.layer = torch.nn.ModuleList(layers[:lower])
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, top, lower


def cache_states(lower_model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *,
                 prefix: str, max_tokens: int, path: Path | None, batch_size: int = 64) -> CachedStates:
    """Run the frozen lower layers once over ``texts`` (truncated to ``max_tokens``); reuse ``path`` if cached."""
    if path is not None and path.with_suffix(".offsets.npy").is_file() and path.is_file():
        offsets = np.load(path.with_suffix(".offsets.npy"))
        if len(offsets) == len(texts) + 1:
            return CachedStates(np.load(path, mmap_mode="r"), offsets)
    encoded = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_tokens)["input_ids"]
    lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    dim = int(getattr(lower_model.config, "hidden_size"))  # noqa: B009 (torch's Module typing hides config)
    hidden = np.zeros((int(offsets[-1]), dim), dtype=np.float16)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = np.argsort(-lengths, kind="stable")
    started = time.monotonic()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, r in enumerate(rows):
                ids[i, :lengths[r]] = encoded[r]
                mask[i, :lengths[r]] = 1
            out = lower_model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
            states = out.last_hidden_state.numpy()
            for i, r in enumerate(rows):
                hidden[offsets[r]:offsets[r + 1]] = states[i, :lengths[r]]
            if (start // batch_size) % 50 == 0:
                log.info("lower layers: %d/%d texts, %.0f s", start + len(rows), len(order),
                         time.monotonic() - started)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, hidden)
        np.save(path.with_suffix(".offsets.npy"), offsets)
        tmp.replace(path)
    return CachedStates(hidden, offsets)


def states_cache_path(cache_dir: Path, encoder_revision: str, lower: int, settings: FinetuneSettings,
                      texts: Sequence[str]) -> Path:
    key = json.dumps([encoder_revision, lower, settings.max_tokens, settings.prefix, list(texts)],
                     ensure_ascii=False).encode()
    return cache_dir / "hidden-states" / f"lower{lower}-{hashlib.sha256(key).hexdigest()[:20]}.npy"


@dataclass(frozen=True)
class FinetuneResult:
    """The best epoch's model, its validation logits per language, and the per-epoch history."""

    model: TopModel
    best_epoch: int
    val_logits: dict[str, np.ndarray]
    history: list[dict[str, float]]
    steps: int
    seconds_per_epoch: float


def _logits(model: TopModel, states: CachedStates, batch_size: int) -> np.ndarray:
    model.eval()
    order = np.argsort(np.diff(states.offsets), kind="stable")
    out = np.zeros((len(states), model.head.out_features), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size * 2):
            rows = order[start:start + batch_size * 2]
            out[rows] = model(*states.batch(list(rows))).double().numpy()
    return out


def _epoch_rows(train: dict[str, tuple[CachedStates, np.ndarray]], settings: FinetuneSettings,
                rng: np.random.Generator) -> list[tuple[str, int]]:
    """Language-balanced sample: each language gives rows_per_language x its factor rows (without
    replacement while it has enough, at most max_repeats passes over a small language), shuffled together."""
    per_language = settings.rows_per_language or int(np.median([len(y) for _s, y in train.values()]))
    picked: list[tuple[str, int]] = []
    for language, (_states, labels) in sorted(train.items()):
        wanted = max(1, round(min(per_language * settings.language_factors.get(language, 1.0),
                                  settings.max_repeats * len(labels))))
        rows = rng.permutation(len(labels))
        while len(rows) < wanted:
            rows = np.concatenate([rows, rng.permutation(len(labels))])
        picked += [(language, int(r)) for r in rows[:wanted]]
    return [picked[i] for i in rng.permutation(len(picked))]


def finetune_top(top: torch.nn.ModuleList, weight: np.ndarray, bias: np.ndarray,
                 train: dict[str, tuple[CachedStates, np.ndarray]], val: dict[str, tuple[CachedStates, np.ndarray]],
                 settings: FinetuneSettings, seed: int,
                 on_epoch: Callable[[dict[str, float]], None] | None = None,
                 checkpoint: Path | None = None, resume: bool = False) -> FinetuneResult:
    """Train top layers + head with AdamW on language-balanced epochs; keep the epoch with the best mean
    validation macro-F1 over languages, stopping after ``patience`` epochs without improvement.

    With ``checkpoint`` (a file path) the whole training state (weights, optimiser, schedule, random generators,
    position in the epoch, best epoch so far) is written there every ``settings.checkpoint_every`` steps and at
    every epoch end; ``resume`` continues from it, giving the same model as a run that was never stopped."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TopModel(top, weight, bias)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW([
        {"params": list(model.layers.parameters()), "lr": settings.lr_layers},
        {"params": list(model.head.parameters()), "lr": settings.lr_head}], weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(_epoch_rows(train, settings, np.random.default_rng(seed))) / settings.batch_size)
    total = steps_per_epoch * settings.epochs if settings.max_steps is None else min(
        settings.max_steps, steps_per_epoch * settings.epochs)
    warmup = max(1, int(settings.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))

    def evaluate() -> tuple[float, dict[str, np.ndarray], dict[str, float]]:
        logits = {lang: _logits(model, states, settings.batch_size) for lang, (states, _y) in val.items()}
        scores = {lang: macro_f1(val[lang][1], logits[lang].argmax(1)) for lang in val}
        return float(np.mean(list(scores.values()))), logits, scores

    best_mean, best_logits = -1.0, dict[str, np.ndarray]()
    history: list[dict[str, float]] = []
    if settings.evaluate_start:
        best_mean, best_logits, scores = evaluate()
        history.append({"epoch": 0.0, "mean_val_macro_f1": best_mean, **scores})
        log.info("epoch 0 (start): mean validation macro-F1 %.4f", best_mean)
    best_state, best_epoch, stale, step, spent = copy.deepcopy(model.state_dict()), 0, 0, 0, list[float]()
    first_epoch, skip, losses = 1, 0, list[float]()
    if resume and checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["settings"] != dataclasses.asdict(settings) or saved["seed"] != seed or saved["total"] != total:
            raise ScoringError(f"checkpoint {checkpoint} belongs to another run (settings, seed or data differ); "
                               "delete it or train without --resume")
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        rng.bit_generator.state = saved["epoch_rng"]
        torch.set_rng_state(saved["torch_rng"])
        first_epoch, skip, step, losses = saved["epoch"], saved["batch"], saved["step"], saved["losses"]
        best_mean, best_logits, best_state = saved["best_mean"], saved["best_logits"], saved["best_state"]
        best_epoch, stale, spent, history = saved["best_epoch"], saved["stale"], saved["spent"], saved["history"]
        log.info("resumed from %s at epoch %d, step %d/%d", checkpoint, first_epoch, step, total)
    run_started, run_start_step = time.monotonic(), step
    for epoch in range(first_epoch, settings.epochs + 1):
        if step >= total or stale >= settings.patience:
            break
        started = time.monotonic()
        epoch_rng = copy.deepcopy(rng.bit_generator.state)  # the epoch's batches are re-drawn from it on resume
        model.train()
        batches = _length_bucketed(_epoch_rows(train, settings, rng), train, settings.batch_size, rng)
        for index, chunk in enumerate(batches):
            if index < skip:
                continue
            if step >= total:
                break
            hidden, mask, labels = _training_batch(train, chunk)
            loss = torch.nn.functional.cross_entropy(model(hidden, mask), labels)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 100 == 0:
                rate = (time.monotonic() - run_started) / max(1, step - run_start_step)
                log.info("epoch %d: step %d/%d, mean loss %.4f, %.0f s in epoch, about %.0f min left in training",
                         epoch, step, total, float(np.mean(losses[-100:])), time.monotonic() - started,
                         rate * (total - step) / 60)
            if checkpoint is not None and step % settings.checkpoint_every == 0:
                _save_checkpoint(checkpoint, locals_for_checkpoint(
                    model, optimiser, schedule, epoch_rng, epoch, index + 1, step, losses, best_mean, best_logits,
                    best_state, best_epoch, stale, spent, history, settings, seed, total))
        skip = 0
        spent.append(time.monotonic() - started)
        mean, logits, scores = evaluate()
        history.append({"epoch": float(epoch), "train_loss": float(np.mean(losses)) if losses else 0.0,
                        "mean_val_macro_f1": mean, "seconds": spent[-1], **scores})
        log.info("epoch %d: loss %.4f, mean validation macro-F1 %.4f, %.0f s", epoch, history[-1]["train_loss"],
                 mean, spent[-1])
        if on_epoch is not None:
            on_epoch(history[-1])
        if mean > best_mean:
            best_mean, best_logits, best_state, best_epoch, stale = mean, logits, copy.deepcopy(model.state_dict()), \
                epoch, 0
        else:
            stale += 1
        losses = []
        if checkpoint is not None:  # the next epoch starts from here
            _save_checkpoint(checkpoint, locals_for_checkpoint(
                model, optimiser, schedule, copy.deepcopy(rng.bit_generator.state), epoch + 1, 0, step, losses,
                best_mean, best_logits, best_state, best_epoch, stale, spent, history, settings, seed, total))
        if stale >= settings.patience or step >= total:
            break
    model.load_state_dict(best_state)
    model.eval()
    return FinetuneResult(model, best_epoch, best_logits, history, step,
                          float(np.mean(spent)) if spent else 0.0)


def locals_for_checkpoint(model: TopModel, optimiser: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
                          epoch_rng: Mapping[str, object], epoch: int, batch: int, step: int, losses: list[float],
                          best_mean: float, best_logits: dict[str, np.ndarray], best_state: dict[str, torch.Tensor],
                          best_epoch: int, stale: int, spent: list[float], history: list[dict[str, float]],
                          settings: FinetuneSettings, seed: int, total: int) -> dict[str, object]:
    """Everything a resumed run needs to continue exactly where this one stands."""
    return {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
            "epoch_rng": epoch_rng, "torch_rng": torch.get_rng_state(), "epoch": epoch, "batch": batch, "step": step,
            "losses": list(losses), "best_mean": best_mean, "best_logits": best_logits, "best_state": best_state,
            "best_epoch": best_epoch, "stale": stale, "spent": list(spent), "history": list(history),
            "settings": dataclasses.asdict(settings), "seed": seed, "total": total}


def _save_checkpoint(path: Path, state: dict[str, object]) -> None:
    """Atomic write: a run killed while saving keeps the previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _length_bucketed(rows: list[tuple[str, int]], train: dict[str, tuple[CachedStates, np.ndarray]],
                     batch_size: int, rng: np.random.Generator, pool: int = 50) -> list[list[tuple[str, int]]]:
    """Batches of similar length (less padding): rows are sorted by length within pools of ``pool``
    batches of the shuffled epoch, then the batches are shuffled."""
    batches = []
    for start in range(0, len(rows), batch_size * pool):
        part = sorted(rows[start:start + batch_size * pool],
                      key=lambda row: int(np.diff(train[row[0]][0].offsets[row[1]:row[1] + 2])[0]))
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _training_batch(train: dict[str, tuple[CachedStates, np.ndarray]],
                    chunk: list[tuple[str, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One padded batch mixing languages: rows are gathered per language, then padded to one width."""
    parts = [(train[lang][0].batch([r]), int(train[lang][1][r])) for lang, r in chunk]
    width = max(int(m.shape[1]) for (_h, m), _y in parts)
    hidden = torch.zeros((len(parts), width, parts[0][0][0].shape[2]))
    mask = torch.zeros((len(parts), width), dtype=torch.int64)
    for i, ((h, m), _y) in enumerate(parts):
        hidden[i, :h.shape[1]] = h[0]
        mask[i, :m.shape[1]] = m[0]
    return hidden, mask, torch.tensor([y for _p, y in parts], dtype=torch.int64)
