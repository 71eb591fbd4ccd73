"""``journeypulse explore``: Datasette on the SQLite store, with the project's metadata and canned queries."""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from journeypulse.record import Mention
from pipeline.cli import app
from storage import JourneyLinkRow, LanguageResult, SentimentResult, Store
from storage.explore import CANNED_QUERIES, documented_views

runner = CliRunner()
pytest.importorskip("datasette", reason="Datasette is the optional extra journeypulse[explore] (in the dev extra)")


def _mention(native_id: str, text: str, channel: str) -> Mention:
    return Mention.build(source="sample", native_id=native_id, text=text, source_kind="file", brand="Acme",
                         channel=channel, author=f"p_{native_id}", matched_terms=("Acme",),
                         created_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC), fetched_at=datetime(2026, 11, 3, tzinfo=UTC))


def _result(mention: Mention, label: str) -> SentimentResult:
    return SentimentResult(mention.id, "e5", "r1", "torch", label, 0.1, 0.1, 0.8, 0.8, False,
                           datetime(2026, 11, 4, tzinfo=UTC))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A small SQLite store (three Thai mentions, two of them negative) and a config pointing at it."""
    url = f"sqlite:///{tmp_path / 'data' / 'journeypulse.db'}"
    (tmp_path / "data").mkdir()
    late = _mention("1", "ส่งช้ามาก รอ 5 วัน", "x")
    cancel = _mention("2", "จะยกเลิกแล้ว ส่งช้า", "app_store")
    happy = _mention("3", "ชอบมาก", "x")
    with Store.open(url) as store:
        store.store_batch("sample", "q", [late, cancel, happy], [], None)
        store.save_languages([LanguageResult(m.id, "th", 0.9, "py3langid") for m in (late, cancel, happy)])
        store.save_sentiments([_result(late, "negative"), _result(cancel, "negative"), _result(happy, "positive")])
        store.save_journey_links("v1", {
            late.id: [JourneyLinkRow("delivery", None, "late_delivery", None, "rules", 0.9, False)],
            cancel.id: [JourneyLinkRow("exit", None, None, "cancellation", "rules", 0.9, False),
                        JourneyLinkRow("delivery", None, "late_delivery", None, "rules", 0.7, False)],
            happy.id: [JourneyLinkRow("loyalty", None, None, None, "rules", 0.5, True)],
        })
    path = tmp_path / "journeypulse.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "brands": [{"name": "Acme"}],
                                    "sources": [], "storage": {"url": url}}), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def datasette(config: Path) -> Iterator[str]:
    """``journeypulse explore`` started on 127.0.0.1 and a free port; yields the database's base URL."""
    port = _free_port()
    result = runner.invoke(app, ["explore", "-c", str(config), "--port", str(port), "--print-command"])
    assert result.exit_code == 0, result.output
    command = shlex.split(result.output.strip())
    assert command[command.index("--host") + 1] == "127.0.0.1"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/journeypulse"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"datasette did not start: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_explore_serves_the_negative_share_by_stage_canned_query_as_json(datasette: str) -> None:
    response = httpx.get(f"{datasette}/negative_share_by_stage.json",
                         params={"_shape": "array", "brand": "Acme", "language": "th"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"stage": "delivery", "mentions": 2, "scored": 2, "negative_share": 1.0, "net_sentiment": -1.0},
        {"stage": "exit", "mentions": 1, "scored": 1, "negative_share": 1.0, "net_sentiment": -1.0},
        {"stage": "loyalty", "mentions": 1, "scored": 1, "negative_share": 0.0, "net_sentiment": 1.0},
    ]
    exits = httpx.get(f"{datasette}/top_exit_reasons.json", params={"_shape": "array"}, timeout=10).json()
    assert exits == [{"brand": "Acme", "exit_type": "cancellation", "exit_reason": "late_delivery", "mentions": 1}]


def test_explore_metadata_documents_the_fact_view_and_hides_raw_tables(config: Path) -> None:
    result = runner.invoke(app, ["explore", "-c", str(config), "--print-command"])
    assert result.exit_code == 0, result.output
    metadata = yaml.safe_load((config.parent / "data" / "datasette-metadata.yaml").read_text(encoding="utf-8"))
    database = metadata["databases"]["journeypulse"]
    assert set(database["queries"]) == set(CANNED_QUERIES)
    facts = database["tables"]["v_journey_facts"]
    assert {"exit_type", "exit_reason", "is_primary"} <= set(facts["columns"]) and facts["description"]
    assert database["tables"]["quarantine"] == {"hidden": True}
    assert set(documented_views()) >= {"v_journey_facts", "v_daily_sentiment", "v_exit_signals"}


def test_explore_refuses_a_postgresql_store_and_names_the_alternative(tmp_path: Path) -> None:
    path = tmp_path / "journeypulse.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path), "brands": [{"name": "Acme"}], "sources": [],
                                    "storage": {"url": "postgresql+psycopg://u@127.0.0.1:1/jp"}}), encoding="utf-8")
    result = runner.invoke(app, ["explore", "-c", str(path), "--print-command"])
    assert result.exit_code == 2 and "Superset or Metabase" in result.output
