"""FileListener on JSONL/CSV export fixtures: parsing, quarantine reasons, privacy and cursors."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.errors import ConfigError, ListenerError
from journeypulse.privacy import Pseudonymiser
from journeypulse.record import MAX_TEXT_CHARS, Cursor, Mention, QuarantinedRow
from listeners.base import Item, Listener
from listeners.files import MAX_PAYLOAD_CHARS, FileListener, clean_text
from listeners.registry import build_listener

FIXTURES = Path(__file__).parent / "fixtures" / "files"
SORAMI = BrandConfig(name="Sorami", aliases=["Sorami Mart", "โซรามิ"], products=["Sorami Pay"], hashtags=["#Sorami"])
KALAPA = BrandConfig(name="Kalapa", aliases=["Kalapa Air"])
CONTACT_CENTER = {
    "delimiter": ";",
    "columns": {"id": "ticket_id", "created_at": "opened_at", "customer_id": "customer",
                "interaction_id": "case_ref", "channel": "queue", "text": "message"},
    "metadata_columns": ["csat", "agent_team"],
    "timestamp_format": "%d/%m/%Y %H:%M",
    "timezone": "Asia/Ho_Chi_Minh",
    "require_brand_match": False,
}
Build = Callable[..., FileListener]


@pytest.fixture
def build(make_context, fixed_clock) -> Build:
    def _build(path: Path | str, *, brands: tuple[BrandConfig, ...] = (SORAMI,), **params: object) -> FileListener:
        source = SourceConfig(name="files_test", kind="file", params={"path": str(path), **params})
        return FileListener(source, make_context(*brands), clock=fixed_clock)

    return _build


def read(listener: FileListener, cursor: Cursor | None = None, query: str | None = None) -> list[tuple[Item, Cursor]]:
    pairs = list(listener.fetch(query or listener.queries()[0], cursor))
    assert all(c is not None for _, c in pairs)
    return pairs  # type: ignore[return-value]


def key(item: Item) -> str:
    return item.native_id if isinstance(item, Mention) else item.locator


def mentions(pairs: list[tuple[Item, Cursor]]) -> dict[str, Mention]:
    return {item.native_id: item for item, _ in pairs if isinstance(item, Mention)}


def quarantined(pairs: list[tuple[Item, Cursor]]) -> dict[str, QuarantinedRow]:
    return {item.locator: item for item, _ in pairs if isinstance(item, QuarantinedRow)}


def copy_fixture(name: str, folder: Path) -> Path:
    return Path(shutil.copy(FIXTURES / name, folder / name))


# ---------------------------------------------------------------------------------------- parsing


def test_social_export_rows_become_mentions_with_brand_terms_and_aware_times(build: Build) -> None:
    pairs = read(build(FIXTURES / "social.jsonl"))
    found = mentions(pairs)
    assert list(found) == ["smp-0001", "smp-0002", "smp-0003", "4", "smp-0005", "smp-0006"]
    assert not quarantined(pairs)
    first = found["smp-0001"]
    assert (first.source, first.source_kind, first.brand, first.channel) == ("files_test", "file", "Sorami", "x")
    assert first.created_at == datetime(2026, 10, 1, 1, 12, tzinfo=UTC)
    assert first.language_hint == "vi" and found["smp-0003"].language_hint == "es"
    assert found["smp-0002"].matched_terms == ("โซรามิ",)
    assert found["4"].created_at == datetime.fromtimestamp(1790841600, UTC)
    assert found["smp-0003"].created_at == datetime(2026, 10, 1, 10, 0, tzinfo=UTC)  # naive read as UTC


def test_thai_vietnamese_arabic_and_non_bmp_emoji_text_round_trips_unchanged(build: Build) -> None:
    found = mentions(read(build(FIXTURES / "social.jsonl")))
    lines = (FIXTURES / "social.jsonl").read_text(encoding="utf-8").splitlines()
    source_rows = {str(r["id"]): r["text"] for r in map(json.loads, filter(None, lines))}
    for native_id, mention in found.items():
        assert mention.text == source_rows[native_id]
    assert "👨\u200d👩\u200d👧" in found["4"].text and "👍🏽" in found["4"].text


def test_naive_timestamps_are_read_in_the_configured_timezone(build: Build) -> None:
    found = mentions(read(build(FIXTURES / "social.jsonl", timezone="Asia/Bangkok")))
    assert found["smp-0003"].created_at == datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
    assert found["smp-0001"].created_at == datetime(2026, 10, 1, 1, 12, tzinfo=UTC)  # aware times are kept


def test_emoji_only_text_is_stored_with_a_brand_hashtag_and_quarantined_without(build: Build) -> None:
    stored = mentions(read(build(FIXTURES / "social.jsonl")))["smp-0005"]
    assert stored.text == "😍😍🔥 #Sorami" and "#Sorami" in stored.matched_terms
    rejected = quarantined(read(build(FIXTURES / "bad.jsonl")))["bad.jsonl:12"]
    assert rejected.reason == "no brand term (emoji-only text)"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (1, "malformed JSON line"),
        (2, "JSON line is a list, expected an object"),
        (3, "missing field 'text' (column 'text')"),
        (4, "field 'text' (column 'text') must be a string, got int"),
        (5, "field 'id' (column 'id') must be a string or integer, got dict"),
        (6, "text is empty or whitespace only"),
        (7, "text is empty or whitespace only"),
        (8, "empty field 'created_at' (column 'created_at')"),
        (9, "created_at 'yesterday at noon' is not an ISO-8601 timestamp"),
        (10, "text is empty after removing control and zero-width characters"),
        (11, "no brand term"),
        (12, "no brand term (emoji-only text)"),
        (13, "text holds an unpaired surrogate"),
        (14, "field 'created_at' must be a string or epoch number, got bool"),
        (15, "field 'url' (column 'url') must be a string, got int"),
        (16, "empty field 'id' (column 'id')"),
    ],
)
def test_each_bad_jsonl_row_is_quarantined_with_a_clear_reason_and_its_line(build: Build, line: int,
                                                                              reason: str) -> None:
    rows = quarantined(read(build(FIXTURES / "bad.jsonl")))
    row = rows[f"bad.jsonl:{line}"]
    assert row.reason.startswith(reason), row.reason
    assert row.source == "files_test" and row.payload


def test_bad_rows_never_stop_the_batch_and_none_is_lost(build: Build) -> None:
    pairs = read(build(FIXTURES / "bad.jsonl"))
    assert len(pairs) == len((FIXTURES / "bad.jsonl").read_text(encoding="utf-8").splitlines())
    assert mentions(pairs)["good-17"].text == "Sorami is fine"  # control, zero-width and bidi marks stripped
    assert quarantined(pairs)["bad.jsonl:1"].payload == (FIXTURES / "bad.jsonl").read_text().splitlines()[0]


def test_invalid_utf8_line_is_quarantined_with_escaped_bytes_and_the_rest_is_read(build: Build) -> None:
    pairs = read(build(FIXTURES / "invalid_utf8.jsonl"))
    assert [key(item) for item, _ in pairs] == ["u8-1", "invalid_utf8.jsonl:2", "u8-3"]
    bad = quarantined(pairs)["invalid_utf8.jsonl:2"]
    assert bad.reason.startswith("invalid utf-8 at byte") and "invalid continuation byte" in bad.reason
    assert "caf\\xe9 latin-1 byte \\xff" in bad.payload
    assert mentions(pairs)["u8-3"].text == "Sorami cà phê ngon"


def test_text_over_max_text_chars_is_quarantined_with_an_explicitly_cut_payload(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    huge = {"id": "big", "created_at": "2026-10-01T08:00:00Z", "text": "Sorami " + "ก" * 1_000_000}
    ok = {"id": "after", "created_at": "2026-10-01T08:00:00Z", "text": "Sorami after the big one"}
    path.write_text(f"{json.dumps(huge, ensure_ascii=False)}\n{json.dumps(ok)}\n", encoding="utf-8")
    pairs = read(build(path))
    row = quarantined(pairs)["huge.jsonl:1"]
    assert row.reason == f"text is 1000007 characters, over the {MAX_TEXT_CHARS} limit (MAX_TEXT_CHARS)"
    assert len(row.payload) < MAX_PAYLOAD_CHARS + 100 and row.payload.endswith("see huge.jsonl:1]")
    assert list(mentions(pairs)) == ["after"]


def test_control_and_zero_width_characters_are_stripped_but_emoji_sequences_kept() -> None:
    assert clean_text("a\u200bb\x07c\td\r\ne\rf\u202eg\x1b") == "abc\td\ne\nfg"
    for emoji in ["👨\u200d👩\u200d👧", "👩🏽\u200d💻", "🏳\ufe0f\u200d🌈", "🏃\u200d♀\ufe0f", "❤\ufe0f", "🇻🇳🇹🇭"]:
        assert clean_text(f"Sorami {emoji}!") == f"Sorami {emoji}!"
    assert clean_text("a\u200db ส่ง\u200bไว \u200d") == "ab ส่งไว "


def test_csv_with_bom_crlf_and_quoted_multiline_fields_parses(build: Build) -> None:
    pairs = read(build(FIXTURES / "export.csv"))
    found = mentions(pairs)
    assert list(found) == ["csv-1", "csv-2", "csv-3", "csv-5", "csv-6"]
    assert found["csv-1"].text == 'Đơn hàng Sorami đến trễ,\nnhưng shop nói "xin lỗi" rất lịch sự'
    assert found["csv-2"].text == "โซรามิ ส่งไว มาก ⚡" and found["csv-2"].channel == "line"
    assert found["csv-5"].text == 'Sorami 5" screen "rocks" ✨\nsecond line\nthird line'
    assert found["csv-6"].text == 'Sorami 5" screen is ok'  # a quote inside an unquoted field is literal
    assert quarantined(pairs)["export.csv:7"].reason == "CSV record has 7 fields but the header has 6"
    assert [key(i) for i, _ in pairs].index("csv-5") == 4


def test_csv_with_an_unterminated_quote_quarantines_only_its_first_line_once_the_file_settled(
        build: Build, tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text('id,created_at,text\na,2026-10-01T00:00:00Z,Sorami ok\nb,2026-10-01T00:00:00Z,"Sorami open\n'
                    "c,2026-10-01T00:00:00Z,Sorami after\n", encoding="utf-8")
    assert [key(i) for i, _ in read(build(path))] == ["a"]  # still being written? the open record waits
    pairs = read(build(path, settle_seconds=0))
    assert [key(i) for i, _ in pairs] == ["a", "broken.csv:3", "c"]
    row = quarantined(pairs)["broken.csv:3"]
    assert row.reason == "unterminated quoted field in the CSV record starting on line 3; only line 3 is quarantined"
    assert row.payload == 'b,2026-10-01T00:00:00Z,"Sorami open'


def test_contact_center_export_with_custom_columns_needs_no_brand_term(build: Build,
                                                                       pseudonymiser: Pseudonymiser) -> None:
    listener = build(FIXTURES / "contact_center.csv", **CONTACT_CENTER)
    pairs = read(listener)
    found = mentions(pairs)
    assert list(found) == ["T-5001", "T-5002", "T-5003"]
    first = found["T-5001"]
    assert (first.brand, first.matched_terms, first.channel) == ("Sorami", (), "chat")
    assert first.created_at == datetime(2026, 10, 2, 2, 15, tzinfo=UTC)
    assert first.metadata == {"customer_id": pseudonymiser("C-1042", namespace="c"),
                              "interaction_id": pseudonymiser("CASE-77001", namespace="i"),
                              "csat": "2", "agent_team": "refunds"}
    assert pseudonymiser("C-1042", namespace="c") in first.text and "C-1042" not in first.text
    assert found["T-5003"].text == "👍"  # emoji-only is kept: the source ties every row to the brand
    bad = quarantined(pairs)
    assert bad["contact_center.csv:5"].reason == "created_at '2 Oct 2026' is not in timestamp_format '%d/%m/%Y %H:%M'"
    assert bad["contact_center.csv:6"].reason == "text is empty or whitespace only"
    assert "C-6001" not in bad["contact_center.csv:6"].payload
    assert listener.check().startswith("1 file(s) readable")


def test_contact_center_rows_name_their_brand_when_the_source_has_several(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text("id,created_at,brand,text\n1,2026-10-01T00:00:00Z,Kalapa,late flight\n"
                    "2,2026-10-01T00:00:00Z,Nowhere,hello\n3,2026-10-01T00:00:00Z,,hi\n", encoding="utf-8")
    pairs = read(build(path, brands=(SORAMI, KALAPA), require_brand_match=False))
    assert mentions(pairs)["1"].brand == "Kalapa"
    reasons = {k: r.reason for k, r in quarantined(pairs).items()}
    assert reasons["tickets.csv:3"] == "brand 'Nowhere' is not one of this source's brands ['Sorami', 'Kalapa']"
    assert reasons["tickets.csv:4"].startswith("no brand column value (column 'brand')")


def test_metadata_columns_are_copied_and_nested_values_quarantined(build: Build, tmp_path: Path) -> None:
    path = tmp_path / "meta.jsonl"
    rows = [{"id": "m1", "created_at": "2026-10-01T00:00:00Z", "text": "Sorami", "stars": 4, "tags": "a"},
            {"id": "m2", "created_at": "2026-10-01T00:00:00Z", "text": "Sorami", "stars": {"x": 1}, "tags": "b"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pairs = read(build(path, metadata_columns=["stars", "tags"]))
    assert mentions(pairs)["m1"].metadata == {"stars": 4, "tags": "a"}
    assert quarantined(pairs)["meta.jsonl:2"].reason.startswith("metadata column 'stars' holds a nested dict")


# ---------------------------------------------------------------------------------------- privacy


def test_identities_become_stable_pseudonyms_and_raw_values_never_appear(build: Build,
                                                                         pseudonymiser: Pseudonymiser) -> None:
    social = mentions(read(build(FIXTURES / "social.jsonl")))
    again = mentions(read(build(FIXTURES / "social.jsonl")))
    first = social["smp-0001"]
    assert first.author == pseudonymiser("linh_nguyen", namespace="a") == again["smp-0001"].author
    assert first.url == f"https://x.com/{first.author}/status/1001"
    assert first.metadata == {"customer_id": pseudonymiser("C-1042", namespace="c"),
                              "interaction_id": pseudonymiser("I-9001", namespace="i")}
    center = mentions(read(build(FIXTURES / "contact_center.csv", **CONTACT_CENTER)))
    assert center["T-5001"].metadata["customer_id"] == first.metadata["customer_id"]  # joinable across sources
    stored = " ".join(m.model_dump_json() for m in [*social.values(), *center.values()])
    for raw in ["linh_nguyen", "somchai.k", "MariaLopez", "C-1042", "I-9001", "C-2077", "CASE-77001", "C-3300"]:
        assert raw.casefold() not in stored.casefold()


def test_raw_handle_and_ids_inside_text_and_metadata_are_replaced_in_any_case(build: Build, tmp_path: Path,
                                                                               pseudonymiser: Pseudonymiser) -> None:
    path = tmp_path / "self.jsonl"
    row = {"id": "s1", "created_at": "2026-10-01T00:00:00Z", "author": "@Linh_Nguyen", "customer_id": "C-1042",
           "text": "@LINH_NGUYEN here: Sorami lost order c-1042, İstanbul", "note": "escalated for C-1042"}
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    mention = mentions(read(build(path, metadata_columns=["note"])))["s1"]
    author, customer = pseudonymiser("linh_nguyen", namespace="a"), pseudonymiser("C-1042", namespace="c")
    assert mention.text == f"{author} here: Sorami lost order {customer}, İstanbul"
    assert mention.metadata["note"] == f"escalated for {customer}"


def test_an_id_column_that_is_also_the_interaction_id_is_stored_as_its_pseudonym(
        build: Build, pseudonymiser: Pseudonymiser) -> None:
    params = {**CONTACT_CENTER, "columns": {**CONTACT_CENTER["columns"], "id": "case_ref"}}  # type: ignore[dict-item]
    first = mentions(read(build(FIXTURES / "contact_center.csv", **params)))
    alias = pseudonymiser("CASE-77001", namespace="i")
    assert alias in first and first[alias].metadata["interaction_id"] == alias
    assert "CASE-77001" not in first[alias].model_dump_json()


def test_quarantine_payloads_of_parsed_rows_carry_pseudonyms_not_handles(build: Build) -> None:
    rows = quarantined(read(build(FIXTURES / "bad.jsonl")))
    assert "raw_handle_03" not in rows["bad.jsonl:3"].payload
    assert "raw_handle_11" not in rows["bad.jsonl:11"].payload
    assert json.loads(rows["bad.jsonl:11"].payload)["author"].startswith("a_")


def test_fetch_logs_counts_but_never_text_or_handles(build: Build, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="listeners.files"):
        read(build(FIXTURES / "social.jsonl"))
    assert "6 mentions, 0 quarantined" in caplog.text
    assert "linh_nguyen" not in caplog.text and "giao hàng" not in caplog.text


# ---------------------------------------------------------------------------------------- cursors


@pytest.mark.parametrize("name", ["social.jsonl", "bad.jsonl", "export.csv", "contact_center.csv"])
def test_every_yielded_cursor_resumes_exactly_after_its_item(build: Build, name: str) -> None:
    params = CONTACT_CENTER if name == "contact_center.csv" else {}
    listener = build(FIXTURES / name, **params)
    full = read(listener)
    for position, (_, cursor) in enumerate(full):
        rest = read(listener, cursor)
        assert [key(i) for i, _ in rest] == [key(i) for i, _ in full[position + 1:]]


def test_resume_after_an_interrupted_fetch_loses_and_duplicates_nothing(build: Build) -> None:
    listener = build(FIXTURES / "export.csv")
    stream = listener.fetch("export.csv", None)
    first_part = [next(stream) for _ in range(3)]
    stream.close()  # the run dies after three items were stored with their cursor
    rest = read(listener, first_part[-1][1])
    seen = [key(i) for i, _ in first_part + rest]
    assert seen == [key(i) for i, _ in read(listener)] and len(seen) == len(set(seen))


def test_rereading_without_a_cursor_yields_identical_mentions(build: Build) -> None:
    listener = build(FIXTURES / "social.jsonl")
    assert [i for i, _ in read(listener)] == [i for i, _ in read(listener)]


def test_rows_appended_after_the_cursor_are_picked_up_alone(build: Build, tmp_path: Path) -> None:
    path = copy_fixture("social.jsonl", tmp_path)
    listener = build(path)
    last_cursor = read(listener)[-1][1]
    assert read(listener, last_cursor) == []
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "new-1", "created_at": "2026-10-05T00:00:00Z", "text": "Sorami Pay works again"}\n')
        handle.write('{"id": "new-2", "created_at": "2026-10-05T00:00:00Z", "text": "unrelated"}\n')
    assert [key(i) for i, _ in read(listener, last_cursor)] == ["new-1", "social.jsonl:9"]


def test_csv_rows_appended_after_the_cursor_are_picked_up_alone(build: Build, tmp_path: Path) -> None:
    path = copy_fixture("export.csv", tmp_path)
    listener = build(path)
    last_cursor = read(listener)[-1][1]
    with path.open("ab") as handle:
        handle.write(b'csv-7,2026-10-04T08:00:00Z,@new,x,en,"Sorami, again\r\nand again"\r\n')
    appended = read(listener, last_cursor)
    assert [(m.native_id, m.text) for m in mentions(appended).values()] == [("csv-7", "Sorami, again\nand again")]


@pytest.mark.parametrize("rewrite", ["shorter", "same_prefix_changed_row", "longer"])
def test_a_rewritten_file_is_read_again_from_the_start(build: Build, tmp_path: Path, rewrite: str) -> None:
    path = copy_fixture("social.jsonl", tmp_path)
    listener = build(path)
    original = path.read_text(encoding="utf-8")
    cursor = read(listener)[-1][1]
    if rewrite == "shorter":
        path.write_text(original.splitlines(keepends=True)[0], encoding="utf-8")
    elif rewrite == "same_prefix_changed_row":
        path.write_text(original.replace("rất hài lòng", "không hài lòng"), encoding="utf-8")
    else:
        path.write_text(original.replace("smp-0006", "smp-0006-edited") + original, encoding="utf-8")
    again = read(listener, cursor)
    assert key(again[0][0]) == "smp-0001" and len(again) >= 1


def test_a_cursor_that_is_not_a_file_cursor_raises_listener_error_with_the_fix(build: Build) -> None:
    with pytest.raises(ListenerError, match="delete the stored cursor"):
        read(build(FIXTURES / "social.jsonl"), "12345")


# ---------------------------------------------------------------------------------------- queries, check, config


def test_glob_gives_one_stable_query_per_file_relative_to_its_fixed_folder(build: Build, tmp_path: Path) -> None:
    for sub in ["2026-10", "2026-11"]:
        (tmp_path / "a" / "exports" / sub).mkdir(parents=True)
        shutil.copy(FIXTURES / "social.jsonl", tmp_path / "a" / "exports" / sub / "day.jsonl")
    (tmp_path / "a" / "exports" / "notes.txt").write_text("not an export", encoding="utf-8")
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    listener = build("exports/**/*.jsonl", base_dir=str(tmp_path / "a"))
    moved = build("exports/**/*.jsonl", base_dir=str(tmp_path / "moved"))
    assert listener.queries() == moved.queries() == ["2026-10/day.jsonl", "2026-11/day.jsonl"]
    assert len(mentions(read(listener, query="2026-11/day.jsonl"))) == 6


def test_check_names_the_missing_file_or_column(build: Build, tmp_path: Path) -> None:
    assert "columns present: id, text, created_at" in build(FIXTURES / "social.jsonl").check()
    with pytest.raises(ListenerError, match="no file matches"):
        build(tmp_path / "*.jsonl").check()
    with pytest.raises(ListenerError, match="does not exist"):
        read(build(tmp_path / "gone.jsonl"))
    with pytest.raises(ListenerError, match=r"lacks column\(s\) \['body'\]"):
        build(FIXTURES / "export.csv", columns={"text": "body"}).check()
    with pytest.raises(ListenerError, match=r"lacks column\(s\) \['ticket_id'"):
        build(FIXTURES / "social.jsonl", columns={"id": "ticket_id"}).check()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "/x/a.jsonl", "bogus": 1}, "params.bogus"),
        ({"path": "/x/a.jsonl", "columns": {"sentiment": "s"}}, "params.columns: Value error, unknown record field"),
        ({"path": "/x/a.jsonl", "timezone": "Mars/Olympus"}, "params.timezone"),
        ({"path": "/x/a.jsonl", "encoding": "utf-17"}, "params.encoding: Value error, unknown encoding"),
        ({"path": "/x/a.jsonl", "brand": "Nowhere"}, "params.brand: brand 'Nowhere' is not one of"),
        ({"path": "/x/a.jsonl", "brand_by_channel": {"chat": "Nowhere"}}, "params.brand_by_channel.chat"),
        ({"path": "/x/a.jsonl", "metadata_columns": ["author"]}, "metadata_columns ['author'] hold identities"),
        ({"path": "/x/a.jsonl", "columns": {"customer_id": "cust"}, "metadata_columns": ["customer_id"]},
         "reserved keys"),
        ({"path": "a.jsonl"}, "params.base_dir is not set"),
        ({"path": "/x/a.txt"}, "set params.format"),
        ({"path": "/x/a.jsonl", "format": "xml"}, "params.format"),
    ],
)
def test_bad_params_raise_config_error_naming_the_field(make_context, params: dict, message: str) -> None:
    source = SourceConfig(name="bad", kind="file", params=params)
    with pytest.raises(ConfigError, match="file source 'bad'") as info:
        FileListener(source, make_context(SORAMI))
    assert message in str(info.value)


def test_registry_builds_a_file_listener_that_meets_the_protocol(make_context) -> None:
    source = SourceConfig(name="sample", kind="file", params={"path": "social.jsonl", "base_dir": str(FIXTURES)})
    listener = build_listener(source, make_context(SORAMI))
    assert isinstance(listener, FileListener) and isinstance(listener, Listener)
    assert listener.queries() == ["social.jsonl"]
