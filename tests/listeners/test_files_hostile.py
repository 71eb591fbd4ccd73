"""FileListener on hostile and awkward files: parser bombs, stray quotes, files still being written,
compressed and UTF-16 exports. Every case: the bad part is quarantined (or waits), the rest is read."""

from __future__ import annotations

import bz2
import codecs
import gzip
import json
import lzma
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.errors import ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from listeners.base import Item
from listeners.files import FileListener

SORAMI = BrandConfig(name="Sorami")
Build = Callable[..., FileListener]


@pytest.fixture
def build(make_context, fixed_clock) -> Build:
    def _build(path: Path, **params: object) -> FileListener:
        source = SourceConfig(name="hostile", kind="file", params={"path": str(path), **params})
        return FileListener(source, make_context(SORAMI), clock=fixed_clock)

    return _build


def read(listener: FileListener, cursor: Cursor | None = None) -> list[tuple[Item, Cursor | None]]:
    return list(listener.fetch(listener.queries()[0], cursor))


def stored(pairs: list[tuple[Item, Cursor | None]]) -> list[str]:
    return [item.native_id for item, _ in pairs if isinstance(item, Mention)]


def rejected(pairs: list[tuple[Item, Cursor | None]]) -> dict[str, QuarantinedRow]:
    return {item.locator: item for item, _ in pairs if isinstance(item, QuarantinedRow)}


def row(native_id: str, text: str = "Sorami works") -> str:
    return json.dumps({"id": native_id, "created_at": "2026-10-01T08:00:00Z", "text": text}) + "\n"


