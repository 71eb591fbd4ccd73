"""dags/step_runner.py: how task bodies turn params, env and step reports into calls and errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

import step_runner
from journeypulse.errors import ConfigError, ListenerAuthError, PipelineError, StorageError


def _never_retried(excinfo: pytest.ExceptionInfo[AirflowFailException], cause: type[Exception]) -> None:
    assert isinstance(excinfo.value.__cause__, cause) and "not retried" in str(excinfo.value)


def test_a_pull_that_broke_off_fails_the_task_after_reporting_what_it_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    report = {"read": 7, "stored": 5, "duplicates": 2, "quarantined": 0, "sources": 1, "skipped": "",
              "failed": "x-sorami/recent: HTTP 503 after 4 tries"}
    monkeypatch.setattr(step_runner, "run_step", lambda step, **kwargs: report)
    with pytest.raises(PipelineError, match=r"x-sorami.*HTTP 503.*5 new mentions were stored.*resumes"):
        step_runner.run_pull({"source": "x-sorami", "query": "recent"})


def test_a_pull_skipped_for_missing_credentials_fails_the_task_without_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = {"read": 0, "stored": 0, "duplicates": 0, "quarantined": 0, "sources": 0,
              "skipped": "x-sorami: env var X_BEARER_TOKEN is not set", "failed": ""}
    monkeypatch.setattr(step_runner, "run_step", lambda step, **kwargs: report)
    with pytest.raises(AirflowFailException, match="X_BEARER_TOKEN") as excinfo:
        step_runner.run_pull({"source": "x-sorami", "query": "recent"})
    _never_retried(excinfo, ListenerAuthError)


def test_a_clean_pull_returns_its_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    report = {"read": 3, "stored": 3, "duplicates": 0, "quarantined": 0, "sources": 1, "skipped": "", "failed": ""}
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(step_runner, "run_step", lambda step, **kwargs: calls.append({"step": step, **kwargs}) or report)
    assert step_runner.run_pull({"source": "sample", "query": "q"}) == report
    assert calls == [{"step": "pull", "source": "sample", "query": "q"}]


def test_an_unknown_step_name_is_refused_before_anything_runs() -> None:
    with pytest.raises(PipelineError, match="unknown step 'drop_everything'"):
        step_runner.run_step("drop_everything")


def test_reprocess_scope_parses_aware_times_and_treats_empty_values_as_no_filter() -> None:
    scope = step_runner.reprocess_scope({"since": "2026-10-01T00:00:00+07:00", "until": "", "brand": ""})
    assert scope == {"brand": None, "since": datetime(2026, 9, 30, 17, tzinfo=UTC), "until": None}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-10-01"}, "has no timezone"),
        ({"until": "yesterday"}, "is not an ISO 8601 time"),
        ({"since": "2026-10-02T00:00:00Z", "until": "2026-10-01T00:00:00Z"}, "since must be earlier"),
    ],
)
def test_reprocess_scope_rejects_bad_windows_with_the_fix_and_no_retry(params: dict[str, object], message: str) -> None:
    with pytest.raises(AirflowFailException, match=message) as excinfo:
        step_runner.reprocess_scope(params)
    _never_retried(excinfo, ConfigError)


def test_what_param_selects_sentiment_links_or_both_and_rejects_anything_else() -> None:
    assert [step_runner.wants({"what": w}, "sentiment") for w in ("sentiment", "links", "both")] == [True, False, True]
    assert [step_runner.wants({"what": w}, "links") for w in ("sentiment", "links", "both")] == [False, True, True]
    with pytest.raises(AirflowFailException, match="sentiment, links, both"):
        step_runner.wants({"what": "everything"}, "links")


def test_the_cx_window_ends_at_the_data_interval_end_not_at_wall_clock_now() -> None:
    end = datetime(2026, 11, 1, tzinfo=UTC)
    assert step_runner.window_ending(end, 28) == {"since": end - timedelta(days=28), "until": end}
    with pytest.raises(AirflowFailException, match="no data interval end") as excinfo:
        step_runner.window_ending(None, 28)
    _never_retried(excinfo, ConfigError)


def test_deployment_settings_from_env_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JP_TEST_RETRIES", "five")
    with pytest.raises(ConfigError, match="JP_TEST_RETRIES='five' is not a whole number"):
        step_runner.env_int("JP_TEST_RETRIES", 3)
    monkeypatch.setenv("JP_TEST_SCHEDULE", " ")
    with pytest.raises(ConfigError, match="JP_TEST_SCHEDULE is set but empty"):
        step_runner.env_setting("JP_TEST_SCHEDULE", "@hourly")
    monkeypatch.delenv("JP_TEST_RETRIES")
    assert step_runner.env_int("JP_TEST_RETRIES", 3) == 3


def test_listing_pulls_refuses_an_enabled_source_whose_kind_has_no_pull_task(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import steps

    tasks = [steps.PullTask("sample", "q", "file"), steps.PullTask("tiktok-sea", "q", "tiktok")]
    monkeypatch.setattr(steps, "load_run_settings", lambda: None)
    monkeypatch.setattr(steps, "pull_tasks", lambda settings: tasks)
    monkeypatch.delenv("JOURNEYPULSE_SECRET_CONNECTIONS", raising=False)
    with pytest.raises(AirflowFailException, match=r"kinds \['tiktok'\].*LISTENER_KINDS"):
        step_runner.list_pulls("file", ["file", "x"])
    assert step_runner.list_pulls("file", ["file", "tiktok"]) == [{"source": "sample", "query": "q"}]


def test_invalid_configuration_fails_the_step_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import steps

    def bad_config() -> None:
        raise ConfigError("config file /nowhere.yaml does not exist")

    monkeypatch.setattr(steps, "load_run_settings", bad_config)
    monkeypatch.delenv("JOURNEYPULSE_SECRET_CONNECTIONS", raising=False)
    with pytest.raises(AirflowFailException, match="nowhere.yaml") as excinfo:
        step_runner.run_step("classify")
    _never_retried(excinfo, ConfigError)


def test_a_missing_airflow_connection_fails_the_step_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYPULSE_SECRET_CONNECTIONS", "JP_T_TOKEN=journeypulse_missing")
    monkeypatch.delenv("AIRFLOW_CONN_JOURNEYPULSE_MISSING", raising=False)
    with pytest.raises(AirflowFailException, match="journeypulse_missing") as excinfo:
        step_runner.run_step("classify")
    _never_retried(excinfo, ConfigError)


@pytest.mark.parametrize("error", [StorageError("database is locked"), PipelineError("nothing read"),
                                   RuntimeError("worker lost")])
def test_errors_a_retry_can_fix_still_propagate_unchanged_for_airflow_to_retry(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    from pipeline import steps

    def broken() -> None:
        raise error

    monkeypatch.setattr(steps, "load_run_settings", broken)
    monkeypatch.delenv("JOURNEYPULSE_SECRET_CONNECTIONS", raising=False)
    with pytest.raises(type(error)) as excinfo:
        step_runner.run_step("classify")
    assert excinfo.value is error


def test_a_midnight_run_of_the_cx_timetable_covers_the_previous_day_and_alerts_judge_it(dagbag: object) -> None:
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["cx_daily"]))  # type: ignore[attr-defined]
    timetable = dag.timetable  # the scheduler's (core) timetable, as the scheduler reads it
    midnight = datetime(2026, 11, 2, tzinfo=UTC)
    after_first = DataInterval(midnight - timedelta(days=2), midnight - timedelta(days=1))
    info = timetable.next_dagrun_info(
        last_automated_data_interval=after_first,
        restriction=TimeRestriction(earliest=datetime(2026, 1, 1, tzinfo=UTC), latest=None, catchup=True),
    )
    assert info is not None
    start, end = info.data_interval
    assert (start, end) == (datetime(2026, 11, 1, tzinfo=UTC), midnight)
    assert info.run_after == midnight  # runs once the day is over, at midnight
    assert step_runner.alert_day(start, end)["day"] == date(2026, 11, 1)
    manual = timetable.infer_manual_data_interval(run_after=datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    assert (manual.start, manual.end) == (datetime(2026, 11, 1, tzinfo=UTC), midnight)


def test_alerts_refuse_a_run_without_a_one_day_interval_instead_of_judging_the_new_day() -> None:
    midnight = datetime(2026, 11, 2, tzinfo=UTC)
    for start, end in ((midnight, midnight), (midnight - timedelta(days=7), midnight)):
        with pytest.raises(AirflowFailException, match="is not one day") as excinfo:
            step_runner.alert_day(start, end)
        _never_retried(excinfo, ConfigError)
    with pytest.raises(AirflowFailException, match="no data interval"):
        step_runner.alert_day(None, midnight)


class _Event:
    extra: dict[str, int] | None = None


def test_the_asset_event_carries_the_summed_counts_of_every_pull() -> None:
    event = _Event()
    reports = [[{"stored": 3, "read": 5}, {"stored": 0, "read": 2}], [], [{"stored": 1, "read": 1}]]
    assert step_runner.announce_counts(event, reports, ["stored", "read"]) == {"stored": 4, "read": 8}
    assert event.extra == {"stored": 4, "read": 8}


def test_a_run_that_stored_nothing_skips_the_asset_update() -> None:
    event = _Event()
    with pytest.raises(AirflowSkipException, match="no mention was stored"):
        step_runner.announce_counts(event, [[{"stored": 0, "read": 9}], None], ["stored", "read"])
    assert event.extra is None


class _Runs:
    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.asked: list[dict[str, object]] = []

    def get_dr_count(self, **kwargs: object) -> int:
        self.asked.append(kwargs)
        return self.busy


def test_cx_daily_waits_while_an_enrichment_run_is_queued_or_running() -> None:
    busy, idle = _Runs(1), _Runs(0)
    assert step_runner.enrichment_idle(busy) is False and step_runner.enrichment_idle(idle) is True
    assert busy.asked == [{"dag_id": "enrichment", "states": ["queued", "running"]}]
