"""The bundled sample and bad-rows files: shape, coverage, and the counts examples/README.md states."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from journeypulse.config import load_settings
from journeypulse.record import Mention, QuarantinedRow, content_hash
from journeys.linker import RuleLinker
from journeys.taxonomy import load_taxonomy
from listeners.base import BrandMatcher, ListenerContext
from listeners.files import FileListener

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
README = (EXAMPLES / "README.md").read_text(encoding="utf-8")
ROWS = [json.loads(line) for line in (EXAMPLES / "sample_mentions.jsonl").read_text(encoding="utf-8").splitlines()]
CHANNELS = {"x", "reddit", "app_store", "google_play", "youtube", "news", "contact_center", "mastodon"}
FIELDS = {"id", "created_at", "author", "channel", "url", "lang", "text"}


def _readme_table(first_header: str) -> dict[str, str]:
    """The README table whose first column is headed ``first_header``: first cell -> last cell."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    table: dict[str, str] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0]] = cells[-1]
    return table


def _counts(first_header: str) -> dict[str, int]:
    return {key: int(value) for key, value in _readme_table(first_header).items()}


def _file_listener(path: Path) -> FileListener:
    settings = load_settings(EXAMPLES / "config.example.yaml")
    source = settings.sources[0].model_copy(update={"name": "example", "params": {
        "path": str(path), "format": "jsonl"}})
    context = ListenerContext(brands=tuple(settings.brands),
                              pseudonymise=lambda identity, namespace="a": f"{namespace}_{len(identity)}")
    return FileListener(source, context)


def test_sample_has_at_least_320_mentions_and_40_per_main_language_plus_some_arabic() -> None:
    languages = Counter(row["lang"] for row in ROWS)

    assert len(ROWS) >= 320
    assert all(languages[lang] >= 40 for lang in ("en", "vi", "th", "es", "pt", "id")), languages
    assert languages["ar"] >= 5
    assert set(languages) == {"en", "vi", "th", "es", "pt", "id", "ar"}


def test_every_sample_row_has_the_documented_fields_and_values() -> None:
    for number, row in enumerate(ROWS, 1):
        assert FIELDS <= set(row) <= FIELDS | {"customer_id", "interaction_id"}, row["id"]
        assert row["id"] == f"smp-{number:04d}"
        created = datetime.fromisoformat(row["created_at"])
        assert created.tzinfo is not None, row["id"]
        assert datetime(2026, 9, 1, tzinfo=UTC) <= created < datetime(2026, 11, 1, tzinfo=UTC), row["id"]
        assert row["channel"] in CHANNELS, row["id"]
        assert row["url"].startswith("https://"), row["id"]
        assert row["text"].strip() == row["text"] and row["text"], row["id"]
        if row["channel"] == "contact_center":
            assert row["author"] is None
            assert re.fullmatch(r"C-\d{4}", row["customer_id"]) and re.fullmatch(r"I-\d{4}", row["interaction_id"])
        else:
            assert row["author"].startswith("@") and "customer_id" not in row, row["id"]


def test_sample_rows_are_in_time_order_with_unique_texts() -> None:
    times = [datetime.fromisoformat(row["created_at"]) for row in ROWS]
    assert times == sorted(times)
    assert len({content_hash(row["text"]) for row in ROWS}) == len(ROWS)


def test_every_sample_text_mentions_a_sorami_term() -> None:
    matcher = BrandMatcher(load_settings(EXAMPLES / "config.example.yaml").brands)
    unmatched = [row["id"] for row in ROWS if matcher.match(row["text"]) is None]
    assert unmatched == []


def test_sample_holds_fake_personal_data_for_redaction_demos() -> None:
    texts = [row["text"] for row in ROWS]
    assert sum(bool(re.search(r"[\w.]+@example\.com", t)) for t in texts) >= 5
    assert sum(bool(re.search(r"\bSRM-\d{8}\b", t)) for t in texts) >= 20
    assert sum(bool(re.search(r"(\+\d{2} ?)?\(?\d{2,4}\)?[ -]\d{3,4}[ -]\d{3,4}", t)) for t in texts) >= 10
    assert sum(row["channel"] == "contact_center" for row in ROWS) >= 5


