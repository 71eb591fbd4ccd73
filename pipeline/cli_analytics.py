"""The analyst commands: ``query``, ``map``, ``coach pull|review|export``, ``label``, ``alerts check``, ``forget-author``.

Registered on the main app in pipeline/cli.py. Same error contract as the rest of the CLI: the
project's errors print ``error: ...`` to stderr and exit 2 (configuration/usage) or 1 (failed run).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from journeypulse.config import Settings
from journeys.coaching import CoachingFilter, export_csv, export_html, export_jsonl
from pipeline import analytics, steps
from pipeline.cli_common import ConfigOption, console, err_console, guard
from storage import VIEW_COLUMNS, Store

coach_app = typer.Typer(help="Coaching examples: pull, review, export training packs.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alert rules on daily stage sentiment.", no_args_is_help=True)


DayOption = Annotated[str | None, typer.Option(help="UTC day YYYY-MM-DD")]


class QueryFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    html = "html"


@contextlib.contextmanager
def _opened(config: Path | None) -> Iterator[tuple[Settings, Store]]:
    settings = guard(lambda: steps.load_run_settings(config))
    store = guard(lambda: steps.open_store(settings))
    try:
        yield settings, store
    finally:
        store.close()


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        err_console.print(f"[bold red]error:[/] {option} {value!r} is not a day; use YYYY-MM-DD", highlight=False)
        raise typer.Exit(2) from exc


def _cell(value: object) -> str | int | float | bool | None:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value  # type: ignore[return-value]


def query(
    view: Annotated[str, typer.Argument(help="a view from storage/VIEWS.md, e.g. v_daily_sentiment")],
    config: ConfigOption = None,
    brand: Annotated[str | None, typer.Option()] = None,
    product: Annotated[str | None, typer.Option(help="configured product among the matched terms")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option()] = None,
    stage: Annotated[str | None, typer.Option()] = None,
    since: DayOption = None,
    until: DayOption = None,
    format: Annotated[QueryFormat, typer.Option("--format", "-f")] = QueryFormat.table,
    limit: Annotated[int, typer.Option(help="most rows to print", min=1)] = 100,
) -> None:
    """Rows of an analyst view (columns documented in storage/VIEWS.md) as a table, CSV or JSON."""
    if view not in VIEW_COLUMNS:
        err_console.print(f"[bold red]error:[/] view {view!r} is not queryable; choose one of: "
                          f"{', '.join(VIEW_COLUMNS)}", highlight=False)
        raise typer.Exit(2)
    filters: dict[str, object] = {k: v for k, v in {"brand": brand, "product": product, "source": source,
                                                    "language": language, "stage": stage}.items() if v is not None}
    for key, value in (("since", _day(since, "--since")), ("until", _day(until, "--until"))):
        if value is not None:
            filters[key] = value
    with _opened(config) as (_settings, store):
        columns, rows = guard(lambda: store.query_view(view, filters=filters, limit=limit))
    if format is QueryFormat.json:
        typer.echo(json.dumps([{c: _cell(v) for c, v in zip(columns, row, strict=True)} for row in rows],
                              ensure_ascii=False, indent=2))
    elif format is QueryFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in row] for row in rows])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        table = Table(*columns, title=f"{view} ({len(rows)} rows)")
        for row in rows:
            table.add_row(*("" if v is None else str(_cell(v)) for v in row))
        console.print(table)


def cx_map(
    config: ConfigOption = None,
    brand: Annotated[str | None, typer.Option(help="one brand (default: every configured brand)")] = None,
    since: Annotated[datetime | None, typer.Option(help="period start (ISO, with timezone)")] = None,
    until: Annotated[datetime | None, typer.Option(help="period end, exclusive (ISO, with timezone)")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="folder (default <data_dir>/reports)")] = None,
) -> None:
    """Write the CX journey map (one offline HTML file per brand) and print its path."""
    with _opened(config) as (settings, store):
        report = guard(lambda: analytics.write_cx_map(settings, store, brand=brand, since=since, until=until,
                                                       out_dir=out_dir))
    for path in report.detail.split("; "):
        console.print(f"CX map: {path}", highlight=False, soft_wrap=True)


@coach_app.command("pull")
def coach_pull(
    config: ConfigOption = None,
    stage: Annotated[list[str] | None, typer.Option(help="journey stage (repeatable)")] = None,
    sentiment: Annotated[list[str] | None, typer.Option(help="positive, neutral or negative (repeatable)")] = None,
    lang: Annotated[list[str] | None, typer.Option(help="language code (repeatable)")] = None,
    pain_point: Annotated[list[str] | None, typer.Option("--pain-point", help="pain point id (repeatable)")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    out: Annotated[Path | None, typer.Option(help="write here instead of printing")] = None,
) -> None:
    """Redacted, de-duplicated, diverse coaching examples, most confident first; they join the library."""
    filters = CoachingFilter(
        stages=frozenset(stage) if stage else None, sentiments=frozenset(sentiment) if sentiment else None,
        languages=frozenset(lang) if lang else None, pain_points=frozenset(pain_point) if pain_point else None,
    )
    with _opened(config) as (settings, store):
        examples = guard(lambda: analytics.pull_coaching_examples(settings, store, filters=filters, limit=limit))
    writer = {ExportFormat.csv: export_csv, ExportFormat.jsonl: export_jsonl, ExportFormat.html: export_html}[format]
    if out is not None:
        writer(examples, out)
        console.print(f"{len(examples)} examples written to {out}", highlight=False, soft_wrap=True)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = writer(examples, Path(folder) / f"examples.{format.value}")
        typer.echo(path.read_text(encoding="utf-8"), nl=False)


StageOption = Annotated[str | None, typer.Option("--stage", help="correct journey stage (primary), e.g. exit")]
ExitSignalOption = Annotated[bool | None, typer.Option("--exit-signal/--no-exit-signal",
                                                       help="correct whether the mention is an exit signal")]
ExitTypeOption = Annotated[str | None, typer.Option("--exit-type", help="the exit signal, e.g. cancellation "
                                                    "(implies --exit-signal)")]


@coach_app.command("review")
def coach_review(
    mention_id: Annotated[str, typer.Argument(help="the example's mention id")],
    reviewer: Annotated[str, typer.Option(help="who decided")],
    config: ConfigOption = None,
    approve: Annotated[bool, typer.Option("--approve")] = False,
    reject: Annotated[bool, typer.Option("--reject")] = False,
    relabel: Annotated[str | None, typer.Option(help="correct sentiment label")] = None,
    stage: StageOption = None,
    exit_signal: ExitSignalOption = None,
    exit_type: ExitTypeOption = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Approve, reject or relabel a library example (a relabel also becomes a sentiment correction); --stage,
    --exit-signal/--no-exit-signal and --exit-type record a journey correction (alone or with an action)."""
    chosen = [a for a, on in (("approve", approve), ("reject", reject), ("relabel", relabel is not None)) if on]
    journey = stage is not None or exit_signal is not None or exit_type is not None
    if len(chosen) > 1 or (not chosen and not journey):
        err_console.print("[bold red]error:[/] pass one of --approve, --reject, --relabel LABEL, and/or a journey "
                          "correction (--stage, --exit-signal/--no-exit-signal, --exit-type)")
        raise typer.Exit(2)
    with _opened(config) as (settings, store):
        if chosen:
            guard(lambda: analytics.review_example(store, mention_id, chosen[0], reviewer, new_label=relabel,
                                                   note=note))
        if journey:
            guard(lambda: analytics.correct_journey(settings, store, mention_id, reviewer, stage=stage,
                                                    exit_signal=exit_signal, exit_type=exit_type,
                                                    source="coach_review"))
    done = [*chosen, *(["journey correction"] if journey else [])]
    console.print(f"{', '.join(done)}: {mention_id}", highlight=False)


