"""The sentiment result type, the model protocol and the mapping of model label names onto ours.

Invariant: every Score carries probabilities in the fixed order (negative, neutral, positive) that sum
to 1, and its label is their argmax. No torch here: the pipeline imports this module freely.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from journeypulse.errors import ScoringError

__all__ = ["LABELS", "Label", "Score", "SentimentModel", "label_order", "make_score"]

Label = Literal["negative", "neutral", "positive"]
LABELS: tuple[Label, Label, Label] = ("negative", "neutral", "positive")

_ALIASES: dict[str, Label] = {
    "negative": "negative", "neg": "negative", "n": "negative", "0": "negative", "label_0": "negative",
    "neutral": "neutral", "neu": "neutral", "1": "neutral", "label_1": "neutral",
    "positive": "positive", "pos": "positive", "p": "positive", "2": "positive", "label_2": "positive",
}


@dataclass(frozen=True)
class Score:
    """One text's sentiment: label, probabilities (neg, neu, pos), confidence, and whether a human should look."""

    label: Label
    probabilities: tuple[float, float, float]
    confidence: float
    needs_review: bool


@runtime_checkable
class SentimentModel(Protocol):
    """A loaded classifier. ``score`` returns exactly one Score per input text, in input order."""

    @property
    def name(self) -> str: ...

    @property
    def revision(self) -> str: ...

    @property
    def backend(self) -> str: ...

    def score(self, texts: Sequence[str]) -> list[Score]: ...


def make_score(probabilities: Sequence[float], review_threshold: float) -> Score:
    """A Score from (neg, neu, pos) probabilities; needs_review when the top probability is below the threshold."""
    if len(probabilities) != 3 or not all(math.isfinite(p) and p >= 0.0 for p in probabilities):
        raise ScoringError(f"model produced invalid probabilities {list(probabilities)!r}; expected three "
                           "finite non-negative numbers")
    total = float(sum(probabilities))
    if total <= 0.0:
        raise ScoringError("model produced probabilities that sum to 0; the model weights are broken")
    neg, neu, pos = (float(p) / total for p in probabilities)
    probs = (neg, neu, pos)
    best = max(range(3), key=lambda i: probs[i])
    return Score(label=LABELS[best], probabilities=probs, confidence=probs[best],
                 needs_review=probs[best] < review_threshold)


def label_order(id2label: Mapping[int, str], model: str) -> list[int]:
    """Model output indices for (negative, neutral, positive), from the model's id2label names.

    Accepts negative/neutral/positive, neg/neu/pos and LABEL_0..2 (read as 0 negative, 1 neutral,
    2 positive, the convention of cardiffnlp and UMSAB). Raises ScoringError naming the labels otherwise.
    """
    found: dict[Label, int] = {}
    for index, raw in id2label.items():
        key = re.sub(r"[\s-]+", "_", str(raw).strip().casefold())
        label = _ALIASES.get(key)
        if label is None or label in found:
            found = {}
            break
        found[label] = int(index)
    if len(found) != 3 or len(id2label) != 3:
        names = [id2label[i] for i in sorted(id2label)]
        raise ScoringError(f"model {model}: cannot map its labels {names} onto negative/neutral/positive; "
                           "use a 3-class model or set id2label in its config.json to negative, neutral, "
                           "positive")
    return [found[label] for label in LABELS]