@pytest.mark.parametrize(("header", "key"), [("language", "lang"), ("channel", "channel")])
def test_readme_counts_per_language_and_channel_match_the_file(header: str, key: str) -> None:
    assert _counts(header) == dict(Counter(row[key] for row in ROWS))


def test_readme_counts_per_month_match_the_file() -> None:
    months = Counter(datetime.fromisoformat(r["created_at"]).astimezone(UTC).strftime("%Y-%m") for r in ROWS)
    assert _counts("month (UTC)") == dict(months)
    assert f"{len(ROWS)} mentions of Sorami" in README


def test_readme_counts_per_stage_pain_point_and_exit_signal_match_the_linker() -> None:
    linker = RuleLinker(load_taxonomy())
    stages: Counter[str] = Counter()
    pains: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    linked = 0
    for row in ROWS:
        links = linker.link(row["text"], language=row["lang"], channel=row["channel"])
        linked += bool(links)
        stages.update({link.stage for link in links})
        pains.update({link.pain_point for link in links if link.pain_point})
        exits.update({link.exit_signal for link in links if link.exit_signal})

    assert _counts("stage") == dict(stages)
    assert _counts("pain point") == dict(pains)
    assert _counts("exit signal") == dict(exits)
    assert f"taxonomy `{linker.revision}`" in README
    assert f"{linked} of the {len(ROWS)} mentions get at least one" in README


def test_the_whole_sample_reads_through_the_file_listener_without_quarantine() -> None:
    listener = _file_listener(EXAMPLES / "sample_mentions.jsonl")
    items = [item for query in listener.queries() for item, _ in listener.fetch(query, None)]

    assert all(isinstance(item, Mention) for item in items)
    assert len(items) == len(ROWS)


def test_bad_rows_get_the_outcomes_the_readme_documents() -> None:
    documented = _readme_table("line")
    listener = _file_listener(EXAMPLES / "bad_rows.jsonl")
    outcomes: dict[str, Mention | QuarantinedRow] = {}
    for query in listener.queries():
        for item, _ in listener.fetch(query, None):
            line = item.locator.rsplit(":", 1)[1] if isinstance(item, QuarantinedRow) else None
            outcomes[line or f"mention-{len(outcomes)}"] = item
    physical = (EXAMPLES / "bad_rows.jsonl").read_bytes().split(b"\n")[:-1]
    assert len(physical) == len(documented)

    stored = iter(item for item in outcomes.values() if isinstance(item, Mention))
    for line, outcome in documented.items():
        if outcome.startswith("quarantined: "):
            item = outcomes.get(line)
            assert isinstance(item, QuarantinedRow), line
            assert outcome.removeprefix("quarantined: ") in item.reason, (line, item.reason)
        elif outcome.startswith("skipped"):
            assert not physical[int(line) - 1].strip()
        else:
            assert outcome.startswith("stored"), line
            assert isinstance(next(stored), Mention)
    assert next(stored, None) is None


def test_bad_rows_decisions_naive_utc_emoji_with_brand_and_repeated_id() -> None:
    listener = _file_listener(EXAMPLES / "bad_rows.jsonl")
    mentions = {}
    repeated = []
    for query in listener.queries():
        for item, _ in listener.fetch(query, None):
            if isinstance(item, Mention):
                if item.native_id in mentions:
                    repeated.append(item)
                mentions[item.native_id] = item

    assert mentions["bad-0010"].created_at == datetime(2026, 10, 10, 14, 5, tzinfo=UTC)
    assert mentions["bad-0016"].text == "#Sorami 🔥🔥😍"
    assert mentions["bad-0013"].text == "Sorami Pay topup failed"
    assert mentions["bad-0012"].text == "Sorami app keeps crashing"
    assert [m.id for m in repeated] == [mentions["bad-0020"].id]
