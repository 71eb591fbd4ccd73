"""What every CLI module shares: the consoles, the ``--config`` option and the error guard.

Invariant: a command never shows a traceback for the project's own errors; ``guard`` prints the
message and exits 2 for configuration/usage errors, 1 for everything else the project raises.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from journeypulse.errors import ConfigError, JourneypulseError

__all__ = ["ConfigOption", "console", "err_console", "guard"]

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="config YAML (default: $JOURNEYPULSE_CONFIG, ./journeypulse.yaml, "
                 "then the bundled example)"),
]


def guard(action: Callable[[], T]) -> T:
    """Run ``action``, turning the project's errors into a message and an exit code."""
    try:
        return action()
    except ConfigError as exc:
        err_console.print(f"[bold red]error:[/] {_one_line(exc)}", highlight=False, soft_wrap=True, markup=True)
        raise typer.Exit(2) from exc
    except JourneypulseError as exc:
        err_console.print(f"[bold red]error:[/] {_one_line(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc


def _one_line(exc: Exception) -> str:
    """The message on one line, with rich markup escaped (a message may hold ``[...]``)."""
    return escape(" ".join(str(exc).split()))
