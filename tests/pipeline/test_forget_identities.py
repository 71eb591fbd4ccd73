"""Erasure covers every identity kind, every table and every export under data_dir, and says what it removed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from journeypulse.config import Settings
from journeypulse.privacy import Pseudonymiser, load_pseudonymiser
from journeypulse.record import Mention, QuarantinedRow
from pipeline import analytics, steps
from pipeline.cli import app
from storage import AlertRow

runner = CliRunner()
WHEN = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _settings(write_config: Callable[..., Path], url: str | None, files: list[Path] | None = None) -> Settings:
    return steps.load_run_settings(write_config(url, files=files or []))


def _key(settings: Settings) -> Pseudonymiser:
    return load_pseudonymiser(settings.privacy.pseudonym_key_env, settings.data_dir / ".pseudonym_key")


def _mention(native_id: str, text: str, author: str | None, kind: str = "reddit", **metadata: str) -> Mention:
    return Mention.build(source=kind, source_kind=kind, native_id=native_id, text=text, created_at=WHEN,
                         fetched_at=WHEN, author=author, brand="Sorami", metadata=metadata)


@pytest.mark.parametrize("typed", ["maria_lopez4102", "@maria_lopez4102", "reddit:maria_lopez4102", "u/Maria_Lopez4102"])
def test_a_reddit_author_is_forgotten_by_handle_with_or_without_at_and_source_prefix(
    typed: str, sqlite_url: str, write_config: Callable[..., Path]
) -> None:
    settings = _settings(write_config, sqlite_url)
    key = _key(settings)
    hers = [_mention("t1", "Sorami Pay failed again", key("reddit:maria_lopez4102")),
            _mention("t2", "Sorami refund took weeks", key("reddit:maria_lopez4102"))]
    others = [_mention("t3", "Sorami is fine", key("reddit:someone_else")),
              _mention("m1", "Sorami app crashed", key("mastodon:maria@example.social"), kind="mastodon")]
    with steps.open_store(settings) as store:
        store.store_batch("reddit", "q", [*hers, *others], [], None)
        outcome = analytics.forget_author(settings, store, typed)
        assert outcome.report.mentions == 2
        assert outcome.report.matched == (key("reddit:maria_lopez4102"),)
        assert store.counts()["mentions"] == 2


def test_every_source_prefix_is_tried_and_a_bluesky_did_or_x_id_is_found(
    sqlite_url: str, write_config: Callable[..., Path]
) -> None:
    settings = _settings(write_config, sqlite_url)
    key = _key(settings)
    rows = [_mention("b1", "Sorami down", key("bluesky:did:plc:abc123"), kind="bluesky"),
            _mention("x1", "Sorami down", key("x:1234567"), kind="x"),
            _mention("r1", "Sorami down", key("maria.rss"), kind="rss")]
    with steps.open_store(settings) as store:
        store.store_batch("mixed", "q", rows, [], None)
        assert analytics.forget_author(settings, store, "did:plc:abc123").report.mentions == 1
        assert analytics.forget_author(settings, store, "x:1234567").report.mentions == 1
        assert analytics.forget_author(settings, store, "maria.rss").report.mentions == 1
        assert store.counts()["mentions"] == 0


def test_quarantine_payloads_are_pseudonymised_before_they_are_stored(
    store_url: str, write_config: Callable[..., Path]
) -> None:
    settings = _settings(write_config, store_url)
    key = _key(settings)
    payload = json.dumps({"id": "109", "created_at": "nope", "content": "ping @maria_l and mail me at maria@example.com",
                          "account": {"id": "42", "username": "maria_l", "acct": "maria_l@example.social",
                                      "display_name": "Maria L"},
                          "author": {"did": "did:plc:abc123", "handle": "maria.bsky.social"},
                          "url": "https://example.social/@maria_l/109"})
    row = QuarantinedRow(source="masto", reason="created_at is not a timestamp", payload=payload, locator="status 109")
    with steps.open_store(settings) as store:
        store.store_batch("masto", "q", [], [row, QuarantinedRow("csv", "bad row", "x,maria@example.com,+44 20 7946 0958",
                                                                 "f.csv:3")], None)
        stored = {entry.source: entry for entry in store.quarantine_rows()}
    kept = json.loads(stored["masto"].payload)
    text = stored["masto"].payload + stored["csv"].payload
    for raw in ("maria_l", "maria@example.com", "did:plc:abc123", "maria.bsky.social", "Maria L", "7946"):
        assert raw not in text
    assert kept["id"] == "109" and kept["created_at"] == "nope"  # what is needed to debug stays
    assert kept["account"]["username"] == key("maria_l")
    assert stored["masto"].reason == "created_at is not a timestamp" and stored["masto"].locator == "status 109"


def test_forgetting_removes_quarantine_rows_alerts_and_the_name_in_other_peoples_texts(
    store_url: str, write_config: Callable[..., Path]
) -> None:
    settings = _settings(write_config, store_url)
    key = _key(settings)
    hers = _mention("t1", "Sorami lost my order", key("reddit:maria_lopez4102"))
    reply = _mention("t2", "@Maria_Lopez4102 same here, Sorami support is slow", key("reddit:bob"))
    unrelated = _mention("t3", "mariachi night at Sorami Mart", key("reddit:carol"))
    old = QuarantinedRow("reddit", "bad", json.dumps({"author": "maria_lopez4102", "body": "x"}), "t9")
    with steps.open_store(settings) as store:
        store.store_batch("reddit", "q", [hers, reply, unrelated], [old], None)
        store.save_alerts([AlertRow("k1", "r", "Sorami", "support", WHEN.date(), None, 1.0, 0.0,
                                    f"quote from {key('reddit:maria_lopez4102')}", WHEN)])
        assert store.counts()["quarantined"] == 1
        report = analytics.forget_author(settings, store, "maria_lopez4102").report
        assert (report.mentions, report.quarantine, report.alerts, report.texts_scrubbed) == (1, 1, 1, 1)
        texts = {t for t, _ in store.mention_texts([reply.id, unrelated.id]).values()}
        assert texts == {"[erased] same here, Sorami support is slow", "mariachi night at Sorami Mart"}
        assert store.counts()["quarantined"] == 0 and store.alerts() == []


def test_a_contact_center_customer_is_erased_by_customer_id_interaction_id_or_pseudonym(
    store_url: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    export = tmp_path / "calls.jsonl"
    rows = [
        {"id": "c1", "created_at": "2026-11-01T10:00:00+00:00", "customer_id": "CUST-1042", "interaction_id": "INT-9",
         "text": "Sorami refund never came, call me on maria@example.com"},
        {"id": "c2", "created_at": "2026-11-01T11:00:00+00:00", "customer_id": "CUST-1042", "interaction_id": "INT-10",
         "text": "Sorami Pay still broken"},
        {"id": "c3", "created_at": "2026-11-01T12:00:00+00:00", "customer_id": "CUST-7", "interaction_id": "INT-11",
         "text": "Sorami Plus is great"},
    ]
    export.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    settings = _settings(write_config, store_url, files=[export])
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
        assert store.counts()["mentions"] == 3
        assert analytics.forget_author(settings, store, "INT-10").report.mentions == 1
        assert analytics.forget_author(settings, store, "CUST-1042").report.mentions == 1
        assert analytics.forget_author(settings, store, _key(settings)("CUST-7", namespace="c")).report.mentions == 1
        assert store.counts()["mentions"] == 0


def test_exports_under_data_dir_that_still_name_the_person_are_deleted_and_listed(
    write_config: Callable[..., Path]
) -> None:
    settings = steps.load_run_settings(write_config(None, files=[]))  # the default SQLite file inside data_dir
    key = _key(settings)
    with steps.open_store(settings) as store:
        store.store_batch("reddit", "q", [_mention("t1", "Sorami lost my order", key("reddit:maria_lopez4102"))], [],
                          None)
    saved = settings.data_dir / "coaching" / "mine.csv"
    saved.parent.mkdir(parents=True)
    saved.write_text(f"author,text\n{key('reddit:maria_lopez4102')},Sorami lost my order\n", encoding="utf-8")
    keep = settings.data_dir / "coaching" / "other.csv"
    keep.write_text("author,text\na_0000000000000000,fine\n", encoding="utf-8")
    result = runner.invoke(app, ["forget-author", "@maria_lopez4102", "-c", str(settings.config_file)])
    assert result.exit_code == 0, result.output
    assert "removed 1 mentions" in result.output and "deleted 1" in result.output
    for table in ("mention", "sentiment", "journey_link", "coaching_example", "quarantine", "alert", "summary tables"):
        assert table in result.output
    assert not saved.exists() and keep.exists()
    assert (settings.data_dir / "journeypulse.db").exists() and (settings.data_dir / ".pseudonym_key").exists()
