"""Alerts on a constructed spike, stored once per rule/brand/stage/day and posted once to the webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from journeypulse.config import BrandConfig, Settings, StorageConfig
from journeypulse.record import Mention
from pipeline import analytics
from pipeline.cli import app
from storage import JourneyLinkRow, LanguageResult, SentimentResult, Store

DAY0 = date(2026, 10, 1)
SPIKE_DAY = DAY0 + timedelta(days=7)
BASELINE_NEGATIVES = (6, 5, 7, 6, 5, 6, 7)  # of 30 per day: about 20 % negative
HOOK = "https://hooks.example.com/services/T000/B000/secret-token"


def _fill(store: Store) -> None:
    """Acme support mentions: 7 baseline days, then a day with 25 of 30 negative and a new pain point."""
    mentions: list[Mention] = []
    labels: dict[str, str] = {}
    links: dict[str, list[JourneyLinkRow]] = {}
    for offset, negatives in enumerate((*BASELINE_NEGATIVES, 25)):
        day = DAY0 + timedelta(days=offset)
        for i in range(30):
            mention = Mention.build(
                source="support", source_kind="file", native_id=f"{day}-{i}", text=f"ticket {day} number {i}",
                created_at=datetime(day.year, day.month, day.day, 10, i, tzinfo=UTC),
                fetched_at=datetime(2026, 11, 1, tzinfo=UTC), brand="Acme", author=f"a_{offset:08x}{i:08x}",
                channel="chat",
            )
            mentions.append(mention)
            labels[mention.id] = "negative" if i < negatives else "positive"
            pain = "billing_error" if day == SPIKE_DAY and i < 4 else ("long_wait" if i % 3 == 0 else None)
            links[mention.id] = [JourneyLinkRow("support", "chat", pain, None, "keywords", 0.9, False)]
    store.store_batch("support", "q", mentions, [], None)
    store.save_languages([LanguageResult(m.id, "en", 0.99, "test") for m in mentions])
    probs = {"negative": (0.8, 0.1, 0.1), "positive": (0.1, 0.1, 0.8)}
    store.save_sentiments([
        SentimentResult(mid, "m", "r1", "torch", label, *probs[label], 0.8, False, datetime(2026, 11, 1, tzinfo=UTC))
        for mid, label in labels.items()
    ])
    store.save_journey_links("t1", links)


@pytest.fixture
def filled(store_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Store]]:
    settings = Settings(brands=[BrandConfig(name="Acme")], data_dir=tmp_path, storage=StorageConfig(url=store_url))
    store = Store.open(store_url)
    try:
        _fill(store)
        yield settings, store
    finally:
        store.close()


def test_a_negative_spike_and_a_new_pain_point_raise_alerts_that_a_recheck_does_not_repeat(
    filled: tuple[Settings, Store]
) -> None:
    settings, store = filled
    report = analytics.check_alerts(settings, store, day=SPIKE_DAY)
    alerts = {(a.rule, a.brand, a.stage, a.day, a.pain_point) for a in store.alerts()}
    assert alerts == {("negative_share_spike", "Acme", "support", SPIKE_DAY, None),
                      ("new_pain_point", "Acme", "support", SPIKE_DAY, "billing_error")}
    assert report.processed == 2
    spike = next(a for a in store.alerts() if a.rule == "negative_share_spike")
    assert spike.value == pytest.approx(25 / 30, abs=1e-3) and spike.baseline == pytest.approx(42 / 210, abs=1e-3)
    again = analytics.check_alerts(settings, store, day=SPIKE_DAY)
    assert again.processed == 0 and len(store.alerts()) == 2


def test_a_baseline_day_raises_no_alert(filled: tuple[Settings, Store]) -> None:
    settings, store = filled
    assert analytics.check_alerts(settings, store, day=SPIKE_DAY - timedelta(days=1)).processed == 0
    assert store.alerts() == []


def test_webhook_gets_each_alert_once_and_the_url_never_reaches_the_report(
    filled: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = filled
    monkeypatch.setenv("JOURNEYPULSE_ALERT_WEBHOOK_URL", HOOK)
    bodies: list[dict[str, object]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(receive))
    first = analytics.check_alerts(settings, store, day=SPIKE_DAY, webhook=True, client=client)
    second = analytics.check_alerts(settings, store, day=SPIKE_DAY, webhook=True, client=client)
    assert len(bodies) == 1 and len(bodies[0]["alerts"]) == 2  # type: ignore[arg-type]
    assert "posted 2" in first.detail and "posted 0" in second.detail
    assert all(a.posted_at is not None for a in store.alerts())
    assert "secret-token" not in first.detail + second.detail


def test_a_failing_webhook_leaves_the_alerts_unposted_for_the_next_check(
    filled: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = filled
    monkeypatch.setenv("JOURNEYPULSE_ALERT_WEBHOOK_URL", HOOK)
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))
    with pytest.raises(Exception, match="answered HTTP 503"):
        analytics.check_alerts(settings, store, day=SPIKE_DAY, webhook=True, client=client)
    assert len(store.alerts(unposted_only=True)) == 2


def test_alerts_check_command_prints_the_raised_alerts(filled: tuple[Settings, Store], tmp_path: Path,
                                                       store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNEYPULSE_ALERT_WEBHOOK_URL", raising=False)
    config = tmp_path / "journeypulse.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path), "brands": [{"name": "Acme"}],
                                      "storage": {"url": store_url}}), encoding="utf-8")
    result = CliRunner().invoke(app, ["alerts", "check", "-c", str(config), "--day", SPIKE_DAY.isoformat()])
    assert result.exit_code == 0, result.output
    assert "raised 2 (2 new)" in result.output and "negative share 83%" in result.output
    result = CliRunner().invoke(app, ["alerts", "check", "-c", str(config), "--webhook"])
    assert result.exit_code == 2 and "JOURNEYPULSE_ALERT_WEBHOOK_URL" in result.output
