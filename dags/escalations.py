"""Sends escalations for newly enriched mentions, so an urgent mention is routed within one listening cycle.

Scheduled on the `journeypulse://mentions-enriched` Asset, which enrichment updates after every run that
linked mentions. The `escalate` step claims each (rule, mention or volume group, destination) once before
sending, so a retried or overlapping run never sends twice; failed deliveries wait for the next run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from step_runner import ENRICHED_URI, Report, env_int, run_step

ENRICHED = Asset(name="mentions_enriched", uri=ENRICHED_URI)


@dag(
    schedule=[ENRICHED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
    doc_md=__doc__,
    dagrun_timeout=timedelta(minutes=30),
    default_args={
        "execution_timeout": timedelta(minutes=20),
        "retries": env_int("JOURNEYPULSE_ESCALATE_RETRIES", 2),
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
    },
)
def escalations() -> None:
    @task(multiple_outputs=False)
    def escalate() -> Report:
        return run_step("escalate")

    escalate()


escalations()
