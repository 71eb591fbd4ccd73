"""Runs one pipeline step for an Airflow task: secrets, settings, store, step, report.

Invariant: a task gets back only the step's small report of counts (never mention data), and
each call opens and closes its own store, so no connection outlives the task. The pipeline (and
Airflow's connection API) are imported lazily: parsing a DAG file loads neither storage nor model code.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from journeypulse.errors import ConfigError, ListenerAuthError, PipelineError
from journeypulse.logs import quiet_payload_loggers

logger = logging.getLogger(__name__)

Report = dict[str, int | str]
"""A step's count report. TaskFlow would unroll a dict annotation into one XCom per key
(``multiple_outputs``), so every task returning one says ``multiple_outputs=False``."""

NEVER_SUCCEEDS: tuple[type[Exception], ...] = (ConfigError, ListenerAuthError)
"""Errors a retry cannot fix (invalid configuration, missing or refused credentials, a run
without a logical date): the task fails at once instead of burning its retries."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def fail_fast(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn the project's never-succeeds errors into ``AirflowFailException`` (no retry).

    Every other error propagates unchanged, so Airflow retries it (network, database, a pull
    that broke off). The original error stays attached as ``__cause__``.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except NEVER_SUCCEEDS as exc:
            raise AirflowFailException(
                f"{type(exc).__name__}: {exc} (not retried: fix it, then clear the task)"
            ) from exc

    return wrapper

MENTIONS_URI = "journeypulse://mentions"
"""The Asset the listening DAG updates and the enrichment DAG is scheduled on."""

ENRICHED_URI = "journeypulse://mentions-enriched"
"""The Asset the enrichment DAG updates after a run that enriched mentions."""

STEPS = frozenset(
    {
        "pull",
        "identify_languages",
        "classify",
        "enrich",
        "link_journeys",
        "refresh_summaries",
        "write_cx_map",
        "select_coaching_candidates",
        "check_alerts",
        "escalate",
    }
)


def env_setting(name: str, default: str) -> str:
    """A deployment setting from the environment (read at parse time: no I/O beyond os.environ)."""
    value = os.environ.get(name, default).strip()
    if not value:
        raise ConfigError(f"environment variable {name} is set but empty (unset it to use {default!r})")
    return value


def env_int(name: str, default: int) -> int:
    raw = env_setting(name, str(default))
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={raw!r} is not a whole number (e.g. {default})") from exc
    if value < 0:
        raise ConfigError(f"environment variable {name}={value} must be zero or more (e.g. {default})")
    return value


SECRET_CONNECTIONS_ENV = "JOURNEYPULSE_SECRET_CONNECTIONS"
_CONNECTION_FIELDS = ("password", "login", "host")


def parse_secret_connections(spec: str) -> dict[str, tuple[str, str]]:
    """``"X_BEARER_TOKEN=journeypulse_x, REDDIT_CLIENT_ID=journeypulse_reddit:login"`` ->
    {env var: (connection id, field)}; the field is password (default), login, host or extra.<key>."""
    mapping: dict[str, tuple[str, str]] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        variable, sep, target = entry.partition("=")
        conn_id, _, field = target.strip().partition(":")
        field = field or "password"
        valid_field = field in _CONNECTION_FIELDS or (field.startswith("extra.") and len(field) > len("extra."))
        if not sep or not variable.strip().isidentifier() or not conn_id or not valid_field:
            raise ConfigError(
                f"{SECRET_CONNECTIONS_ENV} entry {entry!r} is not VAR=connection_id[:field] with field one of "
                f"{', '.join(_CONNECTION_FIELDS)}, extra.<key> (e.g. X_BEARER_TOKEN=journeypulse_x)"
            )
        mapping[variable.strip()] = (conn_id.strip(), field)
    return mapping


def export_connection_secrets() -> list[str]:
    """Copy secrets from Airflow connections into the env vars the config names, for this task only.

    Runs at task run time (never at parse), in the task's own process; values are never logged or
    returned. Returns the variable names that were set.
    """
    mapping = parse_secret_connections(os.environ.get(SECRET_CONNECTIONS_ENV, ""))
    if not mapping:
        return []
    from airflow.sdk import BaseHook

    for variable, (conn_id, field) in mapping.items():
        try:
            connection = BaseHook.get_connection(conn_id)
        except Exception as exc:  # airflow raises its own not-found error type
            raise ConfigError(
                f"{SECRET_CONNECTIONS_ENV} maps {variable} to Airflow connection {conn_id!r}, which cannot be "
                f"read ({exc.__class__.__name__}); create it (airflow connections add) or fix the mapping"
            ) from exc
        if field.startswith("extra."):
            value = connection.extra_dejson.get(field.removeprefix("extra."))
        else:
            value = getattr(connection, field)
        if not value:
            raise ConfigError(f"Airflow connection {conn_id!r} has no {field} for {variable}; set it on the connection")
        os.environ[variable] = str(value)
    logger.info("set %s from Airflow connections", ", ".join(sorted(mapping)))
    return sorted(mapping)


