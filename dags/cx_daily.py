"""Daily CX outputs: summary tables, the journey map for a rolling window, coaching examples, alerts.

**Schedule.** A `CronDataIntervalTimetable` (`JOURNEYPULSE_CX_SCHEDULE`, default midnight UTC):
each run's data interval is the day that has just ended, so the midnight run of 2 Nov covers
1 Nov 00:00 - 2 Nov 00:00 UTC and `check_alerts` judges 1 Nov. (Airflow 3's plain cron
schedule gives runs an empty interval, which would judge the day that has just begun.)

**Window.** The journey map covers the `JOURNEYPULSE_CX_WINDOW_DAYS` days ending at the run's
data interval end (never wall-clock now), so a re-run of a past day rebuilds the same map.

**Freshness.** The run first waits (`wait_for_enrichment`, a rescheduling sensor, up to 1 h) until
no enrichment run is queued or running, so the outputs never read a half-enriched day. It stays
on its daily timetable rather than being scheduled on the `journeypulse://mentions-enriched`
Asset, which enrichment updates after every run that linked mentions (hourly would be too often).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from step_runner import Report, alert_day, enrichment_idle, env_int, env_setting, run_step, window_ending

WINDOW_DAYS = env_int("JOURNEYPULSE_CX_WINDOW_DAYS", 28)
SCHEDULE = env_setting("JOURNEYPULSE_CX_SCHEDULE", "0 0 * * *")


@dag(
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
    doc_md=__doc__,
    dagrun_timeout=timedelta(hours=3),
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "execution_timeout": timedelta(hours=1)},
)
def cx_daily() -> None:
    @task.sensor(poke_interval=120, timeout=3600, mode="reschedule")
    def wait_for_enrichment(ti: Any = None) -> bool:
        return enrichment_idle(ti)

    @task(multiple_outputs=False)
    def refresh_summaries() -> Report:
        return run_step("refresh_summaries")

    @task(multiple_outputs=False)
    def write_cx_map(data_interval_end: datetime | None = None) -> Report:
        return run_step("write_cx_map", **window_ending(data_interval_end, WINDOW_DAYS))

    @task(multiple_outputs=False)
    def select_coaching_candidates() -> Report:
        return run_step("select_coaching_candidates")

    @task(multiple_outputs=False)
    def check_alerts(data_interval_start: datetime | None = None, data_interval_end: datetime | None = None) -> Report:
        return run_step("check_alerts", **alert_day(data_interval_start, data_interval_end))

    summaries = refresh_summaries()
    wait_for_enrichment() >> summaries
    summaries >> write_cx_map() >> select_coaching_candidates()
    summaries >> check_alerts()


cx_daily()
