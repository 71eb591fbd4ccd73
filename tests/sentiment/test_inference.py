"""Inference behaviour on tiny real models: one result per text in order, and token windows for long texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from journeypulse.config import ModelConfig
from journeypulse.errors import ScoringError
from sentiment import load_sentiment_model
from sentiment.classifier import EncoderHeadModel, SequenceClassificationModel

TEXTS = [
    "Refund took three weeks 😡 never again, the support chat kept closing on me",
    "ok",
    "สินค้าดีมาก ส่งเร็ว",
    "",
    "Giao hàng quá chậm, tôi rất thất vọng với dịch vụ.",
    "الخدمة سيئة",
    "I love the new app!",
]


@pytest.fixture(params=["classifier", "head"])
def model(request: pytest.FixtureRequest, tiny_classifier: Path, tiny_head_model: Path,
          tmp_path: Path) -> SequenceClassificationModel | EncoderHeadModel:
    folder = tiny_classifier if request.param == "classifier" else tiny_head_model
    loaded = load_sentiment_model(ModelConfig(name=str(folder), batch_size=3, max_tokens=24), tmp_path)
    assert isinstance(loaded, (SequenceClassificationModel, EncoderHeadModel))
    return loaded


def test_scores_come_back_one_per_text_in_input_order(model: SequenceClassificationModel | EncoderHeadModel) -> None:
    together = model.score(TEXTS)
    alone = [model.score([text])[0] for text in TEXTS]
    assert len(together) == len(TEXTS)
    for batched, single in zip(together, alone, strict=True):
        assert batched.label == single.label
        assert batched.probabilities == pytest.approx(single.probabilities, abs=1e-5)


def test_reversing_the_input_reverses_the_output(model: SequenceClassificationModel | EncoderHeadModel) -> None:
    forward = [s.probabilities for s in model.score(TEXTS)]
    backward = [s.probabilities for s in model.score(TEXTS[::-1])]
    assert np.allclose(forward, backward[::-1], atol=1e-5)


def test_an_empty_list_scores_to_an_empty_list(model: SequenceClassificationModel | EncoderHeadModel) -> None:
    assert model.score([]) == []


def test_a_bare_string_or_a_non_string_is_refused(model: SequenceClassificationModel | EncoderHeadModel) -> None:
    with pytest.raises(ScoringError, match="list of texts"):
        model.score("one text")
    with pytest.raises(ScoringError, match="text #1 is int"):
        model.score(["fine", 3])  # type: ignore[list-item]


def test_a_long_text_is_split_into_windows_that_cover_every_token(tiny_classifier: Path, tmp_path: Path) -> None:
    model = load_sentiment_model(ModelConfig(name=str(tiny_classifier), max_tokens=16), tmp_path)
    assert isinstance(model, SequenceClassificationModel)
    windower = model.runner.windower
    long_text = " ".join(["the delivery was late and support never answered"] * 6)
    content = windower.tokenizer(long_text, add_special_tokens=False)["input_ids"]
    windows = windower.windows([long_text])
    assert len(windows) > 2
    assert all(len(w.ids) <= 16 for w in windows)
    inner = [i for w in windows for i in w.ids[len(windower.head_ids):len(w.ids) - len(windower.tail_ids)]]
    assert inner == content


def test_a_long_texts_probabilities_are_the_length_weighted_mean_of_its_windows(
        tiny_classifier: Path, tmp_path: Path) -> None:
    model = load_sentiment_model(ModelConfig(name=str(tiny_classifier), max_tokens=16), tmp_path)
    assert isinstance(model, SequenceClassificationModel)
    runner = model.runner
    long_text = " ".join(["Sản phẩm tốt, nhân viên hỗ trợ nhiệt tình."] * 5)
    windows = runner.windower.windows([long_text])
    per_window = []
    for window in windows:
        import torch

        with torch.inference_mode():
            logits = runner.model(input_ids=torch.tensor([window.ids])).logits
        per_window.append(torch.softmax(logits, -1)[0, runner.order].numpy())
    weights = np.array([len(w.ids) for w in windows], dtype=float)
    expected = (np.array(per_window) * weights[:, None]).sum(0) / weights.sum()
    (score,) = model.score([long_text])
    assert score.probabilities == pytest.approx(tuple(expected), abs=1e-5)


def test_every_window_of_an_encoder_head_model_starts_with_the_prefix(tiny_head_model: Path, tmp_path: Path) -> None:
    model = load_sentiment_model(ModelConfig(name=str(tiny_head_model), max_tokens=20), tmp_path)
    assert isinstance(model, EncoderHeadModel)
    windower = model.encoder.windower
    windows = windower.windows(["sản phẩm tốt " * 20])
    prefix = windower.head_ids + windower.prefix_ids
    assert len(windows) > 1
    assert all(w.ids[:len(prefix)] == prefix and len(w.ids) <= 20 for w in windows)
