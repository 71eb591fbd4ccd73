"""Top-layer fine-tuning on a tiny real encoder: the split forward is exact, and a trained folder loads and
scores through the ordinary path, reproducibly, with only its top layers changed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.tiny_models import TINY_CORPUS, build_tiny_encoder
from journeypulse.config import ModelConfig
from journeypulse.errors import ScoringError
from sentiment.classifier import load_sentiment_model
from sentiment.head import LAYERS_FILE, load_head
from sentiment.training import LabelledFile, read_labelled_file, train_model

_LABELS = ["negative", "positive", "negative", "positive", "positive", "negative", "negative", "positive",
           "positive", "negative", "negative", "positive"]
_IDENTITY = {name: name for name in ("negative", "neutral", "positive")}


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("ft-encoder"))


def _files(folder: Path) -> list[LabelledFile]:
    rows = [{"text": t, "label": label} for t, label in zip(TINY_CORPUS, _LABELS, strict=True)]
    rows += [{"text": "ok, the order arrived.", "label": "neutral"}, {"text": "Giao hàng bình thường.",
                                                                     "label": "neutral"}]
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                              encoding="utf-8")
    return [LabelledFile(folder / "train.jsonl", "jsonl", "mixed", "train", _IDENTITY),
            LabelledFile(folder / "val.jsonl", "jsonl", "mixed", "val", _IDENTITY)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    return _train(tmp_path_factory.mktemp("ft-trained"), tiny_encoder)


def _train(tmp_path: Path, encoder: Path, name: str = "out") -> Path:
    files = _files(tmp_path / "data")
    probe = LabelledFile(files[1].path, "jsonl", "vietnamese", "val", _IDENTITY)
    train_model(files, tmp_path / name, tmp_path / "cache", seed=0, epochs=2, top_layers=1, max_tokens=32,
                encoder=encoder, init_head=None, max_steps=4, baseline=None, probes=[probe])
    return tmp_path / name


def test_lower_layers_then_the_top_model_reproduce_the_full_encoders_pooled_embedding(tiny_encoder: Path) -> None:
    import torch

    from sentiment.finetune import TopModel, cache_states, load_split_encoder
    from sentiment.torch_backend import load_tokenizer, mean_pool

    lower, top, split_at = load_split_encoder(tiny_encoder, top_layers=1)
    tokenizer = load_tokenizer(tiny_encoder)
    states = cache_states(lower, tokenizer, TINY_CORPUS, prefix="query: ", max_tokens=32, path=None)
    weight = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    top_model = TopModel(top, weight, np.zeros(3, dtype=np.float32)).eval()
    with torch.inference_mode():
        logits = top_model(*states.batch(list(range(len(TINY_CORPUS))))).numpy()
    from transformers import AutoModel

    full = AutoModel.from_pretrained(tiny_encoder, add_pooling_layer=False, attn_implementation="eager").eval()
    batch = tokenizer(["query: " + t for t in TINY_CORPUS], truncation=True, max_length=32, padding=True,
                      return_tensors="pt")
    with torch.inference_mode():
        expected = mean_pool(full, batch["input_ids"], batch["attention_mask"]).numpy() @ weight.T
    assert split_at == 1
    assert np.allclose(logits, expected, atol=1e-3)  # the cached states are fp16


def test_a_trained_folder_loads_through_the_ordinary_path_and_records_its_validation_and_calibration(
        tmp_path: Path, trained: Path) -> None:
    out = trained
    head = load_head(out)
    assert (out / LAYERS_FILE).is_file() and head.extra["layers"] == {"file": LAYERS_FILE, "indices": [1],
                                                                       "dtype": "float16"}
    calibration = head.extra["calibration"]
    assert isinstance(calibration, dict) and calibration["temperature"] > 0
    model = load_sentiment_model(ModelConfig(name=str(out)), tmp_path / "cache")
    scores = model.score(["Great onboarding experience", "never again", "สินค้าดีมาก"])
    assert len(scores) == 3 and all(abs(sum(s.probabilities) - 1.0) < 1e-6 for s in scores)
    assert model.revision.startswith("head-")
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "| mixed |" in card and f"T = {calibration['temperature']}" in card and "Vietnamese" in card
    probes = head.extra["probes"]
    assert isinstance(probes, dict) and probes["vietnamese"]["rows"] == 14
    assert "- vietnamese: macro-F1" in card and "never trained or tuned on" in card


def test_only_the_fine_tuned_top_layers_differ_from_the_base_encoder(tmp_path: Path, tiny_encoder: Path,
                                                                     trained: Path) -> None:
    from safetensors.numpy import load_file

    from sentiment.head import materialise_encoder

    out = trained
    merged = load_file(str(materialise_encoder(out, load_head(out), tiny_encoder, tmp_path / "cache")
                           / "model.safetensors"))
    base = load_file(str(tiny_encoder / "model.safetensors"))
    changed = {name for name in base if not np.array_equal(base[name], merged[name])}
    assert changed and all(name.startswith("encoder.layer.1.") for name in changed)


def test_the_same_seed_and_data_give_byte_identical_weights(tmp_path: Path, tiny_encoder: Path,
                                                            trained: Path) -> None:
    first, second = trained, _train(tmp_path, tiny_encoder, "again")
    for name in (LAYERS_FILE, "head.safetensors"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_shipped_layers_that_do_not_fit_the_encoder_are_rejected_by_name(tmp_path: Path, trained: Path) -> None:
    import shutil

    from safetensors.numpy import save_file

    out = Path(shutil.copytree(trained, tmp_path / "broken"))
    save_file({"encoder.layer.1.output.dense.weight": np.zeros((5, 5), dtype=np.float16)}, str(out / LAYERS_FILE))
    with pytest.raises(ScoringError, match=r"encoder\.layer\.1\.output\.dense\.weight"):
        load_sentiment_model(ModelConfig(name=str(out)), tmp_path / "other-cache")


def test_training_without_a_validation_file_is_an_error_that_says_what_to_add(tmp_path: Path,
                                                                              tiny_encoder: Path) -> None:
    with pytest.raises(ScoringError, match="no validation file"):
        train_model(_files(tmp_path / "data")[:1], tmp_path / "out", tmp_path / "cache", encoder=tiny_encoder)


def test_a_csv_file_is_read_through_its_label_map_and_an_unknown_label_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "vi.csv"
    path.write_text("text,label\nTốt lắm,pos\nTệ quá,neg\nBình thường,neu\n", encoding="utf-8")
    mapping = {"pos": "positive", "neg": "negative", "neu": "neutral"}
    split = read_labelled_file(LabelledFile(path, "csv", "vietnamese", "val", mapping))
    assert (split.language, split.split, split.labels) == ("vietnamese", "val", (2, 0, 1))
    path.write_text("text,label\nTốt lắm,pos\nHmm,maybe\n", encoding="utf-8")
    with pytest.raises(ScoringError, match="row 2.*'maybe'"):
        read_labelled_file(LabelledFile(path, "csv", "vietnamese", "val", mapping))


def test_an_epoch_repeats_a_small_language_at_most_max_repeats_times() -> None:
    from sentiment.finetune import CachedStates, FinetuneSettings, _epoch_rows

    def language(rows: int) -> tuple[CachedStates, np.ndarray]:
        return CachedStates(np.zeros((rows, 4), dtype=np.float16), np.arange(rows + 1)), np.zeros(rows, dtype=np.int64)

    train = {"english": language(200), "vietnamese": language(5)}
    settings = FinetuneSettings(rows_per_language=100, max_repeats=4.0, language_factors={})
    picked = _epoch_rows(train, settings, np.random.default_rng(0))
    counts = {lang: sum(1 for row_lang, _r in picked if row_lang == lang) for lang in train}
    assert counts == {"english": 100, "vietnamese": 20}
    assert len({r for lang, r in picked if lang == "english"}) == 100  # without replacement while it has enough


def test_the_train_cut_never_drops_rows_of_an_uncapped_file(tmp_path: Path) -> None:
    from sentiment.training import _merged_splits

    def write(name: str, n: int) -> Path:
        rows = [{"text": f"{name} {i}", "label": ("negative", "neutral", "positive")[i % 3]} for i in range(n)]
        return _write_jsonl(tmp_path / f"{name}.jsonl", rows)

    files = [LabelledFile(write("dataset", 50), "jsonl", "thai", "train", _IDENTITY),
             LabelledFile(write("corrections", 30), "jsonl", "thai", "train", _IDENTITY, capped=False),
             LabelledFile(write("val", 40), "jsonl", "thai", "val", _IDENTITY)]
    splits = {s.split: s for s in _merged_splits(files, max_train_rows=5, factors={"thai": 2.0}, seed=0)}
    texts = splits["train"].texts
    assert sum(t.startswith("dataset") for t in texts) == 10  # 5 x the Thai factor
    assert sum(t.startswith("corrections") for t in texts) == 30  # every correction kept
    assert len(splits["val"].texts) == 40  # validation is never cut


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
