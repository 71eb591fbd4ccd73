"""Enriches newly stored mentions: language, then sentiment and customer-journey links in one pass.

Scheduled on the mentions Asset. Every step only processes rows that have no result yet, in
bounded batches, so a retry after a failure resumes without duplicates or gaps. `plan` finds which
of the `pipeline.enrich_shards` shards (disjoint parts of the mentions, by a hash of their id) hold
work; `enrich` is mapped over them, one task per shard ("shard K of N" in the UI), on the `classify`
queue and in the `journeypulse_classify` pool, whose slots (classify workers x each worker's
concurrency) bound how many shards run at once. After the shards, `announce` updates the
`journeypulse://mentions-enriched` Asset, with the counts in its `extra`, when this run enriched
mentions; when it found no work `announce` is skipped and no Asset event is emitted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

from step_runner import (
    ENRICHED_URI,
    MENTIONS_URI,
    Report,
    announce_counts,
    env_int,
    plan_enrich_shards,
    run_enrich_shard,
    run_step,
)

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
        "retry_delay": timedelta(seconds=env_int("JOURNEYPULSE_ENRICH_RETRY_DELAY_S", 60)),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
    },
)
def enrichment() -> None:
    @task(multiple_outputs=False)
    def identify_languages() -> Report:
        return run_step("identify_languages", batch_size=500)

    @task(queue="classify")  # loads the model (its revision decides what is missing): where the model is
    def plan() -> list[dict[str, int]]:
        return plan_enrich_shards()

    # One shard per task on the workers serving the classify queue, as many at once as the pool has slots.
    # ``enrich`` classifies sentiment and links journeys in one pass: each mention is encoded once.
    @task(queue="classify", pool="journeypulse_classify", multiple_outputs=False, map_index_template="{{ shard_label }}")
    def enrich(shard: dict[str, int]) -> Report:
        get_current_context()["shard_label"] = f"shard {shard['index']} of {shard['count']}"  # type: ignore[typeddict-unknown-key]
        return run_enrich_shard(shard)

    @task(outlets=[ENRICHED], retries=0)
    def announce(enriched: Any, outlet_events: Any = None) -> None:  # Any: called with an XComArg
        """Updates the enriched Asset (extra: counts) unless this run enriched nothing (then skipped)."""
        announce_counts(outlet_events[ENRICHED], [enriched], ["processed"])

    shards = plan()
    identify_languages() >> shards
    announce(enrich.expand(shard=shards))


enrichment()
