"""Physical lines -> logical records: a JSONL row is one line; a CSV record ends on a newline outside quotes.

Two rules keep one bad line from costing the rest of a file, and a file being written from costing a row:
- A quoted CSV field still open after ``max_lines`` lines or ``max_bytes`` bytes (a stray ``"``) is a
  runaway: the record's first line alone is yielded with ``resume=True`` (quarantine it, then read again
  from the next line). A file that ends inside quotes is treated the same way once it has settled.
- An unterminated last line (no trailing newline) is not yielded while the file may still be growing
  (``settled`` false), unless it is a complete JSON object; the cursor then stays before it.
"""

from __future__ import annotations

import codecs
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class Record:
    """One logical row: a JSONL line, or a CSV record that may span several physical lines."""

    line: int  # first physical line, 1-based
    end_line: int
    end_offset: int
    text: str  # decoded (backslash-escaped where invalid)
    problem: str | None  # why the bytes cannot be a row (invalid encoding, broken quoting), else None
    resume: bool = False  # only this first line is taken; the caller reads again from ``end_offset``
    head: tuple[int, str, str | None] | None = None  # a multi-line record's first line: (end offset, text, problem)

    def first_line(self) -> Record:
        """The record's first physical line alone (itself when it has one line)."""
        if self.head is None:
            return self
        end, text, problem = self.head
        return Record(self.line, self.line, end, text, problem)


@dataclass(frozen=True)
class Splitter:
    """How to cut one file's lines into records."""

    fmt: str  # "jsonl" | "csv"
    encoding: str
    delimiter: str = ","
    settled: bool = True
    max_lines: int = 1_000
    max_bytes: int = 1_048_576
    label: str = ""  # "source/file" in log lines

    def decode(self, raw: bytes, line: int) -> tuple[str, str | None]:
        if line == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        try:
            return raw.decode(self.encoding), None
        except UnicodeDecodeError as exc:
            return (raw.decode(self.encoding, errors="backslashreplace"),
                    f"invalid {self.encoding} at byte {exc.start} of the line: {exc.reason} "
                    "(if the export uses another encoding, set params.encoding)")

    def records(self, lines: Iterable[bytes], line: int, offset: int) -> Iterator[Record]:
        """Records after physical line ``line`` (ending at byte ``offset``); blank lines are not rows."""
        if self.fmt == "jsonl":
            yield from self._jsonl(lines, line, offset)
        else:
            yield from self._csv(lines, line, offset)

    def _jsonl(self, lines: Iterable[bytes], line: int, offset: int) -> Iterator[Record]:
        for raw in lines:
            line += 1
            offset += len(raw)
            text, error = self.decode(raw, line)
            if not text.strip():
                continue
            if not raw.endswith(b"\n") and not self.settled and not _is_json_object(text):
                logger.info("%s: line %d has no line end yet (still being written?); left for a later run",
                            self.label, line)
                return
            yield Record(line, line, offset, text, error)

    def _csv(self, lines: Iterable[bytes], line: int, offset: int) -> Iterator[Record]:
        """CSV records after the header (line 1, read separately), following the csv module's default dialect."""
        pending: list[tuple[str, str | None]] = []
        start = first_end = size = 0
        state = (False, True)  # (inside quotes, at field start)
        for raw in lines:
            line += 1
            offset += len(raw)
            if line == 1:
                continue
            text, error = self.decode(raw, line)
            if not pending:
                start, first_end, size = line, offset, 0
            pending.append((text, error))
            size += len(raw)
            state = _quote_state(text, state, self.delimiter)
            if not state[0]:
                if not raw.endswith(b"\n") and not self.settled:
                    logger.info("%s: line %d has no line end yet (still being written?); left for a later run",
                                self.label, line)
                    return
                if any(t.strip() for t, _ in pending):
                    head = (first_end, *pending[0]) if len(pending) > 1 else None
                    yield Record(start, line, offset, "".join(t for t, _ in pending),
                                 next((e for _, e in pending if e), None), head=head)
                pending, state = [], (False, True)
            elif len(pending) > self.max_lines or size > self.max_bytes:
                yield Record(start, start, first_end, pending[0][0], pending[0][1] or (
                    f"runaway quoted field: a quote opened on line {start} is still open {len(pending)} lines "
                    f"({size} bytes) later (params.max_record_lines / max_record_bytes); only line {start} "
                    "is quarantined"), resume=True)
                return
        if pending:
            if not self.settled:
                logger.info("%s: the CSV record starting on line %d is still inside quotes at the end of the file "
                            "(still being written?); left for a later run", self.label, start)
                return
            yield Record(start, start, first_end, pending[0][0], pending[0][1] or (
                f"unterminated quoted field in the CSV record starting on line {start}; only line {start} "
                "is quarantined"), resume=True)


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except Exception:  # noqa: BLE001 - any parser failure means "not (yet) a complete object"
        return False


def _quote_state(text: str, state: tuple[bool, bool], delimiter: str) -> tuple[bool, bool]:
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
