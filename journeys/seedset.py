"""The labelled seed set that trains the journey linker's embedding classifier, and its fixed split.

Invariant: a seed file is validated whole against the taxonomy before anything trains on it, and
its held-out split is the one recorded in the file (``assign_split`` only reproduces or renews it).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from journeypulse.errors import ConfigError
from journeypulse.record import content_hash
from journeys.taxonomy import Taxonomy

BUNDLED_SEEDS = Path(__file__).parent / "seeds" / "seeds.jsonl"
"""The seed set shipped with the project (written for it, about the fictional brand Sorami)."""
SPLIT_SEED = 20261125
"""Seed of the held-out split recorded in the bundled file."""
TEST_SHARE = 0.25
"""Share of each stage's concept groups held out for evaluation."""

Split = Literal["train", "test"]


class _SeedRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    lang: str = Field(min_length=2)
    stage: str = Field(min_length=1)
    pain_point: str | None = None
    exit_signal: str | None = None
    group: str = Field(min_length=1)
    split: Split
    text: str = Field(min_length=1)


@dataclass(frozen=True)
class SeedExample:
    """One labelled example. ``group`` names its concept: translations of one post share a group,
    so they always fall on the same side of the split (no translation of a test post is trained on)."""

    id: str
    language: str
    stage: str
    pain_point: str | None
    exit_signal: str | None
    group: str
    split: Split
    text: str


@dataclass(frozen=True)
class SeedSet:
    """A validated seed set; ``digest`` (sha256 of the file's bytes) is part of the linker's revision."""

    examples: tuple[SeedExample, ...]
    digest: str
    origin: str

    @property
    def train(self) -> tuple[SeedExample, ...]:
        return tuple(e for e in self.examples if e.split == "train")

    @property
    def test(self) -> tuple[SeedExample, ...]:
        return tuple(e for e in self.examples if e.split == "test")

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.language for e in self.examples))

    def counts(self) -> Counter[tuple[str, str, str]]:
        """(language, stage, split) -> number of examples."""
        return Counter((e.language, e.stage, e.split) for e in self.examples)


def assign_split(groups: Iterable[tuple[str, str]], *, seed: int = SPLIT_SEED,
                 test_share: float = TEST_SHARE) -> dict[str, Split]:
    """Split concept groups per stage: ``round(n * test_share)`` of each stage's groups go to test.

    ``groups`` holds (stage, group) pairs. Deterministic for a given seed: each stage draws from its
    own ``random.Random(f"{seed}:{stage}")``, so adding a stage does not reshuffle the others.
    """
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test_share must be within (0, 1), got {test_share}")
    by_stage: dict[str, list[str]] = {}
    for stage, group in groups:
        names = by_stage.setdefault(stage, [])
        if group not in names:
            names.append(group)
    split: dict[str, Split] = {}
    for stage, names in by_stage.items():
        ordered = sorted(names)
        held_out = set(random.Random(f"{seed}:{stage}").sample(ordered, k=max(1, round(len(ordered) * test_share))))
        split.update({name: "test" if name in held_out else "train" for name in ordered})
    return split


def _parse(lines: Sequence[str], origin: str) -> list[SeedExample]:
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = _SeedRow.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"seed file {origin} line {number}: not valid JSON ({exc.msg}); fix the line") from exc
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"seed file {origin} line {number}: {problems}") from exc
        examples.append(SeedExample(row.id, row.lang, row.stage, row.pain_point, row.exit_signal, row.group,
                                    row.split, row.text))
    return examples


def _check(examples: list[SeedExample], taxonomy: Taxonomy, origin: str) -> None:
    """Every label exists in the taxonomy; ids, texts and group labels are consistent."""
    stages = set(taxonomy.stage_names)
    pains = {e.name for e in taxonomy.pain_points}
    exits = {e.name for e in taxonomy.exit_signals}
    seen_ids: set[str] = set()
    seen_texts: dict[str, str] = {}
    group_meta: dict[str, tuple[str, Split]] = {}
    for e in examples:
        where = f"seed file {origin} row {e.id}"
        if e.id in seen_ids:
            raise ConfigError(f"{where}: id {e.id!r} appears twice; ids must be unique")
        seen_ids.add(e.id)
        if e.stage not in stages:
            raise ConfigError(f"{where}: stage {e.stage!r} is not in the taxonomy (stages: {sorted(stages)})")
        if e.pain_point is not None and e.pain_point not in pains:
            raise ConfigError(f"{where}: pain_point {e.pain_point!r} is not in the taxonomy; fix it or add it there")
        if e.exit_signal is not None and e.exit_signal not in exits:
            raise ConfigError(f"{where}: exit_signal {e.exit_signal!r} is not in the taxonomy; fix it or add it there")
        key = content_hash(e.text)
        if key in seen_texts:
            raise ConfigError(f"{where}: same text as row {seen_texts[key]}; remove one of the two")
        seen_texts[key] = e.id
        stage_split = group_meta.setdefault(e.group, (e.stage, e.split))
        if stage_split != (e.stage, e.split):
            raise ConfigError(f"{where}: group {e.group!r} is {stage_split} elsewhere but ({e.stage}, {e.split}) "
                              "here; a group is one concept with one stage and one split")
    missing = stages - {e.stage for e in examples if e.split == "train"}
    if missing:
        raise ConfigError(f"seed file {origin}: no training examples for stage(s) {sorted(missing)}; add some")


def load_seeds(taxonomy: Taxonomy, path: Path | str | None = None) -> SeedSet:
    """Read and validate a seed file (JSON lines; default: the bundled one) against ``taxonomy``.

    Raises ConfigError naming the file, the row and the fix.
    """
    path = Path(path) if path is not None else BUNDLED_SEEDS
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"seed file {path} does not exist; point journeys at an existing seed file") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"seed file {path} is not UTF-8 ({exc}); re-save it as UTF-8") from exc
    examples = _parse(text.splitlines(), str(path))
    if not examples:
        raise ConfigError(f"seed file {path} has no rows; add labelled examples")
    _check(examples, taxonomy, str(path))
    return SeedSet(tuple(examples), hashlib.sha256(raw).hexdigest(), str(path))


__all__ = ["BUNDLED_SEEDS", "SPLIT_SEED", "TEST_SHARE", "SeedExample", "SeedSet", "assign_split", "load_seeds"]
