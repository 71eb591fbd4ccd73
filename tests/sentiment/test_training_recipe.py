"""The v3 training recipe's guarantees: a run resumed from a checkpoint ends with exactly the model of a run that
was never stopped; the data catalogue filters sets by licence; the test-like part of every train file is fixed
and never trained on; card figures carry bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.tiny_models import TINY_CORPUS, build_tiny_encoder
from journeypulse.errors import ScoringError
from sentiment.datasets import LabelledSplit, carve_test_like, is_test_like
from sentiment.evaluation import bootstrap_interval, macro_f1, split_report
from sentiment.training import _merged_splits, discover_files


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("recipe-encoder"))


def _states(encoder: Path):  # type: ignore[no-untyped-def]
    from sentiment.finetune import cache_states, load_split_encoder
    from sentiment.torch_backend import load_tokenizer

    lower, top, _ = load_split_encoder(encoder, top_layers=2)
    states = cache_states(lower, load_tokenizer(encoder), TINY_CORPUS, prefix="query: ", max_tokens=32, path=None)
    labels = np.array([i % 3 for i in range(len(TINY_CORPUS))])
    return top, {"a": (states, labels), "b/set": (states, labels[::-1].copy())}


def _run(encoder: Path, checkpoint: Path | None, resume: bool = False):  # type: ignore[no-untyped-def]
    from sentiment.finetune import FinetuneSettings, finetune_top

    top, train = _states(encoder)
    settings = FinetuneSettings(top_layers=2, max_tokens=32, epochs=3, batch_size=4, rows_per_language=8,
                                max_train_rows=None, language_factors={}, checkpoint_every=3, patience=5)
    weight = np.random.default_rng(1).normal(size=(3, 32)).astype(np.float32)
    return finetune_top(top, weight, np.zeros(3, dtype=np.float32), train, train, settings, seed=7,
                        checkpoint=checkpoint, resume=resume)


def test_a_run_killed_after_a_checkpoint_and_resumed_ends_with_the_uninterrupted_model(
        tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import sentiment.finetune as finetune

    uninterrupted = _run(tiny_encoder, None)
    checkpoint = tmp_path / "run.pt"
    real_save = finetune._save_checkpoint
    saves = {"n": 0}

    class Killed(Exception):
        pass

    def save_then_die_on_the_third(path: Path, state: dict[str, object]) -> None:
        real_save(path, state)
        saves["n"] += 1
        if saves["n"] == 3:  # mid-epoch: step 9 of 12, in the second epoch
            raise Killed

    monkeypatch.setattr(finetune, "_save_checkpoint", save_then_die_on_the_third)
    with pytest.raises(Killed):
        _run(tiny_encoder, checkpoint)
    monkeypatch.setattr(finetune, "_save_checkpoint", real_save)
    resumed = _run(tiny_encoder, checkpoint, resume=True)
    assert resumed.steps == uninterrupted.steps and resumed.best_epoch == uninterrupted.best_epoch
    for name, value in uninterrupted.model.state_dict().items():
        assert torch.allclose(value, resumed.model.state_dict()[name], atol=1e-6), name
    assert [h["mean_val_macro_f1"] for h in resumed.history] == [h["mean_val_macro_f1"] for h in uninterrupted.history]


def test_resuming_from_another_runs_checkpoint_is_refused(tiny_encoder: Path, tmp_path: Path) -> None:
    from sentiment.finetune import FinetuneSettings, finetune_top

    checkpoint = tmp_path / "run.pt"
    _run(tiny_encoder, checkpoint)
    top, train = _states(tiny_encoder)
    other = FinetuneSettings(top_layers=2, max_tokens=32, epochs=3, batch_size=4, rows_per_language=8,
                             max_train_rows=None, language_factors={}, checkpoint_every=3, lr_layers=1e-3)
    with pytest.raises(ScoringError, match="another run"):
        finetune_top(top, np.zeros((3, 32), dtype=np.float32), np.zeros(3, dtype=np.float32), train, train, other,
                     seed=7, checkpoint=checkpoint, resume=True)


def _write_layout(root: Path) -> Path:
    for split in ("train", "val"):
        folder = root / "umsab" / "english"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}_text.txt").write_text("good\nbad\nmeh\n", encoding="utf-8")
        (folder / f"{split}_labels.txt").write_text("2\n0\n1\n", encoding="utf-8")
    rows = [{"text": f"text {i}", "label": ("negative", "neutral", "positive")[i % 3], "lang": lang}
            for i in range(6) for lang in ("ar",)]
    for name, file_name in (("astd", "train.jsonl"), ("astd", "valid.jsonl"), ("nusax-senti", "train.jsonl")):
        (root / name).mkdir(parents=True, exist_ok=True)
        lines = rows if name == "astd" else [{**r, "lang": lang} for r in rows for lang in ("en", "id")]
        (root / name / file_name).write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return root


def test_discovered_sets_can_be_limited_to_permissive_licences(tmp_path: Path) -> None:
    root = _write_layout(tmp_path)
    every = {(f.dataset, f.language, f.split) for f in discover_files(root)}
    assert ("astd", "arabic/astd", "val") in every
    assert {("nusax-senti", "english/nusax-senti", "train"), ("nusax-senti", "indonesian/nusax-senti", "train")} <= every
    permissive = {f.dataset for f in discover_files(root, licence_classes=("permissive",))}
    assert permissive == {"umsab"}
    assert "astd" not in {f.dataset for f in discover_files(root, exclude=("astd",))}
    with pytest.raises(ScoringError, match="unknown licence class"):
        discover_files(root, licence_classes=("free",))


def test_the_test_like_part_is_fixed_about_a_tenth_and_never_in_training(tmp_path: Path) -> None:
    texts = tuple(f"customer post number {i} about delivery" for i in range(2000)) + ("Same text", "same   TEXT")
    split = LabelledSplit("english", "train", texts, tuple(i % 3 for i in range(len(texts))), ())
    train, test = carve_test_like(split)
    assert 150 <= len(test.texts) <= 250 and test.split == "test"
    assert not set(train.texts) & set(test.texts)
    assert is_test_like("Same text") == is_test_like("same   TEXT")  # normalised: repeated texts stay together
    assert carve_test_like(split) == (train, test)
    merged = {(s.language, s.split): s for s in _merged_splits(
        discover_files(_write_layout(tmp_path)), max_train_rows=2)}
    for (language, name), part in merged.items():
        if name == "test":
            assert not set(part.texts) & set(merged[(language, "train")].texts)


def test_split_reports_carry_a_bootstrap_interval_around_the_macro_f1() -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, size=300)
    predicted = np.where(rng.random(300) < 0.7, gold, rng.integers(0, 3, size=300))
    low, high = bootstrap_interval(gold, predicted, seed=0)
    assert low < macro_f1(gold, predicted) < high and high - low < 0.2
    assert (low, high) == bootstrap_interval(gold, predicted, seed=0)
    report = split_report(np.eye(3)[predicted], gold)
    assert report["rows"] == 300 and np.isclose(report["macro_f1"], macro_f1(gold, predicted))
    assert np.isclose(sum(report["predicted_shares"]), 1.0) and np.array(report["confusion"]).sum() == 300
