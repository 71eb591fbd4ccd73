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
    assert [s.name for s in settings.sources] == ["sample"]
    assert settings.sources[0].kind == "file"
    assert settings.model.name == DEFAULT_MODEL


def test_example_config_data_dir_and_sample_path_resolve_next_to_the_file() -> None:
    settings = load_settings(CONFIG)

    assert settings.data_dir == (EXAMPLES / ".." / "data").resolve()
    sample_path = settings.sources[0].params["path"]
    assert isinstance(sample_path, str)
    assert (EXAMPLES / sample_path).is_file()
    assert settings.sources[0].params["format"] == "jsonl"


def _uncomment_sources(text: str) -> str:
    """Turn the commented-out source examples (lines '  # - name: ...' and their indented body) into YAML."""
    out: list[str] = []
    in_block = False
    for line in text.splitlines():
        if re.match(r"^  # - name: ", line):
            in_block = True
        elif in_block and not re.match(r"^  #(   |$)", line):
            in_block = False
        if in_block:
            line = "  " + line[4:] if line.startswith("  # ") else ""
        out.append(line)
    return "\n".join(out) + "\n"


def test_commented_out_source_examples_are_valid_config_when_uncommented(tmp_path: Path) -> None:
    live = tmp_path / "config.yaml"
    live.write_text(_uncomment_sources(CONFIG.read_text(encoding="utf-8")), encoding="utf-8")

    settings = load_settings(live)

    kinds = {s.kind for s in settings.sources}
    assert kinds == {"file", "x", "reddit", "mastodon", "rss", "google_play", "app_store", "youtube"}
    x_source = next(s for s in settings.sources if s.kind == "x")
    assert x_source.secrets == {"bearer_token": "X_BEARER_TOKEN"}


def test_no_secret_values_are_written_in_the_example_config() -> None:
    text = CONFIG.read_text(encoding="utf-8")
    assert not re.search(r"(token|secret|api_key)\s*:\s*['\"]?[A-Za-z0-9]{20,}", text)


@pytest.mark.parametrize("kind", ["x", "reddit", "mastodon", "youtube"])
def test_every_commented_source_that_needs_credentials_names_env_vars(kind: str, tmp_path: Path) -> None:
    live = tmp_path / "config.yaml"
    live.write_text(_uncomment_sources(CONFIG.read_text(encoding="utf-8")), encoding="utf-8")
    source = next(s for s in load_settings(live).sources if s.kind == kind)
    assert source.secrets
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]+", env) for env in source.secrets.values())
