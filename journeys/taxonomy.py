"""Loads and validates the journey taxonomy (stages, touchpoints, pain points, exit signals).

Invariant: every pattern is compiled once, at load time; a bad entry fails the load with an
error naming the entry, so a linker never meets an unusable taxonomy.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from journeypulse.errors import ConfigError
from journeypulse.record import normalise_text

BUNDLED_TAXONOMY = Path(__file__).with_name("taxonomy.yaml")
"""The taxonomy shipped with the project; ``journeys.taxonomy`` in the config overrides it."""

EntryKind = Literal["stage", "pain_point", "exit_signal"]

# Scripts written without spaces between words (Thai) or with attached prefixes (Arabic
# "ال", "و", "ب"): their patterns match as substrings, never at word boundaries.
_UNSPACED = re.compile("[\u0e00-\u0e7f\u0600-\u06ff\u0750-\u077f]")
_THAI = re.compile("[\u0e00-\u0e7f]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def fold(text: str) -> str:
    """The form every pattern and text is compared in: NFKC, invisibles removed, casefolded,
    typographic apostrophes (U+2019 and kin) made plain."""
    return normalise_text(text).translate(_APOSTROPHES)


def strip_marks(folded: str) -> str:
    """``folded`` without diacritics, so "giao hàng trễ" and "giao hang tre" compare equal.

    Thai vowel and tone marks are combining characters too but carry the word itself, so
    they are kept.
    """
    decomposed = unicodedata.normalize("NFD", folded.replace("đ", "d"))
    kept = (c for c in decomposed if not unicodedata.combining(c) or _THAI.match(c))
    return unicodedata.normalize("NFC", "".join(kept))


@dataclass(frozen=True)
class Pattern:
    """One compiled pattern as written in the taxonomy file (``source``) and its language."""

    source: str
    language: str
    folded: re.Pattern[str]
    bare: re.Pattern[str] | None  # matched against the diacritics-stripped text; None if same
    needle: str = ""  # literal patterns: the phrase itself, a cheap substring test before the regex
    bare_needle: str = ""

    def search(self, folded_text: str, bare_text: str) -> bool:
        """True when the pattern is in the folded text, or its bare form in the diacritics-stripped text."""
        if self.needle in folded_text and self.folded.search(folded_text):
            return True
        return self.bare is not None and self.bare_needle in bare_text and self.bare.search(bare_text) is not None


def _literal_regex(phrase: str) -> str:
    prefix = phrase.endswith("*")
    phrase = phrase.rstrip("*").strip()
    left = "" if _UNSPACED.match(phrase[0]) or not phrase[0].isalnum() else r"(?<!\w)"
    right = "" if prefix or _UNSPACED.match(phrase[-1]) or not phrase[-1].isalnum() else r"(?!\w)"
    return left + re.escape(phrase) + right


def compile_pattern(raw: str, language: str, where: str) -> Pattern:
    """Compile ``raw``: ``re:<regex>`` or a literal phrase (``*`` at the end = any word ending).

    Raises ConfigError naming ``where`` when the pattern is empty, too loose or not a regex.
    """
    if raw.startswith("re:"):
        expression = raw[3:].strip()
        if not expression:
            raise ConfigError(f"{where}: pattern {raw!r} has no regular expression after 're:'")
        try:
            compiled = re.compile(expression, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"{where}: pattern {raw!r} is not a valid regular expression ({exc}); fix it") from exc
        if compiled.search(""):
            raise ConfigError(f"{where}: pattern {raw!r} matches the empty string, so it would match every text")
        return Pattern(raw, language, compiled, compiled)
    phrase = fold(raw)
    if not phrase.rstrip("*").strip():
        raise ConfigError(f"{where}: pattern {raw!r} is empty; remove it")
    if language == "vi" and " " not in phrase and not phrase.isascii():
        raise ConfigError(
            f"{where}: Vietnamese pattern {raw!r} is a single syllable; without diacritics it collides with "
            "other words (đắt/đặt -> dat), so write a phrase of two or more syllables"
        )
    folded = re.compile(_literal_regex(phrase))
    bare_phrase = strip_marks(phrase)
    bare = re.compile(_literal_regex(bare_phrase)) if bare_phrase != phrase else None
    return Pattern(raw, language, folded, bare, phrase.rstrip("*").strip(), bare_phrase.rstrip("*").strip())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageSpec(_Strict):
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)
    patterns: dict[str, list[str]] = {}


class SignalSpec(_Strict):
    """A pain point or exit signal: ``stages`` lists the stages it implies, primary first."""

    label: str = Field(min_length=1)
    stages: list[str] = Field(min_length=1)
    description: str = ""
    patterns: dict[str, list[str]] = Field(min_length=1)


class TaxonomySpec(_Strict):
    """The taxonomy file as written; ``Taxonomy`` is the compiled, ready-to-match form."""

    version: str = Field(min_length=1)
    languages: list[str] = Field(min_length=1)
    stages: dict[str, StageSpec] = Field(min_length=1)
    touchpoints: dict[str, list[str]] = {}
    pain_points: dict[str, SignalSpec] = {}
    exit_signals: dict[str, SignalSpec] = {}

    @model_validator(mode="after")
    def _references_resolve(self) -> TaxonomySpec:
        for group, entries in (("pain_points", self.pain_points), ("exit_signals", self.exit_signals)):
            for name, spec in entries.items():
                unknown = [s for s in spec.stages if s not in self.stages]
                if unknown:
                    raise ValueError(f"{group}.{name}: unknown stage(s) {unknown} (stages: {list(self.stages)})")
        seen: dict[str, str] = {}
        for touchpoint, channels in self.touchpoints.items():
            for channel in channels:
                if channel in seen:
                    raise ValueError(f"touchpoints: channel {channel!r} is listed under both {seen[channel]!r} "
                                     f"and {touchpoint!r}; keep one")
                seen[channel] = touchpoint
        return self


@dataclass(frozen=True)
class Entry:
    """A compiled stage, pain point or exit signal."""

    kind: EntryKind
    name: str
    label: str
    stages: tuple[str, ...]  # for a stage: itself
    patterns: tuple[Pattern, ...]

    def matching(self, folded: str, bare: str) -> list[Pattern]:
        """The patterns that match a text given in its folded and diacritics-stripped forms."""
        return [p for p in self.patterns if p.search(folded, bare)]


@dataclass(frozen=True)
class Taxonomy:
    """The compiled taxonomy. Build it with ``load_taxonomy``."""

    version: str
    languages: tuple[str, ...]
    stages: tuple[Entry, ...]  # in journey order
    pain_points: tuple[Entry, ...]
    exit_signals: tuple[Entry, ...]
    touchpoints: dict[str, str]  # channel or source kind -> touchpoint

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    def touchpoint(self, channel: str | None) -> str | None:
        """The touchpoint for a channel or source kind; None when the channel is unknown or absent."""
        return self.touchpoints.get(channel.casefold()) if channel else None


def _compile_entry(kind: EntryKind, name: str, label: str, stages: tuple[str, ...],
                   patterns: dict[str, list[str]], languages: list[str], where: str) -> Entry:
    compiled: list[Pattern] = []
    for language, raws in patterns.items():
        if language not in languages:
            raise ConfigError(f"{where}.patterns: language {language!r} is not in the taxonomy's languages "
                              f"{languages}; add it there or fix the code")
        compiled.extend(compile_pattern(raw, language, f"{where}.patterns.{language}") for raw in raws)
    return Entry(kind, name, label, stages, tuple(compiled))


def build_taxonomy(raw: object, *, origin: str = "taxonomy") -> Taxonomy:
    """Validate a parsed taxonomy document and compile its patterns."""
    try:
        spec = TaxonomySpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from exc
    langs = spec.languages
    stages = tuple(_compile_entry("stage", name, s.label, (name,), s.patterns, langs, f"{origin}: stages.{name}")
                   for name, s in spec.stages.items())
    pains = tuple(_compile_entry("pain_point", name, s.label, tuple(s.stages), s.patterns, langs,
                                 f"{origin}: pain_points.{name}") for name, s in spec.pain_points.items())
    exits = tuple(_compile_entry("exit_signal", name, s.label, tuple(s.stages), s.patterns, langs,
                                 f"{origin}: exit_signals.{name}") for name, s in spec.exit_signals.items())
    touchpoints = {channel.casefold(): tp for tp, channels in spec.touchpoints.items() for channel in channels}
    return Taxonomy(spec.version, tuple(langs), stages, pains, exits, touchpoints)


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """SafeLoader that rejects a key written twice in one mapping (PyYAML keeps the last silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
    keys: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping; merge the two entries", key_node.start_mark
            )
        keys.add(key)
    mapping: dict[object, object] = loader.construct_mapping(node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read, validate and compile a taxonomy file (default: the bundled one).

    Raises ConfigError naming the file and the entry at fault.
    """
    path = Path(path) if path is not None else BUNDLED_TAXONOMY
    try:  # _UniqueKeyLoader is a SafeLoader: no arbitrary objects
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError as exc:
        raise ConfigError(f"taxonomy file {path} does not exist (set journeys.taxonomy or remove it)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"taxonomy file {path} is not valid YAML: {exc}") from exc
    return build_taxonomy(raw, origin=f"taxonomy {path}")
