"""The analyst commands: ``query``, ``map``, ``coach pull|review|export``, ``label``, ``alerts check``, ``forget-author``.

Registered on the main app in pipeline/cli.py. Same error contract as the rest of the CLI: the
project's errors print ``error: ...`` to stderr and exit 2 (configuration/usage) or 1 (failed run).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from journeypulse.config import Settings
from journeypulse.csv_export import csv_text
from journeypulse.errors import StorageError
from journeys.coaching import CoachingFilter, export_csv, export_html, export_jsonl
from pipeline import analytics, steps
from pipeline.cli_common import ConfigOption, console, err_console, guard
from storage import VIEW_COLUMNS, FactQuery, Store
from storage.facts import DEFAULT_METRICS, FACT_VIEW, METRICS, validate_query
from storage.views import view as view_handle
from storage.views import where_clauses

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


SINCE_HELP = ("UTC day YYYY-MM-DD, or a span back from --until (default today): 7d = the 7 days ending then, "
              "2w = 14 days")
_SPAN = re.compile(r"(\d+)([dw])")


def _since(value: str | None, until: date | None) -> date | None:
    """``--since``: a day, or ``Nd`` / ``Nw`` counted back from ``until`` (inclusive), default today (UTC)."""
    if value is None:
        return None
    span = _SPAN.fullmatch(value.strip())
    if span is None:
        return _day(value, "--since")
    days = int(span.group(1)) * (7 if span.group(2) == "w" else 1)
    if days < 1:
        _usage_error(f"--since {value!r} must span at least one day")
    end = until if until is not None else datetime.now(UTC).date()
    return end - timedelta(days=days - 1)


def _usage_error(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _names(values: list[str] | None) -> list[str]:
    """Comma-separated and repeated option values, in order, blanks dropped."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _where(values: list[str] | None) -> dict[str, list[str]]:
    """``--where col=a,b`` (repeatable) -> {col: [a, b]}; repeating a column adds values."""
    where: dict[str, list[str]] = {}
    for item in values or []:
        column, sep, wanted = item.partition("=")
        if not sep or not column.strip():
            _usage_error(f"--where {item!r}: write COLUMN=VALUE[,VALUE...], e.g. lang=th")
        where.setdefault(column.strip(), []).extend(v.strip() for v in wanted.split(",") if v.strip())
    return where


def _print_rows(columns: list[str], rows: list[tuple[object, ...]], format: QueryFormat, title: str) -> None:
    """Rows as JSON (list of objects), CSV (header row first) or a rich table whose wide cells wrap.

    When the headers alone are wider than the terminal, each row prints as its own column/value table.
    """
    if format is QueryFormat.json:
        typer.echo(json.dumps([{c: _cell(v) for c, v in zip(columns, row, strict=True)} for row in rows],
                              ensure_ascii=False, indent=2))
    elif format is QueryFormat.csv:
        typer.echo(csv_text(columns, rows), nl=False)
    elif sum(len(column) + 3 for column in columns) + 1 > console.width:
        # Too many columns to show side by side without breaking every header: one record per row.
        console.print(f"[italic]{title}[/]", highlight=False)
        for number, row in enumerate(rows, 1):
            record = Table(title=f"row {number}", show_header=False, title_justify="left")
            record.add_column("column", style="bold", no_wrap=True)
            record.add_column("value", overflow="fold")
            for column, value in zip(columns, row, strict=True):
                record.add_row(column, "" if value is None else str(_cell(value)))
            console.print(record)
    else:
        table = Table(title=title)
        for i, column in enumerate(columns):
            numeric = rows and all(isinstance(row[i], int | float) for row in rows if row[i] is not None)
            table.add_column(column, overflow="fold", min_width=len(column), justify="right" if numeric else "left")
        for row in rows:
            table.add_row(*("" if v is None else str(_cell(v)) for v in row))
        console.print(table)


def query(
    view: Annotated[str, typer.Argument(help="a view from storage/VIEWS.md")] = FACT_VIEW,
    config: ConfigOption = None,
    brand: Annotated[str | None, typer.Option()] = None,
    product: Annotated[str | None, typer.Option(help="configured product among the matched terms")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option()] = None,
    stage: Annotated[str | None, typer.Option()] = None,
    where: Annotated[list[str] | None, typer.Option(
        help="COLUMN=VALUE[,VALUE...] (repeatable; lang = language), e.g. --where lang=th --where exit_signal=1")] = None,
    since: Annotated[str | None, typer.Option(help=SINCE_HELP)] = None,
    until: DayOption = None,
    by: Annotated[list[str] | None, typer.Option(
        help="aggregate v_journey_facts per these columns (comma-separated), e.g. stage,lang; also day, week, month")
    ] = None,
    metrics: Annotated[list[str] | None, typer.Option(
        "--metrics", "-m", help=f"what to compute per group (comma-separated): {', '.join(METRICS)}")] = None,
    sort: Annotated[str | None, typer.Option(help="order groups by this metric, largest first")] = None,
    format: Annotated[QueryFormat, typer.Option("--format", "-f")] = QueryFormat.table,
    limit: Annotated[int, typer.Option(help="most rows (or groups) to print", min=1)] = 100,
) -> None:
    """Rows of an analyst view (default v_journey_facts), or with --by/--metrics aggregates of v_journey_facts.

    Columns are documented in storage/VIEWS.md. Output as a table (wide cells wrap), CSV or JSON.
    """
    if view not in VIEW_COLUMNS:
        _usage_error(f"view {view!r} is not queryable; choose one of: {', '.join(VIEW_COLUMNS)}")
    end = _day(until, "--until")
    start = _since(since, end)
    conditions = _where(where)
    for column, value in (("brand", brand), ("source", source), ("language", language), ("stage", stage)):
        if value is not None:
            conditions.setdefault(column, []).append(value)
    if by is not None or metrics is not None or sort is not None:
        if view != FACT_VIEW:
            _usage_error(f"--by, --metrics and --sort aggregate {FACT_VIEW}, not {view}")
        if product is not None:
            _usage_error("--product lists mentions; it does not combine with --by or --metrics")
        fact_query = FactQuery(by=_names(by), metrics=tuple(_names(metrics)) or DEFAULT_METRICS, where=conditions,
                               since=start, until=end, sort=sort, limit=limit)
        try:
            validate_query(fact_query)
        except StorageError as exc:
            _usage_error(str(exc))
        with _opened(config) as (_settings, store):
            columns, rows = guard(lambda: store.aggregate_facts(fact_query))
        grouping = f" by {', '.join(fact_query.by)}" if fact_query.by else ""
        _print_rows(columns, rows, format, f"{view}{grouping} ({len(rows)} groups)")
        return
    try:
        where_clauses(view_handle(view), view, conditions)  # names and values checked before opening the store
    except StorageError as exc:
        _usage_error(str(exc))
    filters: dict[str, object] = {} if product is None else {"product": product}
    for key, day in (("since", start), ("until", end)):
        if day is not None:
            filters[key] = day
    with _opened(config) as (settings, store):
        columns, raw_rows = guard(lambda: store.query_view(view, filters=filters, limit=limit, where=conditions))
    rows = analytics.redact_rows(settings, columns, raw_rows)  # mention text is shown redacted, like every export
    _print_rows(columns, rows, format, f"{view} ({len(rows)} rows)")