@coach_app.command("export")
def coach_export(
    config: ConfigOption = None,
    out: Annotated[Path | None, typer.Option(help="folder (default <data_dir>/coaching/pack)")] = None,
) -> None:
    """Training pack from approved and relabelled examples: one JSONL per stage/pain point plus manifest.json."""
    with _opened(config) as (settings, store):
        report = guard(lambda: analytics.export_pack(settings, store, out))
    console.print(f"{report.examples} examples in {len(report.files)} files ({report.relabelled} relabelled, "
                  f"{report.rejected} rejected, {report.undecided} undecided) -> {out or analytics.default_pack_dir(settings)}",
                  highlight=False, soft_wrap=True)


def label(
    mention_id: Annotated[str, typer.Argument()],
    label: Annotated[str | None, typer.Argument(help="positive, neutral or negative")] = None,
    reviewer: Annotated[str, typer.Option(help="who labelled")] = "",
    stage: StageOption = None,
    exit_signal: ExitSignalOption = None,
    exit_type: ExitTypeOption = None,
    config: ConfigOption = None,
) -> None:
    """Record a human sentiment label (table sentiment_correction) and/or a journey correction: --stage,
    --exit-signal/--no-exit-signal, --exit-type (table journey_correction); both feed retraining."""
    journey = stage is not None or exit_signal is not None or exit_type is not None
    if label is None and not journey:
        err_console.print("[bold red]error:[/] pass a sentiment LABEL and/or --stage, --exit-signal/--no-exit-signal, "
                          "--exit-type")
        raise typer.Exit(2)
    if not reviewer.strip():
        err_console.print("[bold red]error:[/] pass --reviewer with who labelled")
        raise typer.Exit(2)
    with _opened(config) as (settings, store):
        if label is not None:
            guard(lambda: analytics.label_mention(store, mention_id, label, reviewer))
        if journey:
            guard(lambda: analytics.correct_journey(settings, store, mention_id, reviewer, stage=stage,
                                                    exit_signal=exit_signal, exit_type=exit_type))
    parts = [p for p in (label, f"stage={stage}" if stage else None,
                         f"exit_signal={exit_signal if exit_type is None else True}" if journey and (
                             exit_signal is not None or exit_type) else None,
                         f"exit_type={exit_type}" if exit_type else None) if p]
    console.print(f"labelled {mention_id} {' '.join(parts)}", highlight=False)


