"""The bundled example config stays loadable, complete and consistent with the sample data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from journeypulse.config import DEFAULT_MODEL, load_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIG = EXAMPLES / "config.example.yaml"


def test_example_config_loads_with_the_sorami_brand_and_the_sample_source() -> None:
    settings = load_settings(CONFIG)

    brand = settings.brand("Sorami")
    assert {"Sorami App", "Sorami Pay", "Sorami Plus", "Sorami Express"} <= set(brand.products)
    assert {"#Sorami", "#SoramiPay", "#SoramiPlus"} <= set(brand.hashtags)
    assert "sorami.com" in brand.keywords
    assert set(brand.languages) == {"en", "vi", "th", "es", "pt", "id", "ar"}
    assert [s.name for s in settings.sources if s.enabled] == ["sample"]
    assert settings.sources[0].kind == "file"
    assert settings.model.name == DEFAULT_MODEL


def test_example_config_data_dir_and_sample_path_resolve_next_to_the_file() -> None:
    settings = load_settings(CONFIG)

    assert settings.data_dir == (EXAMPLES / ".." / "data").resolve()
    sample_path = settings.sources[0].params["path"]
    assert isinstance(sample_path, str)
    assert (EXAMPLES / sample_path).is_file()
    assert settings.sources[0].params["format"] == "jsonl"


def test_every_listener_kind_has_a_disabled_example_that_passes_its_own_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from listeners import LISTENER_KINDS
    from pipeline.steps import check_sources

    settings = load_settings(CONFIG)
    assert {s.kind for s in settings.sources} == set(LISTENER_KINDS)
    assert all(not s.enabled for s in settings.sources if s.kind != "file")
    for source in settings.sources:
        for env in source.secrets.values():
            monkeypatch.delenv(env, raising=False)
    statuses = {c.source: c.status for c in check_sources(settings, include_disabled=True)}
    assert set(statuses.values()) <= {"ok", "missing"}, statuses
    assert statuses["x-sorami"] == "missing"


def test_no_secret_values_are_written_in_the_example_config() -> None:
    text = CONFIG.read_text(encoding="utf-8")
    assert not re.search(r"(token|secret|api_key)\s*:\s*['\"]?[A-Za-z0-9]{20,}", text)


@pytest.mark.parametrize("kind", ["x", "bluesky", "youtube", "mastodon"])
def test_every_example_source_with_credentials_names_env_vars(kind: str) -> None:
    source = next(s for s in load_settings(CONFIG).sources if s.kind == kind)
    assert source.secrets
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]+", env) for env in source.secrets.values())
