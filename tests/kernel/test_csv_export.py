"""One CSV writer: formula-looking text cells are neutralised, numbers and dates stay readable."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from journeypulse.csv_export import csv_text, safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+33 call me", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://e.vil")'])
def test_cells_a_spreadsheet_would_run_as_formulas_get_a_leading_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text
    assert list(csv.reader(io.StringIO(csv_text(["h"], [[text]]))))[1] == ["'" + text]


def test_numbers_dates_and_ordinary_text_are_written_as_they_are() -> None:
    out = list(csv.reader(io.StringIO(csv_text(["n", "d", "t", "x"], [[-0.25, date(2026, 11, 2), "fine = ok", None]]))))
    assert out == [["n", "d", "t", "x"], ["-0.25", "2026-11-02", "fine = ok", ""]]
    assert safe_cell(datetime(2026, 11, 2, tzinfo=UTC)) == "2026-11-02T00:00:00+00:00"
