"""dags/step_runner.py: how task bodies turn params, env and step reports into calls and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import step_runner
from journeypulse.errors import ConfigError, PipelineError


def test_a_pull_that_broke_off_fails_the_task_after_reporting_what_it_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    report = {"read": 7, "stored": 5, "duplicates": 2, "quarantined": 0, "sources": 1, "skipped": "",
              "failed": "x-sorami/recent: HTTP 503 after 4 tries"}
    monkeypatch.setattr(step_runner, "run_step", lambda step, **kwargs: report)
    with pytest.raises(PipelineError, match=r"x-sorami.*HTTP 503.*5 new mentions were stored.*resumes"):
        step_runner.run_pull({"source": "x-sorami", "query": "recent"})


def test_a_pull_skipped_for_missing_credentials_fails_the_task_instead_of_passing_silently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = {"read": 0, "stored": 0, "duplicates": 0, "quarantined": 0, "sources": 0,
              "skipped": "x-sorami: env var X_BEARER_TOKEN is not set", "failed": ""}
    monkeypatch.setattr(step_runner, "run_step", lambda step, **kwargs: report)
    with pytest.raises(PipelineError, match="X_BEARER_TOKEN"):
        step_runner.run_pull({"source": "x-sorami", "query": "recent"})


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
def test_reprocess_scope_rejects_bad_windows_with_the_fix(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        step_runner.reprocess_scope(params)


def test_what_param_selects_sentiment_links_or_both_and_rejects_anything_else() -> None:
    assert [step_runner.wants({"what": w}, "sentiment") for w in ("sentiment", "links", "both")] == [True, False, True]
    assert [step_runner.wants({"what": w}, "links") for w in ("sentiment", "links", "both")] == [False, True, True]
    with pytest.raises(ConfigError, match="sentiment, links, both"):
        step_runner.wants({"what": "everything"}, "links")


def test_the_cx_window_ends_at_the_data_interval_end_not_at_wall_clock_now() -> None:
    end = datetime(2026, 11, 1, tzinfo=UTC)
    assert step_runner.window_ending(end, 28) == {"since": end - timedelta(days=28), "until": end}
    with pytest.raises(PipelineError, match="no data interval end"):
        step_runner.window_ending(None, 28)


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
    with pytest.raises(ConfigError, match=r"kinds \['tiktok'\].*LISTENER_KINDS"):
        step_runner.list_pulls("file", ["file", "x"])
    assert step_runner.list_pulls("file", ["file", "tiktok"]) == [{"source": "sample", "query": "q"}]
