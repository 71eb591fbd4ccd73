"""Hybrid journey linking: the taxonomy rules plus an embedding classifier trained on the seed set.

Invariant: the revision changes whenever the taxonomy version, the seed file, the encoder or the
training recipe changes, so stored links always say which rules, examples and model made them.
The encoder is passed in as a function (texts -> L2-normalised rows): this package loads no model.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from journeypulse.errors import ConfigError, PipelineError
from journeys.linker import MAX_CONFIDENCE, Link, RuleLinker
from journeys.seedset import SeedSet

log = logging.getLogger(__name__)

EmbedFn = Callable[[Sequence[str]], np.ndarray]
"""texts -> one L2-normalised embedding row per text, in order (``sentiment.load_embedder`` gives one)."""

RECIPE = "logreg-l2-C16-balanced/1"
"""Training recipe of the embedding classifier; part of the revision and of the cache key."""
REGULARISATION_C = 16.0
# The three thresholds below were chosen by 4-fold cross-validation over the seed set's *train* split
# (folds by concept group), never on the held-out split; see journeys/LINKER.md.
AGREE_MIN = 0.1
"""Embedding probability at which a rule link counts as confirmed (method "rules+embedding")."""
ADD_TOP_MIN = 0.2
"""Probability at which the embedding's most likely stage is added when the rules missed it."""
MAX_REVISION_LENGTH = 50
"""Stored link versions are at most 50 characters (storage schema)."""


@dataclass(frozen=True)
class StageClassifier:
    """Multinomial logistic regression over encoder embeddings: embedding -> probability per stage."""

    stages: tuple[str, ...]
    weight: np.ndarray  # (stages, dim)
    bias: np.ndarray  # (stages,)

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings.astype(np.float64) @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def train_stage_classifier(embeddings: np.ndarray, labels: Sequence[str], stages: Sequence[str]) -> StageClassifier:
    """Fit the classifier (class-balanced, L2, C=``REGULARISATION_C``); every stage needs examples."""
    from sklearn.linear_model import LogisticRegression

    missing = sorted(set(stages) - set(labels))
    if missing:
        raise ConfigError(f"seed set: no training examples for stage(s) {missing}; add some to the seed file")
    model = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=2000)
    model.fit(embeddings.astype(np.float64), list(labels))
    index = {str(name): i for i, name in enumerate(model.classes_)}
    order = [index[stage] for stage in stages]
    return StageClassifier(tuple(stages), np.ascontiguousarray(model.coef_[order]),
                           np.ascontiguousarray(model.intercept_[order]))


def checked_embeddings(embed: EmbedFn, texts: Sequence[str], dim: int | None = None) -> np.ndarray:
    """Call ``embed`` and check its contract: one finite row per text (and ``dim`` columns when given)."""
    rows = np.asarray(embed(list(texts)))
    if rows.ndim != 2 or rows.shape[0] != len(texts):
        raise PipelineError(f"embedding function returned shape {rows.shape} for {len(texts)} texts; it must "
                            "return one row per text")
    if dim is not None and rows.shape[1] != dim:
        raise PipelineError(f"embedding function returned {rows.shape[1]}-dim rows but the journey classifier "
                            f"was trained on {dim}-dim rows; retrain it (delete the linker cache)")
    if not np.isfinite(rows).all():
        raise PipelineError("embedding function returned non-finite values; check the encoder")
    return rows


def _noisy_or(a: float, b: float) -> float:
    return round(min(1.0 - (1.0 - a) * (1.0 - b), MAX_CONFIDENCE), 3)


