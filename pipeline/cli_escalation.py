"""Escalation commands: ``escalate`` (the step), ``escalations list`` and ``escalations retry``.

Rows show ids, rule, destination, status, attempts and the last error (never a payload or mention text).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pipeline import escalate as escalation_step
from pipeline import steps
from pipeline.cli_common import ConfigOption, console, guard
from storage import EscalationRow

escalations_app = typer.Typer(help="Escalations sent to support destinations: list them, replay failed ones.",
                              no_args_is_help=True)
STATUSES = ("pending", "sent", "failed", "dead")


def print_report(report: escalation_step.EscalateReport) -> None:
    if report.detail == escalation_step.DISABLED:
        console.print("escalations: off (escalation.enabled is false or no rule is enabled)", highlight=False)
        return
    console.print(f"escalations: {report.matched} matched, {report.claimed} new, {report.sent} sent, "
                  f"{report.failed} failed (retried next run), {report.dead} dead, {report.deferred} deferred "
                  f"({report.processed} enriched mentions looked at)", highlight=False)
    notes = report.detail.partition("; ")[2]
    if notes:
        console.print(escape(f"  {notes}"), highlight=False, soft_wrap=True)


def escalate_command(config: ConfigOption = None) -> None:
    """Send newly enriched mentions that match an escalation rule to its destinations (each once)."""
    settings = guard(lambda: steps.load_run_settings(config))
    with guard(lambda: steps.open_store(settings)) as store:
        report = guard(lambda: escalation_step.escalate(settings, store))
    print_report(report)
    if report.failed or report.dead:
        raise typer.Exit(1)


def _table(rows: list[EscalationRow], title: str) -> Table:
    table = Table("id", "rule", "destination", "status", "attempts", "runs", "subject", "stage", "external id",
                  "created", "sent", "last error", title=title)
    for row in rows:
        colour = {"sent": "green", "pending": "yellow", "failed": "yellow"}.get(row.status, "red")
        table.add_row(str(row.id), escape(row.rule_id), escape(row.destination), f"[{colour}]{row.status}[/]",
                      str(row.attempts), str(row.runs), escape(row.subject_key), escape(row.stage or ""),
                      escape(row.external_id or ""), row.created_at.isoformat(timespec="seconds"),
                      row.sent_at.isoformat(timespec="seconds") if row.sent_at else "", escape(row.last_error or ""))
    return table


@escalations_app.command("list")
def escalations_list(
    config: ConfigOption = None,
    status: Annotated[list[str] | None, typer.Option("--status", help=f"only these: {', '.join(STATUSES)}")] = None,
    limit: Annotated[int, typer.Option(min=1, help="most rows to print, newest first")] = 50,
) -> None:
    """Escalations, newest first, with status, attempts and the last error."""
    wanted = status or []
    unknown = sorted(set(wanted) - set(STATUSES))
    if unknown:
        raise typer.BadParameter(f"status {unknown} is not one of {', '.join(STATUSES)}", param_hint="--status")
    settings = guard(lambda: steps.load_run_settings(config))
    with guard(lambda: steps.open_store(settings)) as store:
        rows = guard(lambda: store.escalations.rows(statuses=wanted, limit=limit, newest_first=True))
    console.print(_table(rows, f"escalations ({len(rows)} rows, newest first)"))


@escalations_app.command("retry")
def escalations_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="escalation ids (see `escalations list`)")] = None,
    config: ConfigOption = None,
    dead: Annotated[bool, typer.Option("--dead", help="every dead escalation")] = False,
) -> None:
    """Replay failed or dead escalations now, with a fresh run budget (sent ones are never re-sent)."""
    if not ids and not dead:
        raise typer.BadParameter("name escalation ids or pass --dead", param_hint="ID")
    settings = guard(lambda: steps.load_run_settings(config))
    with guard(lambda: steps.open_store(settings)) as store:
        report = guard(lambda: escalation_step.retry(settings, store, ids or [], dead=dead))
        rows = guard(lambda: store.escalations.rows(ids=ids or [], statuses=[] if ids else ["sent", "dead"],
                                                    limit=50, newest_first=True))
    console.print(f"retried {report.processed}: {report.sent} sent, {report.failed} failed, {report.dead} dead",
                  highlight=False)
    console.print(_table(rows, "escalations"))
    if report.failed or report.dead:
        raise typer.Exit(1)
