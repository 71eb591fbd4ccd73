"""One-pass enrichment with a tiny real encoder + head: one encoder pass per mention, multi-task heads,
idempotent re-runs, and the fall-back to the rules when no usable journey model exists."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from helpers.journey_data import write_project_set
from helpers.tiny_models import build_tiny_head_model
from journeypulse.config import Settings
from journeys import load_linker
from journeys.multitask import FALLBACK_METHOD, load_heads, load_multitask_linker
from pipeline import steps
from pipeline.journey_train import train_heads

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_mentions.jsonl"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_head_model(tmp_path_factory.mktemp("model"))


def _settings(tmp_path: Path, model: Path, heads: Path | None, method: str = "multitask") -> Settings:
    config = {
        "data_dir": str(tmp_path / "data"),
        "cache_dir": str(tmp_path / "cache"),
        "brands": [{"name": "Sorami", "aliases": ["soramiapp"], "products": ["Sorami App", "Sorami Pay"]}],
        "sources": [{"name": "sample", "kind": "file", "params": {"path": str(SAMPLE)}}],
        "storage": {"url": f"sqlite:///{tmp_path / 'jp.db'}"},
        "model": {"name": str(model), "max_tokens": 64},
        "journeys": {"method": method, **({"heads": str(heads)} if heads is not None else {})},
    }
    path = tmp_path / "journeypulse.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return steps.load_run_settings(path)


@pytest.fixture(scope="module")
def trained_heads(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    root = tmp_path_factory.mktemp("heads")
    settings = _settings(root, tiny_model, None)
    data = write_project_set(root / "mentions", per_stage=12)
    lines: list[str] = []
    _, folder = train_heads(settings, data_dir=data, public_dir=None, out_dir=root / "heads", use_corrections=False,
                            progress=lines.append)
    assert any(line.startswith("validation (") for line in lines)
    return folder


def _link_methods(store: Any) -> set[object]:
    columns, rows = store.query_view("v_current_journey_link", filters={}, limit=None)
    return {row[columns.index("method")] for row in rows}


class EncoderCounter:
    """Counts, around the real tiny encoder, the texts sent to be encoded, the token windows they make,
    and the rows the transformers forward pass actually ran."""

    def __init__(self) -> None:
        self.texts = 0
        self.windows = 0
        self.rows = 0

    def clear(self) -> None:
        self.texts = self.windows = self.rows = 0


@pytest.fixture
def count_encoder(monkeypatch: pytest.MonkeyPatch) -> EncoderCounter:
    from transformers import BertModel

    from sentiment.windows import Windower

    counter = EncoderCounter()
    real_forward, real_windows = BertModel.forward, Windower.windows

    def forward(self: BertModel, *args: Any, **kwargs: Any) -> Any:
        ids: Any = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        counter.rows += int(ids.shape[0])
        return real_forward(self, *args, **kwargs)

    def windows(self: Windower, texts: Sequence[str]) -> Any:
        made = real_windows(self, texts)
        counter.texts += len(texts)
        counter.windows += len(made)
        return made

    monkeypatch.setattr(BertModel, "forward", forward)
    monkeypatch.setattr(Windower, "windows", windows)
    return counter


def test_the_trained_artifact_names_its_encoder_and_has_every_head(trained_heads: Path, tiny_model: Path) -> None:
    heads = load_heads(trained_heads)
    assert heads.encoder_revision.startswith("head-")
    assert set(heads.heads) == {"stage", "secondary", "exit", "exit_type", "question", "pain"}
    assert heads.heads["stage"].classes == load_linker().taxonomy.stage_names
    assert (trained_heads / "MODEL_CARD.md").read_text(encoding="utf-8").count(heads.encoder_revision) == 1
    assert set(heads.thresholds) == {"exit", "question", "secondary", "pain"}


def test_enrich_encodes_each_mention_once_and_writes_sentiment_and_multitask_links(
    tmp_path: Path, tiny_model: Path, trained_heads: Path, count_encoder: EncoderCounter,
) -> None:
    settings = _settings(tmp_path, tiny_model, trained_heads)
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
        steps.identify_languages(settings, store)
        mentions = store.counts()["mentions"]
        count_encoder.clear()
        report = steps.enrich(settings, store)
        assert count_encoder.texts == mentions, "each mention's text is encoded once"
        assert count_encoder.rows == count_encoder.windows, "one forward row per token window: a single pass"
        assert (report.classified, report.linked) == (mentions, mentions)
        assert report.link_detail.startswith("method=multitask revision=")
        assert _link_methods(store) == {"multitask"}
        linked = store.linked_mentions()
        assert all(0.0 <= row.link_confidence <= 1.0 for row in linked)
        assert all(row.link_needs_review == (row.link_confidence < 0.6) for row in linked)
        assert store.counts()["linked"] == mentions

        count_encoder.clear()
        again = steps.enrich(settings, store)
        assert (again.processed, again.classified, again.linked) == (0, 0, 0)
        assert (count_encoder.texts, count_encoder.rows) == (0, 0), "a re-run encodes and writes nothing"
        assert steps.classify(settings, store).processed == 0, "classify sees enrich's results as current"
        assert steps.link_journeys(settings, store).processed == 0, "link sees enrich's links as current"


def test_enrich_stores_the_question_heads_answer_per_link_run_and_the_rules_leave_it_unknown(
    tmp_path: Path, tiny_model: Path, trained_heads: Path,
) -> None:
    for folder, heads, method, known in ((tmp_path / "heads", trained_heads, "multitask", True),
                                         (tmp_path / "rules", None, "rules", False)):
        folder.mkdir()
        settings = _settings(folder, tiny_model, heads, method)
        with steps.open_store(settings) as store:
            steps.pull(settings, store)
            steps.identify_languages(settings, store)
            steps.enrich(settings, store)
            linked = store.escalations.candidates(limit=10_000)
            assert len(linked) == store.counts()["mentions"]
            assert {c.question is not None for c in linked} == {known}, method


def test_a_mention_missing_only_its_links_is_linked_without_a_new_sentiment_row(
    tmp_path: Path, tiny_model: Path, trained_heads: Path,
) -> None:
    settings = _settings(tmp_path, tiny_model, trained_heads)
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
        steps.identify_languages(settings, store)
        classified = steps.classify(settings, store).processed
        report = steps.enrich(settings, store)
        assert (report.classified, report.linked) == (0, classified)


def test_without_usable_heads_enrich_falls_back_to_the_rules_and_says_so(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture, count_encoder: EncoderCounter,
) -> None:
    settings = _settings(tmp_path, tiny_model, tmp_path / "no-heads-here")
    with steps.open_store(settings) as store, caplog.at_level(logging.WARNING):
        steps.pull(settings, store)
        steps.identify_languages(settings, store)
        mentions = store.counts()["mentions"]
        count_encoder.clear()
        report = steps.enrich(settings, store)
        assert report.link_detail.startswith(f"method={FALLBACK_METHOD} taxonomy=")
        assert _link_methods(store) == {FALLBACK_METHOD}
        assert count_encoder.texts == mentions, "sentiment still encodes each mention once"
        assert count_encoder.rows == count_encoder.windows
    assert any("journey heads not used" in r.getMessage() and "run `journeypulse journeys train`" in r.getMessage()
               for r in caplog.records)


def test_heads_trained_on_another_encoder_are_refused(trained_heads: Path) -> None:
    linker, why = load_multitask_linker(load_linker(), "head-0000+another-encoder", heads_dir=trained_heads)
    assert linker is None and "trained on encoder" in why and "another-encoder" in why


def test_the_multitask_linker_gives_the_primary_stage_first_with_method_and_confidence(
    trained_heads: Path, tiny_model: Path, tmp_path: Path,
) -> None:
    from sentiment import load_sentiment_model

    settings = _settings(tmp_path, tiny_model, trained_heads)
    model = load_sentiment_model(settings.model, settings.cache_dir)
    linker, why = load_multitask_linker(load_linker(), model.base_revision, heads_dir=trained_heads)  # type: ignore[attr-defined]
    assert linker is not None, why
    texts = ["cancel my Kivo Bank subscription and refund me #3", "is Kivo Bank worth it compared to the others #9"]
    scores, features = model.analyse(texts, linker.layers)  # type: ignore[attr-defined]
    assert len(scores) == 2 and features.shape[0] == 2
    assert np.allclose(np.linalg.norm(features[:, :32], axis=1), 1.0, atol=1e-4)
    links = linker.link_encoded([(t, "en", "x") for t in texts], features)
    for row in links:
        assert row and row[0].method == "multitask"
        assert row == sorted(row, key=lambda link: -link.confidence)
    predictions = linker.predict(linker.features(features, [[] for _ in texts]))
    assert [p.stage for p in predictions] == [row[0].stage for row in links] or all(
        p.stage in {link.stage for link in row} for p, row in zip(predictions, links, strict=True))


def test_on_the_int8_backend_heads_that_read_an_inner_layer_give_way_to_the_rules_and_say_why(
    tmp_path: Path, tiny_model: Path, trained_heads: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    from journeys.multitask import load_heads

    settings = _settings(tmp_path, tiny_model, trained_heads)
    settings = settings.model_copy(update={"model": settings.model.model_copy(update={"backend": "onnx-int8"})})
    inner = load_heads(trained_heads).features.layers != ("last",)
    with steps.open_store(settings) as store, caplog.at_level(logging.WARNING):
        steps.pull(settings, store)
        steps.identify_languages(settings, store)
        report = steps.enrich(settings, store)
        assert report.classified == report.linked == store.counts()["mentions"]
        if inner:  # int8 returns only the pooled last layer
            assert report.link_detail.startswith(f"method={FALLBACK_METHOD} taxonomy=")
            assert any("exposes only the last; use model.backend: torch" in r.getMessage() for r in caplog.records)
        else:  # heads on the last layer alone work on int8 too
            assert report.link_detail.startswith("method=multitask")
