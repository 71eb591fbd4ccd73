"""Evaluation: metrics on hand-checked numbers, labelled-file readers with label maps, the corrections split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.tiny_models import build_tiny_classifier
from journeypulse.config import ModelConfig
from journeypulse.errors import ConfigError, ScoringError
from sentiment import load_sentiment_model
from sentiment.corrections import Correction, is_held_out, read_corrections_export, split_corrections
from sentiment.evaluation import TableSpec, evaluate_model, metrics, parse_label_map, read_labelled, report


def test_metrics_match_a_hand_computed_confusion_matrix() -> None:
    gold = [0, 0, 1, 2, 2, 2]
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1],
                      [0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    result = metrics(gold, probs)
    assert result.confusion == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert result.accuracy == pytest.approx(4 / 6)
    # F1: negative 2*1/(2+2)=0.5, neutral 2*1/(1+2)=2/3, positive 2*2/(3+2)=0.8
    assert result.f1 == pytest.approx({"negative": 0.5, "neutral": 2 / 3, "positive": 0.8})
    assert result.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)


def test_calibration_error_is_the_gap_between_confidence_and_accuracy_per_bin() -> None:
    # Every prediction has confidence 0.9 and half are right: ECE = |0.5 - 0.9| = 0.4.
    probs = np.array([[0.9, 0.05, 0.05]] * 4)
    assert metrics([0, 0, 1, 2], probs).ece == pytest.approx(0.4)
    # Perfectly calibrated certainty: ECE 0.
    assert metrics([2, 2], np.array([[0.0, 0.0, 1.0]] * 2)).ece == pytest.approx(0.0)


def test_macro_f1_averages_only_classes_seen_in_gold_or_predictions() -> None:
    result = metrics([2, 2], np.array([[0.1, 0.1, 0.8]] * 2))
    assert result.macro_f1 == pytest.approx(1.0)


def test_label_map_reads_wisesight_names_and_umsab_digits() -> None:
    assert parse_label_map("pos=positive,neu=neutral,neg=negative,q=neutral") == {"pos": 2, "neu": 1, "neg": 0,
                                                                                   "q": 1}
    assert parse_label_map("0=negative, 1=neutral, 2=positive") == {"0": 0, "1": 1, "2": 2}


@pytest.mark.parametrize("spec", ["0=bad", "0", "=negative", "0=1", ""])
def test_malformed_label_map_is_a_config_error_showing_the_expected_form(spec: str) -> None:
    with pytest.raises(ConfigError, match="label"):
        parse_label_map(spec)


def test_umsab_txt_files_pair_with_their_labels_file(tmp_path: Path) -> None:
    folder = tmp_path / "english"
    folder.mkdir()
    (folder / "val_text.txt").write_text("bad service\nok\nlove it\n", encoding="utf-8")
    (folder / "val_labels.txt").write_text("0\n1\n2\n", encoding="utf-8")
    rows = read_labelled(folder / "val_text.txt", TableSpec(format="txt", lang="en"))
    assert [(r.text, r.label, r.language, r.source) for r in rows] == [
        ("bad service", 0, "en", "english/val_text.txt"), ("ok", 1, "en", "english/val_text.txt"),
        ("love it", 2, "en", "english/val_text.txt")]


def test_wisesight_jsonl_with_a_label_map_maps_questions_to_neutral(tmp_path: Path) -> None:
    path = tmp_path / "valid.jsonl"
    lines = [{"category": c, "texts": t} for c, t in [("pos", "ดีมาก"), ("q", "ส่งกี่วัน"), ("neg", "แย่")]]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    spec = TableSpec(format="jsonl", text_col="texts", label_col="category", lang="th",
                     label_map=parse_label_map("pos=positive,neu=neutral,neg=negative,q=neutral"))
    assert [r.label for r in read_labelled(path, spec)] == [2, 1, 0]


def test_unknown_label_names_the_file_line_and_value(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("text,label\nfine,positive\nhmm,mixed\n", encoding="utf-8")
    with pytest.raises(ScoringError, match=r"data.csv line 3: label 'mixed'"):
        read_labelled(path, TableSpec(format="csv"))


def test_missing_column_is_named_with_the_columns_the_file_has(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"body": "x", "label": "neg"}\n', encoding="utf-8")
    with pytest.raises(ScoringError, match=r"column 'text' is missing \(has: body, label\)"):
        read_labelled(path, TableSpec())


def test_report_groups_rows_by_language_and_by_source(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    rows_in = [("a", "negative", "en", "x"), ("b", "positive", "en", "y"), ("c", "positive", "th", "y")]
    path.write_text("\n".join(json.dumps({"text": t, "label": label, "lang": g, "src": s})
                              for t, label, g, s in rows_in), encoding="utf-8")
    rows = read_labelled(path, TableSpec(lang_col="lang", source_col="src"))
    out = report(rows, np.array([[0.1, 0.1, 0.8]] * 3), model="m", revision="r", backend="torch", files=[str(path)])
    assert {k: v["n"] for k, v in out["by_language"].items()} == {"en": 2, "th": 1}
    assert {k: v["accuracy"] for k, v in out["by_source"].items()} == {"x": 0.0, "y": 1.0}


def test_a_model_that_always_says_positive_scores_the_positive_share_as_accuracy(tmp_path: Path) -> None:
    folder = build_tiny_classifier(tmp_path, logit_bias=(-8.0, -8.0, 8.0))
    model = load_sentiment_model(ModelConfig(name=str(folder), max_tokens=32), tmp_path / "cache")
    probabilities = evaluate_model(model, ["good", "bad", "fine", "great"], chunk=3)
    assert probabilities.shape == (4, 3)
    result = metrics([2, 0, 1, 2], probabilities)
    assert result.accuracy == pytest.approx(0.5)
    assert result.confusion == [[0, 0, 1], [0, 0, 1], [0, 0, 2]]


def test_held_out_corrections_depend_only_on_the_mention_id() -> None:
    corrections = [Correction(f"m{i}", f"text {i}", "en", i % 3) for i in range(2000)]
    train, held_out = split_corrections(corrections)
    _again_train, again_held = split_corrections(list(reversed(corrections[:1000])) + corrections[1000:])
    assert [c.mention_id for c in held_out] == [c.mention_id for c in again_held]
    assert len(train) + len(held_out) == 2000
    assert 0.17 < len(held_out) / 2000 < 0.23
    # Adding corrections never moves an existing one between the parts.
    _more_train, more_held = split_corrections(corrections + [Correction("new", "t", "en", 0)])
    assert {c.mention_id for c in held_out} <= {c.mention_id for c in more_held}
    assert all(is_held_out(c.mention_id) for c in held_out)


def test_a_mention_corrected_twice_keeps_its_last_label() -> None:
    train, held_out = split_corrections([Correction("m1", "t", "en", 0), Correction("m1", "t", "en", 2)], 50)
    assert [c.label for c in train + held_out] == [2]


def test_corrections_export_reads_mention_id_text_language_label(tmp_path: Path) -> None:
    path = tmp_path / "corrections.csv"
    path.write_text("mention_id,text,language,label\nabc,Giao hàng chậm,vi,negative\n", encoding="utf-8")
    assert read_corrections_export(path) == [Correction("abc", "Giao hàng chậm", "vi", 0)]
    with pytest.raises(ConfigError, match=r"\.csv or \.jsonl"):
        read_corrections_export(tmp_path / "corrections.xlsx")
