"""Pulls new brand mentions from every enabled source, one mapped task per (source, query).

Each listener kind has its own pool (journeypulse_<kind>) so API rate limits hold across runs;
a run whose pulls all finished updates the mentions Asset, with the run's counts (stored, read,
duplicates, quarantined) in the event's `extra`, which schedules the enrichment DAG. A run that
stored nothing new skips `announce`: no Asset event, so no enrichment run that finds no work.
Mapped pulls are labelled `source / query` in the UI.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

from listeners.registry import LISTENER_KINDS
from step_runner import MENTIONS_URI, Report, announce_counts, env_int, env_setting, list_pulls, run_pull

MENTIONS = Asset(name="mentions", uri=MENTIONS_URI)
KINDS = sorted(LISTENER_KINDS)


@dag(
    schedule=env_setting("JOURNEYPULSE_LISTENING_SCHEDULE", "@hourly"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
    doc_md=__doc__,
    dagrun_timeout=timedelta(hours=3),
    default_args={
        "retries": env_int("JOURNEYPULSE_PULL_RETRIES", 3),
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=1),
    },
)
def listening() -> None:
    @task
    def plan(kind: str) -> list[dict[str, str]]:
        return list_pulls(kind, KINDS)

    @task(multiple_outputs=False, map_index_template="{{ pull_label }}")
    def pull(pull_task: dict[str, str]) -> Report:
        get_current_context()["pull_label"] = f"{pull_task['source']} / {pull_task['query']}"  # type: ignore[typeddict-unknown-key]
        return run_pull(pull_task)

    @task(outlets=[MENTIONS], trigger_rule="none_failed_min_one_success", retries=0)
    def announce(reports: list[Any], outlet_events: Any = None) -> None:
        """Updates the mentions Asset (extra: counts) when every pull finished, none failed and some stored."""
        announce_counts(outlet_events[MENTIONS], reports, ["stored", "read", "duplicates", "quarantined"])

    pulls = [
        pull.override(task_id=f"pull_{kind}", pool=f"journeypulse_{kind}").expand(
            pull_task=plan.override(task_id=f"plan_{kind}")(kind)
        )
        for kind in KINDS
    ]
    announce(pulls)


listening()
