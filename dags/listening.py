"""Pulls new brand mentions from every enabled source, one mapped task per (source, query).

Each listener kind has its own pool (journeypulse_<kind>) so API rate limits hold across runs;
a run whose pulls all finished updates the mentions Asset, which schedules the enrichment DAG (also
when nothing new was stored: that enrichment run then finds no work and ends quickly).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from listeners.registry import LISTENER_KINDS
from step_runner import MENTIONS_URI, Report, env_int, env_setting, list_pulls, run_pull

MENTIONS = Asset(name="mentions", uri=MENTIONS_URI)
KINDS = sorted(LISTENER_KINDS)


@dag(
    schedule=env_setting("JOURNEYPULSE_LISTENING_SCHEDULE", "@hourly"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
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

    @task
    def pull(pull_task: dict[str, str]) -> Report:
        return run_pull(pull_task)

    @task(outlets=[MENTIONS], trigger_rule="none_failed_min_one_success")
    def announce() -> None:
        """Marks the mentions Asset updated when every pull finished and none failed."""

    pulls = [
        pull.override(task_id=f"pull_{kind}", pool=f"journeypulse_{kind}").expand(
            pull_task=plan.override(task_id=f"plan_{kind}")(kind)
        )
        for kind in KINDS
    ]
    pulls >> announce()


listening()