class HybridLinker:
    """Rules + embedding classifier. For one text, with ``p`` the classifier's stage probabilities:

    1. every rule link is kept; when ``p[stage] >= AGREE_MIN`` (0.25) the embedding confirms it:
       method "rules+embedding", confidence = noisy-OR(rule confidence, p[stage]); otherwise it stays
       method "rules" with the rule confidence;
    2. the classifier's most likely stage, when the rules did not link it and ``p >= ADD_TOP_MIN`` (0.2),
       is added: method "embedding", confidence = p, no pain point or exit signal (those come from the
       taxonomy's phrases). The probabilities are a softmax, so the embedding adds at most one stage; a
       text gets several stages from several rule links (multi-label) plus this one;
    3. links below ``review_threshold`` are ``needs_review``; most confident first (ties in journey order).

    So specific rule phrases (0.7+) outrank a lukewarm embedding, a single stage keyword (0.5) loses to a
    confident embedding of another stage, agreement of the two raises confidence, and a weak embedding-only
    link is kept but marked for review.
    """

    method = "hybrid"

    def __init__(self, rules: RuleLinker, classifier: StageClassifier, embed: EmbedFn, *, seed_digest: str,
                 encoder_revision: str) -> None:
        if classifier.stages != rules.taxonomy.stage_names:
            raise ConfigError(f"journey classifier stages {classifier.stages} differ from the taxonomy's "
                              f"{rules.taxonomy.stage_names}; retrain it")
        self.rules = rules
        self.classifier = classifier
        self.embed = embed
        self.seed_digest = seed_digest
        self.encoder_revision = encoder_revision
        self.revision = hybrid_revision(rules.taxonomy.version, seed_digest, encoder_revision)

    @property
    def review_threshold(self) -> float:
        return self.rules.review_threshold

    def stage_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, stages) probabilities of the embedding classifier, stages in taxonomy order."""
        if not texts:
            return np.zeros((0, len(self.classifier.stages)))
        return self.classifier.probabilities(checked_embeddings(self.embed, texts, self.classifier.dim))

    def link(self, text: str, *, language: str | None, channel: str | None) -> list[Link]:
        return self.link_many([(text, language, channel)])[0]

    def link_many(self, items: Sequence[tuple[str, str | None, str | None]]) -> list[list[Link]]:
        """Links for each (text, language, channel), in order; the texts are embedded in one call."""
        probabilities = self.stage_probabilities([text for text, _, _ in items])
        return [self.combine(self.rules.link(text, language=language, channel=channel), row,
                             self.rules.taxonomy.touchpoint(channel))
                for (text, language, channel), row in zip(items, probabilities, strict=True)]

    def combine(self, rule_links: list[Link], probabilities: np.ndarray, touchpoint: str | None) -> list[Link]:
        """The combination rule of the class docstring, for one text."""
        p = dict(zip(self.classifier.stages, (float(x) for x in probabilities), strict=True))
        links = []
        for link in rule_links:
            if p[link.stage] >= AGREE_MIN:
                confidence = _noisy_or(link.confidence, p[link.stage])
                link = replace(link, method="rules+embedding", confidence=confidence,
                               needs_review=confidence < self.review_threshold)
            links.append(link)
        ruled = {link.stage for link in rule_links}
        top = max(p, key=lambda stage: p[stage])
        if top not in ruled and p[top] >= ADD_TOP_MIN:
            confidence = round(min(p[top], MAX_CONFIDENCE), 3)
            links.append(Link(stage=top, touchpoint=touchpoint, pain_point=None, exit_signal=None,
                              method="embedding", confidence=confidence,
                              needs_review=confidence < self.review_threshold))
        order = {name: i for i, name in enumerate(self.classifier.stages)}
        links.sort(key=lambda link: (-link.confidence, order[link.stage]))
        return links


def hybrid_revision(taxonomy_version: str, seed_digest: str, encoder_revision: str) -> str:
    """``<taxonomy version>+h<12 hex>``: the hex digests the seed file, the encoder and the recipe."""
    digest = hashlib.sha256(f"{seed_digest}\x1f{encoder_revision}\x1f{RECIPE}".encode()).hexdigest()[:12]
    revision = f"{taxonomy_version}+h{digest}"
    if len(revision) > MAX_REVISION_LENGTH:
        raise ConfigError(f"taxonomy version {taxonomy_version!r} is too long for the hybrid linker's revision "
                          f"{revision!r} (max {MAX_REVISION_LENGTH} characters); shorten the version")
    return revision


def _cache_file(cache_dir: Path, seeds: SeedSet, encoder_revision: str, stages: Sequence[str]) -> Path:
    key = hashlib.sha256("\x1f".join([seeds.digest, encoder_revision, RECIPE, *stages]).encode()).hexdigest()[:16]
    return Path(cache_dir) / "linker" / f"stage-classifier-{key}.npz"


def _read_cached(path: Path, stages: Sequence[str]) -> StageClassifier | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            cached = StageClassifier(tuple(str(s) for s in data["stages"]), data["weight"], data["bias"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:
        log.warning("journey classifier cache %s is unreadable (%s); retraining", path, exc)
        return None
    return cached if cached.stages == tuple(stages) else None


def fit_stage_classifier(seeds: SeedSet, embed: EmbedFn, stages: Sequence[str], *, encoder_revision: str,
                         cache_dir: Path | None) -> StageClassifier:
    """The classifier trained on the seed set's train split; cached under ``<cache_dir>/linker/``."""
    path = _cache_file(cache_dir, seeds, encoder_revision, stages) if cache_dir is not None else None
    if path is not None and (cached := _read_cached(path, stages)) is not None:
        return cached
    train = seeds.train
    embeddings = checked_embeddings(embed, [e.text for e in train])
    classifier = train_stage_classifier(embeddings, [e.stage for e in train], stages)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, stages=np.array(classifier.stages), weight=classifier.weight, bias=classifier.bias)
        tmp.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
        log.info("trained journey classifier on %d seed examples; cached at %s", len(train), path)
    return classifier


def link_all(linker: RuleLinker | HybridLinker,
             items: Sequence[tuple[str, str | None, str | None]]) -> list[list[Link]]:
    """Links for each (text, language, channel) with either linker (the hybrid one embeds in one batch)."""
    if isinstance(linker, HybridLinker):
        return linker.link_many(items)
    return [linker.link(text, language=language, channel=channel) for text, language, channel in items]


__all__ = ["ADD_TOP_MIN", "AGREE_MIN", "RECIPE", "EmbedFn", "HybridLinker", "StageClassifier", "checked_embeddings",
           "fit_stage_classifier", "hybrid_revision", "link_all", "train_stage_classifier"]
