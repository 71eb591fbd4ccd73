"""link_journeys with journeys.method hybrid or rules, on SQLite, with a tiny real encoder in place of e5."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import sentiment
from helpers.tiny_models import build_tiny_encoder
from journeypulse.config import Settings
from pipeline import steps
from storage import LinkedMention

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_mentions.jsonl"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture
def use_tiny_encoder(monkeypatch: pytest.MonkeyPatch, tiny_encoder: Path) -> list[Path]:
    """The product loader, pointed at the tiny encoder folder instead of building e5 (records cache dirs)."""
    real = sentiment.load_embedder
    seen: list[Path] = []

    def load(cache_dir: Path, **_: object) -> sentiment.Embedder:
        seen.append(Path(cache_dir))
        return real(cache_dir, folder=tiny_encoder, max_tokens=64, batch_size=64)

    monkeypatch.setattr(sentiment, "load_embedder", load)
    return seen


def _settings(tmp_path: Path, method: str) -> Settings:
    config = {
        "data_dir": str(tmp_path / "data"),
        "cache_dir": str(tmp_path / "cache"),
        "brands": [{"name": "Sorami", "aliases": ["soramiapp"], "products": ["Sorami App", "Sorami Pay"]}],
        "sources": [{"name": "sample", "kind": "file", "params": {"path": str(SAMPLE)}}],
        "storage": {"url": f"sqlite:///{tmp_path / 'jp.db'}"},
        "journeys": {"method": method},
    }
    path = tmp_path / "journeypulse.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return steps.load_run_settings(path)


def _stages(rows: list[LinkedMention]) -> dict[str, set[str]]:
    stages: dict[str, set[str]] = {}
    for row in rows:
        stages.setdefault(row.mention_id, set()).add(row.stage)
    return stages


def test_hybrid_linking_links_every_mention_once_and_a_rerun_links_none(tmp_path: Path,
                                                                         use_tiny_encoder: list[Path]) -> None:
    settings = _settings(tmp_path, "hybrid")
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
        steps.identify_languages(settings, store)
        mentions = store.counts()["mentions"]
        first = steps.link_journeys(settings, store)
        assert first.processed == mentions
        assert first.detail.startswith("method=hybrid revision=") and "seeds=" in first.detail
        assert steps.link_journeys(settings, store).processed == 0
        assert store.counts()["linked"] == mentions
        hybrid_stages = _stages(store.linked_mentions())
    assert use_tiny_encoder == [settings.cache_dir, settings.cache_dir]
    assert len(list((settings.cache_dir / "linker").glob("*.npz"))) == 1

    rules = _settings(tmp_path, "rules")
    with steps.open_store(rules) as store:
        relinked = steps.link_journeys(rules, store)
        assert relinked.processed == mentions, "another linker revision relinks every mention"
        assert relinked.detail.startswith("method=rules taxonomy=")
        rules_stages = _stages(store.linked_mentions())
    # The embedding may add a stage to a mention the rules leave unlinked (that is its purpose), so
    # the rules' mentions are a subset of the hybrid's, never the other way round.
    assert rules_stages.keys() <= hybrid_stages.keys()
    assert all(rules_stages[m] <= hybrid_stages[m] for m in rules_stages), "hybrid keeps every rule link"


def test_the_rules_method_loads_no_encoder(tmp_path: Path, use_tiny_encoder: list[Path]) -> None:
    settings = _settings(tmp_path, "rules")
    with steps.open_store(settings) as store:
        steps.pull(settings, store)
        assert steps.link_journeys(settings, store).processed == store.counts()["mentions"]
    assert use_tiny_encoder == []
    assert not (settings.cache_dir / "linker").exists()


def test_an_unknown_method_is_a_config_error_naming_the_choices(tmp_path: Path) -> None:
    from journeypulse.errors import ConfigError

    with pytest.raises(ConfigError, match="hybrid"):
        _settings(tmp_path, "magic")
