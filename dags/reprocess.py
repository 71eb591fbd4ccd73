"""Manual re-classification and/or re-linking of stored history; raw mentions are never touched.

Params pick the model, the brand, the time window and what to redo (sentiment, links, both).
`since` and `until` are typed date-time params (RFC 3339, with a timezone), e.g.
`{"what": "sentiment", "model": "/models/new-head", "since": "2026-10-01T00:00:00+00:00"}`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from step_runner import Report, reprocess_scope, run_step, wants

OPTIONAL_TEXT = ["null", "string"]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
    params={
        "what": Param("both", enum=["sentiment", "links", "both"], description="what to redo"),
        "model": Param(None, type=OPTIONAL_TEXT, description="model name or folder; empty = configured model"),
        "brand": Param(None, type=OPTIONAL_TEXT, description="configured brand name; empty = all brands"),
        "since": Param(None, type=OPTIONAL_TEXT, format="date-time",
                       description="ISO time with timezone, inclusive; empty = no bound"),
        "until": Param(None, type=OPTIONAL_TEXT, format="date-time",
                       description="ISO time with timezone, exclusive; empty = no bound"),
    },
    doc_md=__doc__,
    dagrun_timeout=timedelta(hours=12),
    default_args={"execution_timeout": timedelta(hours=6)},
)
def reprocess() -> None:
    @task.run_if(lambda context: wants(context["params"], "sentiment"), skip_message="what excludes sentiment")
    @task(queue="classify", pool="journeypulse_classify", multiple_outputs=False)
    def reclassify(params: dict[str, object] | None = None) -> Report:
        return run_step("classify", model_name=(params or {}).get("model") or None, **reprocess_scope(params or {}))

    @task.run_if(lambda context: wants(context["params"], "links"), skip_message="what excludes links")
    @task(queue="classify", pool="journeypulse_classify", trigger_rule="none_failed", multiple_outputs=False)
    def relink(params: dict[str, object] | None = None) -> Report:
        return run_step("link_journeys", relink=True, **reprocess_scope(params or {}))

    reclassify() >> relink()


reprocess()