@alerts_app.command("check")
def alerts_check(
    config: ConfigOption = None,
    day: DayOption = None,
    webhook: Annotated[bool, typer.Option(help="post unposted alerts to $JOURNEYPULSE_ALERT_WEBHOOK_URL")] = False,
) -> None:
    """Judge a day (default: the newest mention's day) and store new alerts; optionally post them."""
    judged = _day(day, "--day")
    with _opened(config) as (settings, store):
        report = guard(lambda: analytics.check_alerts(settings, store, day=judged, webhook=webhook))
        raised = [a for a in store.alerts() if judged is None or a.day == judged]
    console.print(f"alerts: {report.detail}", highlight=False, soft_wrap=True)
    for alert in raised:
        console.print(f"[red]{alert.rule}[/] {alert.message}", highlight=False, soft_wrap=True)


def forget_author(
    who: Annotated[str, typer.Argument(help="author pseudonym (a_...) or raw handle")],
    config: ConfigOption = None,
) -> None:
    """Delete an author's mentions and everything derived from them; rewrite exports under data_dir."""
    with _opened(config) as (settings, store):
        report, rewritten = guard(lambda: analytics.forget_author(settings, store, who))
    console.print(f"removed {report.mentions} mentions, {report.sentiments} sentiment results, {report.links} links, "
                  f"{report.coaching_examples} coaching examples, {report.coaching_reviews} reviews, "
                  f"{report.corrections} corrections; rewrote {len(rewritten)} exports", highlight=False, soft_wrap=True)
