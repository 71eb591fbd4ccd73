"""Airflow test set-up: a throwaway AIRFLOW_HOME and metadata DB, set before airflow is imported.

The whole package is skipped with the reason when apache-airflow is not installed (it is the
optional ``airflow`` extra). Never points at a real AIRFLOW_HOME: the metadata DB here is reset.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

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

airflow = pytest.importorskip("airflow", reason="apache-airflow is not installed (pip install -e '.[airflow]')")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.airflow)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A freshly migrated Airflow metadata DB for the session."""
    from airflow.utils.db import resetdb

    resetdb(skip_init=False)
    yield _HOME


def load_dagbag() -> object:
    """Parse the repo's dags/ folder the way the dag processor does (bundle path on sys.path)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")