@fail_fast
def run_step(step: str, **kwargs: object) -> Report:
    """Run ``pipeline.steps.<step>`` against the configured store and return its report dict.

    Settings come from $JOURNEYPULSE_CONFIG; secrets mapped in $JOURNEYPULSE_SECRET_CONNECTIONS are
    copied from Airflow connections first. Configuration and credential errors fail the task
    without retries (``fail_fast``); every other error propagates so Airflow retries the task.
    """
    if step not in STEPS:
        raise PipelineError(f"task asked for unknown step {step!r} (known: {', '.join(sorted(STEPS))})")
    export_connection_secrets()
    quiet_payload_loggers(logging.getLogger().getEffectiveLevel())  # client libraries log payloads at DEBUG
    from pipeline import steps  # lazy: parse time stays free of storage and model code

    func = getattr(steps, step)
    settings = steps.load_run_settings()
    store = steps.open_store(settings)
    try:
        report = func(settings, store, **kwargs)
    finally:
        store.close()
    result: Report = report.as_dict()
    logger.info("%s finished: %s", step, result)
    return result


@fail_fast
def plan_enrich_shards() -> list[dict[str, int]]:
    """The shards (of ``pipeline.enrich_shards``) holding mentions to enrich, as XCom-sized dicts.

    Empty when there is nothing to enrich: the mapped ``enrich`` task then expands to no task.
    """
    export_connection_secrets()
    from pipeline import steps

    settings = steps.load_run_settings()
    store = steps.open_store(settings)
    try:
        indexes = steps.plan_enrich(settings, store)
    finally:
        store.close()
    count = settings.pipeline.enrich_shards
    logger.info("%d of %d shards hold mentions to enrich: %s", len(indexes), count, indexes)
    return [{"index": index, "count": count} for index in indexes]


@fail_fast
def run_enrich_shard(shard: Mapping[str, int], batch_size: int = 256) -> Report:
    """Enrich one shard (``{"index": K, "count": N}`` from ``plan_enrich_shards``)."""
    from pipeline import steps

    return run_step("enrich", batch_size=batch_size, shard=steps.Shard(int(shard["index"]), int(shard["count"])))


@fail_fast
def list_pulls(kind: str, known_kinds: Iterable[str]) -> list[dict[str, str]]:
    """The enabled (source, query) pairs of one listener kind, as XCom-sized dicts.

    Raises ConfigError when an enabled source has a kind no pull task exists for, so a source
    is never dropped silently.
    """
    export_connection_secrets()
    from pipeline import steps

    tasks = steps.pull_tasks(steps.load_run_settings())
    known = set(known_kinds)
    unknown = sorted({t.kind for t in tasks if t.kind not in known})
    if unknown:
        raise ConfigError(
            f"enabled sources use kinds {unknown} that the listening DAG has no pull task for "
            f"(known: {', '.join(sorted(known))}); add the kind to listeners.registry.LISTENER_KINDS"
        )
    return [{"source": t.source, "query": t.query} for t in tasks if t.kind == kind]


