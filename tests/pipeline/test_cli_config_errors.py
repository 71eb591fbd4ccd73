"""Every configuration error: one line ``error: <file>: <field>: <problem>``, exit 2, no secret, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()
MINIMAL = "brands:\n  - name: Sorami\n"


def _error(args: list[str], env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_folder_given_as_config_is_one_line_exit_2(tmp_path: Path) -> None:
    assert _error(["sources", "list", "-c", str(tmp_path)]) == f"error: {tmp_path}: file: is a folder; pass the YAML file inside it"


def test_a_latin1_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("brands:\n  - name: Café\n".encode("latin-1"))
    assert "latin.yaml: line 2: not UTF-8" in _error(["sources", "list", "-c", str(path)])


def test_an_unreadable_file_named_by_journeypulse_config_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "jp.yaml"
    line = _error(["sources", "list"], env={"JOURNEYPULSE_CONFIG": str(missing)})
    assert line.startswith(f"error: {missing}: file: does not exist")


@pytest.mark.parametrize("url", [
    "postgresql://bob:s3cret@db.example.com:notaport/jp",   # SQLAlchemy cannot parse it
    "mysql://bob:s3cret@db.example.com/jp",                 # unsupported backend
    "postgresql+nosuchdriver://bob:s3cret@db.example.com/jp",  # unknown driver
])
def test_a_bad_storage_url_exits_2_names_the_field_and_never_prints_the_password(tmp_path: Path, url: str) -> None:
    path = tmp_path / "jp.yaml"
    path.write_text(MINIMAL + f"storage:\n  url: '{url}'\n", encoding="utf-8")
    line = _error(["summarise", "-c", str(path)])
    assert line.startswith(f"error: {path.resolve()}: storage.url: ") and "s3cret" not in line


def test_yaml_indentation_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "jp.yaml"
    path.write_text("brands:\n  - name: A\n  sources:\n    - x\n   bad: 1\n", encoding="utf-8")
    line = _error(["sources", "list", "-c", str(path)])
    assert line.startswith(f"error: {path}: line ") and "<unicode string>" not in line


def test_a_missing_params_path_is_printed_once_with_the_file(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "jp.yaml"
    path.write_text(MINIMAL + f"storage: {{url: '{sqlite_url}'}}\nsources:\n  - name: f\n    kind: file\n    params: {{}}\n",
                    encoding="utf-8")
    for command in (["pull"], ["run"], ["sources", "list"]):
        line = _error([*command, "-c", str(path)])
        assert line == f"error: {path.resolve()}: file source 'f': params.path: Field required"
