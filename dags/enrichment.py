"""Enriches newly stored mentions: language, then sentiment and customer-journey links in one pass.

Scheduled on the mentions Asset. Every step only processes rows that have no result yet, in
bounded batches, so a retry after a failure resumes without duplicates or gaps. After
`link_journeys`, `announce` updates the `journeypulse://mentions-enriched` Asset, with the counts
in its `extra`, when this run linked mentions; when it found no work `announce` is skipped and
no Asset event is emitted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task

from step_runner import ENRICHED_URI, MENTIONS_URI, Report, announce_counts, env_int, run_step

MENTIONS = Asset(name="mentions", uri=MENTIONS_URI)
ENRICHED = Asset(name="mentions_enriched", uri=ENRICHED_URI)


@dag(
    schedule=[MENTIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
    doc_md=__doc__,
    dagrun_timeout=timedelta(hours=6),
    default_args={
        "execution_timeout": timedelta(hours=2),
        "retries": env_int("JOURNEYPULSE_ENRICH_RETRIES", 2),
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
    },
)
def enrichment() -> None:
    @task(multiple_outputs=False)
    def identify_languages() -> Report:
        return run_step("identify_languages", batch_size=500)

    # Model inference runs one task at a time (pool of 1 slot) on the workers serving the classify
    # queue. ``enrich`` classifies sentiment and links journeys in one pass: each mention is encoded once.
    @task(queue="classify", pool="journeypulse_classify", multiple_outputs=False)
    def enrich() -> Report:
        return run_step("enrich", batch_size=256)

    @task(outlets=[ENRICHED], retries=0)
    def announce(enriched: Any, outlet_events: Any = None) -> None:  # Any: called with an XComArg
        """Updates the enriched Asset (extra: counts) unless this run enriched nothing (then skipped)."""
        announce_counts(outlet_events[ENRICHED], [enriched], ["processed"])

    enriched = enrich()
    identify_languages() >> enriched
    announce(enriched)


enrichment()
