"""The multi-task journey linker: numpy linear heads over the sentiment encoder's pooled features.

Invariant: the heads never run an encoder. They take the feature rows the sentiment model computed in
its one forward pass per mention (``EncoderHeadModel.analyse``), and an artifact names the encoder
revision it was trained on: ``load_heads`` refuses any other, so stale heads never link silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from journeypulse.errors import ConfigError
from journeys.linker import MAX_CONFIDENCE, Link, RuleLinker
from journeys.taxonomy import Taxonomy

log = logging.getLogger(__name__)

HEADS_FORMAT = "journeypulse-journey-heads/1"
HEADS_JSON = "heads.json"
HEADS_WEIGHTS = "heads.safetensors"
DEFAULT_HEADS_DIR = Path(__file__).parent / "artifacts" / "journey-heads"
"""The committed journey heads (trained by ``journeypulse journeys train``)."""
TASKS = ("stage", "secondary", "exit", "exit_type", "question", "pain")
NO_PAIN = "none"
FALLBACK_METHOD = "rules-fallback"
"""Method of the links made by the rules when the heads cannot be used (missing, other encoder)."""
MAX_REVISION_LENGTH = 50

HeadKind = Literal["softmax", "sigmoid"]


@dataclass(frozen=True)
class LinearHead:
    """``softmax``: one class of ``classes``; ``sigmoid``: an independent probability per class."""

    classes: tuple[str, ...]
    kind: HeadKind
    weight: np.ndarray  # (classes, dim)
    bias: np.ndarray  # (classes,)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias.astype(np.float64)
        if self.kind == "sigmoid":
            return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50))))
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature row holds: encoder blocks (``layers``: "last", optionally "mid") then, when
    ``rules``, the taxonomy rules' confidences per stage, pain point and exit signal."""

    layers: tuple[str, ...] = ("last",)
    rules: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"layers": list(self.layers), "rules": self.rules}


def rule_feature_names(taxonomy: Taxonomy) -> tuple[str, ...]:
    return (*(f"stage:{s}" for s in taxonomy.stage_names), *(f"pain:{e.name}" for e in taxonomy.pain_points),
            *(f"exit:{e.name}" for e in taxonomy.exit_signals))


def rule_features(taxonomy: Taxonomy, links_per_text: Sequence[Sequence[Link]]) -> np.ndarray:
    """Per text: the highest rule confidence per stage, pain point and exit signal (0 when none matched)."""
    names = rule_feature_names(taxonomy)
    index = {name: i for i, name in enumerate(names)}
    out = np.zeros((len(links_per_text), len(names)), dtype=np.float32)
    for row, links in enumerate(links_per_text):
        for link in links:
            keys = [f"stage:{link.stage}"]
            if link.pain_point:
                keys.append(f"pain:{link.pain_point}")
            if link.exit_signal:
                keys.append(f"exit:{link.exit_signal}")
            for key in keys:
                col = index[key]
                out[row, col] = max(out[row, col], link.confidence)
    return out


@dataclass(frozen=True)
class JourneyHeads:
    """The trained heads, their feature spec, thresholds and the encoder revision they were trained on."""

    heads: dict[str, LinearHead]
    features: FeatureSpec
    encoder_revision: str
    thresholds: dict[str, float]
    rule_names: tuple[str, ...] = ()
    meta: dict[str, object] = field(default_factory=dict)
    digest: str = ""

    @property
    def dim(self) -> int:
        return int(self.heads["stage"].weight.shape[1])


