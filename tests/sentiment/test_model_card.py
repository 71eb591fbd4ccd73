"""MODEL_CARD.md is generated from the training report: every language, its score and the comparisons."""

from __future__ import annotations

from pathlib import Path

from sentiment.model_card import write_model_card
from sentiment.training import TrainingReport


def test_the_model_card_lists_every_language_score_the_comparisons_and_the_files(tmp_path: Path) -> None:
    report = TrainingReport(
        out_dir=tmp_path, c=0.3, val_macro_f1={"english": 0.6812, "thai": 0.5907, "hindi": 0.3391},
        train_rows=3, files=("umsab/english/train_text.txt", "wisesight/train.jsonl"),
        comparisons={"every row weighs the same": {"english": 0.6, "thai": 0.7, "hindi": 0.2}})
    card = tmp_path / "MODEL_CARD.md"
    write_model_card(card, report, "q4-sha256:abc+conv/1", {"english": 2, "thai": 1}, 128, 7, {"thai": 3.0})
    text = card.read_text(encoding="utf-8")
    assert "| english | 68.1 | 70.6 |" in text
    assert "| thai | 59.1 | - |" in text
    assert "| every row weighs the same | 70.0 | 40.0 | 50.0 |" in text
    assert "- `wisesight/train.jsonl`" in text
    assert "thai x3" in text and "Seed 7" in text and "q4-sha256:abc+conv/1" in text
    assert "Hindi is weak (33.9" in text and "No Vietnamese" in text
