"""The one mention record that crosses every package boundary.

Invariants: ``id`` is a pure function of (source, native_id), so refetching is idempotent;
``content_hash`` is a pure function of the normalised text, so cross-source duplicates are
visible; timestamps are timezone-aware; ``author`` is a keyed pseudonym, never a raw handle.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Zero-width and bidi control characters carry no meaning for analysis but break
# hashing and matching; they are stripped during normalisation.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_WHITESPACE = re.compile(r"\s+")

MAX_TEXT_CHARS = 20_000
"""Longest text stored. Longer texts are quarantined, never cut silently."""

MENTION_COLUMN_CHARS: dict[str, int] = {
    "source": 200,
    "source_kind": 50,
    "native_id": 500,
    "author": 200,
    "channel": 100,
    "brand": 200,
    "language_hint": 20,
}
"""Longest value of each length-limited field: the ``String(n)`` size of its column in storage/schema.py.

PostgreSQL refuses a longer value (and with it the whole batch) where SQLite would store it, so the
record refuses it on both: every listener turns the refusal into a quarantine row with the reason.
(``id`` and ``content_hash`` are derived and always 32 characters; text, url and metadata have no limit.)
"""

NO_BRAND_TERM = "no brand term"
"""Start of the reason of rows quarantined because nothing ties them to a configured brand; pulls count them."""

JsonScalar = str | int | float | bool | None
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (listeners parse naive times as UTC)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]


def fit_language_tag(tag: str, limit: int = MENTION_COLUMN_CHARS["language_hint"]) -> str:
    """A language tag that fits ``limit``: extensions and private use dropped, then subtags cut from the end.

    ``"zh-Hant-TW-u-ca-chinese-x-private"`` -> ``"zh-Hant-TW"`` (RFC 4647 lookup fallback); surrounding
    whitespace is removed and a tag that fits is returned as it is. A value longer than ``limit`` that is
    no language tag is returned unchanged, for validation to refuse with a reason.
    """
    tag = tag.strip()
    if len(tag) <= limit or not _LANGUAGE_TAG.fullmatch(tag):
        return tag
    parts = re.split("[-_]", tag)
    singleton = next((i for i, part in enumerate(parts) if len(part) == 1), len(parts))
    parts = parts[:max(singleton, 1)]
    while len(parts) > 1 and len("-".join(parts)) > limit:
        parts.pop()
    return "-".join(parts)


def normalise_text(text: str) -> str:
    """NFKC, invisible characters removed, casefolded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _WHITESPACE.sub(" ", text.casefold()).strip()


def content_hash(text: str) -> str:
    """Hash of the normalised text: equal for the same words across sources."""
    # surrogatepass: identical bytes for valid text; a lone surrogate still hashes, and validation refuses it
    return hashlib.sha256(normalise_text(text).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def make_mention_id(source: str, native_id: str) -> str:
    """Deterministic mention id from the configured source name and the source's own id."""
    return hashlib.sha256(f"{source}\x1f{native_id}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Mention(BaseModel):
    """A post, review, comment or contact that mentions a configured brand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=32, max_length=32)
    source: str = Field(min_length=1, description="configured source name, e.g. 'sample'")
    source_kind: str = Field(min_length=1, description="listener kind, e.g. 'file', 'x', 'reddit'")
    native_id: str = Field(min_length=1)
    url: str | None = None
    author: str | None = Field(default=None, description="keyed pseudonym of the author")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    created_at: AwareDatetime
    fetched_at: AwareDatetime
    channel: str | None = Field(default=None, description="touchpoint/channel, e.g. 'social'")
    brand: str | None = None
    matched_terms: tuple[str, ...] = ()
    language_hint: str | None = Field(default=None, description="language claimed by the source")
    content_hash: str = Field(min_length=32, max_length=32)
    metadata: dict[str, JsonScalar] = Field(default_factory=dict)

    @field_validator("language_hint", mode="before")
    @classmethod
    def _fit_language_hint(cls, value: object) -> object:
        return fit_language_tag(value) if isinstance(value, str) else value

    @field_validator(*MENTION_COLUMN_CHARS)
    @classmethod
    def _fits_its_column(cls, value: str | None, info: ValidationInfo) -> str | None:
        limit = MENTION_COLUMN_CHARS[str(info.field_name)]
        if value is not None and len(value) > limit:
            raise ValueError(f"{info.field_name} is {len(value)} characters, over the {limit}-character limit "
                             "of its database column")
        return value

    @model_validator(mode="after")
    def _storable_as_utf8(self) -> Mention:
        # A lone surrogate (e.g. from a JSON "\\ud800" escape) cannot be encoded for either database.
        named = {name: getattr(self, name) for name in ("source", "source_kind", "native_id", "url", "author", "text",
                                                          "channel", "brand", "language_hint")}
        named["matched_terms"] = " ".join(self.matched_terms)
        named["metadata"] = " ".join(f"{k} {v}" for k, v in self.metadata.items())
        for name, value in named.items():
            if isinstance(value, str) and not _encodable(value):
                raise ValueError(f"{name} holds an unpaired surrogate, which cannot be stored as UTF-8")
        return self

    @classmethod
    def build(
        cls,
        *,
        source: str,
        source_kind: str,
        native_id: str,
        text: str,
        created_at: datetime,
        fetched_at: datetime,
        **fields: object,
    ) -> Mention:
        """Make a mention, deriving ``id`` and ``content_hash`` so callers cannot get them wrong."""
        return cls.model_validate(
            {
                "id": make_mention_id(source, native_id),
                "source": source,
                "source_kind": source_kind,
                "native_id": native_id,
                "text": text,
                "created_at": created_at,
                "fetched_at": fetched_at,
                "content_hash": content_hash(text),
                **fields,
            }
        )


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def rejection_reason(exc: ValidationError) -> str:
    """One line naming each refused field and why, for a quarantine reason (values are never echoed)."""
    problems = []
    for error in exc.errors(include_input=False):
        field = ".".join(map(str, error["loc"]))
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(message if message.startswith(f"{field} ") or not field else f"{field}: {message}")
    return "; ".join(problems)


@dataclass(frozen=True)
class QuarantinedRow:
    """A row a listener could not turn into a mention, kept with its reason (never dropped)."""

    source: str
    reason: str
    payload: str
    locator: str = ""  # where it came from, e.g. "sample.jsonl:17"


Cursor = str
"""A listener's opaque resume point (e.g. newest id seen, file offset), stored per source+query."""
