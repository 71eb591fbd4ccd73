"""``journeypulse journeys train``: the multi-task journey heads on the default sentiment model's features.

Invariant: features come from the configured sentiment model's single forward pass (``analyse``), the
same call the ``enrich`` step makes, so trained heads see exactly the rows they will see in production;
the held-out part of the project's set is dropped before anything is encoded.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from journeypulse.config import Settings
from journeypulse.errors import ScoringError
from journeys import load_linker
from journeys.dataset import (
    JourneyExample,
    PublicDataCard,
    load_mentions,
    load_public,
    part_of,
    training_rows,
)
from journeys.multitask import DEFAULT_HEADS_DIR, JourneyHeads, rule_feature_names, rule_features, save_heads
from journeys.multitask_train import TrainingData, fit_journey_heads

if TYPE_CHECKING:
    from sentiment.classifier import EncoderHeadModel

log = logging.getLogger(__name__)

DEFAULT_PUBLIC_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "journey"
"""The public journey data sets next to the checkout (``../shared/datasets/journey``)."""
LAYERS = ("last", "mid")
ENCODE_BATCH = 64

Progress = Callable[[str], None]


def feature_model(settings: Settings) -> tuple[EncoderHeadModel, str]:
    """The configured default sentiment model and its revision; ScoringError if it exposes no features."""
    from sentiment import load_sentiment_model
    from sentiment.classifier import EncoderHeadModel

    model = load_sentiment_model(settings.model, settings.cache_dir)
    if not isinstance(model, EncoderHeadModel):
        raise ScoringError(f"model {model.name} is not an encoder + head model, so it exposes no features for the "
                           "journey heads; set model.name to the default model or an encoder + head folder")
    return model, model.base_revision


def encode(model: EncoderHeadModel, revision: str, texts: Sequence[str], cache_dir: Path | None,
           progress: Progress) -> np.ndarray:
    """[last | mid] features per text, in batches with progress; cached per encoder revision under
    ``<cache_dir>/journey-features/`` (keyed by sha256 of each text), so a rerun re-encodes nothing."""
    keys = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:24] for t in texts]
    cache: dict[str, np.ndarray] = {}
    path = None
    if cache_dir is not None:
        tag = hashlib.sha256(f"{revision}\x1f{'+'.join(LAYERS)}".encode()).hexdigest()[:16]
        path = Path(cache_dir) / "journey-features" / f"features-{tag}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                cache = dict(zip((str(k) for k in data["keys"]), data["rows"], strict=True))
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items())
    progress(f"encoding {len(todo)} texts ({len(texts) - len([k for k in keys if k not in cache])} cached)")
    started = time.perf_counter()
    for start in range(0, len(todo), ENCODE_BATCH):
        part = todo[start:start + ENCODE_BATCH]
        _, rows = model.analyse([t for _, t in part], LAYERS)
        cache.update(zip((k for k, _ in part), rows, strict=True))
        done = start + len(part)
        if done == len(todo) or (start // ENCODE_BATCH) % 8 == 7:
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress(f"  encoded {done}/{len(todo)} ({rate:.1f} texts/s)")
            if path is not None:  # checkpoint: an interrupted run resumes from here
                _save_cache(path, cache)
    return np.stack([cache[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)


def _save_cache(path: Path, cache: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, keys=np.array(list(cache)), rows=np.stack(list(cache.values())))
    tmp.replace(path)


def correction_examples(settings: Settings) -> list[JourneyExample]:
    """Stage / exit-signal corrections recorded in the database, as training rows (their part from the id)."""
    from pipeline.steps import open_store

    with open_store(settings) as store:
        corrections = store.journey_corrections()
        texts = store.mention_texts([c.mention_id for c in corrections])
    out = []
    for c in corrections:
        if c.mention_id not in texts:
            continue
        text, language = texts[c.mention_id]
        out.append(JourneyExample(
            id=f"correction:{c.mention_id}", language=language or "und", text=text, stage=c.stage, secondary=None,
            exit_signal=c.exit_signal, exit_type=c.exit_type, pain_point=None, pain_known=False, question=None,
            sentiment=None, source="corrections", weight=1.0,
            part="holdout" if part_of(c.mention_id) == "holdout" else "train"))
    return out


def gather(data_dir: Path | None, public_dir: Path | None, corrections: Sequence[JourneyExample],
           progress: Progress) -> tuple[list[JourneyExample], PublicDataCard | None]:
    project = load_mentions(data_dir)
    allowed = training_rows(project)
    progress(f"project set: {len(project)} mentions, {len(project) - len(allowed)} held out (never read further), "
             f"{sum(e.part == 'validation' for e in allowed)} validation, {sum(e.part == 'train' for e in allowed)} "
             "train")
    examples = list(allowed)
    card = None
    if public_dir is not None:
        public, card = load_public(public_dir)
        progress(f"public sets: {len(public)} rows used of {sum(card.read.values())} ({card.used})")
        examples += public
    kept = training_rows(corrections)
    if corrections:
        progress(f"corrections: {len(kept)} used, {len(corrections) - len(kept)} in the held-out part")
    examples += [replace(e, part="train") for e in kept]
    return examples, card


def train_heads(settings: Settings, *, data_dir: Path | None, public_dir: Path | None, out_dir: Path | None,
                use_corrections: bool, progress: Progress) -> tuple[JourneyHeads, Path]:
    """Gather the data, encode it once, fit, write the artifact + MODEL_CARD.md; returns (heads, folder)."""
    started = time.perf_counter()
    corrections = correction_examples(settings) if use_corrections else []
    examples, card = gather(data_dir, public_dir, corrections, progress)
    model, revision = feature_model(settings)
    progress(f"sentiment model revision {revision}")
    encoded = encode(model, revision, [e.text for e in examples], settings.cache_dir, progress)
    rules = load_linker(_taxonomy(settings))
    rule_rows = rule_features(rules.taxonomy, [rules.link(e.text, language=e.language, channel=None)
                                               for e in examples])
    dim = encoded.shape[1] // len(LAYERS)
    data = TrainingData(examples, encoded, rule_rows, dim)
    heads = fit_journey_heads(data, encoder_revision=revision, rule_names=rule_feature_names(rules.taxonomy),
                              progress=progress)
    meta = dict(heads.meta)
    meta["data"] = {"project_rows_used": sum(e.source == "project" for e in examples),
                    "public": {"used": card.used, "read": card.read, "weights": card.weights} if card else None,
                    "corrections": sum(e.source == "corrections" for e in examples)}
    meta["seconds"] = round(time.perf_counter() - started, 1)
    heads = replace(heads, meta=meta)
    folder = out_dir or DEFAULT_HEADS_DIR
    save_heads(folder, heads)
    (folder / "MODEL_CARD.md").write_text(model_card(heads), encoding="utf-8")
    progress(f"wrote {folder} in {meta['seconds']} s")
    return heads, folder


def _taxonomy(settings: Settings) -> Path | None:
    from pipeline.steps import _taxonomy_path

    return _taxonomy_path(settings)


def model_card(heads: JourneyHeads) -> str:
    meta: dict[str, Any] = dict(heads.meta)
    val = meta.get("validation", {})
    data = meta.get("data", {})
    rows = meta.get("rows", {})
    features = "+".join(heads.features.layers) + ("+rules" if heads.features.rules else "")
    search = "\n".join(f"| {'+'.join(s['features']['layers'])}{'+rules' if s['features']['rules'] else ''} | "
                       f"{s['C']} | {s['stage_accuracy']} | {s['exit_f1']} |" for s in meta.get("search", []))
    return f"""# Journey heads (multi-task linker)

