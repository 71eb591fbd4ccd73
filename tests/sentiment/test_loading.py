"""Loading every model kind through the real transformers code, and the errors for broken inputs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from helpers.tiny_models import build_tiny_classifier
from journeypulse.config import ModelConfig
from journeypulse.errors import ScoringError
from sentiment import LABELS, SentimentModel, load_sentiment_model
from sentiment.classifier import EncoderHeadModel, SequenceClassificationModel


def _load(name: str | Path, tmp_path: Path, **overrides: object) -> SentimentModel:
    return load_sentiment_model(ModelConfig(name=str(name), **overrides), tmp_path / "cache")


def test_importing_the_package_does_not_import_torch_or_transformers() -> None:
    import subprocess

    code = "import sys, sentiment; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_a_sequence_classification_folder_loads_with_a_content_revision(tiny_classifier: Path, tmp_path: Path) -> None:
    model = _load(tiny_classifier, tmp_path)
    assert isinstance(model, SequenceClassificationModel)
    assert isinstance(model, SentimentModel)
    assert (model.name, model.backend) == (str(tiny_classifier), "torch")
    assert model.revision.startswith("sha256:")
    scores = model.score(["great service", "awful delivery"])
    assert [s.label in LABELS for s in scores] == [True, True]


def test_an_encoder_plus_head_folder_loads_its_encoder_from_head_json(tiny_head_model: Path, tmp_path: Path) -> None:
    model = _load(tiny_head_model, tmp_path)
    assert isinstance(model, EncoderHeadModel)
    assert model.revision.startswith("head-") and "+sha256:" in model.revision
    (score,) = model.score(["Giao hàng quá chậm"])
    assert sum(score.probabilities) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("id2label", "bias", "expected"),
    [
        ({0: "positive", 1: "negative", 2: "neutral"}, (6.0, 0.0, 0.0), "positive"),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, (0.0, 0.0, 6.0), "positive"),
        ({0: "neu", 1: "pos", 2: "neg"}, (0.0, 0.0, 6.0), "negative"),
    ],
)
def test_model_outputs_are_reported_under_the_mapped_label(
        tmp_path: Path, id2label: dict[int, str], bias: tuple[float, ...], expected: str) -> None:
    folder = build_tiny_classifier(tmp_path, id2label=id2label, logit_bias=bias)
    (score,) = _load(folder, tmp_path).score(["the parcel arrived"])
    assert score.label == expected
    assert score.confidence > 0.9


def test_a_classifier_with_unmappable_labels_is_refused(tmp_path: Path) -> None:
    folder = build_tiny_classifier(tmp_path, id2label={0: "joy", 1: "anger", 2: "fear"})
    with pytest.raises(ScoringError, match=r"cannot map its labels \['joy', 'anger', 'fear'\]"):
        _load(folder, tmp_path)


def test_a_hugging_face_id_loads_offline_from_the_local_hub_cache(
        tiny_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-sentiment"
    shutil.copytree(tiny_classifier, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    model = _load("acme/tiny-sentiment", tmp_path)
    assert (model.name, model.revision) == ("acme/tiny-sentiment", commit)
    assert len(model.score(["ok"])) == 1


def test_a_hugging_face_id_missing_from_the_cache_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(ScoringError, match="acme/not-downloaded .*not in the local Hugging Face cache.*hf download"):
        _load("acme/not-downloaded", tmp_path)


def test_a_missing_folder_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScoringError, match=r"model folder .*nope does not exist"):
        _load(tmp_path / "nope", tmp_path)


def test_a_folder_without_model_files_raises_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScoringError, match="neither head.json .* nor config.json"):
        _load(tmp_path / "empty", tmp_path)


def test_a_broken_config_json_raises_a_scoring_error(tiny_classifier: Path, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_classifier, folder)
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ScoringError, match="broken"):
        _load(folder, tmp_path)


def test_a_head_json_with_wrong_labels_raises_a_scoring_error(tiny_head_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bad-head"
    shutil.copytree(tiny_head_model, folder)
    meta = json.loads((folder / "head.json").read_text(encoding="utf-8"))
    meta["labels"] = ["bad", "good", "meh"]
    (folder / "head.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ScoringError, match="head .*head.json: needs labels"):
        _load(folder, tmp_path)


def test_a_head_whose_encoder_folder_is_missing_raises_a_scoring_error(tiny_head_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "orphan-head"
    shutil.copytree(tiny_head_model, folder)
    shutil.rmtree(folder / "encoder")
    with pytest.raises(ScoringError, match="encoder folder .* does not exist"):
        _load(folder, tmp_path)


def test_a_pinned_revision_that_differs_from_the_folder_is_refused(tiny_classifier: Path, tmp_path: Path) -> None:
    with pytest.raises(ScoringError, match="model.revision pins 'sha256:0000' but the model on disk is 'sha256:"):
        _load(tiny_classifier, tmp_path, revision="sha256:0000")


def test_a_pinned_revision_that_matches_the_folder_loads(tiny_classifier: Path, tmp_path: Path) -> None:
    revision = _load(tiny_classifier, tmp_path).revision
    assert _load(tiny_classifier, tmp_path, revision=revision).revision == revision