def save_heads(folder: Path, heads: JourneyHeads) -> Path:
    """Write heads.safetensors + heads.json (atomic per file); returns the folder."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, head in heads.heads.items():
        tensors[f"{name}.weight"] = np.ascontiguousarray(head.weight, dtype=np.float32)
        tensors[f"{name}.bias"] = np.ascontiguousarray(head.bias, dtype=np.float32)
    tmp = folder / (HEADS_WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(folder / HEADS_WEIGHTS)
    meta = {"format": HEADS_FORMAT, "encoder_revision": heads.encoder_revision,
            "features": heads.features.as_dict(), "rule_features": list(heads.rule_names),
            "heads": {name: {"kind": h.kind, "classes": list(h.classes)} for name, h in heads.heads.items()},
            "thresholds": heads.thresholds, **heads.meta}
    tmp_json = folder / (HEADS_JSON + ".tmp")
    tmp_json.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp_json.replace(folder / HEADS_JSON)
    return folder


def heads_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in (HEADS_JSON, HEADS_WEIGHTS):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def load_heads(folder: Path | None = None) -> JourneyHeads:
    """Read and validate a heads folder (default: the committed one); ConfigError names the file and problem."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(folder) if folder is not None else DEFAULT_HEADS_DIR
    try:
        meta = json.loads((folder / HEADS_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"journey heads {folder / HEADS_JSON} are missing or not JSON ({exc}); run "
                          "`journeypulse journeys train`") from exc
    if not isinstance(meta, dict) or meta.get("format") != HEADS_FORMAT:
        raise ConfigError(f"journey heads {folder / HEADS_JSON}: format must be {HEADS_FORMAT!r}")
    try:
        tensors = load_file(str(folder / HEADS_WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise ConfigError(f"journey heads {folder / HEADS_WEIGHTS} are missing or unreadable: {exc}") from exc
    heads: dict[str, LinearHead] = {}
    spec = meta.get("heads", {})
    for name in TASKS:
        entry = spec.get(name)
        weight, bias = tensors.get(f"{name}.weight"), tensors.get(f"{name}.bias")
        if not isinstance(entry, dict) or weight is None or bias is None:
            raise ConfigError(f"journey heads {folder}: head {name!r} is missing from {HEADS_JSON} or {HEADS_WEIGHTS}")
        classes = tuple(str(c) for c in entry.get("classes", []))
        if weight.shape[0] != len(classes) or bias.shape != (len(classes),) or entry.get("kind") not in ("softmax",
                                                                                                          "sigmoid"):
            raise ConfigError(f"journey heads {folder}: head {name!r} has weight {weight.shape} for {len(classes)} "
                              f"classes (kind {entry.get('kind')!r})")
        heads[name] = LinearHead(classes, entry["kind"], weight, bias)
    dims = {h.weight.shape[1] for h in heads.values()}
    if len(dims) != 1:
        raise ConfigError(f"journey heads {folder}: heads disagree on the feature width ({sorted(dims)})")
    features = meta.get("features", {})
    return JourneyHeads(
        heads=heads, features=FeatureSpec(tuple(features.get("layers", ["last"])), bool(features.get("rules"))),
        encoder_revision=str(meta.get("encoder_revision", "")),
        thresholds={str(k): float(v) for k, v in meta.get("thresholds", {}).items()},
        rule_names=tuple(meta.get("rule_features", [])),
        meta={k: v for k, v in meta.items() if k not in ("format", "encoder_revision", "features", "heads",
                                                         "thresholds", "rule_features")},
        digest=heads_digest(folder))


@dataclass(frozen=True)
class Prediction:
    """Every head's output for one text."""

    stage: str
    stage_confidence: float
    stage_probabilities: dict[str, float]
    secondary: dict[str, float]  # stages above the threshold (not the primary) -> probability
    exit_probability: float
    exit_signal: bool
    exit_type: str | None
    question_probability: float
    question: bool
    pain_point: str | None
    pain_confidence: float


def _pain(classes: tuple[str, ...], row: np.ndarray, threshold: float) -> tuple[str | None, float]:
    """(pain point, p(some pain point)); the tag is the most likely one other than "none", given only when
    ``1 - p(none) >= threshold``."""
    others = [j for j, name in enumerate(classes) if name != NO_PAIN]
    if not others:
        return None, 0.0
    p_any = float(sum(row[j] for j in others))
    if p_any < threshold:
        return None, p_any
    best = max(others, key=lambda j: float(row[j]))
    return classes[best], p_any


def multitask_revision(taxonomy_version: str, heads_digest_hex: str, encoder_revision: str) -> str:
    """``<taxonomy version>+m<12 hex>``: the hex digests the heads artifact and the encoder revision."""
    digest = hashlib.sha256(f"{heads_digest_hex}\x1f{encoder_revision}".encode()).hexdigest()[:12]
    revision = f"{taxonomy_version}+m{digest}"
    if len(revision) > MAX_REVISION_LENGTH:
        raise ConfigError(f"taxonomy version {taxonomy_version!r} is too long for the link revision {revision!r} "
                          f"(max {MAX_REVISION_LENGTH} characters); shorten the version")
    return revision


class MultiTaskLinker:
    """Heads over one feature row per text (from the sentiment model's single encoder pass) -> links.

    Links of one text, most confident first:
    1. the primary stage (softmax over the 8 stages): method "multitask", confidence = its probability,
       carrying the predicted pain point (when ``p(pain) >= thresholds['pain']``) and, when the primary
       stage is exit, the exit type;
    2. when the exit head fires (``p >= thresholds['exit']``) and the primary stage is not exit, an
       ``exit`` link with the exit type, confidence = p(exit);
    3. each other stage whose multi-label probability is ``>= thresholds['secondary']``.
    ``needs_review`` when confidence < the review threshold, as for sentiment.
    """

    method = "multitask"

    def __init__(self, rules: RuleLinker, heads: JourneyHeads) -> None:
        if heads.heads["stage"].classes != rules.taxonomy.stage_names:
            raise ConfigError(f"journey heads stages {heads.heads['stage'].classes} differ from the taxonomy's "
                              f"{rules.taxonomy.stage_names}; retrain them (`journeypulse journeys train`)")
        if heads.features.rules and heads.rule_names != rule_feature_names(rules.taxonomy):
            raise ConfigError("journey heads were trained on another taxonomy's rule features; retrain them")
        self.rules = rules
        self.heads = heads
        self.revision = multitask_revision(rules.taxonomy.version, heads.digest, heads.encoder_revision)

    @property
    def review_threshold(self) -> float:
        return self.rules.review_threshold

    @property
    def layers(self) -> tuple[str, ...]:
        return self.heads.features.layers

    def features(self, encoded: np.ndarray, rule_links: Sequence[Sequence[Link]]) -> np.ndarray:
        """The heads' input: the encoder rows, plus the rule features when the heads use them."""
        if not self.heads.features.rules:
            return encoded
        return np.hstack([encoded, rule_features(self.rules.taxonomy, rule_links)])

    def predict(self, features: np.ndarray) -> list[Prediction]:
        if features.shape[1] != self.heads.dim:
            raise ConfigError(f"journey heads expect {self.heads.dim}-wide features, got {features.shape[1]}; "
                              "retrain them for this encoder")
        h, t = self.heads.heads, self.heads.thresholds
        stage_p = h["stage"].probabilities(features)
        secondary_p = h["secondary"].probabilities(features)
        exit_p = h["exit"].probabilities(features)[:, 0]
        exit_type_p = h["exit_type"].probabilities(features)
        question_p = h["question"].probabilities(features)[:, 0]
        pain_p = h["pain"].probabilities(features)
        stages = h["stage"].classes
        pains = h["pain"].classes
        out = []
        for i in range(features.shape[0]):
            top = int(stage_p[i].argmax())
            stage = stages[top]
            exit_signal = bool(exit_p[i] >= t.get("exit", 0.5))
            pain, pain_conf = _pain(pains, pain_p[i], t.get("pain", 0.5))
            secondary = {s: float(p) for s, p in zip(h["secondary"].classes, secondary_p[i], strict=True)
                         if s != stage and p >= t.get("secondary", 0.5)}
            out.append(Prediction(
                stage=stage, stage_confidence=float(stage_p[i][top]),
                stage_probabilities={s: float(p) for s, p in zip(stages, stage_p[i], strict=True)},
                secondary=secondary, exit_probability=float(exit_p[i]), exit_signal=exit_signal or stage == "exit",
                exit_type=h["exit_type"].classes[int(exit_type_p[i].argmax())] if exit_signal or stage == "exit"
                else None,
                question_probability=float(question_p[i]), question=bool(question_p[i] >= t.get("question", 0.5)),
                pain_point=pain, pain_confidence=pain_conf))
        return out

    def links(self, prediction: Prediction, touchpoint: str | None) -> list[Link]:
        """The links of one prediction (class docstring)."""
        def make(stage: str, confidence: float, pain: str | None, exit_type: str | None) -> Link:
            confidence = round(min(confidence, MAX_CONFIDENCE), 3)
            return Link(stage=stage, touchpoint=touchpoint, pain_point=pain, exit_signal=exit_type,
                        method=self.method, confidence=confidence, needs_review=confidence < self.review_threshold)

        p = prediction
        out = [make(p.stage, p.stage_confidence, p.pain_point, p.exit_type if p.stage == "exit" else None)]
        if p.exit_signal and p.stage != "exit":
            out.append(make("exit", p.exit_probability, None, p.exit_type))
        out.extend(make(stage, conf, None, None) for stage, conf in p.secondary.items()
                   if stage not in {link.stage for link in out})
        order = {name: i for i, name in enumerate(self.rules.taxonomy.stage_names)}
        out.sort(key=lambda link: (-link.confidence, order[link.stage]))
        return out

    def link_encoded(self, items: Sequence[tuple[str, str | None, str | None]], encoded: np.ndarray) -> list[list[Link]]:
        """Links for each (text, language, channel) given its encoder row (same order)."""
        return self.link_encoded_with_questions(items, encoded)[0]

    def link_encoded_with_questions(self, items: Sequence[tuple[str, str | None, str | None]], encoded: np.ndarray,
                                    ) -> tuple[list[list[Link]], list[bool]]:
        """``link_encoded`` plus the question head's answer per text (same order)."""
        rule_links = ([self.rules.link(text, language=lang, channel=channel) for text, lang, channel in items]
                      if self.heads.features.rules else [[] for _ in items])
        predictions = self.predict(self.features(encoded, rule_links))
        links = [self.links(p, self.rules.taxonomy.touchpoint(channel))
                 for p, (_, _, channel) in zip(predictions, items, strict=True)]
        return links, [p.question for p in predictions]


def fallback_links(rules: RuleLinker, items: Sequence[tuple[str, str | None, str | None]]) -> list[list[Link]]:
    """The rules' links, marked with method ``rules-fallback`` (the heads could not be used)."""
    from dataclasses import replace

    return [[replace(link, method=FALLBACK_METHOD) for link in rules.link(text, language=lang, channel=channel)]
            for text, lang, channel in items]


def load_multitask_linker(rules: RuleLinker, encoder_revision: str | None, *,
                          heads_dir: Path | None = None) -> tuple[MultiTaskLinker | None, str]:
    """The multi-task linker, or (None, why) when the heads are missing or were trained on another encoder.

    ``encoder_revision`` is the sentiment model's revision (None: the sentiment model exposes no features).
    The caller falls back to the rules and logs ``why``.
    """
    if encoder_revision is None:
        return None, "the sentiment model exposes no encoder features (not an encoder + head model)"
    try:
        heads = load_heads(heads_dir)
    except ConfigError as exc:
        return None, str(exc)
    if heads.encoder_revision != encoder_revision:
        return None, (f"journey heads were trained on encoder {heads.encoder_revision} but the sentiment model is "
                      f"{encoder_revision}; run `journeypulse journeys train`")
    try:
        return MultiTaskLinker(rules, heads), ""
    except ConfigError as exc:
        return None, str(exc)


__all__ = ["DEFAULT_HEADS_DIR", "FALLBACK_METHOD", "FeatureSpec", "JourneyHeads", "LinearHead", "MultiTaskLinker",
           "NO_PAIN", "Prediction", "TASKS", "fallback_links", "heads_digest", "load_heads", "load_multitask_linker",
           "multitask_revision", "rule_feature_names", "rule_features", "save_heads"]