Linear heads over the sentiment encoder's pooled features: primary stage (softmax over 8), secondary stages
(one sigmoid per stage), exit signal (sigmoid) and exit type (softmax over 7), question (sigmoid), pain point
(softmax over the taxonomy's 12 tags + none). Trained by `journeypulse journeys train` (recipe {meta.get('recipe')}).

- Encoder (sentiment model) revision: `{heads.encoder_revision}`. The heads refuse any other encoder; the
  linker then falls back to the taxonomy rules (method `rules-fallback`) and logs why. Retrain after the
  sentiment model changes.
- Features: `{features}` (last = mean-pooled last layer, what the sentiment head sees; mid = mean-pooled
  middle layer of the same forward pass; rules = the taxonomy rules' confidences). C = {meta.get('C')}.
- Thresholds (chosen on the validation part): {heads.thresholds}.
- Trained at {meta.get('trained_at')} in {meta.get('seconds')} s.

## Data

Project set (`journeys/data/mentions`): the held-out part (sha256 rule, journeys/data/README.md) is never read
by training. Rows: train {rows.get('train')} (incl. public and corrections), validation {rows.get('validation')}
(project mentions only). Public sets used (capped per set and stage, weighted): {data.get('public')}.
Corrections: {data.get('corrections')}.

## Validation figures (validation part of the train data; heads fitted on the train part only)

{val}

Feature / C search (validation stage accuracy, best-threshold exit F1):

| features | C | stage accuracy | exit F1 |
|---|---|---|---|
{search}

Held-out figures: `journeypulse journeys eval` (journeys/LINKER.md).
"""


__all__ = ["DEFAULT_PUBLIC_DATA", "LAYERS", "encode", "feature_model", "gather", "model_card", "train_heads"]
