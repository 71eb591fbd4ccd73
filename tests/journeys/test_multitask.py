"""The multi-task heads on synthetic features: training choices, artifact round trip, links, held-out guard."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpers.journey_data import write_project_set
from journeypulse.errors import ConfigError
from journeys import load_linker
from journeys.dataset import STAGES, load_mentions, training_rows
from journeys.multitask import MultiTaskLinker, load_heads, rule_feature_names, save_heads
from journeys.multitask_train import FEATURE_OPTIONS, TrainingData, fit_journey_heads
from pipeline.journey_eval import Predicted, method_metrics, sentiment_macro_f1

DIM = 16


def _data(tmp_path: Path) -> TrainingData:
    """Project rows whose [last | mid] features encode the stage (plus noise): the heads can learn it."""
    examples = training_rows(load_mentions(write_project_set(tmp_path / "m", per_stage=10)))
    rng = np.random.default_rng(0)
    rows = []
    for e in examples:
        row = rng.normal(0, 0.3, 2 * DIM)
        row[STAGES.index(str(e.stage))] += 2.0
        row[DIM + 8] += 2.0 if e.exit_signal else 0.0
        row[DIM + 9] += 2.0 if e.question else 0.0
        row[DIM + 10 + (0 if e.pain_point is None else 1 + ["late_delivery", "app_crash", "long_wait"].index(
            e.pain_point))] += 2.0
        rows.append(row)
    rules = load_linker()
    return TrainingData(examples, np.array(rows, dtype=np.float32),
                        np.zeros((len(examples), len(rule_feature_names(rules.taxonomy))), dtype=np.float32), DIM)


def test_training_searches_every_feature_option_and_learns_separable_stages(tmp_path: Path) -> None:
    data = _data(tmp_path)
    lines: list[str] = []
    heads = fit_journey_heads(data, encoder_revision="enc-1", rule_names=rule_feature_names(load_linker().taxonomy),
                              progress=lines.append)
    assert len(heads.meta["search"]) == len(FEATURE_OPTIONS) * 3  # type: ignore[arg-type]
    assert heads.meta["validation"]["stage_accuracy"] >= 0.9  # type: ignore[index]
    assert heads.encoder_revision == "enc-1"
    assert any(line.startswith("chosen: features=") for line in lines)


def test_a_held_out_row_reaching_training_is_refused(tmp_path: Path) -> None:
    data = _data(tmp_path)
    leaked = [replace(data.examples[0], part="holdout"), *data.examples[1:]]
    with pytest.raises(ConfigError, match="held-out journey mentions reached training"):
        fit_journey_heads(replace(data, examples=leaked), encoder_revision="e", rule_names=())


def test_the_artifact_round_trips_and_links_carry_method_confidence_and_review(tmp_path: Path) -> None:
    data = _data(tmp_path)
    rules = load_linker()
    heads = fit_journey_heads(data, encoder_revision="enc-1", rule_names=rule_feature_names(rules.taxonomy),
                              options=FEATURE_OPTIONS[1:2], c_grid=(4.0,))
    loaded = load_heads(save_heads(tmp_path / "heads", heads))
    assert loaded.thresholds == heads.thresholds and loaded.features == heads.features
    assert loaded.digest and loaded.encoder_revision == "enc-1"
    linker = MultiTaskLinker(rules, loaded)
    assert linker.revision.startswith(f"{rules.taxonomy.version}+m") and len(linker.revision) <= 50
    feature = np.zeros((1, 2 * DIM), dtype=np.float32)
    feature[0, STAGES.index("exit")] = 3.0
    feature[0, DIM + 8] = 3.0
    (links,) = linker.link_encoded([("bye", "en", "x")], feature)
    assert links[0].stage == "exit" and links[0].method == "multitask"
    assert links[0].exit_signal is not None, "an exit primary stage carries its exit type"
    assert all(link.needs_review == (link.confidence < 0.6) for link in links)


def test_unreadable_heads_are_a_config_error_naming_the_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="journeys train"):
        load_heads(tmp_path)


def test_metrics_count_accuracy_exit_pain_and_question_per_method(tmp_path: Path) -> None:
    examples = load_mentions(write_project_set(tmp_path / "m", languages=("en",), per_stage=1))
    perfect = [Predicted(e.stage, bool(e.exit_signal), e.pain_point, e.question) for e in examples]
    metrics = method_metrics(examples, perfect)
    assert metrics["accuracy"] == 1.0 and metrics["exit_signal"]["f1"] == 1.0
    assert metrics["pain_point"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert metrics["question"]["f1"] == 1.0
    assert metrics["confusion"]["exit"] == {"exit": 1}
    silent = method_metrics(examples, [Predicted(None, False, None) for _ in examples])
    assert silent["accuracy"] == 0.0 and "question" not in silent
    assert silent["confusion"]["usage"] == {"none": 1}
    assert sentiment_macro_f1(examples, [str(e.sentiment) for e in examples])["macro_f1"] == 1.0
