"""One export row (column -> value) -> a Mention, or RowRejected with the quarantine reason. Pure: no I/O.

Decisions (each covered by tests/listeners/test_files*.py):
- Brand: the row's brand column, else ``brand_by_channel`` for its channel, else the source's ``brand``
  ties a row to a brand with no term needed; otherwise a brand term in the text must name it
  (``require_brand_match``), or, without that requirement, the source's single brand is used.
  Rows tied to no brand are quarantined with a reason starting "no brand term" (counted by the pull).
- Emoji-only text (no letters or digits) is stored when the row is tied to a brand; otherwise it is
  quarantined as "no brand term (emoji-only text)".
- Author handles ("@" stripped), customer ids and interaction ids become pseudonyms (namespaces
  a, c, i); their raw values are also replaced in the text ("@handle", ids), url and metadata.
- Naive timestamps are read in ``timezone``; JSON numbers are epoch seconds (UTC).
- Field lengths are those of the Mention record (journeypulse.record.MENTION_COLUMN_CHARS): a longer
  value is refused there with a reason, for every source alike.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from pydantic import ValidationError

from journeypulse.config import BrandConfig
from journeypulse.record import MAX_TEXT_CHARS, NO_BRAND_TERM, JsonScalar, Mention, rejection_reason
from listeners.base import BrandMatcher, Pseudonymise
from listeners.files.params import IDENTITY_NAMESPACES, FileParams

# Control characters except tab/newline, zero-width characters and bidi controls. ZWJ (U+200D) is
# handled separately: it is kept inside emoji sequences (family, profession emoji) and dropped elsewhere.
_STRIP = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064"
                    "\u2066-\u2069\ufeff]")
_LONE_ZWJ = re.compile("\u200d(?![\U0001f000-\U0001faff\u2600-\u27bf])|(?<![\U0001f000-\U0001faff\u2600-\u27bf"
                       "\ufe0f\U0001f3fb-\U0001f3ff])\u200d")


class RowRejected(ValueError):
    """A row that cannot become a mention; its message is the quarantine reason."""


class BrokenRecord(RowRejected):
    """A CSV record whose fields do not line up with the header (a stray quote may have joined lines)."""


def clean_text(text: str) -> str:
    """Text as stored: CRLF/CR become LF; control, zero-width and bidi characters are removed.

    Emoji (non-BMP included), variation selectors, skin tones and mixed scripts are kept.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _LONE_ZWJ.sub("", _STRIP.sub("", text))


