"""The import rules of ARCHITECTURE.md, checked on the source so they cannot quietly decay."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVES = {"listeners", "sentiment", "storage", "journeys", "escalation"}
PROJECT = LEAVES | {"journeypulse", "pipeline", "dags"}
# third-party top-level modules each package alone may import
EXCLUSIVE = {
    "sqlalchemy": "storage", "alembic": "storage",
    "airflow": "dags",
    "torch": "sentiment", "transformers": "sentiment", "onnxruntime": "sentiment", "onnx": "sentiment",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(package, path) for package in sorted(PROJECT) for path in sorted((ROOT / package).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), _modules(), ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v)
def test_module_respects_the_import_direction(package: str, path: Path) -> None:
    imported = _imports(path)
    for module, owner in EXCLUSIVE.items():
        assert module not in imported or package == owner, f"only {owner}/ may import {module}"
    project_imports = imported & PROJECT - {package}
    if package == "journeypulse":
        assert not project_imports, "the shared kernel imports no other project package"
    elif package in LEAVES:
        assert project_imports <= {"journeypulse"}, f"leaf package imports {sorted(project_imports)}"
    elif package == "pipeline":
        assert "dags" not in project_imports
