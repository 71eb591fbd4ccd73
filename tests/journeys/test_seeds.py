"""The bundled journey seed set: coverage per stage and language, its recorded split, and validation."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from journeypulse.errors import ConfigError
from journeypulse.record import content_hash, normalise_text
from journeys.seedset import BUNDLED_SEEDS, SPLIT_SEED, SeedSet, assign_split, load_seeds
from journeys.taxonomy import Taxonomy, load_taxonomy

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_mentions.jsonl"
REQUIRED_LANGUAGES = ("en", "vi", "th", "es", "pt", "id")


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def seeds(taxonomy: Taxonomy) -> SeedSet:
    return load_seeds(taxonomy)


def test_every_stage_has_at_least_eight_examples_in_each_required_language(seeds: SeedSet, taxonomy: Taxonomy) -> None:
    per_cell = Counter((e.language, e.stage) for e in seeds.examples)
    for language in REQUIRED_LANGUAGES:
        for stage in taxonomy.stage_names:
            assert per_cell[(language, stage)] >= 8, (language, stage)
    assert len(seeds.examples) >= 384


def test_a_quarter_of_each_stage_and_language_is_held_out(seeds: SeedSet, taxonomy: Taxonomy) -> None:
    counts = seeds.counts()
    for language in REQUIRED_LANGUAGES:
        for stage in taxonomy.stage_names:
            test, train = counts[(language, stage, "test")], counts[(language, stage, "train")]
            assert test == round((test + train) * 0.25), (language, stage, test, train)


def test_the_recorded_split_is_the_one_assign_split_reproduces_from_its_seed(seeds: SeedSet) -> None:
    expected = assign_split(((e.stage, e.group) for e in seeds.examples), seed=SPLIT_SEED)
    assert {e.group: e.split for e in seeds.examples} == expected


def test_translations_of_one_concept_never_straddle_the_split(seeds: SeedSet) -> None:
    sides: dict[str, set[str]] = {}
    for e in seeds.examples:
        sides.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in sides.values())
    assert {e.split for e in seeds.examples} == {"train", "test"}


def test_assign_split_is_deterministic_and_changes_with_the_seed() -> None:
    groups = [(stage, f"{stage}-{i:02d}") for stage in ("a", "b") for i in range(8)]
    first = assign_split(groups, seed=1)
    assert first == assign_split(list(reversed(groups)), seed=1)
    assert Counter(first.values()) == {"train": 12, "test": 4}
    assert any(assign_split(groups, seed=s) != first for s in range(2, 6))


def test_seed_texts_are_not_taken_from_the_demo_sample(seeds: SeedSet) -> None:
    sample = [normalise_text(json.loads(line)["text"]) for line in SAMPLE.read_text(encoding="utf-8").splitlines()
              if line.strip()]
    hashes = {content_hash(text) for text in sample}
    runs = {text[i:i + 25] for text in sample for i in range(len(text) - 24)}
    for e in seeds.examples:
        text = normalise_text(e.text)
        assert content_hash(e.text) not in hashes, e.id
        assert not any(text[i:i + 25] in runs for i in range(len(text) - 24)), e.id


def test_pain_point_and_exit_signal_labels_are_present_in_every_language(seeds: SeedSet) -> None:
    for language in REQUIRED_LANGUAGES:
        rows = [e for e in seeds.examples if e.language == language]
        assert sum(e.pain_point is not None for e in rows) >= 10, language
        assert sum(e.exit_signal is not None for e in rows) >= 5, language


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "seeds.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def _rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in BUNDLED_SEEDS.read_text(encoding="utf-8").splitlines()]


def test_an_unknown_stage_is_rejected_naming_the_row(tmp_path: Path, taxonomy: Taxonomy) -> None:
    rows = _rows()
    rows[3]["stage"] = "checkout"
    with pytest.raises(ConfigError, match=rf"row {rows[3]['id']}: stage 'checkout' is not in the taxonomy"):
        load_seeds(taxonomy, _write(tmp_path, rows))


def test_an_unknown_pain_point_is_rejected(tmp_path: Path, taxonomy: Taxonomy) -> None:
    rows = _rows()
    rows[0]["pain_point"] = "slow_vibes"
    with pytest.raises(ConfigError, match="pain_point 'slow_vibes' is not in the taxonomy"):
        load_seeds(taxonomy, _write(tmp_path, rows))


def test_the_same_text_twice_is_rejected(tmp_path: Path, taxonomy: Taxonomy) -> None:
    rows = _rows()
    rows[5]["text"] = str(rows[4]["text"]).upper()
    with pytest.raises(ConfigError, match=f"same text as row {rows[4]['id']}"):
        load_seeds(taxonomy, _write(tmp_path, rows))


def test_a_group_on_both_sides_of_the_split_is_rejected(tmp_path: Path, taxonomy: Taxonomy) -> None:
    rows = _rows()
    test_row = next(r for r in rows if r["split"] == "test")
    test_row["split"] = "train"
    with pytest.raises(ConfigError, match=f"group '{test_row['group']}'"):
        load_seeds(taxonomy, _write(tmp_path, rows))


def test_a_line_that_is_not_json_is_rejected_with_its_line_number(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text(BUNDLED_SEEDS.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 385: not valid JSON"):
        load_seeds(taxonomy, path)


def test_a_missing_seed_file_says_which_path(tmp_path: Path, taxonomy: Taxonomy) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_seeds(taxonomy, tmp_path / "nope.jsonl")


def test_the_digest_changes_when_one_row_changes(tmp_path: Path, taxonomy: Taxonomy, seeds: SeedSet) -> None:
    rows = _rows()
    rows[0]["text"] = str(rows[0]["text"]) + " (edited)"
    assert load_seeds(taxonomy, _write(tmp_path, rows)).digest != seeds.digest