@fail_fast
def run_pull(pull_task: Mapping[str, str]) -> Report:
    """Pull one (source, query) pair; raise after storing what was read if the pull broke off.

    ``pipeline.steps.pull`` records listener failures and missing credentials in its report;
    in Airflow they must fail the task. A failure is retried (the retry resumes from the stored
    cursor); missing credentials fail without retries, since no retry can supply them.
    """
    source, query = pull_task["source"], pull_task["query"]
    report = run_step("pull", source=source, query=query)
    if report.get("failed"):
        raise PipelineError(
            f"pull of source {source!r} query {query!r} did not finish ({report['failed']}); "
            f"{report['stored']} new mentions were stored and the retry resumes from the saved cursor"
        )
    if report.get("skipped"):
        raise ListenerAuthError(
            f"pull of source {source!r} query {query!r} was skipped ({report['skipped']}); "
            "set the credentials (env var or JOURNEYPULSE_SECRET_CONNECTIONS) and clear the task"
        )
    return report


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 timestamp with a timezone from a DAG param; empty means no bound."""
    if value is None or not str(value).strip():
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ConfigError(f"param {name}={value!r} is not an ISO 8601 time (e.g. 2026-10-01T00:00:00+00:00)") from exc
    if parsed.tzinfo is None:
        raise ConfigError(f"param {name}={value!r} has no timezone (e.g. 2026-10-01T00:00:00+00:00)")
    return parsed


@fail_fast
def reprocess_scope(params: Mapping[str, object]) -> dict[str, object]:
    """The brand and time window the reprocess DAG's params choose (empty values mean no filter)."""
    since = parse_time("since", params.get("since"))  # type: ignore[arg-type]
    until = parse_time("until", params.get("until"))  # type: ignore[arg-type]
    if since is not None and until is not None and since >= until:
        raise ConfigError(f"params since={since.isoformat()} and until={until.isoformat()}: since must be earlier")
    brand = params.get("brand") or None
    return {"brand": brand, "since": since, "until": until}


@fail_fast
def wants(params: Mapping[str, object], part: str) -> bool:
    """Whether the reprocess DAG's ``what`` param selects ``part`` ('sentiment' or 'links')."""
    what = params.get("what", "both")
    if what not in ("sentiment", "links", "both"):
        raise ConfigError(f"param what={what!r} must be one of sentiment, links, both")
    return what in (part, "both")


@fail_fast
def window_ending(end: datetime | None, days: int) -> dict[str, datetime | None]:
    """The ``days``-long window ending at the run's data interval end (never wall-clock now)."""
    if end is None:
        raise ConfigError("the run has no data interval end; trigger cx_daily with a logical date")
    return {"since": end - timedelta(days=days), "until": end}


@fail_fast
def alert_day(start: datetime | None, end: datetime | None) -> dict[str, date | bool]:
    """Alerts judge the UTC day the run covers: its data interval ``[start, end)``.

    cx_daily's timetable gives a midnight run the whole previous day as its interval. A run
    whose interval is empty (a timetable without intervals) or longer than a day is refused
    rather than silently judging the day that has just begun.
    """
    if start is None or end is None:
        raise ConfigError("the run has no data interval; trigger cx_daily with a logical date")
    if not timedelta(0) < end - start <= timedelta(days=1):
        raise ConfigError(
            f"the run's data interval {start.isoformat()} .. {end.isoformat()} is not one day; cx_daily needs a "
            "timetable with daily intervals (e.g. CronDataIntervalTimetable('0 0 * * *'))"
        )
    day = start.astimezone(UTC).date()  # the store counts mentions per UTC day
    return {"day": day, "webhook": bool(os.environ.get("JOURNEYPULSE_ALERT_WEBHOOK_URL"))}


def announce_counts(
    event: Any, reports: Iterable[Iterable[Mapping[str, object]] | Mapping[str, object] | None], keys: Iterable[str]
) -> dict[str, int]:
    """Put the summed counts of ``reports`` into an Asset event's ``extra``; skip when there is no news.

    ``reports`` holds step reports, or sequences of them (a mapped task's results; a mapped task
    expanded to nothing gives none). The first of ``keys`` decides: when its total is zero the
    task is skipped, and a skipped task emits no Asset event, so consumers are not woken for
    nothing.
    """
    flat: list[Mapping[str, object]] = []
    for item in reports:
        if item is None:
            continue
        if isinstance(item, Mapping):
            flat.append(item)
        else:
            flat.extend(report for report in item if report is not None)
    names = list(keys)
    totals = {name: sum(int(str(report.get(name) or 0)) for report in flat) for name in names}
    if totals[names[0]] == 0:
        raise AirflowSkipException(f"no mention was {names[0]}: the Asset is not updated")
    event.extra = totals
    logger.info("asset updated with %s", totals)
    return totals


def enrichment_idle(ti: Any, dag_id: str = "enrichment") -> bool:
    """Whether no enrichment run is queued or running (cx_daily waits for that before reading)."""
    busy = int(ti.get_dr_count(dag_id=dag_id, states=["queued", "running"]))
    if busy:
        logger.info("%d %s run(s) queued or running; waiting so the outputs never read a half-enriched day",
                    busy, dag_id)
    return busy == 0
