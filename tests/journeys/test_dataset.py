"""The project's journey set: validation with file:line errors, the fixed id-based split, public data caps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.journey_data import project_row, write_project_set
from journeypulse.errors import ConfigError
from journeys.dataset import (
    HOLDOUT_PERCENT,
    STAGES,
    counts_table,
    held_out,
    load_mentions,
    load_public,
    part_of,
    training_rows,
)


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_valid_set_loads_every_row_with_its_labels(tmp_path: Path) -> None:
    examples = load_mentions(write_project_set(tmp_path / "m", per_stage=2))
    assert len(examples) == 2 * 2 * len(STAGES)
    exit_row = next(e for e in examples if e.stage == "exit")
    assert (exit_row.exit_signal, exit_row.exit_type, exit_row.source, exit_row.weight) == (True, "cancellation",
                                                                                             "project", 1.0)
    assert all(e.pain_known for e in examples)


@pytest.mark.parametrize(("change", "message"), [
    ({"stage": "onboarding"}, "stage"),
    ({"exit_signal": True}, "exit_type must be set exactly when exit_signal is true"),
    ({"pain_point": "slow_wifi"}, "pain_point 'slow_wifi'"),
    ({"id": "vi-0001"}, "must start with its language"),
    ({"secondary_stages": ["usage"], "stage": "usage"}, "repeats the primary stage"),
])
def test_a_bad_row_is_an_error_naming_file_and_line(tmp_path: Path, change: dict[str, object], message: str) -> None:
    rows = [project_row("en", 1, "usage"), {**project_row("en", 2, "usage"), **change}]
    path = _write(tmp_path / "m" / "en.jsonl", rows)
    with pytest.raises(ConfigError, match=f"{path}:2: .*{message}"):
        load_mentions(path.parent)


def test_a_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m" / "en.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(project_row("en", 1, "usage")) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{path}:2: not valid JSON"):
        load_mentions(path.parent)


def test_an_id_in_two_files_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "m" / "a.jsonl", [project_row("en", 1, "usage")])
    _write(tmp_path / "m" / "en.jsonl", [project_row("en", 1, "exit")])
    with pytest.raises(ConfigError, match="id en-0001 is also in"):
        load_mentions(tmp_path / "m")


def test_an_empty_folder_is_an_error_saying_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no \\*.jsonl files; pass --data"):
        load_mentions(tmp_path)


def test_the_part_depends_on_the_id_alone_and_holds_out_about_a_quarter() -> None:
    ids = [f"en-{i:04d}" for i in range(4000)]
    parts = [part_of(i) for i in ids]
    assert parts == [part_of(i) for i in ids]
    share = parts.count("holdout") / len(ids)
    assert abs(share - HOLDOUT_PERCENT / 100) < 0.03
    assert parts.count("validation") > 0 and parts.count("train") > parts.count("validation")


def test_training_rows_never_include_a_held_out_mention(tmp_path: Path) -> None:
    examples = load_mentions(write_project_set(tmp_path / "m", per_stage=10))
    kept = training_rows(examples)
    assert {e.id for e in kept}.isdisjoint({e.id for e in held_out(examples)})
    assert len(kept) + len(held_out(examples)) == len(examples)


def test_public_rows_are_renamed_capped_per_stage_and_weighted(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"text": f"where is my card {i}", "lang": "en", "stage": "delivery_onboarding", "exit_signal": False,
             "pain_point": None, "exit_type": None, "dataset": "banking77"} for i in range(50)]
    rows += [{"text": f"close my account {i}", "lang": "en", "stage": "exit", "exit_signal": True,
              "pain_point": "balance_not_updated", "exit_type": "cancellation", "dataset": "banking77"}
             for i in range(5)]
    rows += [{"text": "hello", "lang": "en", "stage": None, "exit_signal": None, "pain_point": None,
              "exit_type": None, "dataset": "banking77"}]
    _write(tmp_path / "pub" / "banking77" / "train.jsonl", rows)
    _write(tmp_path / "pub" / "hint3" / "train.jsonl", [{**rows[0], "text": "refund please", "stage": "exit",
                                                          "exit_signal": True, "exit_type": "refund_request"}])
    public, card = load_public(tmp_path / "pub", cap_per_stage=10, cap_per_set=100)
    banking = [e for e in public if e.source == "banking77"]
    assert card.used == {"banking77": 15, "hint3": 1}
    assert {e.stage for e in banking} == {"delivery", "exit"}
    assert all(e.weight < 1.0 and e.question is None and e.secondary is None for e in public)
    assert card.weights["banking77"] < card.weights["hint3"], "assistant-query sets weigh least"
    assert not any(e.pain_known for e in banking), "a tag outside the taxonomy leaves the pain point unknown"


def test_the_counts_table_has_a_row_per_language_and_the_total(tmp_path: Path) -> None:
    table = counts_table(load_mentions(write_project_set(tmp_path / "m", per_stage=3)))
    lines = table.splitlines()
    assert lines[0].startswith("| language | awareness")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| en", "| vi", "| all"]
    assert "| 48 |" in lines[-1]


def test_rows_with_the_same_number_share_their_part_in_every_language() -> None:
    from journeys.dataset import part_of, split_key

    assert split_key("vi-0007") == split_key("id-0007") == split_key("th-7") == "row-7"
    assert split_key("custom-id") == "custom-id"
    parts = {number: {part_of(f"{lang}-{number:04d}") for lang in ("en", "vi", "th", "id", "es", "pt", "ar")}
             for number in range(1, 400)}
    assert all(len(found) == 1 for found in parts.values())
    held = sum(found == {"holdout"} for found in parts.values())
    assert 60 <= held <= 140  # about a quarter of 399 row numbers
