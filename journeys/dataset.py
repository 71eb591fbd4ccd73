"""The journey training data: the project's own labelled mentions, the public intent sets, and their split.

Invariant: a mention's part (held-out, validation, train) depends only on its id (sha256 of a salted id),
never on order, time or the other rows, so adding rows never moves an existing row between parts, and
the held-out part is never read by training, threshold choice or rule tuning (``training_rows`` refuses
it by construction: it only returns rows whose part is ``train`` or ``validation``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from journeypulse.errors import ConfigError

STAGES = ("awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "exit")
"""The taxonomy's stages, in journey order (``journeys/taxonomy.yaml``)."""
EXIT_TYPES = ("refund_request", "cancellation", "unsubscribe", "abandoned_cart", "refused_upgrade",
              "switch_to_competitor", "uninstall")
PAIN_POINTS = ("late_delivery", "damaged_item", "wrong_item", "payment_failed", "app_crash", "long_wait",
               "rude_agent", "hidden_fees", "refund_delay", "login_problem", "out_of_stock", "price")
SENTIMENTS = ("negative", "neutral", "positive")
LANGUAGES = ("en", "vi", "th", "id", "es", "pt", "ar")
INDUSTRIES = ("bank", "telco", "coffee", "food_delivery", "ecommerce", "airline", "software")
CHANNELS = ("x", "facebook", "instagram", "tiktok", "reddit", "forum", "app_review", "review_site",
            "support_chat", "email", "youtube")

BUNDLED_DATA = Path(__file__).parent / "data" / "mentions"
"""The project's labelled mentions (``<lang>.jsonl``), written for the project."""

HOLDOUT_SALT = "journeypulse-journey-holdout/1"
HOLDOUT_PERCENT = 25
"""A mention is held out when sha256(salt + split_key(id)) mod 100 < 25: about a quarter of every language and stage."""
VALIDATION_SALT = "journeypulse-journey-validation/1"
VALIDATION_PERCENT = 20
"""Of the remaining (train) part, about a fifth is the validation part used to choose C, features and
thresholds; the final heads are then refitted on the whole train part."""

Part = Literal["train", "validation", "holdout"]


def _bucket(salt: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()[:8], "big") % 100


_ROW_NUMBER = re.compile(r"^[a-z]{2}-(\d+)$")


def split_key(mention_id: str) -> str:
    """What the split hashes: the row number of a ``<lang>-NNNN`` id, else the whole id. Some rows were written
    as translations of the row with the same number in another language, so a row number lands on one side
    in every language and no translated pair straddles the held-out part."""
    found = _ROW_NUMBER.match(mention_id)
    return f"row-{int(found.group(1))}" if found else mention_id


def part_of(mention_id: str) -> Part:
    """The fixed part of a project mention, from its id alone (see the module invariant)."""
    if not mention_id:
        raise ConfigError("a journey mention has an empty id; every row needs its id")
    key = split_key(mention_id)
    if _bucket(HOLDOUT_SALT, key) < HOLDOUT_PERCENT:
        return "holdout"
    return "validation" if _bucket(VALIDATION_SALT, key) < VALIDATION_PERCENT else "train"


@dataclass(frozen=True)
class JourneyExample:
    """One labelled text. ``None`` for a label means *unknown* (the row does not train that head).

    ``pain_point`` is ``None`` with ``pain_known`` when the row is known to name no pain point.
    """

    id: str
    language: str
    text: str
    stage: str | None
    secondary: tuple[str, ...] | None
    exit_signal: bool | None
    exit_type: str | None
    pain_point: str | None
    pain_known: bool
    question: bool | None
    sentiment: str | None
    source: str  # "project", a public data set's folder name, or "corrections"
    weight: float = 1.0
    part: Part = "train"
    brand: str | None = None
    industry: str | None = None
    channel: str | None = None


