"""The ``journeypulse`` command line: each pipeline step, the whole run, and the analyst tools.

Only the project's own errors are caught: they print ``error: ...`` to stderr and exit 2 for
configuration and usage problems, 1 for a failed run. Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from journeypulse.config import Settings
from journeypulse.errors import ConfigError, PipelineError
from journeypulse.logs import configure_logging, level_for
from pipeline import cli_analytics, cli_escalation, cli_explore, cli_ops, steps
from pipeline.cli_common import ConfigOption, console, err_console, guard
from pipeline.cli_model import model_app
from pipeline.linker_eval import app as journeys_app

if TYPE_CHECKING:
    from storage import Shard, Store

app = typer.Typer(help="Social listening and multilingual sentiment mapped onto customer-journey stages.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
sources_app = typer.Typer(help="Inspect and check the configured sources.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.command("query")(cli_analytics.query)
app.command("map")(cli_analytics.cx_map)
app.command("explore")(cli_explore.explore)
app.add_typer(cli_analytics.coach_app, name="coach")
app.command("label")(cli_analytics.label)
app.add_typer(cli_analytics.alerts_app, name="alerts")
app.command("forget-author")(cli_analytics.forget_author)
app.add_typer(cli_ops.quarantine_app, name="quarantine")
app.add_typer(cli_escalation.escalations_app, name="escalations")
app.command("escalate")(cli_escalation.escalate_command)
app.add_typer(model_app, name="model")
app.add_typer(journeys_app, name="journeys")


class LogFormatOption(StrEnum):
    text = "text"
    json = "json"


@app.callback()
def _global_options(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="more log output (-vv: debug)")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only errors in the log")] = False,
    log_format: Annotated[LogFormatOption, typer.Option("--log-format", help="log lines as text or JSON")] =
    LogFormatOption.text,
) -> None:
    """Social listening and multilingual sentiment mapped onto customer-journey stages."""
    configure_logging(level_for(verbose, quiet), log_format.value)


SinceOption = Annotated[datetime | None, typer.Option(help="only mentions created at/after (ISO, with timezone)")]
UntilOption = Annotated[datetime | None, typer.Option(help="only mentions created before (ISO, with timezone)")]


@contextlib.contextmanager
def _progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar (or spinner when the total is unknown); yields an ``advance(n)`` callback."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def _settings(config: Path | None) -> Settings:
    return guard(lambda: steps.load_run_settings(config))


@contextlib.contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    store = guard(lambda: steps.open_store(settings))
    try:
        yield store
    finally:
        store.close()


def _print_pull(report: steps.PullReport) -> None:
    no_brand = f" (no brand term: {report.no_brand})" if report.no_brand else ""
    console.print(
        f"read {report.read} = stored {report.stored} + duplicates {report.duplicates} "
        f"+ quarantined {report.quarantined}{no_brand}"
        + (f" + suppressed {report.suppressed} (erased people)" if report.suppressed else "")
        + f"  ({report.sources} source(s), "
        f"{report.late_arrivals} late arrival(s))"
    )
    if report.no_brand:
        err_console.print(f"[yellow]warning[/] {report.no_brand} row(s) named no configured brand and were "
                          "quarantined; give file sources a brand column, params.brand_by_channel or params.brand",
                          highlight=False)
    for note in report.more_remain:
        console.print(f"[yellow]limit reached[/] {note}", highlight=False)
    for note in report.skipped:
        console.print(f"[yellow]skipped[/] {note}", highlight=False)
    for note in report.stopped_early:
        console.print(f"[yellow]stopped early[/] {note}", highlight=False)
    for note in report.failed:
        err_console.print(f"[red]failed[/] {note}", highlight=False)
    if report.failed:
        broken = sorted({note.split("/", 1)[0] for note in report.failed})
        err_console.print(f"[red]pull incomplete:[/] {len(report.failed)} query(s) of {len(broken)} source(s) "
                          f"failed ({', '.join(broken)}); the other sources were read and stored", highlight=False)


def _check_pull(report: steps.PullReport, store: Store) -> None:
    """Fail only when nothing usable was read, and say why."""
    if report.stored + report.duplicates == 0 and store.counts().get("mentions", 0) == 0:
        reasons = report.failed + report.skipped
        why = "; ".join(reasons) if reasons else (
            f"all {report.read} rows were quarantined" if report.read else "the sources yielded no rows"
        )
        raise PipelineError(f"nothing usable was read: {why} (see the quarantine table for row-level reasons)")


def _stage_table(store: Store, brand: str | None) -> Table:
    table = Table(title=f"Journey stages{f' - {brand}' if brand else ''}")
    for column in ("stage", "mentions", "% pos", "% neu", "% neg", "net", "top pain points"):
        table.add_column(column, justify="left" if column in ("stage", "top pain points") else "right")
    for row in store.stage_summary(brand=brand):
        pains = ", ".join(f"{name} ({count})" for name, count in row.top_pain_points) or "-"
        table.add_row(
            row.stage, str(row.mentions), f"{row.positive_share:.0%}", f"{row.neutral_share:.0%}",
            f"{row.negative_share:.0%}", f"{row.net_sentiment:+.2f}", pains,
        )
    return table


# --------------------------------------------------------------------------- steps


@app.command()
def pull(config: ConfigOption = None, source: Annotated[str | None, typer.Option(help="only this source")] = None,
         query: Annotated[str | None, typer.Option(help="only this query group of --source")] = None) -> None:
    """Pull new mentions from the enabled sources and store them."""
    settings = _settings(config)
    with _store(settings) as store, _progress("pulling") as advance:
        report = guard(lambda: steps.pull(settings, store, source=source, query=query, advance=advance))
    _print_pull(report)
    if report.failed:
        raise typer.Exit(1)


@app.command("detect-languages")
def detect_languages(config: ConfigOption = None) -> None:
    """Identify the language of every mention that has none yet."""
    settings = _settings(config)
    with _store(settings) as store, _progress("identifying languages") as advance:
        report = guard(lambda: steps.identify_languages(settings, store, advance=advance))
    console.print(f"languages identified: {report.processed}")


@app.command()
def classify(config: ConfigOption = None,
             model: Annotated[str | None, typer.Option(help="model name, folder or Hugging Face id")] = None,
             brand: Annotated[str | None, typer.Option()] = None, since: SinceOption = None,
             until: UntilOption = None) -> None:
    """Classify sentiment for mentions without a result for the current model."""
    settings = _settings(config)
    since, until = guard(lambda: steps.resolve_period(since, until))
    with _store(settings) as store, _progress("classifying") as advance:
        report = guard(lambda: steps.classify(settings, store, model_name=model, brand=brand, since=since,
                                               until=until, advance=advance))
    console.print(f"classified: {report.processed} ({report.detail})")


@app.command()
def link(config: ConfigOption = None, relink: Annotated[bool, typer.Option(help="redo existing links")] = False,
         brand: Annotated[str | None, typer.Option()] = None, since: SinceOption = None,
         until: UntilOption = None) -> None:
    """Link mentions to journey stages, touchpoints, pain points and exit signals."""
    settings = _settings(config)
    since, until = guard(lambda: steps.resolve_period(since, until))
    with _store(settings) as store, _progress("linking journeys") as advance:
        report = guard(lambda: steps.link_journeys(settings, store, relink=relink, brand=brand, since=since,
                                                    until=until, advance=advance))
    console.print(f"linked: {report.processed} ({report.detail})")


@app.command()
def enrich(config: ConfigOption = None, brand: Annotated[str | None, typer.Option()] = None,
           since: SinceOption = None, until: UntilOption = None,
           shard: Annotated[int | None, typer.Option(help="enrich only this shard (0 to shards-1); shards run in "
                                                          "parallel, e.g. one per process or host")] = None,
           shards: Annotated[int | None, typer.Option(help="the shard count (default: pipeline.enrich_shards); "
                                                           "needs --shard")] = None) -> None:
    """Classify sentiment and link journeys in one pass (each mention encoded once); resumable, idempotent."""
    settings = _settings(config)
    since, until = guard(lambda: steps.resolve_period(since, until))
    part = guard(lambda: _shard(settings, shard, shards))
    with _store(settings) as store, _progress("enriching" if part is None else f"enriching {part}") as advance:
        report = guard(lambda: steps.enrich(settings, store, brand=brand, since=since, until=until, shard=part,
                                            advance=advance))
    console.print(f"classified: {report.classified} ({report.model_detail}); linked: {report.linked} "
                  f"({report.link_detail})", highlight=False, soft_wrap=True)


def _shard(settings: Settings, shard: int | None, shards: int | None) -> Shard | None:
    if shard is None:
        if shards is not None:
            raise ConfigError(f"--shards {shards} needs --shard K (the shard to enrich, 0 to {shards - 1})")
        return None
    return steps.enrich_shard(settings, shard, shards)


@app.command()
def summarise(config: ConfigOption = None, brand: Annotated[str | None, typer.Option()] = None) -> None:
    """Refresh the summary tables and print the per-stage table."""
    settings = _settings(config)
    with _store(settings) as store:
        guard(lambda: steps.refresh_summaries(settings, store))
        console.print(_stage_table(store, brand))


@app.command()
def run(config: ConfigOption = None) -> None:
    """The whole pipeline: pull, store, identify language, classify + link stages (one pass), escalate, summarise."""
    settings = _settings(config)
    with _store(settings) as store:
        with _progress("pulling") as advance:
            pulled = guard(lambda: steps.pull(settings, store, advance=advance))
        _print_pull(pulled)
        guard(lambda: _check_pull(pulled, store))
        with _progress("identifying languages") as advance:
            languages = guard(lambda: steps.identify_languages(settings, store, advance=advance))
        with _progress("classifying sentiment and linking journeys (one pass)") as advance:
            enriched = guard(lambda: steps.enrich(settings, store, advance=advance))
        escalated = guard(lambda: steps.escalate(settings, store))
        guard(lambda: steps.refresh_summaries(settings, store))
        cx_map = guard(lambda: steps.write_cx_map(settings, store))
        console.print(
            f"languages identified: {languages.processed}; classified: {enriched.classified} "
            f"({enriched.model_detail}); linked: {enriched.linked} ({enriched.link_detail})"
        )
        cli_escalation.print_report(escalated)
        counts = store.counts()
        console.print(f"database: {settings.database_url}  ({counts.get('mentions', 0)} mentions, "
                      f"{counts.get('quarantined', 0)} quarantined)", highlight=False)
        for brand in settings.brands:
            console.print(_stage_table(store, brand.name))
        for path in cx_map.detail.split("; "):
            console.print(f"CX map: {path}", highlight=False, soft_wrap=True)
    if pulled.failed:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- sources


@sources_app.command("list")
def sources_list(config: ConfigOption = None) -> None:
    """List each enabled source's query groups (the units of pulling)."""
    settings = _settings(config)
    table = Table("source", "kind", "query")
    for task in guard(lambda: steps.pull_tasks(settings)):
        table.add_row(task.source, task.kind, task.query)
    console.print(table)


@sources_app.command("check")
def sources_check(config: ConfigOption = None,
                  all_sources: Annotated[bool, typer.Option("--all", help="also check disabled sources")] = False,
                  ) -> None:
    """Validate configuration and credentials of each enabled source without pulling."""
    settings = _settings(config)
    results = guard(lambda: steps.check_sources(settings, include_disabled=all_sources))
    enabled = {s.name: s.enabled for s in settings.sources}
    table = Table("source", "kind", "enabled", "status", "detail")
    for result in results:
        colour = {"ok": "green", "missing": "yellow"}.get(result.status, "red")
        table.add_row(result.source, result.kind, "yes" if enabled[result.source] else "no",
                      f"[{colour}]{result.status}[/]", result.detail, )
    console.print(table)
    if any(r.status in ("error", "rejected") for r in results):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console-script entry
    configure_logging()  # the app callback applies -v/-q/--log-format
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
