"""Language identification for stored mentions (offline, py3langid plus the Latin-script refiner).

Brand terms are removed before identifying, because a brand name is no evidence of a
language; when the identifier is unsure, the language the source claimed wins. Text mostly in Latin
letters is also scored by ``pipeline.latin_langid``, which decides for romanised Hindi, Vietnamese without
diacritics and Indonesian (py3langid's blind spots) when it is confident.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from journeypulse.config import BrandConfig, LanguageConfig
from pipeline.latin_langid import MIN_LETTERS, MIN_PROBABILITY, REFINED, LatinRefiner

UNDETERMINED = "und"
_THAI = re.compile("[\u0e00-\u0e7f]")
_LATIN = re.compile("[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
_HASHTAG_OR_HANDLE = re.compile(r"[#@]\w+")
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float
    method: str  # "langid" | "script" | "latin_refiner" | "source_hint" | "none"


class LanguageIdentifier:
    """Wraps py3langid, restricted to the configured candidate languages."""

    def __init__(self, config: LanguageConfig, brands: list[BrandConfig]) -> None:
        self._config = config
        terms = sorted({t for b in brands for t in b.terms() if t.strip()}, key=len, reverse=True)
        self._brand_terms = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE) if terms else None

    @cached_property
    def _identifier(self):  # type: ignore[no-untyped-def]  # py3langid ships no type hints
        from py3langid.langid import _load_identifier

        return _load_identifier(norm_probs=True, langs=self._config.candidates)

    @cached_property
    def _refiner(self) -> LatinRefiner:
        return LatinRefiner.load()

    def _strip(self, text: str) -> str:
        text = _URL.sub(" ", text)
        text = _HASHTAG_OR_HANDLE.sub(" ", text)
        if self._brand_terms is not None:
            text = self._brand_terms.sub(" ", text)
        return text

    def identify(self, text: str, hint: str | None = None) -> LanguageGuess:
        stripped = self._strip(text)
        letters = [c for c in stripped if unicodedata.category(c).startswith("L")]
        if not letters:
            if hint:
                return LanguageGuess(hint, 0.5, "source_hint")
            return LanguageGuess(UNDETERMINED, 0.0, "none")
        # Thai script is used by Thai alone among the candidate languages.
        thai_share = sum(1 for c in letters if _THAI.match(c)) / len(letters)
        if thai_share >= 0.5:
            return LanguageGuess("th", round(thai_share, 4), "script")
        latin_share = sum(1 for c in letters if _LATIN.match(c)) / len(letters)
        if latin_share >= 0.9 and len(letters) >= MIN_LETTERS:  # mixed-script posts stay with py3langid
            refined, probability = self._refiner.best(stripped)
            if refined in REFINED and refined in self._config.candidates and probability >= MIN_PROBABILITY:
                return LanguageGuess(refined, round(probability, 4), "latin_refiner")
        language, confidence = self._identifier.classify(stripped)
        confidence = float(confidence)
        if confidence < self._config.min_confidence and hint:
            return LanguageGuess(hint, round(confidence, 4), "source_hint")
        return LanguageGuess(str(language), round(confidence, 4), "langid")
