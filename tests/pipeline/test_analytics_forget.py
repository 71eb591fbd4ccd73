"""Forgetting an author on the sample: every derived row and every export under data_dir loses them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from journeys.redaction import redact
from pipeline import analytics, steps
from pipeline.cli import app

runner = CliRunner()
HANDLE = "@kevtan"  # 8 mentions in the bundled sample


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_forget_author_by_handle_removes_mentions_links_sentiment_examples_reviews_corrections_and_exports(
    store_url: str, write_config: Callable[..., Path]
) -> None:
    config = str(write_config(store_url))
    _ok("run", "-c", config)
    settings = steps.load_run_settings(config)
    author = analytics.author_pseudonym(settings, HANDLE)
    with steps.open_store(settings) as store:
        _, rows = store.query_view("v_mention_sentiment", filters={}, limit=None)
        columns = store.view_columns("v_mention_sentiment")
    at = {name: columns.index(name) for name in ("mention_id", "author", "text", "language")}
    theirs = {r[at["mention_id"]]: (r[at["text"]], r[at["language"]]) for r in rows if r[at["author"]] == author}
    assert len(theirs) == 8
    _ok("coach", "pull", "-c", config, "--limit", "400", "--format", "jsonl")
    with steps.open_store(settings) as store:
        in_library = [e.mention_id for e in store.coaching_examples() if e.mention_id in theirs]
    assert in_library, "the author should have examples in the library for this test to mean anything"
    _ok("coach", "review", in_library[0], "-c", config, "--relabel", "neutral", "--reviewer", "lan")
    other = min(set(theirs) - {in_library[0]})
    _ok("label", other, "positive", "--reviewer", "lan", "-c", config)
    _ok("coach", "export", "-c", config)
    pack = analytics.default_pack_dir(settings)
    assert in_library[0] in " ".join(f.read_text() for f in pack.glob("*.jsonl"))

    output = _ok("forget-author", HANDLE, "-c", config)
    assert "removed 8 mentions" in output and "1 reviews" in output and "2 corrections" in output

    with steps.open_store(settings) as store:
        _, rows = store.query_view("v_mention_sentiment", filters={}, limit=None)
        assert not [r for r in rows if r[at["author"]] == author]
        assert not set(theirs) & {e.mention_id for e in store.coaching_examples()}
        assert not set(theirs) & {r.mention_id for r in store.coaching_reviews()}
        assert not set(theirs) & {c.mention_id for c in store.sentiment_corrections()}
        _, links = store.query_view("v_current_journey_link", filters={}, limit=None)
        assert not set(theirs) & {row[0] for row in links}
        assert store.counts()["mentions"] == len(rows)
    exported = " ".join(f.read_text(encoding="utf-8") for f in pack.glob("*.jsonl"))
    assert not any(mention_id in exported for mention_id in theirs)
    manifest = json.loads((pack / "manifest.json").read_text(encoding="utf-8"))
    assert all((pack / name).exists() for name in manifest["files"])
    maps = list((settings.data_dir / "reports").glob("cx-map-*.html"))
    assert maps
    page = " ".join(p.read_text(encoding="utf-8") for p in maps)
    keep = settings.brand("Sorami").terms()
    assert not any(redact(text, language=lang, keep=keep).text in page for text, lang in theirs.values())


def test_forget_author_accepts_a_pseudonym_and_reports_nothing_for_an_unknown_one(
    sqlite_url: str, write_config: Callable[..., Path]
) -> None:
    config = str(write_config(sqlite_url))
    output = _ok("forget-author", "a_0123456789abcdef", "-c", config)
    assert "removed 0 mentions" in output
    result = runner.invoke(app, ["forget-author", "  ", "-c", config])
    assert result.exit_code == 2 and "pseudonym" in result.output
