"""Operator commands: ``quarantine list`` and ``quarantine count``.

Quarantine payloads are pseudonymised before they are stored, but they are still raw export lines or
API objects: ``list`` prints them only with ``--show-payload``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pipeline import steps
from pipeline.cli_common import ConfigOption, console, guard

quarantine_app = typer.Typer(help="Rows a source could not turn into mentions, with their reasons.",
                             no_args_is_help=True)

SourceFilter = Annotated[str | None, typer.Option(help="only this source")]
ReasonFilter = Annotated[str | None, typer.Option(help="only reasons containing this text (any case)")]


@quarantine_app.command("list")
def quarantine_list(
    config: ConfigOption = None,
    source: SourceFilter = None,
    reason: ReasonFilter = None,
    limit: Annotated[int, typer.Option(min=1, help="most rows to print, newest first")] = 50,
    show_payload: Annotated[bool, typer.Option("--show-payload", help="also print each row's payload")] = False,
) -> None:
    """Quarantined rows, newest first: when, source, where, why (payloads only with --show-payload)."""
    settings = guard(lambda: steps.load_run_settings(config))
    with guard(lambda: steps.open_store(settings)) as store:
        rows = guard(lambda: store.quarantine_rows(source, limit, reason=reason))
    # One line per row (grep-friendly): when, source, locator, size, reason; the payload indented below it.
    console.print(f"quarantine ({len(rows)} rows, newest first)", highlight=False)
    for row in rows:
        size = f"{row.payload_bytes} bytes{' (cut)' if row.payload_truncated else ''}"
        console.print(escape(f"{row.quarantined_at.isoformat(timespec='seconds')}  {row.source}  {row.locator}  "
                             f"{size}  {row.reason}"), highlight=False, soft_wrap=True)
        if show_payload:
            console.print(escape(f"    payload: {row.payload}"), highlight=False, soft_wrap=True)


@quarantine_app.command("count")
def quarantine_count(config: ConfigOption = None, source: SourceFilter = None, reason: ReasonFilter = None) -> None:
    """Quarantined rows per source and reason, most first."""
    settings = guard(lambda: steps.load_run_settings(config))
    with guard(lambda: steps.open_store(settings)) as store:
        counts = guard(lambda: store.quarantine_counts(source=source, reason=reason))
    table = Table("source", "reason", "rows", title=f"quarantine ({sum(n for _, _, n in counts)} rows)")
    for src, why, n in counts:
        table.add_row(escape(src), escape(why), str(n))
    console.print(table)
