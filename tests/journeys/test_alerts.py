"""Alert rules on daily stage series, and the webhook poster (httpx, mocked with respx)."""

import logging
import random
from datetime import date, timedelta

import httpx
import pytest
import respx

from journeypulse.errors import ConfigError, PipelineError
from journeys.alerts import (
    WEBHOOK_URL_ENV,
    AlertRules,
    DailyStageStats,
    WebhookPoster,
    evaluate_alerts,
)

DAY = date(2026, 11, 25)
SECRET_URL = "https://hooks.example.com/services/T000/B000/s3cr3tT0ken"


def _history(negatives, *, total=100, pains=None, brand="Sorami", stage="delivery"):
    """One row per day before DAY (oldest first), then today's row last."""
    start = DAY - timedelta(days=len(negatives) - 1)
    return [
        DailyStageStats(brand, stage, start + timedelta(days=i), total, neg, dict((pains or {}).get(i, {})))
        for i, neg in enumerate(negatives)
    ]


def test_a_negative_share_spike_above_the_seven_day_baseline_raises_one_alert():
    series = _history([10, 12, 9, 11, 10, 13, 11, 40])
    report = evaluate_alerts(series, day=DAY)
    spikes = [a for a in report.alerts if a.rule == "negative_share_spike"]
    assert len(spikes) == 1
    alert = spikes[0]
    assert (alert.brand, alert.stage, alert.day, alert.value) == ("Sorami", "delivery", DAY, 0.4)
    assert alert.baseline == pytest.approx(0.1086, abs=1e-4)
    assert "40 of 100" in alert.message and "delivery" in alert.message


def test_day_to_day_noise_around_the_baseline_raises_nothing():
    rng = random.Random(7)
    for _ in range(50):
        negatives = [rng.randint(8, 14) for _ in range(8)]
        report = evaluate_alerts(_history(negatives), day=DAY)
        assert report.alerts == ()


def test_a_spike_on_a_day_below_the_minimum_volume_is_not_judged_and_says_why():
    series = _history([1, 1, 0, 1, 1, 0, 1, 9], total=10)
    report = evaluate_alerts(series, day=DAY, rules=AlertRules(min_volume=20))
    assert report.alerts == ()
    assert any("min_volume 20" in s.reason for s in report.skipped if s.rule == "negative_share_spike")
    assert len(evaluate_alerts(series, day=DAY, rules=AlertRules(min_volume=10)).alerts) == 1


def test_too_little_history_is_reported_as_skipped_instead_of_alerting():
    series = _history([10, 45])
    report = evaluate_alerts(series, day=DAY)
    assert report.alerts == ()
    assert {s.rule for s in report.skipped} == {"negative_share_spike"}
    assert "baseline days" in report.skipped[0].reason


def test_a_pain_point_not_seen_in_the_lookback_window_raises_a_new_pain_point_alert():
    pains = {i: {"late delivery": 5} for i in range(7)}
    pains[7] = {"late delivery": 6, "damaged parcel": 4, "rude courier": 1}
    report = evaluate_alerts(_history([10] * 8, pains=pains), day=DAY)
    new = [a for a in report.alerts if a.rule == "new_pain_point"]
    assert [(a.pain_point, a.value) for a in new] == [("damaged parcel", 4.0)]
    assert "damaged parcel" in new[0].message


def test_a_pain_point_seen_earlier_in_the_lookback_window_is_not_new():
    pains = {0: {"damaged parcel": 1}, 7: {"damaged parcel": 9}}
    report = evaluate_alerts(_history([10] * 8, pains=pains), day=DAY)
    assert [a for a in report.alerts if a.rule == "new_pain_point"] == []


def test_series_of_different_brands_and_stages_are_judged_separately():
    calm = _history([10] * 8, brand="Other")
    spiky = _history([10, 12, 9, 11, 10, 13, 11, 40], stage="support")
    report = evaluate_alerts(calm + spiky, day=DAY)
    assert [(a.brand, a.stage) for a in report.alerts] == [("Sorami", "support")]


