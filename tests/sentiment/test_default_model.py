"""The committed default model: its artifact is consistent, and (slow) it scores obvious cases correctly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from journeypulse.config import DEFAULT_MODEL, ModelConfig
from sentiment import DEFAULT_HEAD_DIR, LABELS, load_sentiment_model
from sentiment.head import load_head

# Written before the head was trained; the threshold, not a hand-picked subset, absorbs the odd miss.
OBVIOUS = [
    ("I absolutely love this app, best purchase ever!", "positive"),
    ("Worst customer service I have ever had. Never again.", "negative"),
    ("Me encanta, el envío fue rapidísimo y todo perfecto.", "positive"),
    ("Pésimo servicio, el paquete llegó roto y nadie responde.", "negative"),
    ("Adorei o atendimento, super recomendo!", "positive"),
    ("Produto horrível, quero meu dinheiro de volta.", "negative"),
    ("สินค้าดีมาก ส่งเร็ว ประทับใจมากครับ", "positive"),
    ("แย่มาก รอของเป็นเดือน ติดต่อใครก็ไม่ได้", "negative"),
    ("Dieses Produkt ist fantastisch, ich bin sehr zufrieden!", "positive"),
    ("Der Kundendienst ist eine Katastrophe.", "negative"),
    ("الخدمة ممتازة وسريعة، شكرا لكم", "positive"),
    ("أسوأ تجربة شراء على الإطلاق", "negative"),
]


def test_the_committed_head_names_the_builtin_encoder_and_its_validation_scores() -> None:
    head = load_head(DEFAULT_HEAD_DIR)
    assert head.encoder == "builtin:multilingual-e5-small"
    assert head.prefix == "query: "
    assert head.weight.shape == (3, 384)
    scores = head.extra["validation_macro_f1"]
    assert isinstance(scores, dict) and "thai" in scores and "english" in scores


def test_the_model_card_reports_the_same_validation_scores_as_head_json() -> None:
    card = (DEFAULT_HEAD_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    scores = json.loads((DEFAULT_HEAD_DIR / "head.json").read_text(encoding="utf-8"))["validation_macro_f1"]
    for language, f1 in scores.items():
        assert f"| {language} | {100 * f1:.1f} |" in card
    assert "Vietnamese" in card


@pytest.mark.slow
def test_the_default_model_scores_obvious_multilingual_cases_correctly(real_cache_dir: Path) -> None:
    model = load_sentiment_model(ModelConfig(name=DEFAULT_MODEL), real_cache_dir)
    assert model.name == DEFAULT_MODEL
    assert model.revision.startswith("head-") and "+q4-sha256:" in model.revision
    scores = model.score([text for text, _ in OBVIOUS])
    correct = [score.label == expected for score, (_, expected) in zip(scores, OBVIOUS, strict=True)]
    assert sum(correct) >= 10, [(t, s.label) for (t, _), s in zip(OBVIOUS, scores, strict=True)]


@pytest.mark.slow
def test_the_default_model_reproduces_its_recorded_english_validation_score(real_cache_dir: Path) -> None:
    from sklearn.metrics import f1_score

    shared = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"  # ../shared beside the repo
    data = Path(os.environ.get("JOURNEYPULSE_DATASETS", shared)) / "umsab" / "english"
    if not (data / "val_text.txt").is_file():
        pytest.skip(f"UMSAB English validation split not found under {data} (set JOURNEYPULSE_DATASETS)")
    texts = (data / "val_text.txt").read_text(encoding="utf-8").splitlines()
    truth = [LABELS[int(v)] for v in (data / "val_labels.txt").read_text(encoding="utf-8").splitlines()]
    model = load_sentiment_model(ModelConfig(name=DEFAULT_MODEL), real_cache_dir)
    predicted = [score.label for score in model.score(texts)]
    recorded = load_head(DEFAULT_HEAD_DIR).extra["validation_macro_f1"]
    assert isinstance(recorded, dict)
    assert f1_score(truth, predicted, average="macro") == pytest.approx(recorded["english"], abs=0.01)