def cx_map(
    config: ConfigOption = None,
    brand: Annotated[str | None, typer.Option(help="only this brand (default: every brand, with a brand filter)")] = None,
    since: Annotated[datetime | None, typer.Option(help="period start (ISO, with timezone)")] = None,
    until: Annotated[datetime | None, typer.Option(help="period end, exclusive (ISO, with timezone)")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="folder (default <data_dir>/reports)")] = None,
) -> None:
    """Write the CX journey map (one offline HTML file with filters; one period for all brands) and print its path."""
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
    """Redacted, de-duplicated coaching examples ranked for trainers (pain points and exit signals, clear situations,
    agent lessons, diverse stages/languages/channels), each with why it was picked and the playbook's suggested
    handling; they join the library under their stage."""
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
    correct_stage: Annotated[str | None, typer.Option("--correct-stage", help="correct journey stage (primary), "
                                                      "e.g. exit")] = None,
    exit_signal: ExitSignalOption = None,
    exit_type: ExitTypeOption = None,
    note: Annotated[str, typer.Option()] = "",
    stage: Annotated[str | None, typer.Option(help="the example's stage (needed when the mention is in the "
                                                   "library under several stages)")] = None,
) -> None:
    """Approve, reject or relabel a library example, a mention under one stage (a relabel also becomes a sentiment
    correction); --correct-stage, --exit-signal/--no-exit-signal and --exit-type record a journey correction (alone
    or with an action)."""
    chosen = [a for a, on in (("approve", approve), ("reject", reject), ("relabel", relabel is not None)) if on]
    journey = correct_stage is not None or exit_signal is not None or exit_type is not None
    if len(chosen) > 1 or (not chosen and not journey):
        err_console.print("[bold red]error:[/] pass one of --approve, --reject, --relabel LABEL, and/or a journey "
                          "correction (--correct-stage, --exit-signal/--no-exit-signal, --exit-type)")
        raise typer.Exit(2)
    with _opened(config) as (settings, store):
        saved = None
        if chosen:
            saved = guard(lambda: analytics.review_example(store, mention_id, chosen[0], reviewer, new_label=relabel,
                                                           note=note, stage=stage))
        if journey:
            guard(lambda: analytics.correct_journey(settings, store, mention_id, reviewer, stage=correct_stage,
                                                    exit_signal=exit_signal, exit_type=exit_type,
                                                    source="coach_review"))
    done = [*chosen, *(["journey correction"] if journey else [])]
    console.print(f"{', '.join(done)}: {mention_id}" + (f" ({saved.stage})" if saved is not None else ""),
                  highlight=False)


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
    who: Annotated[str, typer.Argument(help="handle (maria, @maria, reddit:maria), customer or interaction id, "
                                            "or pseudonym (a_..., c_..., i_...)")],
    config: ConfigOption = None,
) -> None:
    """Erase a person: their mentions and everything derived, quarantine rows and alerts naming them, their
    name in other people's texts; rebuild summaries and rewrite (or delete) the exports under data_dir."""
    with _opened(config) as (settings, store):
        outcome = guard(lambda: analytics.forget_author(settings, store, who))
    report = outcome.report
    table = Table("table", "action", "rows", title="forget-author")
    for name, action, rows in report.per_table():
        table.add_row(name, action, str(rows))
    console.print(table)
    console.print(f"removed {report.mentions} mentions, {report.sentiments} sentiment results, {report.links} links, "
                  f"{report.coaching_examples} coaching examples, {report.coaching_reviews} reviews, "
                  f"{report.corrections} corrections, {report.quarantine} quarantine rows, {report.alerts} alerts; "
                  f"scrubbed the name from {report.texts_scrubbed} other mentions; "
                  f"rewrote {len(outcome.rewritten)} exports, deleted {len(outcome.deleted)}",
                  highlight=False, soft_wrap=True)
    for path in outcome.rewritten:
        console.print(f"rewritten: {path}", highlight=False, soft_wrap=True)
    for path in outcome.deleted:
        console.print(f"deleted (it named the person): {path}", highlight=False, soft_wrap=True)
