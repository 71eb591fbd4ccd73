"""The hybrid journey linker: training on the seed set with a tiny real encoder, caching, revision, combination."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from helpers.tiny_models import build_tiny_encoder
from journeypulse.errors import ConfigError, PipelineError
from journeys import HybridLinker, Link, load_hybrid_linker, load_linker, load_seeds
from journeys.hybrid import ADD_TOP_MIN, AGREE_MIN, fit_stage_classifier, hybrid_revision, link_all
from pipeline.linker_eval import METHODS, evaluate
from sentiment import Embedder, load_embedder

STAGES = ("awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "exit")


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    folder = build_tiny_encoder(tmp_path_factory.mktemp("encoder"))
    return load_embedder(tmp_path_factory.mktemp("cache"), folder=folder, max_tokens=64, batch_size=64)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("linker-cache")


@pytest.fixture(scope="module")
def linker(embedder: Embedder, cache_dir: Path) -> HybridLinker:
    return load_hybrid_linker(embedder, encoder_revision=embedder.revision, cache_dir=cache_dir)


def _probabilities(**by_stage: float) -> np.ndarray:
    rest = (1.0 - sum(by_stage.values())) / (len(STAGES) - len(by_stage))
    return np.array([by_stage.get(stage, rest) for stage in STAGES])


def _rule_link(stage: str, confidence: float, pain_point: str | None = None) -> Link:
    return Link(stage=stage, touchpoint="social", pain_point=pain_point, exit_signal=None, method="rules",
                confidence=confidence, needs_review=confidence < 0.6, evidence=("x",))


def test_the_classifier_trained_on_the_seed_set_gives_one_distribution_over_the_stages_per_text(
    linker: HybridLinker,
) -> None:
    probabilities = linker.stage_probabilities(["Sorami Express lost my parcel", "Sorami Plus worth it?"])
    assert probabilities.shape == (2, len(STAGES))
    assert linker.classifier.stages == STAGES
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)


def test_the_trained_classifier_is_cached_and_reused_without_embedding_the_seeds_again(
    linker: HybridLinker, embedder: Embedder, cache_dir: Path,
) -> None:
    assert len(list((cache_dir / "linker").glob("stage-classifier-*.npz"))) == 1
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        return embedder(texts)

    seeds = load_seeds(linker.rules.taxonomy)
    again = fit_stage_classifier(seeds, counting, STAGES, encoder_revision=embedder.revision, cache_dir=cache_dir)
    assert calls == []
    np.testing.assert_array_equal(again.weight, linker.classifier.weight)


def test_another_encoder_revision_trains_a_new_classifier(embedder: Embedder, cache_dir: Path) -> None:
    other = load_hybrid_linker(embedder, encoder_revision="other-encoder", cache_dir=cache_dir)
    assert len(list((cache_dir / "linker").glob("stage-classifier-*.npz"))) == 2
    assert other.revision != load_hybrid_linker(embedder, encoder_revision=embedder.revision,
                                                cache_dir=cache_dir).revision


def test_the_revision_changes_with_taxonomy_version_seeds_and_encoder_and_fits_the_storage_column() -> None:
    base = hybrid_revision("2026.11-rules-v1", "seed-a", "enc-a")
    assert base.startswith("2026.11-rules-v1+h") and len(base) <= 50
    assert len({base, hybrid_revision("2026.12", "seed-a", "enc-a"), hybrid_revision("2026.11-rules-v1", "seed-b", "enc-a"),
                hybrid_revision("2026.11-rules-v1", "seed-a", "enc-b")}) == 4
    with pytest.raises(ConfigError, match="too long"):
        hybrid_revision("v" * 40, "seed-a", "enc-a")


def test_a_rule_link_the_embedding_agrees_with_gains_confidence_and_names_both_methods(linker: HybridLinker) -> None:
    [link] = linker.combine([_rule_link("delivery", 0.7, "late_delivery")], _probabilities(delivery=0.6), "social")
    assert link.method == "rules+embedding"
    assert link.confidence == pytest.approx(1 - 0.3 * 0.4, abs=1e-3)
    assert link.pain_point == "late_delivery" and not link.needs_review


def test_a_rule_link_the_embedding_does_not_support_keeps_its_rule_confidence(linker: HybridLinker) -> None:
    probabilities = _probabilities(support=0.9, delivery=AGREE_MIN / 2)
    links = linker.combine([_rule_link("delivery", 0.5)], probabilities, "social")
    assert [(link.stage, link.method) for link in links] == [("support", "embedding"), ("delivery", "rules")]
    assert links[1].confidence == 0.5 and links[1].needs_review


def test_the_embedding_adds_its_top_stage_for_review_when_the_rules_found_nothing(linker: HybridLinker) -> None:
    probabilities = _probabilities(usage=ADD_TOP_MIN + 0.05, exit=ADD_TOP_MIN)
    [link] = linker.combine([], probabilities, None)
    assert (link.stage, link.method, link.pain_point, link.touchpoint) == ("usage", "embedding", None, None)
    assert link.needs_review


def test_the_embedding_adds_only_its_top_stage_and_only_when_the_rules_missed_it(linker: HybridLinker) -> None:
    links = linker.combine([_rule_link("support", 0.99)], _probabilities(support=0.45, exit=0.44), "social")
    assert [(link.stage, link.method) for link in links] == [("support", "rules+embedding")]
    links = linker.combine([_rule_link("support", 0.99)], _probabilities(support=0.05, exit=0.3), "social")
    assert [(link.stage, link.method) for link in links] == [("support", "rules"), ("exit", "embedding")]
    assert links[1].touchpoint == "social"
    assert linker.combine([], _probabilities(exit=ADD_TOP_MIN - 0.01, usage=ADD_TOP_MIN - 0.02), None) == []


def test_link_many_returns_one_list_per_text_in_order_with_known_methods(linker: HybridLinker) -> None:
    items = [("Sorami app crashes when I open my orders", "en", "google_play"), ("", "und", None),
             ("ลบแอป Sorami แล้ว ส่งช้าตลอด", "th", "x")]
    results = link_all(linker, items)
    assert len(results) == 3
    for links in results:
        assert all(link.method in {"rules", "embedding", "rules+embedding"} for link in links)
        assert all(0.0 < link.confidence <= 0.99 for link in links)
        assert all(link.needs_review == (link.confidence < 0.6) for link in links)
        assert [link.confidence for link in links] == sorted((link.confidence for link in links), reverse=True)
    assert results[0] == linker.link(*items[0][:1], language="en", channel="google_play")


def test_the_rules_linker_goes_through_the_same_batch_helper() -> None:
    rules = load_linker()
    text = "Sorami Express parcel is late again"
    assert link_all(rules, [(text, "en", "x")]) == [rules.link(text, language="en", channel="x")]


def test_an_embedding_function_that_breaks_its_contract_is_an_error_naming_the_shape(linker: HybridLinker) -> None:
    broken = HybridLinker(linker.rules, linker.classifier, lambda texts: np.zeros((1, linker.classifier.dim)),
                          seed_digest="s", encoder_revision="e")
    with pytest.raises(PipelineError, match=r"shape \(1, 32\) for 2 texts"):
        broken.link_many([("a", None, None), ("b", None, None)])


def test_evaluation_reports_every_language_and_method_and_the_rules_rows_match_the_rule_linker(
    linker: HybridLinker,
) -> None:
    seeds = load_seeds(linker.rules.taxonomy)
    rows = evaluate(linker, seeds)
    assert {(row.language, row.method) for row in rows} == {
        (language, method) for language in (*seeds.languages, "all") for method in METHODS}
    rules_en = next(row for row in rows if (row.language, row.method) == ("en", "rules"))
    held_out = [e for e in seeds.test if e.language == "en"]
    correct = 0
    for example in held_out:
        links = linker.rules.link(example.text, language="en", channel=None)
        correct += bool(links) and links[0].stage == example.stage
    assert rules_en.examples == len(held_out) == 16
    assert rules_en.accuracy == correct / len(held_out)
    assert all(0.0 <= row.macro_f1 <= 1.0 and 0.0 <= row.linked <= 1.0 for row in rows)
