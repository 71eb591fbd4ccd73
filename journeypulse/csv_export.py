"""The one CSV writer for every export (``query --format csv``, ``coach pull --format csv``, ...).

Spreadsheets evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or a
carriage return) as a formula, so a mention text like ``=HYPERLINK(...)`` would run when an analyst
opens the export (CSV injection, OWASP). Such text cells are prefixed with ``'``, which spreadsheets
show as a plain-text marker. Numbers stay numbers (``-0.25`` is written as is); dates are ISO-8601.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value as it may be written to a CSV cell: formula-looking text gets a leading ``'``."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def write_csv(handle: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Header and rows to an open text handle (opened with ``newline=""``), every cell through ``safe_cell``."""
    writer = csv.writer(handle)
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The CSV document as a string (for printing to stdout)."""
    buffer = io.StringIO(newline="")
    write_csv(buffer, header, rows)
    return buffer.getvalue()


def write_csv_file(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write atomically (a ``.tmp`` sibling renamed into place), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        write_csv(handle, header, rows)
    tmp.replace(path)
    return path
