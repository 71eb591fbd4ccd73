"""Fixtures for pipeline tests: a tiny real classifier and a config on a given database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers.tiny_models import build_tiny_classifier

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample_mentions.jsonl"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("models"))


@pytest.fixture
def write_config(tmp_path: Path, tiny_model: Path) -> Callable[..., Path]:
    """``write_config(url, files=[...], **overrides)`` -> path of a config using the tiny model."""

    def write(url: str, files: list[Path] | None = None, **overrides: object) -> Path:
        config = {
            "data_dir": str(tmp_path / "data"),
            "brands": [{"name": "Sorami", "aliases": ["soramiapp", "Sorami Mart"],
                        "products": ["Sorami App", "Sorami Pay", "Sorami Plus", "Sorami Express"],
                        "hashtags": ["#Sorami", "#SoramiPay", "#SoramiPlus"], "keywords": ["sorami.com"]}],
            "sources": [{"name": f"file{i}", "kind": "file", "params": {"path": str(path)}}
                        for i, path in enumerate(files if files is not None else [SAMPLE])],
            "model": {"name": str(tiny_model)},
            "storage": {"url": url},
            # Rules only: the hybrid linker needs the real encoder, which these tests do not build.
            "journeys": {"method": "rules"},
        }
        config.update(overrides)
        path = tmp_path / "journeypulse.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        return path

    return write