def test_per_brand_and_per_stage_overrides_pick_the_most_specific_rules():
    series = _history([1, 1, 0, 1, 1, 0, 1, 9], total=10) + _history([1, 1, 0, 1, 1, 0, 1, 9], total=10, stage="exit")
    overrides = {("Sorami", None): AlertRules(min_volume=10), ("Sorami", "exit"): AlertRules(min_volume=50)}
    report = evaluate_alerts(series, day=DAY, overrides=overrides)
    assert [(a.stage, a.rule) for a in report.alerts] == [("delivery", "negative_share_spike")]
    assert any(s.stage == "exit" and "min_volume 50" in s.reason for s in report.skipped)


def test_the_same_day_twice_in_one_series_is_an_error_not_a_merge():
    rows = [*_history([10, 10]), DailyStageStats("Sorami", "delivery", DAY, 5, 1)]
    with pytest.raises(ValueError, match="appear twice"):
        evaluate_alerts(rows, day=DAY)


def test_more_negatives_than_mentions_is_rejected_with_the_values():
    with pytest.raises(ValueError, match="negative=5"):
        DailyStageStats("Sorami", "usage", DAY, 3, 5)


def test_alert_keys_are_stable_across_runs():
    series = _history([10, 12, 9, 11, 10, 13, 11, 40])
    assert evaluate_alerts(series, day=DAY).alerts[0].key == evaluate_alerts(series, day=DAY).alerts[0].key


@respx.mock
def test_webhook_posts_alerts_as_json_and_never_logs_the_secret_url(caplog):
    route = respx.post(SECRET_URL).mock(return_value=httpx.Response(200))
    alerts = evaluate_alerts(_history([10, 12, 9, 11, 10, 13, 11, 40]), day=DAY).alerts
    poster = WebhookPoster(SECRET_URL, client=httpx.Client())
    with caplog.at_level(logging.DEBUG):
        assert poster.post(alerts) == 1
    body = route.calls.last.request.read().decode()
    assert '"rule":"negative_share_spike"' in body.replace(" ", "") and alerts[0].key in body
    assert "s3cr3tT0ken" not in caplog.text and "s3cr3tT0ken" not in repr(poster)


@respx.mock
def test_webhook_errors_name_the_host_but_not_the_token():
    respx.post(SECRET_URL).mock(return_value=httpx.Response(500))
    alerts = evaluate_alerts(_history([10, 12, 9, 11, 10, 13, 11, 40]), day=DAY).alerts
    with pytest.raises(PipelineError, match="hooks.example.com answered HTTP 500") as info:
        WebhookPoster(SECRET_URL, client=httpx.Client()).post(alerts)
    assert "s3cr3tT0ken" not in str(info.value)


@respx.mock
def test_webhook_timeout_becomes_a_pipeline_error():
    respx.post(SECRET_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    alerts = evaluate_alerts(_history([10, 12, 9, 11, 10, 13, 11, 40]), day=DAY).alerts
    with pytest.raises(PipelineError, match="timed out"):
        WebhookPoster(SECRET_URL, client=httpx.Client(), timeout=0.5).post(alerts)


@respx.mock
def test_no_alerts_means_no_request():
    route = respx.post(SECRET_URL).mock(return_value=httpx.Response(200))
    assert WebhookPoster(SECRET_URL, client=httpx.Client()).post([]) == 0
    assert not route.called


def test_webhook_url_comes_from_the_env_var_and_its_absence_is_a_config_error(monkeypatch):
    monkeypatch.delenv(WEBHOOK_URL_ENV, raising=False)
    with pytest.raises(ConfigError, match=WEBHOOK_URL_ENV):
        WebhookPoster.from_env()
    monkeypatch.setenv(WEBHOOK_URL_ENV, SECRET_URL)
    assert repr(WebhookPoster.from_env()) == "WebhookPoster(host='hooks.example.com')"
    with pytest.raises(ConfigError, match="not an http"):
        WebhookPoster("ftp://hooks.example.com/x")