class _MentionRow(BaseModel):
    """One line of ``journeys/data/mentions/<lang>.jsonl`` (format in journeys/data/README.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=4, pattern=r"^[a-z]{2}-\d{3,}$")
    lang: Literal["en", "vi", "th", "id", "es", "pt", "ar"]
    brand: str = Field(min_length=1)
    industry: Literal["bank", "telco", "coffee", "food_delivery", "ecommerce", "airline", "software"]
    channel: Literal["x", "facebook", "instagram", "tiktok", "reddit", "forum", "app_review", "review_site",
                     "support_chat", "email", "youtube"]
    text: str = Field(min_length=1)
    stage: Literal["awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "exit"]
    secondary_stages: list[str]
    exit_signal: bool
    exit_type: str | None
    pain_point: str | None
    question: bool
    sentiment: Literal["negative", "neutral", "positive"]

    @field_validator("secondary_stages")
    @classmethod
    def _known_stages(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> _MentionRow:
        if not self.id.startswith(f"{self.lang}-"):
            raise ValueError(f"id {self.id!r} must start with its language '{self.lang}-'")
        if self.stage in self.secondary_stages:
            raise ValueError(f"secondary_stages repeats the primary stage {self.stage!r}")
        if self.exit_type is not None and self.exit_type not in EXIT_TYPES:
            raise ValueError(f"exit_type {self.exit_type!r} is not one of {list(EXIT_TYPES)}")
        if self.exit_signal != (self.exit_type is not None):
            raise ValueError("exit_type must be set exactly when exit_signal is true")
        if self.pain_point is not None and self.pain_point not in PAIN_POINTS:
            raise ValueError(f"pain_point {self.pain_point!r} is not one of {list(PAIN_POINTS)} (or null)")
        return self


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())


def read_mentions_file(path: Path) -> list[JourneyExample]:
    """Validate and read one ``<lang>.jsonl`` file; ConfigError names ``file:line`` and the problem."""
    examples: list[JourneyExample] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"journey data {path}: cannot read it as UTF-8 text ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not valid JSON ({exc}); one JSON object per line") from exc
        try:
            row = _MentionRow.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"{path}:{number}: {_problems(exc)}") from exc
        examples.append(JourneyExample(
            id=row.id, language=row.lang, text=row.text, stage=row.stage, secondary=tuple(row.secondary_stages),
            exit_signal=row.exit_signal, exit_type=row.exit_type, pain_point=row.pain_point, pain_known=True,
            question=row.question, sentiment=row.sentiment, source="project", part=part_of(row.id),
            brand=row.brand, industry=row.industry, channel=row.channel))
    return examples


def load_mentions(folder: Path | str | None = None) -> list[JourneyExample]:
    """Every ``*.jsonl`` file of ``folder`` (default: the bundled set), validated; ids unique across files."""
    folder = Path(folder) if folder is not None else BUNDLED_DATA
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"journey data folder {folder} has no *.jsonl files; pass --data with the folder of "
                          "<lang>.jsonl files")
    examples: list[JourneyExample] = []
    seen: dict[str, str] = {}
    for path in files:
        for example in read_mentions_file(path):
            if example.id in seen:
                raise ConfigError(f"{path}: id {example.id} is also in {seen[example.id]}; ids must be unique")
            seen[example.id] = path.name
            examples.append(example)
    return examples


# --------------------------------------------------------------------------- public data

STAGE_ALIASES = {"delivery_onboarding": "delivery", "loyalty_advocacy": "loyalty"}
ASSISTANT_QUERY_SETS = frozenset({"banking77", "arbanking77", "bitext-customer-support", "nlupp"})
"""Written queries to a bank or shop assistant (Bitext generated): far from social posts."""
PUBLIC_WEIGHTS = {"assistant": 0.2, "customer": 0.4}
"""Sample weight of a public row (a project row weighs 1): assistant-query sets count least."""
PUBLIC_CAP_PER_STAGE = 60
"""At most this many rows per (data set, stage) are used, chosen by sha256 of the text: no set and no
stage of a set (``usage`` is two thirds of the public rows) can dominate."""
PUBLIC_CAP_PER_SET = 240


@dataclass(frozen=True)
class PublicDataCard:
    """What ``load_public`` kept, per data set: rows read, rows used, weight."""

    read: dict[str, int]
    used: dict[str, int]
    weights: dict[str, float]


def load_public(root: Path | str, *, cap_per_stage: int = PUBLIC_CAP_PER_STAGE,
                cap_per_set: int = PUBLIC_CAP_PER_SET) -> tuple[list[JourneyExample], PublicDataCard]:
    """Rows of each ``<root>/<set>/train.jsonl`` (never ``valid.jsonl``), stages renamed to the taxonomy's.

    Rows with no stage train only the exit head (when their exit signal is known); a pain-point tag
    outside the taxonomy, or none, leaves the pain point unknown (the source label names no problem,
    which does not mean the text has none). Capped per (set, stage) and per set, weighted per kind.
    """
    root = Path(root)
    sets = sorted(p for p in root.iterdir() if (p / "train.jsonl").is_file()) if root.is_dir() else []
    if not sets:
        raise ConfigError(f"public journey data {root} has no <set>/train.jsonl; pass --public-data with the "
                          "folder of the journey data sets or --no-public")
    out: list[JourneyExample] = []
    read: dict[str, int] = {}
    used: dict[str, int] = {}
    weights: dict[str, float] = {}
    for folder in sets:
        name = folder.name
        weight = PUBLIC_WEIGHTS["assistant" if name in ASSISTANT_QUERY_SETS else "customer"]
        rows: list[JourneyExample] = []
        path = folder / "train.jsonl"
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    raw = json.loads(line)
                    text, lang = str(raw["text"]), str(raw["lang"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigError(f"{path}:{number}: not a journey row ({exc})") from exc
                stage = raw.get("stage")
                stage = STAGE_ALIASES.get(stage, stage)
                if stage is not None and stage not in STAGES:
                    raise ConfigError(f"{path}:{number}: unknown stage {raw.get('stage')!r}")
                exit_signal = raw.get("exit_signal")
                if stage is None and exit_signal is None:
                    continue  # nothing this row could teach
                pain = raw.get("pain_point")
                exit_type = raw.get("exit_type")
                key = hashlib.sha256(f"{name}\x1f{text}".encode()).hexdigest()[:16]
                rows.append(JourneyExample(
                    id=f"{name}:{key}", language=lang, text=text, stage=stage, secondary=None,
                    exit_signal=bool(exit_signal) if exit_signal is not None else None,
                    exit_type=exit_type if exit_type in EXIT_TYPES else None,
                    pain_point=pain if pain in PAIN_POINTS else None, pain_known=pain in PAIN_POINTS,
                    question=None, sentiment=None, source=name, weight=weight))
        read[name] = len(rows)
        kept = _capped(rows, cap_per_stage, cap_per_set)
        used[name] = len(kept)
        weights[name] = weight
        out.extend(kept)
    return out, PublicDataCard(read, used, weights)


def _capped(rows: Sequence[JourneyExample], per_stage: int, per_set: int) -> list[JourneyExample]:
    """At most ``per_stage`` rows per stage (by id hash, duplicates of a text once), then ``per_set`` in all,
    taken round-robin over the stages so the rare stages keep their rows."""
    by_stage: dict[str | None, list[JourneyExample]] = {}
    seen: set[str] = set()
    for row in sorted(rows, key=lambda r: r.id):
        if row.id in seen:
            continue
        seen.add(row.id)
        by_stage.setdefault(row.stage, []).append(row)
    queues = [group[:per_stage] for _, group in sorted(by_stage.items(), key=lambda kv: str(kv[0]))]
    kept: list[JourneyExample] = []
    index = 0
    while len(kept) < per_set and any(index < len(q) for q in queues):
        kept.extend(q[index] for q in queues if index < len(q))
        index += 1
    return kept[:per_set]


# --------------------------------------------------------------------------- parts


def training_rows(examples: Iterable[JourneyExample]) -> list[JourneyExample]:
    """Every row allowed to train or tune: the project's train + validation parts, public rows, corrections
    outside the held-out part. Held-out project rows are dropped here, once, for every caller."""
    return [e for e in examples if e.part != "holdout"]


def held_out(examples: Iterable[JourneyExample]) -> list[JourneyExample]:
    return [e for e in examples if e.source == "project" and e.part == "holdout"]


def with_part(example: JourneyExample, part: Part) -> JourneyExample:
    return replace(example, part=part)


def counts_table(examples: Sequence[JourneyExample]) -> str:
    """A Markdown table of rows per language and stage, with the held-out share (for the data README)."""
    langs = [lang for lang in LANGUAGES if any(e.language == lang for e in examples)]
    cells = Counter((e.language, e.stage) for e in examples)
    held = Counter(e.language for e in examples if e.part == "holdout")
    lines = ["| language | " + " | ".join(STAGES) + " | rows | held out |",
             "|---|" + "---|" * (len(STAGES) + 2)]
    for lang in langs:
        total = sum(cells[(lang, s)] for s in STAGES)
        lines.append(f"| {lang} | " + " | ".join(str(cells[(lang, s)]) for s in STAGES)
                     + f" | {total} | {held[lang]} ({held[lang] / max(total, 1):.0%}) |")
    total = len(examples)
    all_held = sum(held.values())
    lines.append("| all | " + " | ".join(str(sum(cells[(lang, s)] for lang in langs)) for s in STAGES)
                 + f" | {total} | {all_held} ({all_held / max(total, 1):.0%}) |")
    return "\n".join(lines)


__all__ = ["ASSISTANT_QUERY_SETS", "BUNDLED_DATA", "CHANNELS", "EXIT_TYPES", "HOLDOUT_PERCENT", "INDUSTRIES",
           "JourneyExample", "LANGUAGES", "PAIN_POINTS", "PUBLIC_WEIGHTS", "PublicDataCard", "SENTIMENTS", "STAGES",
           "STAGE_ALIASES", "VALIDATION_PERCENT", "counts_table", "held_out", "load_mentions", "load_public",
           "part_of", "read_mentions_file", "training_rows", "with_part"]
