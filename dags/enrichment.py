"""Enriches newly stored mentions: language, then sentiment and customer-journey links in one pass.

Scheduled on the mentions Asset. Every step only processes rows that have no result yet, in
bounded batches, so a retry after a failure resumes without duplicates or gaps.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from step_runner import MENTIONS_URI, Report, env_int, run_step

MENTIONS = Asset(name="mentions", uri=MENTIONS_URI)


@dag(
    schedule=[MENTIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
    default_args={
        "retries": env_int("JOURNEYPULSE_ENRICH_RETRIES", 2),
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
    },
)
def enrichment() -> None:
    @task
    def identify_languages() -> Report:
        return run_step("identify_languages", batch_size=500)

    # Model inference runs one task at a time (pool of 1 slot) on the workers serving the classify
    # queue. ``enrich`` classifies sentiment and links journeys in one pass: each mention is encoded once.
    @task(queue="classify", pool="journeypulse_classify", execution_timeout=timedelta(hours=2))
    def enrich() -> Report:
        return run_step("enrich", batch_size=256)

    identify_languages() >> enrich()


enrichment()
