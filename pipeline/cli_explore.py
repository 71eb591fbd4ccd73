"""``journeypulse explore``: open the SQLite store in Datasette with the project's metadata and canned queries.

Datasette (``pip install 'journeypulse[explore]'``) runs as its own process: ``python -m datasette serve``
on the store's file, with a metadata YAML generated from storage/VIEWS.md (view and column descriptions)
and the canned queries of storage/explore.py. PostgreSQL stores are explored with Superset or Metabase
(README, "Explore in a browser").
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from pipeline import steps
from pipeline.cli_common import ConfigOption, console, err_console, guard
from storage.explore import datasette_metadata, sqlite_file

SQL_TIME_LIMIT_MS = 5000
"""Datasette stops a query after this long (its default, 1 s, is short for the aggregating views)."""


def datasette_command(database: Path, metadata: Path, *, host: str, port: int) -> list[str]:
    """The argv that serves ``database`` with ``metadata`` on ``host:port`` (Datasette of this Python)."""
    return [sys.executable, "-m", "datasette", "serve", str(database), "--metadata", str(metadata),
            "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", str(SQL_TIME_LIMIT_MS)]


def write_metadata(database: Path, out: Path) -> Path:
    """Write the Datasette metadata YAML for ``database`` to ``out``; returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    document = datasette_metadata(database.stem)
    out.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8")
    return out


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def explore(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="address to listen on; keep 127.0.0.1 unless others may read the data")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8001,
    metadata: Annotated[Path | None, typer.Option(help="where to write the metadata YAML "
                                                   "(default <data_dir>/datasette-metadata.yaml)")] = None,
    print_command: Annotated[bool, typer.Option("--print-command", help="write the metadata, print the datasette "
                                                "command and exit")] = False,
) -> None:
    """Browse the SQLite store in Datasette: the views with their documentation and canned analyst queries."""
    settings = guard(lambda: steps.load_run_settings(config))
    database = sqlite_file(settings.database_url)
    if database is None:
        raise _fail("explore opens SQLite stores; for PostgreSQL point Apache Superset or Metabase at the views "
                    "(README: Explore in a browser)")
    guard(lambda: steps.open_store(settings)).close()  # migrates: the views Datasette shows exist
    meta = write_metadata(database, metadata or settings.data_dir / "datasette-metadata.yaml")
    command = datasette_command(database, meta, host=host, port=port)
    if print_command:
        typer.echo(shlex.join(command))
        return
    if importlib.util.find_spec("datasette") is None:
        raise _fail("Datasette is not installed: pip install 'journeypulse[explore]'")
    console.print(f"Datasette on http://{host}:{port}/{database.stem} (Ctrl+C stops it)", highlight=False,
                  soft_wrap=True)
    raise typer.Exit(subprocess.run(command, check=False).returncode)