def parse_json(text: str) -> dict[str, object]:
    """A JSONL line as an object; any parser failure (digit limits, nesting depth, ...) is a RowRejected."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowRejected(f"malformed JSON line: {exc.msg} at column {exc.colno}") from exc
    except RecursionError as exc:
        raise RowRejected("JSON line is nested too deeply to parse") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. ValueError "Exceeds the limit (4300 digits)": never fatal
        raise RowRejected(f"JSON line rejected by the parser: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(row, dict):
        raise RowRejected(f"JSON line is a {type(row).__name__}, expected an object")
    return row


def parse_csv(text: str, header: list[str], delimiter: str) -> dict[str, object]:
    try:
        fields = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise BrokenRecord(f"malformed CSV record: {exc}") from exc
    if len(fields) != len(header):
        raise BrokenRecord(f"CSV record has {len(fields)} fields but the header has {len(header)}")
    return {name: (value or None) for name, value in zip(header, fields, strict=True)}


def _is_emoji(ch: str) -> bool:
    return unicodedata.category(ch) == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF


def _has_words(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _scrub(value: str, identities: list[tuple[str, str]]) -> str:
    """``value`` with each raw identity replaced (case-insensitively) by its pseudonym."""
    for raw, alias in identities:
        low, needle = value.lower(), raw.lower()
        if needle not in low:
            continue
        if len(low) != len(value):  # rare: lowering changed lengths, so indices do not line up
            value = re.sub(re.escape(raw), alias.replace("\\", "\\\\"), value, flags=re.IGNORECASE)
            continue
        parts, start = [], 0
        while (found := low.find(needle, start)) >= 0:
            parts += [value[start:found], alias]
            start = found + len(needle)
        value = "".join([*parts, value[start:]])
    return value


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class RowParser:
    """Turns rows of one file source into mentions."""

    def __init__(self, source: str, params: FileParams, brands: tuple[BrandConfig, ...], pseudonymise: Pseudonymise,
                 zone: tzinfo, clock: Callable[[], datetime]) -> None:
        self.source = source
        self.params = params
        self._brands = brands
        self._names = [b.name for b in brands]
        self._matcher = BrandMatcher(brands)
        self._matcher_of = {b.name: BrandMatcher((b,)) for b in brands}
        self._by_channel = {channel.casefold(): brand for channel, brand in params.brand_by_channel.items()}
        self._pseudonymise = pseudonymise
        self._zone = zone
        self._clock = clock

    def parse_row(self, row: dict[str, object]) -> Mention:
        """One export row (column -> value) to a Mention; raises RowRejected with the quarantine reason."""
        p = self.params
        native_id = self._identity(row, "id", required=True) or ""
        ids: list[tuple[str, str, str]] = []  # (field, raw identity, pseudonym)
        for field, namespace in IDENTITY_NAMESPACES.items():
            raw = (self._identity(row, field) or "").lstrip("@" if field == "author" else "")
            if raw:
                ids.append((field, raw, self._pseudonymise(raw, namespace=namespace)))
        # Raw identities are replaced wherever they would be stored: "@handle" and ids in the text, the
        # bare handle or id in native_id, url and metadata. Values under 3 characters are too generic to replace.
        in_text = [(f"@{raw}" if field == "author" else raw, alias) for field, raw, alias in ids if len(raw) >= 3]
        elsewhere = [(raw, alias) for _, raw, alias in ids if len(raw) >= 3]
        text = self._text(row, in_text)
        channel = self._string(row, "channel") or p.default_channel
        brand, terms = self._brand(row, text, channel)
        metadata: dict[str, JsonScalar] = {field: alias for field, _, alias in ids if field != "author"}
        for column in p.metadata_columns:
            value = row.get(column)
            if not isinstance(value, str | int | float | bool | None):
                raise RowRejected(f"metadata column {column!r} holds a nested {type(value).__name__}; list only "
                                  "scalar columns in metadata_columns")
            metadata[column] = _scrub(value, elsewhere) if isinstance(value, str) else value
        url = self._string(row, "url")
        try:
            return Mention.build(
                source=self.source, source_kind="file", native_id=_scrub(native_id, elsewhere), text=text,
                created_at=self._timestamp(row), fetched_at=self._clock(),
                url=_scrub(url, elsewhere) if url else None,
                author=next((alias for field, _, alias in ids if field == "author"), None),
                channel=channel, brand=brand, matched_terms=terms,
                language_hint=(self._string(row, "language_hint") or "").lower() or None, metadata=metadata,
            )
        except ValidationError as exc:
            raise RowRejected(f"record rejected: {rejection_reason(exc)}") from exc

    def _value(self, row: dict[str, object], field: str, *, required: bool = False) -> object:
        column = self.params.column(field)
        value = row.get(column)
        if required and value is None:
            state = "missing" if column not in row else "empty"
            raise RowRejected(f"{state} field {field!r} (column {column!r})")
        return value

    def _string(self, row: dict[str, object], field: str) -> str | None:
        value = self._value(row, field)
        if value is not None and not isinstance(value, str):
            raise RowRejected(f"field {field!r} (column {self.params.column(field)!r}) must be a string, "
                              f"got {type(value).__name__}")
        return (value.strip() or None) if value is not None else None

    def _identity(self, row: dict[str, object], field: str, *, required: bool = False) -> str | None:
        value = self._value(row, field, required=required)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise RowRejected(f"field {field!r} (column {self.params.column(field)!r}) must be a string or integer, "
                              f"got {type(value).__name__}")
        if required and not (value or "").strip():
            raise RowRejected(f"empty field {field!r} (column {self.params.column(field)!r})")
        return (value or "").strip() or None

    def _text(self, row: dict[str, object], identities: list[tuple[str, str]]) -> str:
        value = self._value(row, "text", required=True)
        if not isinstance(value, str):
            raise RowRejected(f"field 'text' (column {self.params.column('text')!r}) must be a string, "
                              f"got {type(value).__name__}")
        if not value.strip():
            raise RowRejected("text is empty or whitespace only")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RowRejected(f"text holds an unpaired surrogate at character {exc.start}") from exc
        text = clean_text(value).strip()
        if not text:
            raise RowRejected("text is empty after removing control and zero-width characters")
        if len(text) > MAX_TEXT_CHARS:
            raise RowRejected(f"text is {len(text)} characters, over the {MAX_TEXT_CHARS} limit (MAX_TEXT_CHARS)")
        return _scrub(text, identities)

    def _brand(self, row: dict[str, object], text: str, channel: str | None) -> tuple[str, tuple[str, ...]]:
        p = self.params
        brand = self._named_brand(row)
        if brand is None and channel is not None:
            brand = self._by_channel.get(channel.casefold())
        brand = brand or p.brand
        if brand is None:
            match = self._matcher.match(text)
            if match is not None:
                return match.brand, match.terms
            if p.require_brand_match:
                emoji_only = not _has_words(text) and any(_is_emoji(c) for c in text)
                raise RowRejected(f"{NO_BRAND_TERM} (emoji-only text)" if emoji_only else NO_BRAND_TERM)
            if len(self._names) > 1:
                raise RowRejected(f"no brand column value (column {p.column('brand')!r}) and the source "
                                  f"listens for several brands {self._names}; set params.brand or brand_by_channel")
            brand = self._names[0]
        if not _has_words(text) and not any(_is_emoji(c) for c in text):
            raise RowRejected("text has no letters, digits or emoji")
        match = self._matcher_of[brand].match(text)
        return brand, (match.terms if match is not None else ())

    def _named_brand(self, row: dict[str, object]) -> str | None:
        named = self._string(row, "brand")
        if named is None:
            return None
        brand = next((name for name in self._names if name.casefold() == named.casefold()), None)
        if brand is None:
            raise RowRejected(f"brand {_shorten(named)} is not one of this source's brands {self._names}")
        return brand

    def _timestamp(self, row: dict[str, object]) -> datetime:
        value = self._value(row, "created_at", required=True)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError) as exc:
                raise RowRejected(f"created_at {_shorten(value)} is not a valid epoch timestamp") from exc
        if not isinstance(value, str):
            raise RowRejected(f"field 'created_at' must be a string or epoch number, got {type(value).__name__}")
        fmt = self.params.timestamp_format
        try:
            parsed = datetime.strptime(value.strip(), fmt) if fmt else datetime.fromisoformat(value.strip())
        except ValueError as exc:
            wanted = f"in timestamp_format {fmt!r}" if fmt else "an ISO-8601 timestamp"
            raise RowRejected(f"created_at {_shorten(value)} is not {wanted}") from exc
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=self._zone)

    def redacted(self, row: dict[str, object]) -> str:
        """The row as JSON with identity columns replaced by their pseudonyms."""
        safe = dict(row)
        for field, namespace in IDENTITY_NAMESPACES.items():
            value = safe.get(self.params.column(field))
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                raw = str(value).strip()
                safe[self.params.column(field)] = self._pseudonymise(
                    raw.lstrip("@") if field == "author" else raw, namespace=namespace)
        return json.dumps(safe, ensure_ascii=False, default=str)
