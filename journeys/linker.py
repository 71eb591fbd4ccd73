"""Rule-based journey linking: a mention's text -> journey stages, pain points and exit signals.

Deterministic and explainable: every link carries the taxonomy patterns that produced it, and
the taxonomy version is the linker's revision, so re-linking after a taxonomy edit is auditable.
"""

from __future__ import annotations

from dataclasses import dataclass

from journeys.taxonomy import Entry, Pattern, Taxonomy, fold, strip_marks

STAGE_HIT_WEIGHT = 0.5
"""Evidence from one stage keyword (e.g. "delivery", "giao hàng"): suggestive, not conclusive."""
SIGNAL_HIT_WEIGHT = 0.7
"""Evidence from one pain-point or exit-signal pattern (e.g. "card declined"): specific phrases."""
CROSS_LANGUAGE_FACTOR = 0.8
"""Multiplier for a hit from a pattern of another language than the mention's (false friends)."""
SHARED_LANGUAGES = frozenset({"en"})
"""Pattern languages counted at full weight in any mention: English loanwords are everywhere
("refund", "app crash", "checkout" in Thai, Vietnamese or Indonesian posts)."""
MAX_CONFIDENCE = 0.99
"""Rules never claim certainty."""


@dataclass(frozen=True)
class Link:
    """One journey link of a mention.

    A stage with pain points or exit signals gets one link per signal; a stage with only
    keyword evidence gets one link with both set to None.
    """

    stage: str
    touchpoint: str | None
    pain_point: str | None
    exit_signal: str | None
    method: str
    confidence: float
    needs_review: bool
    evidence: tuple[str, ...] = ()  # the taxonomy patterns that matched, as written


def _combine(weights: list[float]) -> float:
    """Noisy-OR: independent pieces of evidence; each one closes part of the remaining doubt."""
    doubt = 1.0
    for weight in weights:
        doubt *= 1.0 - weight
    return round(min(1.0 - doubt, MAX_CONFIDENCE), 3)


class RuleLinker:
    """Links texts to journey stages with the taxonomy's multilingual patterns.

    Confidence of a link = noisy-OR of its evidence: each distinct matching stage keyword
    weighs ``STAGE_HIT_WEIGHT`` (0.5), each matching pattern of the link's pain point or exit
    signal ``SIGNAL_HIT_WEIGHT`` (0.7); a pattern of another language than ``language``
    (English excepted) is multiplied by ``CROSS_LANGUAGE_FACTOR`` (0.8). So one keyword gives
    0.5, two give 0.75, one pain-point phrase 0.7, a phrase plus a keyword 0.85 (max 0.99).
    Links below ``review_threshold`` are marked ``needs_review``.
    """

    method = "rules"

    def __init__(self, taxonomy: Taxonomy, *, review_threshold: float = 0.6) -> None:
        if not 0.0 <= review_threshold <= 1.0:
            raise ValueError(f"review_threshold must be within 0..1, got {review_threshold}")
        self.taxonomy = taxonomy
        self.review_threshold = review_threshold

    @property
    def revision(self) -> str:
        """The taxonomy version: written on every stored link so re-linking is auditable."""
        return self.taxonomy.version

    def link(self, text: str, *, language: str | None, channel: str | None) -> list[Link]:
        """All journey links of ``text``, most confident first (ties in journey order).

        ``language`` is the mention's language code (e.g. "vi", "pt-BR"), used only to weigh
        hits; patterns of every language are tried because posts mix languages. ``channel`` is
        the mention's channel or source kind, mapped to a touchpoint (None when unmapped).
        """
        folded = fold(text)
        bare = strip_marks(folded)
        lang = language.split("-")[0].split("_")[0].casefold() if language else None
        touchpoint = self.taxonomy.touchpoint(channel)

        stage_hits = {stage.name: self._hits(stage, folded, bare, lang) for stage in self.taxonomy.stages}
        signals: dict[str, list[tuple[Entry, list[tuple[str, float]]]]] = {}
        for entry in (*self.taxonomy.pain_points, *self.taxonomy.exit_signals):
            hits = self._hits(entry, folded, bare, lang)
            if hits:
                signals.setdefault(self._stage_for(entry, stage_hits), []).append((entry, hits))

        order = {name: i for i, name in enumerate(self.taxonomy.stage_names)}
        links: list[Link] = []
        for stage in self.taxonomy.stage_names:
            base = stage_hits[stage]
            if stage in signals:
                links.extend(self._make(stage, touchpoint, entry, base + hits) for entry, hits in signals[stage])
            elif base:
                links.append(self._make(stage, touchpoint, None, base))
        links.sort(key=lambda link: (-link.confidence, order[link.stage]))
        return links

    def _hits(self, entry: Entry, folded: str, bare: str, language: str | None) -> list[tuple[str, float]]:
        """Matching patterns with their weights; a phrase listed under several languages counts once."""
        base = STAGE_HIT_WEIGHT if entry.kind == "stage" else SIGNAL_HIT_WEIGHT
        best: dict[str, float] = {}
        for pattern in entry.matching(folded, bare):
            weight = base * self._language_factor(pattern, language)
            best[pattern.source] = max(weight, best.get(pattern.source, 0.0))
        return list(best.items())

    @staticmethod
    def _language_factor(pattern: Pattern, language: str | None) -> float:
        if language is None or pattern.language == language or pattern.language in SHARED_LANGUAGES:
            return 1.0
        return CROSS_LANGUAGE_FACTOR

    @staticmethod
    def _stage_for(entry: Entry, stage_hits: dict[str, list[tuple[str, float]]]) -> str:
        """The signal's listed stage with keyword evidence in the text, else its primary stage."""
        return next((stage for stage in entry.stages if stage_hits.get(stage)), entry.stages[0])

    def _make(self, stage: str, touchpoint: str | None, entry: Entry | None,
              hits: list[tuple[str, float]]) -> Link:
        confidence = _combine([weight for _, weight in hits])
        return Link(
            stage=stage,
            touchpoint=touchpoint,
            pain_point=entry.name if entry is not None and entry.kind == "pain_point" else None,
            exit_signal=entry.name if entry is not None and entry.kind == "exit_signal" else None,
            method=self.method,
            confidence=confidence,
            needs_review=confidence < self.review_threshold,
            evidence=tuple(dict.fromkeys(source for source, _ in hits)),
        )
