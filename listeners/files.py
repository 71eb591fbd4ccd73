"""File listener: JSONL and CSV exports (social tools, contact-center and ticket systems).

Reads bytes line by line so every bad row becomes a QuarantinedRow with a ``file:line`` locator,
and resumes from byte-offset cursors that pick up appended rows and detect rewritten files.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import BinaryIO, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from journeypulse.config import SourceConfig
from journeypulse.errors import ConfigError, ListenerError
from journeypulse.record import MAX_TEXT_CHARS, Cursor, JsonScalar, Mention, QuarantinedRow
from listeners.base import BrandMatcher, Item, ListenerContext

logger = logging.getLogger(__name__)

FIELDS = ("id", "text", "created_at", "author", "url", "channel", "language_hint", "customer_id",
          "interaction_id", "brand")
DEFAULT_COLUMNS = {**{f: f for f in FIELDS}, "language_hint": "lang"}
REQUIRED = ("id", "text", "created_at")
IDENTITY_NAMESPACES = {"author": "a", "customer_id": "c", "interaction_id": "i"}
MAX_PAYLOAD_CHARS = 65_536
"""Quarantine payloads longer than this are cut with an explicit marker; the locator points at the full row."""

_HEAD_BYTES = 65_536  # the cursor fingerprints the file's first bytes ...
_TAIL_BYTES = 4_096  # ... and the bytes just before the offset, so rewrites are detected
_BOM = b"\xef\xbb\xbf"
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
# Control characters except tab/newline, zero-width characters and bidi controls. ZWJ (U+200D) is
# handled separately: it is kept inside emoji sequences (family, profession emoji) and dropped elsewhere.
_STRIP = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064"
                    "\u2066-\u2069\ufeff]")
_LONE_ZWJ = re.compile("\u200d(?![\U0001f000-\U0001faff\u2600-\u27bf])|(?<![\U0001f000-\U0001faff\u2600-\u27bf"
                       "\ufe0f\U0001f3fb-\U0001f3ff])\u200d")


class FileParams(BaseModel):
    """``params`` of a ``kind: file`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="file or glob; relative paths resolve against base_dir")
    base_dir: str | None = Field(default=None, description="folder of the config file (the pipeline sets it)")
    format: Literal["jsonl", "csv"] | None = Field(default=None, description="default: from the extension")
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV field delimiter")
    columns: dict[str, str] = Field(default={}, description="record field -> column name, over the defaults")
    metadata_columns: list[str] = Field(default=[], description="extra columns copied into metadata")
    default_channel: str | None = None
    timezone: str = Field(default="UTC", description="zone for naive timestamps")
    timestamp_format: str | None = Field(default=None, description="strptime format when not ISO-8601")
    require_brand_match: bool = Field(default=True, description="false for contact-center exports")

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown record field(s) {unknown}; map only {list(FIELDS)}")
        if any(not name.strip() for name in columns.values()):
            raise ValueError("column names must not be empty")
        return columns

    @field_validator("encoding")
    @classmethod
    def _line_based_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {encoding!r}") from exc
        if "\n".encode(encoding) != b"\n":
            raise ValueError(f"encoding {encoding!r} is not ASCII-compatible; convert the export to UTF-8")
        return encoding

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'Asia/Bangkok')") from exc
        return name

    @model_validator(mode="after")
    def _identities_stay_out_of_metadata(self) -> FileParams:
        # Identity columns would leak raw ids; the identity field names are the keys of their pseudonyms.
        reserved = {self.column(f) for f in IDENTITY_NAMESPACES} | {"customer_id", "interaction_id"}
        leaked = sorted(reserved & set(self.metadata_columns))
        if leaked:
            raise ValueError(f"metadata_columns {leaked} hold identities or reserved keys; remove them")
        return self

    def column(self, field: str) -> str:
        return self.columns.get(field, DEFAULT_COLUMNS[field])


@dataclass(frozen=True)
class _Record:
    """One logical row: a JSONL line, or a CSV record that may span several physical lines."""

    line: int  # first physical line, 1-based
    end_line: int
    end_offset: int
    text: str  # decoded (backslash-escaped where invalid)
    decode_error: str | None


class _Fingerprint:
    """Hash of a file's first bytes and of the bytes before the current offset."""

    def __init__(self, head: bytes = b"", tail: bytes = b"") -> None:
        self._head = hashlib.sha256(head)
        self._head_len = len(head)
        self._tail = bytearray(tail[-_TAIL_BYTES:])

    def feed(self, data: bytes) -> None:
        if self._head_len < _HEAD_BYTES:
            part = data[: _HEAD_BYTES - self._head_len]
            self._head.update(part)
            self._head_len += len(part)
        self._tail += data
        del self._tail[:-_TAIL_BYTES]

    def digest(self) -> str:
        return hashlib.sha256(self._head.digest() + bytes(self._tail)).hexdigest()[:24]

    @classmethod
    def of_file(cls, handle: BinaryIO, offset: int) -> _Fingerprint:
        head = handle.read(min(offset, _HEAD_BYTES))
        handle.seek(max(0, offset - _TAIL_BYTES))
        return cls(head, handle.read(offset - max(0, offset - _TAIL_BYTES)))


def encode_cursor(line: int, offset: int, fingerprint: str) -> Cursor:
    """``v1|<lines read>|<byte offset>|<fingerprint of the bytes read>``."""
    return f"v1|{line}|{offset}|{fingerprint}"


def decode_cursor(cursor: Cursor) -> tuple[int, int, str]:
    parts = cursor.split("|")
    if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit() or not parts[2].isdigit():
        raise ListenerError(f"file cursor {cursor!r} is not a v1 file cursor; delete the stored cursor to re-read")
    return int(parts[1]), int(parts[2]), parts[3]


def clean_text(text: str) -> str:
    """Text as stored: CRLF/CR become LF; control, zero-width and bidi characters are removed.

    Emoji (non-BMP included), variation selectors, skin tones and mixed scripts are kept.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _LONE_ZWJ.sub("", _STRIP.sub("", text))


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


class RowRejected(ValueError):
    """A row that cannot become a mention; its message is the quarantine reason."""


class FileListener:
    """Reads mentions from JSONL/CSV exports; each matched file is one query with its own cursor.

    Decisions (each covered by tests/listeners/test_files.py):
    - Blank lines are not rows. Every other row yields a Mention or a QuarantinedRow, never nothing.
    - Emoji-only text (no letters or digits) is stored when the row is tied to a brand: by a term in
      the text (e.g. "😍 #Sorami") or, with ``require_brand_match: false``, by the source itself.
      Otherwise it is quarantined as "no brand term (emoji-only text)".
    - Author handles ("@" stripped), customer ids and interaction ids become pseudonyms (namespaces
      a, c, i); their raw values are also replaced in the text ("@handle", ids), url and metadata.
      Quarantine payloads of parsed rows carry pseudonyms; a line that cannot be parsed at all is
      kept raw (backslash-escaped if not valid text), so the quarantine table needs restricted access.
    - Naive timestamps are read in ``timezone``; JSON numbers are epoch seconds (UTC).
    - Cursors are byte offsets: writers must append whole lines (a torn final line is read as is).
    """

    def __init__(self, source: SourceConfig, context: ListenerContext,
                 *, clock: Callable[[], datetime] | None = None) -> None:
        try:
            self.params = FileParams.model_validate(source.params)
        except ValidationError as exc:
            problems = "; ".join(f"params.{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"file source {source.name!r}: {problems}") from exc
        self.source = source
        self._context = context
        self._clock = clock or (lambda: datetime.now(UTC))
        self._brands = tuple(b for b in context.brands if not source.brands or b.name in source.brands)
        if not self._brands:
            raise ConfigError(f"file source {source.name!r}: none of its brands {source.brands} is configured")
        self._matcher = BrandMatcher(self._brands)
        self._zone: tzinfo = ZoneInfo(self.params.timezone)
        pattern = Path(self.params.path)
        if not pattern.is_absolute():
            if self.params.base_dir is None:
                raise ConfigError(f"file source {source.name!r}: params.path {self.params.path!r} is relative and "
                                  "params.base_dir is not set; give an absolute path or set base_dir")
            pattern = Path(self.params.base_dir) / pattern
        self._pattern = pattern
        magic = [i for i, part in enumerate(pattern.parts) if any(c in part for c in "*?[")]
        self._is_glob = bool(magic)
        self._root = Path(*pattern.parts[: magic[0]]) if magic else pattern.parent  # queries are relative to it
        if not self._is_glob:
            self._format_of(pattern)  # fail at construction on an unknown extension

    # ------------------------------------------------------------------ Listener protocol

    def queries(self) -> list[str]:
        """One key per matched file: its path relative to the pattern's fixed folder (stable if the tree moves)."""
        if not self._is_glob:
            return [self._pattern.name]
        relative = str(self._pattern.relative_to(self._root))
        matches = sorted(p for p in self._root.glob(relative) if p.is_file())
        if not matches:
            logger.warning("file source %s: no file matches %s", self.source.name, self._pattern)
        return [p.relative_to(self._root).as_posix() for p in matches]

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        """Rows after ``cursor`` (all rows when None), in file order, each with the cursor just past it."""
        path = self._path_of(query)
        fmt = self._format_of(path)
        line, offset, fingerprint = self._resume_point(path, query, cursor)
        header = self._csv_header(path, query) if fmt == "csv" else None
        counts = {"mentions": 0, "quarantined": 0}
        for record in self._records(path, fmt, line, offset, fingerprint):
            item = self._item(record, fmt, header, query)
            counts["mentions" if isinstance(item, Mention) else "quarantined"] += 1
            yield item, encode_cursor(record.end_line, record.end_offset, fingerprint.digest())
        logger.info("file source %s/%s: %d mentions, %d quarantined", self.source.name, query,
                    counts["mentions"], counts["quarantined"])

    def check(self) -> str:
        """Every matched file is readable and has the configured columns in its header (or first row)."""
        queries = self.queries()
        if not queries:
            raise ListenerError(f"file source {self.source.name!r}: no file matches {str(self._pattern)!r}; "
                                "fix params.path")
        p = self.params
        fields = [*REQUIRED, *p.columns]
        if not p.require_brand_match and len(self._brands) > 1:
            fields.append("brand")
        wanted = [p.column(f) for f in dict.fromkeys(fields)] + list(p.metadata_columns)
        for query in queries:
            path = self._path_of(query)
            if self._format_of(path) == "csv":
                present = set(self._csv_header(path, query))
            else:
                present = set(self._first_json_object(path, query))
            missing = [c for c in wanted if c not in present]
            if missing:
                raise ListenerError(f"file source {self.source.name!r}: {query} lacks column(s) {missing}; "
                                    "fix params.columns or the export")
        return f"{len(queries)} file(s) readable, columns present: {', '.join(wanted)}"

    # ------------------------------------------------------------------ I/O

    def _path_of(self, query: str) -> Path:
        path = self._root / query
        if ".." in Path(query).parts or not path.is_file():
            raise ListenerError(f"file source {self.source.name!r}: file {str(path)!r} does not exist or is not a "
                                "file; fix params.path")
        return path

    def _open(self, path: Path) -> BinaryIO:
        try:
            return path.open("rb")
        except OSError as exc:
            raise ListenerError(f"file source {self.source.name!r}: cannot read {str(path)!r} ({exc.strerror}); "
                                "fix its permissions or params.path") from exc

    def _format_of(self, path: Path) -> str:
        if self.params.format:
            return self.params.format
        fmt = _EXTENSIONS.get(path.suffix.lower())
        if fmt is None:
            raise ConfigError(f"file source {self.source.name!r}: cannot tell the format of {path.name!r} from its "
                              "extension; set params.format to jsonl or csv")
        return fmt

    def _resume_point(self, path: Path, query: str, cursor: Cursor | None) -> tuple[int, int, _Fingerprint]:
        if cursor is None:
            return 0, 0, _Fingerprint()
        line, offset, expected = decode_cursor(cursor)
        with self._open(path) as handle:
            if offset <= handle.seek(0, io.SEEK_END):
                handle.seek(0)
                fingerprint = _Fingerprint.of_file(handle, offset)
                if fingerprint.digest() == expected:
                    return line, offset, fingerprint
        logger.warning("file source %s/%s: file was rewritten since the cursor; reading it from the start",
                       self.source.name, query)
        return 0, 0, _Fingerprint()

    def _records(self, path: Path, fmt: str, line: int, offset: int, fp: _Fingerprint) -> Iterator[_Record]:
        """Logical rows from ``offset``, feeding every byte read into ``fp``.

        A JSONL row is one line; a CSV record ends on a newline outside quotes; the CSV header
        (line 1) is skipped here and read by ``_csv_header``. Blank lines are not rows.
        """
        pending: list[tuple[str, str | None]] = []
        state = (False, True)  # (inside quotes, at field start)
        with self._open(path) as handle:
            handle.seek(offset)
            for raw in handle:
                line += 1
                offset += len(raw)
                fp.feed(raw)
                if fmt == "csv" and line == 1:
                    continue
                text, error = self._decode(raw[len(_BOM):] if line == 1 and raw.startswith(_BOM) else raw)
                if fmt == "jsonl":
                    if text.strip():
                        yield _Record(line, line, offset, text, error)
                    continue
                pending.append((text, error))
                state = _csv_quote_state(text, state, self.params.delimiter)
                if not state[0]:
                    if any(t.strip() for t, _ in pending):
                        yield _joined(pending, line - len(pending) + 1, line, offset)
                    pending, state = [], (False, True)
        if pending:
            record = _joined(pending, line - len(pending) + 1, line, offset)
            unterminated = f"unterminated quoted field in the CSV record starting on line {record.line}"
            yield _Record(record.line, line, offset, record.text, record.decode_error or unterminated)

    def _decode(self, raw: bytes) -> tuple[str, str | None]:
        try:
            return raw.decode(self.params.encoding), None
        except UnicodeDecodeError as exc:
            return (raw.decode(self.params.encoding, errors="backslashreplace"),
                    f"invalid {self.params.encoding} at byte {exc.start} of the line: {exc.reason}")

    def _csv_header(self, path: Path, query: str) -> list[str]:
        with self._open(path) as handle:
            first = handle.readline()
        text, error = self._decode(first[len(_BOM):] if first.startswith(_BOM) else first)
        if error:
            raise ListenerError(f"file source {self.source.name!r}: header of {query} has {error}; "
                                "set params.encoding or fix the file")
        if not text.strip():
            raise ListenerError(f"file source {self.source.name!r}: {query} has no header on line 1; "
                                "a CSV export needs one")
        return [c.strip() for c in next(csv.reader(io.StringIO(text), delimiter=self.params.delimiter))]

    def _first_json_object(self, path: Path, query: str) -> dict[str, object]:
        for record in self._records(path, "jsonl", 0, 0, _Fingerprint()):
            try:
                row = json.loads(record.text)
            except json.JSONDecodeError as exc:
                raise ListenerError(f"file source {self.source.name!r}: {query}:{record.line} is not JSON "
                                    f"({exc.msg}); fix the export") from exc
            if not isinstance(row, dict):
                raise ListenerError(f"file source {self.source.name!r}: {query}:{record.line} is not a JSON object")
            return row
        raise ListenerError(f"file source {self.source.name!r}: {query} has no rows")

    # ------------------------------------------------------------------ parsing (pure)

    def _item(self, record: _Record, fmt: str, header: list[str] | None, query: str) -> Item:
        locator = f"{query}:{record.line}"
        if record.decode_error:
            return self._quarantine(record.decode_error, record.text, locator)
        try:
            row = self._parse_json(record.text) if fmt == "jsonl" else self._parse_csv(record.text, header or [])
        except RowRejected as exc:
            return self._quarantine(str(exc), record.text, locator)
        try:
            return self.parse_row(row)
        except RowRejected as exc:
            return self._quarantine(str(exc), self._redacted(row), locator)

    @staticmethod
    def _parse_json(text: str) -> dict[str, object]:
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RowRejected(f"malformed JSON line: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(row, dict):
            raise RowRejected(f"JSON line is a {type(row).__name__}, expected an object")
        return row

    def _parse_csv(self, text: str, header: list[str]) -> dict[str, object]:
        try:
            fields = next(csv.reader(io.StringIO(text), delimiter=self.params.delimiter))
        except csv.Error as exc:
            raise RowRejected(f"malformed CSV record: {exc}") from exc
        if len(fields) != len(header):
            raise RowRejected(f"CSV record has {len(fields)} fields but the header has {len(header)}")
        return {name: (value or None) for name, value in zip(header, fields, strict=True)}

    def parse_row(self, row: dict[str, object]) -> Mention:
        """One export row (column -> value) to a Mention; raises RowRejected with the quarantine reason."""
        p = self.params
        native_id = self._identity(row, "id", required=True) or ""
        ids: list[tuple[str, str, str]] = []  # (field, raw identity, pseudonym)
        for field, namespace in IDENTITY_NAMESPACES.items():
            raw = (self._identity(row, field) or "").lstrip("@" if field == "author" else "")
            if raw:
                ids.append((field, raw, self._context.pseudonymise(raw, namespace=namespace)))
        # Raw identities are replaced wherever they would be stored: "@handle" and ids in the text, the
        # bare handle or id in native_id, url and metadata. Values under 3 characters are too generic to replace.
        in_text = [(f"@{raw}" if field == "author" else raw, alias) for field, raw, alias in ids if len(raw) >= 3]
        elsewhere = [(raw, alias) for _, raw, alias in ids if len(raw) >= 3]
        text = self._text(row, in_text)
        brand, terms = self._brand(row, text)
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
                source=self.source.name, source_kind="file", native_id=_scrub(native_id, elsewhere), text=text,
                created_at=self._timestamp(row), fetched_at=self._clock(),
                url=_scrub(url, elsewhere) if url else None,
                author=next((alias for field, _, alias in ids if field == "author"), None),
                channel=self._string(row, "channel") or p.default_channel, brand=brand, matched_terms=terms,
                language_hint=(self._string(row, "language_hint") or "").lower() or None, metadata=metadata,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise RowRejected(f"record rejected: {problems}") from exc

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

    def _brand(self, row: dict[str, object], text: str) -> tuple[str, tuple[str, ...]]:
        match = self._matcher.match(text)
        if self.params.require_brand_match:
            if match is None:
                emoji_only = not _has_words(text) and any(_is_emoji(c) for c in text)
                raise RowRejected("no brand term (emoji-only text)" if emoji_only else "no brand term")
            return match.brand, match.terms
        if not _has_words(text) and not any(_is_emoji(c) for c in text):
            raise RowRejected("text has no letters, digits or emoji")
        names = [b.name for b in self._brands]
        named = self._string(row, "brand")
        if named is None and len(names) > 1:
            raise RowRejected(f"no brand column value (column {self.params.column('brand')!r}) and the source "
                            f"listens for several brands {names}")
        brand = named or names[0]
        if brand not in names:
            raise RowRejected(f"brand {brand!r} is not one of this source's brands {names}")
        terms = match.terms if match is not None and match.brand == brand else ()
        return brand, terms

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

    def _redacted(self, row: dict[str, object]) -> str:
        """The row as JSON with identity columns replaced by their pseudonyms."""
        safe = dict(row)
        for field, namespace in IDENTITY_NAMESPACES.items():
            value = safe.get(self.params.column(field))
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                raw = str(value).strip()
                safe[self.params.column(field)] = self._context.pseudonymise(
                    raw.lstrip("@") if field == "author" else raw, namespace=namespace)
        return json.dumps(safe, ensure_ascii=False, default=str)

    def _quarantine(self, reason: str, payload: str, locator: str) -> QuarantinedRow:
        if len(payload) > MAX_PAYLOAD_CHARS:
            payload = f"{payload[:MAX_PAYLOAD_CHARS]}...[cut: {len(payload)} characters in all, see {locator}]"
        return QuarantinedRow(source=self.source.name, reason=reason, payload=payload.rstrip("\r\n"), locator=locator)


def _joined(parts: list[tuple[str, str | None]], first: int, last: int, offset: int) -> _Record:
    error = next((e for _, e in parts if e), None)
    return _Record(first, last, offset, "".join(t for t, _ in parts), error)


def _csv_quote_state(text: str, state: tuple[bool, bool], delimiter: str) -> tuple[bool, bool]:
    """(inside quotes, at field start) after ``text``, following the csv module's default dialect."""
    quoted, at_start = state
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if text[i + 1: i + 2] == '"':
                    i += 1
                else:
                    quoted = False
        elif ch == '"' and at_start:
            quoted, at_start = True, False
        else:
            at_start = ch in (delimiter, "\n", "\r")
        i += 1
    return quoted, at_start
