"""Airflow test set-up: a throwaway AIRFLOW_HOME and metadata DB, set before airflow is imported.

The whole folder is skipped with the reason when apache-airflow is not installed (it is the
optional ``airflow`` extra). Never points at a real AIRFLOW_HOME: the metadata DB here is reset.
Fixtures: ``dagbag`` (the repo's dags/ parsed like the dag processor does), ``airflow_db`` (a
fresh metadata DB), ``tiny_model`` and ``pipeline_config`` (a config on the bundled sample with a
tmp data dir, exported as $JOURNEYPULSE_CONFIG).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
_HOME = Path(tempfile.mkdtemp(prefix="jp-airflow-test-"))

# Must happen before the first `import airflow` anywhere in this process.
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": "2",
    }
)

pytest.importorskip("airflow", reason="apache-airflow is not installed (pip install -e '.[airflow]')")

# Airflow puts the bundle folder on sys.path when it parses or runs a DAG; tests of dags/step_runner.py
# import it the same way.
if str(DAGS) not in sys.path:
    sys.path.append(str(DAGS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.airflow)
            # Airflow itself warns while reading dags/.airflowignore with the default glob syntax.
            item.add_marker(pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning"))


def parse_dags() -> object:
    """The repo's dags/ parsed the way the dag processor does (the bundle folder goes on sys.path)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")


@pytest.fixture(scope="session")
def dags_dir() -> Path:
    return DAGS


@pytest.fixture(scope="session")
def dagbag() -> object:
    return parse_dags()


@pytest.fixture
def fresh_dagbag() -> object:
    """A newly parsed bag, for a test that changes its DAG objects (e.g. retry settings)."""
    return parse_dags()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A freshly migrated Airflow metadata DB for the session (about 1-5 s on SQLite)."""
    from airflow.utils.db import resetdb

    resetdb(skip_init=False)
    return _HOME


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers.tiny_models import build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("models"))


@pytest.fixture
def pipeline_config(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """examples/config.example.yaml with a tmp data dir, the bundled sample, the tiny model and rule linking."""
    config = yaml.safe_load((REPO / "examples" / "config.example.yaml").read_text(encoding="utf-8"))
    config["data_dir"] = str(tmp_path / "data")
    (sample,) = [s for s in config["sources"] if s["name"] == "sample"]
    sample["params"]["path"] = str(REPO / "examples" / "sample_mentions.jsonl")
    config["model"]["name"] = str(tiny_model)
    # The DAGs do not care which linker runs; the hybrid one loads the real encoder (minutes to build).
    config.setdefault("journeys", {})["method"] = "rules"
    path = tmp_path / "journeypulse.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("JOURNEYPULSE_CONFIG", str(path))
    monkeypatch.setenv("JOURNEYPULSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("JOURNEYPULSE_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    yield path
