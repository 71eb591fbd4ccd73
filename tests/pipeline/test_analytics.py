"""Analyst commands on the bundled sample (SQLite and PostgreSQL): query, map, coach pull/review/export, label."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from journeys.taxonomy import load_taxonomy
from pipeline import steps
from pipeline.cli import app
from storage import VIEW_COLUMNS

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample_mentions.jsonl"
VIEWS_MD = (REPO / "storage" / "VIEWS.md").read_text(encoding="utf-8")
# Personal data written in the sample texts (emails, phones in local formats, order numbers).
SAMPLE_PII = ("jamie.r@example.com", "0912 345 678", "SRM-60277314", "+63 917 555 0190", "(11) 98765-4321",
              "+52 81 5555 0144", "SRM-39018822", "SRM-31876640", "SRM-57730021")

EMPTY_ON_SAMPLE = {"v_content_duplicates", "v_escalations", "v_escalation_summary"}  # one source: no cross-source
# duplicates (the CSV header still shows); escalation is off in the example config

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _config(folder: Path, url: str, model: Path) -> Path:
    config = {
        "data_dir": str(folder / "data"),
        "brands": [{"name": "Sorami", "aliases": ["soramiapp", "Sorami Mart"],
                    "products": ["Sorami App", "Sorami Pay", "Sorami Plus", "Sorami Express"],
                    "hashtags": ["#Sorami", "#SoramiPay", "#SoramiPlus"], "keywords": ["sorami.com", "@SoramiCare"]}],
        "sources": [{"name": "sample", "kind": "file", "params": {"path": str(SAMPLE)}}],
        "model": {"name": str(model)},
        "storage": {"url": url},
    }
    path = folder / "journeypulse.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def _pg_admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           tiny_model: Path) -> Iterator[tuple[Path, str]]:
    """The sample run once per dialect through ``journeypulse run``: (config path, run output)."""
    folder = tmp_path_factory.mktemp(f"analytics-{request.param}")
    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'journeypulse.db'}"
    else:
        server = str(request.getfixturevalue("pg_server"))
        name = f"jp_cx_{uuid.uuid4().hex[:12]}"
        _pg_admin(server, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        url = server.rsplit("/", 1)[0] + f"/{name}"
    config = _config(folder, url, tiny_model)
    code, output = _invoke("run", "-c", str(config))
    assert code == 0, output
    try:
        yield config, output
    finally:
        if name is not None:
            _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_run_ends_by_printing_the_path_of_the_cx_map_it_wrote(sample: tuple[Path, str]) -> None:
    config, output = sample
    match = re.search(r"CX map: (\S+\.html)", output)
    assert match, output
    path = Path(match.group(1))
    assert path.exists() and path.parent == steps.load_run_settings(config).data_dir / "reports"
    assert re.fullmatch(r"cx-map-\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}\.html", path.name)  # every brand, one period


@pytest.mark.parametrize("view", list(VIEW_COLUMNS))
def test_query_prints_the_documented_columns_as_json_csv_and_table(sample: tuple[Path, str], view: str) -> None:
    config, _ = sample
    section = VIEWS_MD.split(f"`{view}`", 1)
    assert len(section) == 2, f"{view} is not documented in storage/VIEWS.md"
    code, out = _invoke("query", view, "-c", str(config), "--format", "json", "--limit", "5")
    assert code == 0, out
    rows = json.loads(out)
    assert rows or view in EMPTY_ON_SAMPLE, f"{view} is empty on the sample"
    assert all(list(row) == list(VIEW_COLUMNS[view]) for row in rows)
    code, out = _invoke("query", view, "-c", str(config), "--format", "csv", "--limit", "5")
    assert code == 0, out
    parsed = list(csv.reader(io.StringIO(out)))
    assert parsed[0] == list(VIEW_COLUMNS[view]) and len(parsed) == len(rows) + 1
    code, out = _invoke("query", view, "-c", str(config), "--limit", "5")
    assert code == 0 and f"{view} ({len(rows)} rows)" in out


def test_every_queryable_view_documents_each_of_its_columns_in_views_md() -> None:
    for view, columns in VIEW_COLUMNS.items():
        heading = f"### `{view}`"
        start = VIEWS_MD.index(heading) if heading in VIEWS_MD else VIEWS_MD.index(f"`{view}`")
        following = VIEWS_MD[start:]
        nxt = following.find("\n### ", 1)
        section = following if nxt < 0 else following[:nxt]
        if view == "summary_daily_sentiment":  # documented as v_daily_sentiment's columns plus id and refreshed_at
            section += VIEWS_MD[VIEWS_MD.index("### `v_daily_sentiment`"):] + "`id`"
        missing = [c for c in columns if f"`{c}`" not in section]
        assert not missing, f"{view}: columns not documented: {missing}"


def test_query_filters_by_stage_product_language_and_day_range(sample: tuple[Path, str]) -> None:
    config = str(sample[0])
    code, out = _invoke("query", "v_daily_sentiment", "-c", config, "-f", "json", "--stage", "support",
                        "--language", "vi", "--since", "2026-09-10", "--until", "2026-10-10", "--limit", "1000")
    assert code == 0, out
    rows = json.loads(out)
    assert rows and {(r["stage"], r["language"]) for r in rows} == {("support", "vi")}
    assert all("2026-09-10" <= r["day"] <= "2026-10-10" for r in rows)
    code, out = _invoke("query", "v_mention_sentiment", "-c", config, "-f", "json", "--product", "Sorami Pay",
                        "--limit", "1000")
    assert code == 0, out
    texts = [r["text"].casefold() for r in json.loads(out)]
    assert texts and all("sorami pay" in t or "soramipay" in t for t in texts)


def test_query_of_an_unknown_view_or_unavailable_filter_says_what_is_allowed(sample: tuple[Path, str]) -> None:
    config = str(sample[0])
    code, out = _invoke("query", "mention", "-c", config)
    assert code == 2 and "v_daily_sentiment" in out
    code, out = _invoke("query", "v_daily_sentiment", "-c", config, "--product", "Sorami Pay")
    assert code == 1 and "not available on view v_daily_sentiment" in out


def _map_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="cx-data">(.*?)</script>', page, re.DOTALL)
    assert match, "the map carries its data as JSON"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_cx_map_counts_distinct_mentions_and_lists_only_themes_and_quotes_backed_by_5_authors(
        sample: tuple[Path, str], tmp_path: Path) -> None:
    config = sample[0]
    code, out = _invoke("map", "-c", str(config), "--out-dir", str(tmp_path), "--brand", "Sorami")
    assert code == 0, out
    page = next(tmp_path.glob("cx-map-sorami-*.html")).read_text(encoding="utf-8")
    data = _map_data(page)
    assert [stage for stage, _ in data["stages"]][:8] == list(load_taxonomy().stage_names)
    facts = _json("query", "-c", str(config), "--since", data["period"][0], "--until", data["period"][1],
                  "--limit", "100000")
    mentions = {f["mention_id"] for f in facts}
    linked = {f["mention_id"] for f in facts if f["stage"] != "unlinked"}
    assert sum(row[4] for row in data["totals"]) == len(mentions)  # distinct mentions, not stage links
    assert sum(row[5] for row in data["totals"]) == len(linked)
    assert sum(row[5] for row in data["cells"]) == len([f for f in facts if f["stage"] != "unlinked"])
    everything = data["scopes"]["0|-1|-1|-1"]
    listed = sum(len(cell["pain"]) + len(cell["exit"]) for cell in everything.values())
    hidden = sum(cell["pain_hidden"][0] + cell["exit_hidden"][0] for cell in everything.values())
    assert listed and hidden, "the sample should exercise both sides of the k-anonymity rule"
    primary = {f["mention_id"]: f["stage"] for f in facts if f["is_primary"] == 1}
    assert data["quotes"] and all(q["stage"] in primary.values() for q in data["quotes"])
    for raw in SAMPLE_PII:
        assert raw not in page


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "html"])
def test_coach_pull_writes_redacted_distinct_examples_in_every_format(sample: tuple[Path, str], tmp_path: Path,
                                                                      fmt: str) -> None:
    out = tmp_path / f"examples.{fmt}"
    code, output = _invoke("coach", "pull", "-c", str(sample[0]), "--limit", "400", "--format", fmt, "--out", str(out))
    assert code == 0, output
    text = out.read_text(encoding="utf-8")
    for raw in SAMPLE_PII:
        assert raw not in text
    assert "[EMAIL]" in text and "[PHONE]" in text and "[ORDER]" in text
    if fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert len({r["content_hash"] for r in rows}) == len(rows)
        assert all(r["stage"] and r["sentiment"] in ("positive", "neutral", "negative") for r in rows)


def test_coach_pull_filters_print_only_matching_examples_best_first_with_reason_and_suggestion(
    sample: tuple[Path, str]
) -> None:
    code, out = _invoke("coach", "pull", "-c", str(sample[0]), "--stage", "support", "--sentiment", "negative",
                        "--limit", "5", "--format", "jsonl")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert 0 < len(rows) <= 5
    assert {(r["stage"], r["sentiment"]) for r in rows} == {("support", "negative")}
    assert rows[0]["score"] == max(r["score"] for r in rows)
    assert all(r["reason"] and r["suggested_action"] and r["suggested_reply"] and r["playbook_rule"] for r in rows)


def test_reviews_round_trip_relabels_become_corrections_and_the_pack_holds_approved_examples(
    sample: tuple[Path, str], tmp_path: Path
) -> None:
    config = str(sample[0])
    code, out = _invoke("coach", "pull", "-c", config, "--limit", "3", "--format", "jsonl")
    assert code == 0, out
    pulled = [json.loads(line) for line in out.splitlines()]
    (first, first_stage), (second, second_stage), (third, third_stage) = ((r["mention_id"], r["stage"]) for r in pulled)
    assert _invoke("coach", "review", first, "-c", config, "--approve", "--reviewer", "lan", "--note", "clear",
                   "--stage", first_stage)[0] == 0
    assert _invoke("coach", "review", second, "-c", config, "--reject", "--reviewer", "lan", "--stage",
                   second_stage)[0] == 0
    assert _invoke("coach", "review", third, "-c", config, "--relabel", "positive", "--reviewer", "som",
                   "--stage", third_stage)[0] == 0
    code, out = _invoke("coach", "review", "0" * 32, "-c", config, "--approve", "--reviewer", "lan")
    assert code == 1 and "not in the coaching library" in out
    code, out = _invoke("coach", "review", first, "-c", config, "--approve", "--reject", "--reviewer", "lan")
    assert code == 2
    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        reviews = {(r.mention_id, r.action, r.new_label, r.reviewer) for r in store.coaching_reviews()}
        corrections = {(c.mention_id, c.label, c.source, c.reviewer) for c in store.sentiment_corrections()}
    assert {(first, "approve", None, "lan"), (second, "reject", None, "lan"), (third, "relabel", "positive", "som")} <= reviews
    assert (third, "positive", "coach_review", "som") in corrections
    code, out = _invoke("coach", "export", "-c", config, "--out", str(tmp_path / "pack"))
    assert code == 0, out
    packed = [json.loads(line) for f in (tmp_path / "pack").glob("*.jsonl") for line in f.read_text().splitlines()]
    by_id = {row["mention_id"]: row for row in packed}
    assert first in by_id and second not in by_id and by_id[third]["label"] == "positive"
    assert by_id[first]["stage"] == first_stage and by_id[first]["reason"]


def test_label_writes_a_manual_sentiment_correction_and_refuses_unknown_labels(sample: tuple[Path, str]) -> None:
    config = str(sample[0])
    code, out = _invoke("query", "v_mention_sentiment", "-c", config, "-f", "json", "--limit", "1")
    mention_id = json.loads(out)[0]["mention_id"]
    code, out = _invoke("label", mention_id, "neutral", "--reviewer", "ana", "-c", config)
    assert code == 0, out
    with steps.open_store(steps.load_run_settings(config)) as store:
        assert (mention_id, "neutral", "manual", "ana") in {
            (c.mention_id, c.label, c.source, c.reviewer) for c in store.sentiment_corrections()}
    code, out = _invoke("label", mention_id, "angry", "--reviewer", "ana", "-c", config)
    assert code == 1 and "angry" in out and "negative, neutral, positive" in out


def test_select_coaching_candidates_fills_the_library_per_stage_and_a_rerun_adds_nothing(
    sample: tuple[Path, str]
) -> None:
    settings = steps.load_run_settings(sample[0])
    with steps.open_store(settings) as store:
        steps.select_coaching_candidates(settings, store)
        first = {(e.mention_id, e.stage, e.text) for e in store.coaching_examples()}
        report = steps.select_coaching_candidates(settings, store)
        again = {(e.mention_id, e.stage, e.text) for e in store.coaching_examples()}
    assert report.processed > 0 and first == again
    assert len({stage for _, stage, _ in again}) >= 4
    assert not any(raw in text for _, _, text in again for raw in SAMPLE_PII)


def _json(*args: str) -> list[dict[str, object]]:
    code, out = _invoke(*args, "-f", "json")
    assert code == 0, out
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_query_by_stage_aggregates_the_fact_rows_of_one_language_over_a_span_ending_at_until(
        sample: tuple[Path, str]) -> None:
    config = str(sample[0])
    facts = _json("query", "-c", config, "--where", "lang=th", "--since", "2026-10-18", "--until", "2026-10-31",
                  "--limit", "10000")
    grouped = _json("query", "-c", config, "--by", "stage", "--brand", "Sorami", "--where", "lang=th",
                    "--since", "14d", "--until", "2026-10-31", "-m", "mentions,negative_share,exit_signals")
    assert facts and {f["language"] for f in facts} == {"th"}
    expected: dict[object, list[dict[str, object]]] = {}
    for fact in facts:
        expected.setdefault(fact["stage"], []).append(fact)
    assert [g["stage"] for g in grouped] == sorted(expected, key=str)
    for group in grouped:
        rows = expected[group["stage"]]
        scored = [r for r in rows if r["sentiment"] is not None]
        negative = sum(r["sentiment"] == "negative" for r in scored)
        assert group["mentions"] == len(rows)
        assert group["negative_share"] == (round(negative / len(scored), 3) if scored else None)
        assert group["exit_signals"] == sum(r["exit_signal"] == 1 for r in rows)


def test_query_names_exit_types_and_reasons_and_wraps_wide_cells_instead_of_cutting_them(
        sample: tuple[Path, str]) -> None:
    config = str(sample[0])
    [row] = _json("query", "-c", config, "--by", "brand", "-m", "exit_signals,top_exit_types,top_exit_reasons")
    assert row["brand"] == "Sorami" and int(str(row["exit_signals"])) > 0
    reasons = re.findall(r"(\w+) \(\d+\)", str(row["top_exit_reasons"]))
    assert reasons and set(reasons) <= {entry.name for entry in load_taxonomy().pain_points}
    code, out = _invoke("query", "-c", config, "--by", "brand", "-m", "exit_signals,top_exit_types,top_exit_reasons")
    assert code == 0 and "…" not in out
    words = re.sub(r"[\s│┃]+", " ", out)
    assert all(name in words for name in re.findall(r"\w+", str(row["top_exit_types"])))
    code, out = _invoke("query", "-c", config, "--limit", "1")  # 21 columns: printed as one record per row
    assert code == 0 and "exit_reason" in out and "…" not in out


@pytest.mark.parametrize(("args", "message"), [
    (["--by", "text"], "cannot group by text"),
    (["--where", "text=refund"], "where column 'text' is not available"),
    (["--where", "lang"], "COLUMN=VALUE"),
    (["--by", "stage", "-m", "count(*)"], "unknown metric"),
    (["v_daily_sentiment", "--by", "stage"], "aggregate v_journey_facts"),
    (["--since", "yesterday"], "is not a day"),
])
def test_query_refuses_columns_and_metrics_outside_the_whitelists_with_exit_2(
        sample: tuple[Path, str], args: list[str], message: str) -> None:
    code, out = _invoke("query", "-c", str(sample[0]), *args)
    assert code == 2 and message in out