def age(path: Path, seconds: float = 3_600) -> None:
    """Make the file look finished (not modified for ``seconds``)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


# ------------------------------------------------------------------------------ JSON parser bombs


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": ' + "7" * 5_000 + ', "created_at": "2026-10-01T08:00:00Z", "text": "Sorami"}\n',
         "JSON line rejected by the parser: ValueError: Exceeds the limit (4300 digits)"),
        ("[" * 200_000 + "\n", "JSON line is nested too deeply to parse"),
        ('{"id": "x", "text": ' + "[" * 200_000 + "\n", "JSON line is nested too deeply to parse"),
    ],
    ids=["5000-digit-id", "200000-nested-brackets", "nested-inside-an-object"],
)
def test_a_json_line_the_parser_rejects_is_quarantined_and_later_rows_and_runs_continue(
        build: Build, tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "bomb.jsonl"
    path.write_text(row("before") + line + row("after"), encoding="utf-8")
    listener = build(path)
    pairs = read(listener)
    assert stored(pairs) == ["before", "after"]
    assert rejected(pairs)["bomb.jsonl:2"].reason.startswith(reason)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(row("next-run"))
    assert stored(read(listener, pairs[-1][1])) == ["next-run"]


def test_check_names_a_first_line_the_parser_rejects_instead_of_crashing(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl"
    path.write_text("[" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(ListenerError, match="bomb.jsonl:1: JSON line is nested too deeply"):
        build(path).check()


# ------------------------------------------------------------------------------ CSV stray quotes


def _csv_rows(count: int, stray_at: int | None = None) -> str:
    lines = ["id,created_at,text\n"]
    for i in range(1, count + 1):
        text = f'"Sorami order {i}' if i == stray_at else f"Sorami order {i} arrived"
        lines.append(f"r{i},2026-10-01T08:00:00Z,{text}\n")
    return "".join(lines)


def test_a_stray_quote_in_a_10000_row_csv_costs_only_its_own_row(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(_csv_rows(10_000, stray_at=10), encoding="utf-8")
    pairs = read(build(path))
    assert len(stored(pairs)) == 9_999 and "r10" not in stored(pairs)
    bad = rejected(pairs)
    assert list(bad) == ["big.csv:11"]
    assert bad["big.csv:11"].reason.startswith("runaway quoted field: a quote opened on line 11 is still open")
    assert bad["big.csv:11"].payload == 'r10,2026-10-01T08:00:00Z,"Sorami order 10'


def test_the_runaway_limit_is_configurable_in_lines_and_bytes(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    path.write_text(_csv_rows(30, stray_at=3), encoding="utf-8")
    for params in ({"max_record_lines": 5}, {"max_record_bytes": 1_024}):
        pairs = read(build(path, **params))
        assert len(stored(pairs)) == 29 and list(rejected(pairs)) == ["small.csv:4"]


def test_a_stray_quote_closed_by_a_later_quoted_field_costs_only_its_own_row(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('id,created_at,text\nr1,2026-10-01T08:00:00Z,"Sorami, one\n'
                    'r2,2026-10-01T08:00:00Z,"Sorami, two"\nr3,2026-10-01T08:00:00Z,"Sorami,\nthree"\n',
                    encoding="utf-8")
    pairs = read(build(path))
    assert stored(pairs) == ["r2", "r3"]
    reason = rejected(pairs)["quoted.csv:2"].reason
    assert reason.startswith("CSV record has") and "only line 2 is quarantined" in reason


def test_every_cursor_around_a_stray_quote_resumes_exactly_after_its_item(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "resume.csv"
    path.write_text(_csv_rows(40, stray_at=5), encoding="utf-8")
    listener = build(path, max_record_lines=10)
    full = read(listener)
    keys = [getattr(item, "native_id", None) or item.locator for item, _ in full]  # type: ignore[union-attr]
    for position, (_, cursor) in enumerate(full):
        rest = read(listener, cursor)
        assert [getattr(i, "native_id", None) or i.locator for i, _ in rest] == keys[position + 1:]  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ files still being written


def test_an_unterminated_last_jsonl_line_waits_until_it_is_complete_and_is_stored_once(
        build: Build, tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    whole = row("torn", "Sorami arrives in two writes")
    path.write_text(row("first") + whole[:30], encoding="utf-8")
    listener = build(path)
    pairs = read(listener)
    assert stored(pairs) == ["first"] and not rejected(pairs)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(whole[30:])
    later = read(listener, pairs[-1][1])
    assert stored(later) == ["torn"] and not rejected(later)
    assert read(listener, later[-1][1]) == []


def test_a_complete_last_json_object_without_a_newline_is_read_at_once(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "done.jsonl"
    path.write_text(row("a") + row("b").rstrip("\n"), encoding="utf-8")
    listener = build(path)
    pairs = read(listener)
    assert stored(pairs) == ["a", "b"]
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + row("c"))
    assert stored(read(listener, pairs[-1][1])) == ["c"]


def test_an_unterminated_last_csv_line_waits_until_complete_or_until_the_file_settled(
        build: Build, tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    path.write_text("id,created_at,text\nr1,2026-10-01T08:00:00Z,Sorami one\nr2,2026-10-01T08:00:00Z,Sorami tw",
                    encoding="utf-8")
    listener = build(path)
    pairs = read(listener)
    assert stored(pairs) == ["r1"]
    with path.open("a", encoding="utf-8") as handle:
        handle.write("o\n")
    later = read(listener, pairs[-1][1])
    assert [(m.native_id, m.text) for m, _ in later if isinstance(m, Mention)] == [("r2", "Sorami two")]
    finished = tmp_path / "finished.csv"
    finished.write_text("id,created_at,text\nr9,2026-10-01T08:00:00Z,Sorami last", encoding="utf-8")
    age(finished)
    assert stored(read(build(finished))) == ["r9"]


# ------------------------------------------------------------------------------ compression and encodings


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open], ids=["gzip", "bzip2", "xz"])
@pytest.mark.parametrize("name", ["export.jsonl", "export.jsonl.gz"])
def test_compressed_files_are_read_whatever_their_name_and_resume_after_appends(
        build: Build, tmp_path: Path, opener: Callable[..., object], name: str) -> None:
    path = tmp_path / name
    with opener(path, "wt", encoding="utf-8") as handle:  # type: ignore[operator]
        handle.write(row("z1") + row("z2", "Sorami ส่งไว"))
    listener = build(path)
    pairs = read(listener)
    assert stored(pairs) == ["z1", "z2"] and not rejected(pairs)
    with opener(path, "at", encoding="utf-8") as handle:  # type: ignore[operator]
        handle.write(row("z3"))
    assert stored(read(listener, pairs[-1][1])) == ["z3"]


def test_a_gzip_file_cut_short_yields_its_complete_rows_and_the_rest_later(build: Build, tmp_path: Path) -> None:
    body = "".join(row(f"g{i}", f"Sorami {i} " + "x" * 200) for i in range(200)).encode()
    whole = gzip.compress(body)
    path = tmp_path / "growing.jsonl"
    path.write_bytes(whole[: len(whole) // 2])
    listener = build(path)
    pairs = read(listener)
    assert 0 < len(stored(pairs)) < 200 and not rejected(pairs)
    path.write_bytes(whole)
    rest = read(listener, pairs[-1][1])
    assert stored(pairs) + stored(rest) == [f"g{i}" for i in range(200)]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_files_with_a_byte_order_mark_are_decoded(build: Build, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "bom.csv"
    text = "id,created_at,text\nb1,2026-10-01T08:00:00Z,Sorami ส่งไว 👍\nb2,2026-10-01T08:00:00Z,\"Sorami,\nok\"\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    path.write_bytes(data)
    listener = build(path)
    pairs = read(listener)
    assert [(m.native_id, m.text) for m, _ in pairs if isinstance(m, Mention)] == [
        ("b1", "Sorami ส่งไว 👍"), ("b2", "Sorami,\nok")]
    with path.open("ab") as handle:
        handle.write("b3,2026-10-01T08:00:00Z,Sorami three\n".encode(encoding.removesuffix("-sig").replace(
            "utf-16", "utf-16-le" if encoding == "utf-16" else "utf-16").replace("utf-32", "utf-32-le")))
    assert stored(read(listener, pairs[-1][1])) == ["b3"]


def test_utf16_without_a_byte_order_mark_is_refused_naming_the_setting_and_read_once_set(
        build: Build, tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    path.write_bytes((row("w1") + row("w2")).encode("utf-16-le"))
    with pytest.raises(ListenerError, match="looks like UTF-16-LE without a byte-order mark.*params.encoding: utf-16-le"):
        read(build(path))
    assert stored(read(build(path, encoding="utf-16-le"))) == ["w1", "w2"]


def test_a_zip_archive_is_refused_with_the_fix(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(ListenerError, match="is a zip archive; extract the export"):
        read(build(path))


def test_invalid_utf8_names_the_setting_that_may_fix_it(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    bad = '{"id": "bad", "created_at": "2026-10-01T08:00:00Z", "text": "Sorami café"}\n'
    path.write_bytes(row("ok").encode() + bad.encode("latin-1"))
    pairs = read(build(path))
    assert stored(pairs) == ["ok"]
    assert "set params.encoding" in rejected(pairs)["latin.jsonl:2"].reason
    assert stored(read(build(path, encoding="latin-1"))) == ["ok", "bad"]
