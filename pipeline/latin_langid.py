"""The Latin-script refiner of language identification: a character n-gram naive Bayes model trained on the
project's labelled sets, for the languages py3langid misses when they are written in Latin letters.

py3langid never calls romanised Hindi (Hinglish) ``hi`` (it answers English, Tagalog, Indonesian, Swahili) and
calls a fifth of Vietnamese written without diacritics something else. The refiner knows nine Latin-script
languages (en, es, pt, fr, de, it, hi, id, vi); ``LanguageIdentifier`` trusts it only for ``REFINED`` languages,
on texts of at least ``MIN_LETTERS`` letters and above ``MIN_PROBABILITY`` (measured in README "Language identification"). The artifact is the model's
per-class log probabilities over hashed n-grams (float16, compressed): no pickle, reproducible with
``python -m pipeline.latin_langid --datasets ../shared/datasets``.
"""

from __future__ import annotations

import argparse
import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from journeypulse.errors import ConfigError

__all__ = ["ARTIFACT", "MIN_LETTERS", "MIN_PROBABILITY", "REFINED", "LatinRefiner", "strip_diacritics", "train_latin_refiner"]

ARTIFACT = Path(__file__).parent / "artifacts" / "latin-langid.npz"
REFINED = frozenset({"hi", "id", "vi"})
MIN_PROBABILITY = 0.8
MIN_LETTERS = 15  # a few letters ("ok", "lol") are no evidence for any language
_FEATURE_BITS = 16
_NGRAMS = (1, 4)
_CLEAN = re.compile(r"@\w+|https?://\S+|\bhttp\b|#")
_ROWS_PER_LANGUAGE = 5000


def _vectoriser() -> Any:  # sklearn ships no type hints
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=_NGRAMS, n_features=2**_FEATURE_BITS,
                             alternate_sign=False, norm=None)


def _clean(text: str) -> str:
    return _CLEAN.sub(" ", text).lower()


def strip_diacritics(text: str) -> str:
    """Vietnamese as typed without an input method: tone marks and vowel hats dropped, đ -> d."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class LatinRefiner:
    """Class probabilities of Latin-script text over the refiner's languages."""

    def __init__(self, languages: Sequence[str], log_prior: np.ndarray, log_likelihood: np.ndarray) -> None:
        self.languages = tuple(languages)
        self._log_prior = log_prior.astype(np.float64)
        self._log_likelihood = log_likelihood.astype(np.float64)
        self._vectoriser = _vectoriser()

    @classmethod
    def load(cls, path: Path = ARTIFACT) -> LatinRefiner:
        try:
            with np.load(path) as data:
                return cls([str(x) for x in data["languages"]], data["log_prior"], data["log_likelihood"])
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"language refiner {path} is missing or unreadable ({exc}); restore it from the "
                              "repository or rebuild it with python -m pipeline.latin_langid") from exc

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        counts = self._vectoriser.transform([_clean(t) for t in texts])
        joint = counts @ self._log_likelihood.T + self._log_prior
        joint -= joint.max(axis=1, keepdims=True)
        probabilities = np.asarray(np.exp(joint), dtype=np.float64)
        normalised: np.ndarray = probabilities / probabilities.sum(axis=1, keepdims=True)
        return normalised

    def best(self, text: str) -> tuple[str, float]:
        row = self.probabilities([text])[0]
        return self.languages[int(row.argmax())], float(row.max())


def _read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _converted(path: Path, lang: str | None = None) -> list[str]:
    rows = (json.loads(line) for line in _read_lines(path))
    return [str(r["text"]) for r in rows if lang is None or r["lang"] == lang]


def training_texts(datasets: Path) -> dict[str, list[str]]:
    """Train-split texts per language from the shared datasets layout (validation splits stay for measuring)."""
    def umsab(language: str) -> list[str]:
        return _read_lines(datasets / "umsab" / language / "train_text.txt")

    return {
        "en": umsab("english") + _converted(datasets / "nusax-senti" / "train.jsonl", "en"),
        "es": umsab("spanish"), "pt": umsab("portuguese"), "fr": umsab("french"), "de": umsab("german"),
        "it": umsab("italian"),
        "hi": umsab("hindi") + _converted(datasets / "sentimix-hinglish" / "train.jsonl"),
        "id": _converted(datasets / "indonlu-smsa" / "train.jsonl") + _converted(datasets / "nusax-senti" / "train.jsonl", "id"),
        "vi": (_converted(datasets / "uit-vsfc" / "train.jsonl") + _converted(datasets / "uit-visfd" / "train.jsonl")
               + _converted(datasets / "aivivn-2019" / "train.jsonl")),
    }


def train_latin_refiner(texts: dict[str, list[str]], out: Path, *, seed: int = 0) -> LatinRefiner:
    """Fit multinomial naive Bayes on at most 5,000 seeded rows per language (half of the Vietnamese rows with
    their diacritics stripped) and write the artifact."""
    from sklearn.naive_bayes import MultinomialNB

    rng = np.random.default_rng(seed)
    x: list[str] = []
    y: list[str] = []
    for language in sorted(texts):
        rows = texts[language]
        picked = [rows[i] for i in rng.permutation(len(rows))[:_ROWS_PER_LANGUAGE]]
        if language == "vi":
            half = len(picked) // 2
            picked = picked[:half] + [strip_diacritics(t) for t in picked[half:]]
        x += [_clean(t) for t in picked]
        y += [language] * len(picked)
    model = MultinomialNB(alpha=0.01).fit(_vectoriser().transform(x), y)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, languages=np.array(model.classes_), log_prior=model.class_log_prior_.astype(np.float32),
                        log_likelihood=model.feature_log_prob_.astype(np.float16))
    return LatinRefiner.load(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the Latin-script language refiner.")
    parser.add_argument("--datasets", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    args = parser.parse_args(argv)
    train_latin_refiner(training_texts(args.datasets), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
