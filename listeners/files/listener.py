"""File listener: JSONL and CSV exports (social tools, contact-center and ticket systems).

Reads bytes line by line so every bad row becomes a QuarantinedRow with a ``file:line`` locator,
and resumes from byte-offset cursors that pick up appended rows and detect rewritten files.
Each matched file is one query with its own cursor. Blank lines are not rows; every other row
yields a Mention or a QuarantinedRow, never nothing. Quarantine payloads of parsed rows carry
pseudonyms; a line that cannot be parsed at all is kept raw (backslash-escaped if not valid text),
so the quarantine table needs restricted access.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from journeypulse.config import SourceConfig
from journeypulse.errors import ConfigError, ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from listeners.base import Item, ListenerContext
from listeners.files.cursor import decode_cursor, encode_cursor
from listeners.files.params import REQUIRED, FileParams
from listeners.files.reading import ExportFile, Layout, UnreadableExport, sniff
from listeners.files.records import Record, Splitter
from listeners.files.rows import BrokenRecord, RowParser, RowRejected, parse_csv, parse_json

logger = logging.getLogger(__name__)

MAX_PAYLOAD_CHARS = 65_536
"""Quarantine payloads longer than this are cut with an explicit marker; the locator points at the full row."""

_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_COMPRESSED_SUFFIXES = {".gz", ".bz2", ".xz"}


class FileListener:
    """Reads mentions from JSONL/CSV exports; each matched file is one query with its own cursor."""

    def __init__(self, source: SourceConfig, context: ListenerContext,
                 *, clock: Callable[[], datetime] | None = None) -> None:
        try:
            self.params = FileParams.model_validate(source.params)
        except ValidationError as exc:
            problems = "; ".join(f"params.{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"file source {source.name!r}: {problems}") from exc
        self.source = source
        brands = tuple(b for b in context.brands if not source.brands or b.name in source.brands)
        if not brands:
            raise ConfigError(f"file source {source.name!r}: none of its brands {source.brands} is configured")
        names = [b.name for b in brands]
        for where, name in [("params.brand", self.params.brand),
                            *((f"params.brand_by_channel.{c}", b) for c, b in self.params.brand_by_channel.items())]:
            if name is not None and name not in names:
                raise ConfigError(f"file source {source.name!r}: {where}: brand {name!r} is not one of the "
                                  f"source's brands {names}")
        self._brands = brands
        self._rows = RowParser(source.name, self.params, brands, context.pseudonymise, ZoneInfo(self.params.timezone),
                               clock or (lambda: datetime.now(UTC)))
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
        """Rows after ``cursor`` (all rows when None), in file order, each with the cursor just past it.

        A record whose quoting is broken (runaway or unterminated quote, or a multi-line CSV record whose
        fields do not line up) costs its first line only: that line is quarantined and reading starts
        again on the next line.
        """
        path = self._path_of(query)
        fmt = self._format_of(path)
        layout = self._layout(path, query)
        line, offset, expected = decode_cursor(cursor) if cursor is not None else (0, 0, None)
        header = self._csv_header(path, query, layout) if fmt == "csv" else None
        splitter = self._splitter(path, fmt, layout, query)
        counts = {"mentions": 0, "quarantined": 0}
        carried: QuarantinedRow | None = None  # the first line of a broken record, yielded after repositioning
        while True:
            resume: Record | None = None
            with self._export(path, layout, query) as export:
                if export.open_at(offset, expected) is None:
                    logger.warning("file source %s/%s: file was rewritten since the cursor; reading it from the "
                                   "start", self.source.name, query)
                    line, offset, carried = 0, 0, None
                if carried is not None:
                    counts["quarantined"] += 1
                    yield carried, encode_cursor(line, offset, export.digest())
                    carried = None
                for record in self._guarded(splitter.records(export.lines(), line, offset), query):
                    if record.resume or (record.end_line > record.line and self._broken(record, fmt, header)):
                        resume = record
                        break
                    item = self._item(record, fmt, header, query)
                    counts["mentions" if isinstance(item, Mention) else "quarantined"] += 1
                    yield item, encode_cursor(record.end_line, record.end_offset, export.digest())
                if export.ended_early:
                    logger.warning("file source %s/%s: the compressed stream ends early (still being written?); "
                                   "the rest is read on a later run", self.source.name, query)
            if resume is None:
                break
            first = resume.first_line()
            reason = first.problem or (f"{self._broken(resume, fmt, header)}: the record spans lines {resume.line}-"
                                       f"{resume.end_line} (a stray quote?), so only line {resume.line} is quarantined")
            carried = self._quarantine(reason, first.text, f"{query}:{first.line}")
            line, offset, expected = first.line, first.end_offset, None
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
        if not p.require_brand_match and len(self._brands) > 1 and p.brand is None and not p.brand_by_channel:
            fields.append("brand")
        wanted = [p.column(f) for f in dict.fromkeys(fields)] + list(p.metadata_columns)
        for query in queries:
            path = self._path_of(query)
            layout = self._layout(path, query)
            if self._format_of(path) == "csv":
                present = set(self._csv_header(path, query, layout))
            else:
                present = set(self._first_json_object(path, query, layout))
            missing = [c for c in wanted if c not in present]
            if missing:
                raise ListenerError(f"file source {self.source.name!r}: {query} lacks column(s) {missing}; "
                                    "fix params.columns or the export")
        return f"{len(queries)} file(s) readable, columns present: {', '.join(wanted)}"

    def parse_row(self, row: dict[str, object]) -> Mention:
        """One export row (column -> value) to a Mention; raises RowRejected with the quarantine reason."""
        return self._rows.parse_row(row)

    # ------------------------------------------------------------------ I/O

    def _path_of(self, query: str) -> Path:
        path = self._root / query
        if ".." in Path(query).parts or not path.is_file():
            raise ListenerError(f"file source {self.source.name!r}: file {str(path)!r} does not exist or is not a "
                                "file; fix params.path")
        return path

    def _format_of(self, path: Path) -> str:
        if self.params.format:
            return self.params.format
        suffixes = [s.lower() for s in path.suffixes]
        if suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
            suffixes.pop()
        fmt = _EXTENSIONS.get(suffixes[-1] if suffixes else "")
        if fmt is None:
            raise ConfigError(f"file source {self.source.name!r}: cannot tell the format of {path.name!r} from its "
                              "extension; set params.format to jsonl or csv")
        return fmt

    def _fail(self, query: str, exc: OSError | UnreadableExport) -> ListenerError:
        if isinstance(exc, OSError):
            return ListenerError(f"file source {self.source.name!r}: cannot read {query} ({exc.strerror or exc}); "
                                 "fix its permissions or params.path")
        return ListenerError(f"file source {self.source.name!r}: {query} {exc}")

    def _layout(self, path: Path, query: str) -> Layout:
        try:
            return sniff(path, self.params.encoding)
        except (OSError, UnreadableExport) as exc:
            raise self._fail(query, exc) from exc

    def _export(self, path: Path, layout: Layout, query: str) -> ExportFile:
        try:
            return ExportFile(path, layout)
        except OSError as exc:
            raise self._fail(query, exc) from exc

    def _guarded(self, records: Iterator[Record], query: str) -> Iterator[Record]:
        try:
            yield from records
        except (OSError, UnreadableExport) as exc:
            raise self._fail(query, exc) from exc

    def _splitter(self, path: Path, fmt: str, layout: Layout, query: str) -> Splitter:
        p = self.params
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            age = 0.0
        return Splitter(fmt, layout.line_encoding, p.delimiter, settled=age >= p.settle_seconds,
                        max_lines=p.max_record_lines, max_bytes=p.max_record_bytes,
                        label=f"file source {self.source.name}/{query}")

    def _csv_header(self, path: Path, query: str, layout: Layout) -> list[str]:
        with self._export(path, layout, query) as export:
            first = next(self._guarded_lines(export, query), b"")
        text, error = Splitter("csv", layout.line_encoding).decode(first, 1)
        if error:
            raise ListenerError(f"file source {self.source.name!r}: header of {query} has {error}; "
                                "set params.encoding or fix the file")
        if not text.strip():
            raise ListenerError(f"file source {self.source.name!r}: {query} has no header on line 1; "
                                "a CSV export needs one")
        return [c.strip() for c in next(csv.reader(io.StringIO(text), delimiter=self.params.delimiter))]

    def _guarded_lines(self, export: ExportFile, query: str) -> Iterator[bytes]:
        try:
            yield from export.lines()
        except (OSError, UnreadableExport) as exc:
            raise self._fail(query, exc) from exc

    def _first_json_object(self, path: Path, query: str, layout: Layout) -> dict[str, object]:
        with self._export(path, layout, query) as export:
            for record in Splitter("jsonl", layout.line_encoding).records(self._guarded_lines(export, query), 0, 0):
                try:
                    return parse_json(record.text)
                except RowRejected as exc:
                    raise ListenerError(f"file source {self.source.name!r}: {query}:{record.line}: {exc}; "
                                        "fix the export") from exc
        raise ListenerError(f"file source {self.source.name!r}: {query} has no rows")

    # ------------------------------------------------------------------ parsing

    def _broken(self, record: Record, fmt: str, header: list[str] | None) -> str | None:
        """Why a CSV record's fields do not line up with the header, or None."""
        if fmt != "csv" or record.problem:
            return None
        try:
            parse_csv(record.text, header or [], self.params.delimiter)
        except BrokenRecord as exc:
            return str(exc)
        return None

    def _item(self, record: Record, fmt: str, header: list[str] | None, query: str) -> Item:
        locator = f"{query}:{record.line}"
        if record.problem:
            return self._quarantine(record.problem, record.text, locator)
        try:
            row = parse_json(record.text) if fmt == "jsonl" else parse_csv(record.text, header or [],
                                                                           self.params.delimiter)
        except RowRejected as exc:
            return self._quarantine(str(exc), record.text, locator)
        try:
            return self._rows.parse_row(row)
        except RowRejected as exc:
            return self._quarantine(str(exc), self._payload(row, record), locator)
        except Exception as exc:  # noqa: BLE001 - one odd row must never stop the file
            logger.warning("file source %s: %s: unexpected %s while reading the row", self.source.name, locator,
                           type(exc).__name__)
            return self._quarantine(f"row could not be read: {type(exc).__name__}: {str(exc)[:200]}",
                                    self._payload(row, record), locator)

    def _payload(self, row: dict[str, object], record: Record) -> str:
        try:
            return self._rows.redacted(row)
        except (RecursionError, ValueError, TypeError):  # too deep or odd to re-serialise: keep the line
            return record.text

    def _quarantine(self, reason: str, payload: str, locator: str) -> QuarantinedRow:
        if len(payload) > MAX_PAYLOAD_CHARS:
            payload = f"{payload[:MAX_PAYLOAD_CHARS]}...[cut: {len(payload)} characters in all, see {locator}]"
        return QuarantinedRow(source=self.source.name, reason=reason, payload=payload.rstrip("\r\n"), locator=locator)

