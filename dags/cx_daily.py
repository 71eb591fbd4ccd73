"""Daily CX outputs: summary tables, the journey map for a rolling window, coaching examples, alerts.

The window ends at the run's data interval end (never wall-clock now), so a re-run of a past
day rebuilds the same map.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum
from airflow.sdk import dag, task

from step_runner import Report, alert_day, env_int, env_setting, run_step, window_ending

WINDOW_DAYS = env_int("JOURNEYPULSE_CX_WINDOW_DAYS", 28)


@dag(
    schedule=env_setting("JOURNEYPULSE_CX_SCHEDULE", "@daily"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["journeypulse"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
)
def cx_daily() -> None:
    @task
    def refresh_summaries() -> Report:
        return run_step("refresh_summaries")

    @task
    def write_cx_map(data_interval_end: datetime | None = None) -> Report:
        return run_step("write_cx_map", **window_ending(data_interval_end, WINDOW_DAYS))

    @task
    def select_coaching_candidates() -> Report:
        return run_step("select_coaching_candidates")

    @task
    def check_alerts(data_interval_start: datetime | None = None) -> Report:
        return run_step("check_alerts", **alert_day(data_interval_start))

    summaries = refresh_summaries()
    summaries >> write_cx_map() >> select_coaching_candidates()
    summaries >> check_alerts()


cx_daily()
