"""The handling playbook: a suggested agent action and a short reply per language for a journey context.

``load_playbook`` validates ``journeys/playbook.yaml`` (or a team's copy) with pydantic and raises
ConfigError naming the file, the rule and the field. ``Playbook.suggest`` picks the most specific
rule whose conditions all hold (ties: the rule listed first); a fallback rule always matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from journeypulse.errors import ConfigError
from journeys.taxonomy import Taxonomy

__all__ = ["BUNDLED_PLAYBOOK", "REPLY_LANGUAGES", "Playbook", "Suggestion", "build_playbook", "load_playbook"]

BUNDLED_PLAYBOOK = Path(__file__).with_name("playbook.yaml")
REPLY_LANGUAGES = ("en", "vi", "th", "id", "es", "pt", "ar")
"""Languages a reply may be written in; ``en`` is required and is the fallback for the others."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _When(_Strict):
    stage: str | None = Field(default=None, min_length=1)
    pain_point: str | None = Field(default=None, min_length=1)
    exit_signal: str | None = Field(default=None, min_length=1)


class _Rule(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    when: _When
    action: str = Field(min_length=1)
    reply: dict[str, str]

    @field_validator("reply")
    @classmethod
    def _replies(cls, reply: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(reply) - set(REPLY_LANGUAGES))
        if unknown:
            raise ValueError(f"languages {unknown} are not among {list(REPLY_LANGUAGES)}")
        if not reply.get("en", "").strip():
            raise ValueError("an English (en) reply is required")
        empty = sorted(lang for lang, text in reply.items() if not text.strip())
        if empty:
            raise ValueError(f"replies for {empty} are empty")
        return reply


class _PlaybookSpec(_Strict):
    version: str = Field(min_length=1)
    rules: list[_Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_and_fallback(self) -> _PlaybookSpec:
        seen_ids: set[str] = set()
        seen_when: dict[tuple[str | None, ...], str] = {}
        for rule in self.rules:
            if rule.id in seen_ids:
                raise ValueError(f"rule id {rule.id!r} appears twice; ids must be unique")
            seen_ids.add(rule.id)
            key = (rule.when.stage, rule.when.pain_point, rule.when.exit_signal)
            if key in seen_when:
                raise ValueError(f"rules {seen_when[key]!r} and {rule.id!r} have the same `when`; merge them")
            seen_when[key] = rule.id
        if (None, None, None) not in seen_when:
            raise ValueError("no fallback rule: add one with `when: {}`")
        return self


@dataclass(frozen=True)
class Suggestion:
    """What the playbook suggests for one context: the rule that matched, the action and the replies."""

    rule: str
    action: str
    replies: dict[str, str]
    version: str

    def reply(self, language: str | None) -> str:
        """The reply in ``language``, else in English."""
        return self.replies.get(language or "", self.replies["en"])


@dataclass(frozen=True)
class _Compiled:
    id: str
    stage: str | None
    pain_point: str | None
    exit_signal: str | None
    action: str
    replies: dict[str, str]

    @property
    def specificity(self) -> int:
        return sum(v is not None for v in (self.stage, self.pain_point, self.exit_signal))

    def matches(self, stage: str | None, pain_point: str | None, exit_signal: str | None) -> bool:
        return all(want is None or want == have for want, have in
                   ((self.stage, stage), (self.pain_point, pain_point), (self.exit_signal, exit_signal)))


@dataclass(frozen=True)
class Playbook:
    version: str
    rules: tuple[_Compiled, ...]  # most specific first, file order within the same specificity

    def suggest(self, stage: str | None, pain_point: str | None = None, exit_signal: str | None = None) -> Suggestion:
        """The most specific rule whose every condition holds (the fallback rule always does)."""
        rule = next(r for r in self.rules if r.matches(stage, pain_point, exit_signal))
        return Suggestion(rule.id, rule.action, rule.replies, self.version)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)


def _check_names(spec: _PlaybookSpec, taxonomy: Taxonomy, origin: str) -> None:
    known = {"stage": set(taxonomy.stage_names), "pain_point": {p.name for p in taxonomy.pain_points},
             "exit_signal": {e.name for e in taxonomy.exit_signals}}
    for index, rule in enumerate(spec.rules):
        for field, names in known.items():
            value = getattr(rule.when, field)
            if value is not None and value not in names:
                raise ConfigError(f"{origin}: rules.{index} ({rule.id}).when.{field}: {value!r} is not in the taxonomy "
                                  f"(one of: {', '.join(sorted(names))})")


def build_playbook(raw: object, *, taxonomy: Taxonomy | None = None, origin: str = "playbook") -> Playbook:
    """Validate a parsed playbook document; with ``taxonomy``, every name in `when` must exist there."""
    try:
        spec = _PlaybookSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{origin}: {problems}") from exc
    if taxonomy is not None:
        _check_names(spec, taxonomy, origin)
    compiled = [_Compiled(r.id, r.when.stage, r.when.pain_point, r.when.exit_signal, r.action, dict(r.reply))
                for r in spec.rules]
    ordered = sorted(range(len(compiled)), key=lambda i: (-compiled[i].specificity, i))
    return Playbook(spec.version, tuple(compiled[i] for i in ordered))


def load_playbook(path: Path | str | None = None, *, taxonomy: Taxonomy | None = None) -> Playbook:
    """Read and validate a playbook file (default: the bundled one); raises ConfigError naming what is wrong."""
    path = Path(path) if path is not None else BUNDLED_PLAYBOOK
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"playbook file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"playbook file {path} is not valid YAML: {exc}") from exc
    return build_playbook(raw, taxonomy=taxonomy, origin=f"playbook {path}")
