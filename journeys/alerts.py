"""Alert rules on daily per-brand, per-stage series, and the webhook that delivers the alerts.

Rules are pure functions of the series (same input, same alerts); every series a rule could not
judge is reported as skipped with its reason, never dropped silently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlsplit

import httpx

from journeypulse.errors import ConfigError, PipelineError

__all__ = [
    "WEBHOOK_URL_ENV",
    "Alert",
    "AlertReport",
    "AlertRules",
    "DailyStageStats",
    "SkippedSeries",
    "WebhookPoster",
    "evaluate_alerts",
]

log = logging.getLogger(__name__)

WEBHOOK_URL_ENV = "JOURNEYPULSE_ALERT_WEBHOOK_URL"
NEGATIVE_SPIKE = "negative_share_spike"
NEW_PAIN_POINT = "new_pain_point"


@dataclass(frozen=True)
class DailyStageStats:
    """One brand's mentions linked to one stage on one day."""

    brand: str
    stage: str
    day: date
    total: int
    negative: int
    pain_points: dict[str, int] = field(default_factory=dict)  # pain point -> mentions that day

    def __post_init__(self) -> None:
        if not 0 <= self.negative <= self.total:
            raise ValueError(
                f"daily stats {self.brand}/{self.stage}/{self.day}: negative={self.negative} must lie in 0..total "
                f"({self.total}); pass counts of the same mentions"
            )

    @property
    def negative_share(self) -> float:
        return self.negative / self.total if self.total else 0.0


@dataclass(frozen=True)
class AlertRules:
    """Thresholds; the defaults suit a brand with a few dozen mentions per stage per day."""

    k_sigma: float = 3.0
    baseline_days: int = 7
    min_volume: int = 20  # today's mentions needed before a share is judged at all
    min_baseline_days: int = 4  # days with mentions inside the baseline window
    min_sigma: float = 0.03  # floor on the baseline deviation, so a flat history does not alert on noise
    new_pain_lookback_days: int = 30
    min_new_pain_mentions: int = 3

    def __post_init__(self) -> None:
        if self.k_sigma <= 0 or self.baseline_days < 2 or self.min_volume < 1 or self.min_baseline_days < 2:
            raise ValueError(f"alert rules {self}: k_sigma > 0, baseline_days >= 2, min_volume >= 1 and "
                             "min_baseline_days >= 2 are required")
        if self.min_baseline_days > self.baseline_days:
            raise ValueError(f"alert rules: min_baseline_days={self.min_baseline_days} exceeds "
                             f"baseline_days={self.baseline_days}; lower it or widen the window")


@dataclass(frozen=True)
class Alert:
    rule: str
    brand: str
    stage: str
    day: date
    value: float
    baseline: float
    message: str
    pain_point: str | None = None

    @property
    def key(self) -> str:
        """Stable id so a receiver can drop the same alert posted again by a re-run."""
        raw = "\x1f".join((self.rule, self.brand, self.stage, self.day.isoformat(), self.pain_point or ""))
        return hashlib.sha256(raw.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class SkippedSeries:
    rule: str
    brand: str
    stage: str
    reason: str


@dataclass(frozen=True)
class AlertReport:
    alerts: tuple[Alert, ...]
    skipped: tuple[SkippedSeries, ...]


def _index(series: Iterable[DailyStageStats]) -> dict[tuple[str, str], dict[date, DailyStageStats]]:
    by_key: dict[tuple[str, str], dict[date, DailyStageStats]] = defaultdict(dict)
    for row in series:
        days = by_key[(row.brand, row.stage)]
        if row.day in days:
            raise ValueError(f"daily stats {row.brand}/{row.stage}/{row.day} appear twice; aggregate per day first")
        days[row.day] = row
    return by_key


def _negative_spike(brand: str, stage: str, days: dict[date, DailyStageStats], day: date,
                    rules: AlertRules) -> Alert | SkippedSeries:
    today = days.get(day)
    if today is None or today.total < rules.min_volume:
        volume = today.total if today else 0
        reason = f"{volume} mentions on {day} < min_volume {rules.min_volume}"
        return SkippedSeries(NEGATIVE_SPIKE, brand, stage, reason)
    window = [day - timedelta(days=n) for n in range(1, rules.baseline_days + 1)]
    shares = [days[d].negative_share for d in window if d in days and days[d].total > 0]
    if len(shares) < rules.min_baseline_days:
        return SkippedSeries(NEGATIVE_SPIKE, brand, stage,
                             f"{len(shares)} baseline days with mentions < min_baseline_days {rules.min_baseline_days}")
    mean = statistics.fmean(shares)
    sigma = max(statistics.stdev(shares), rules.min_sigma)
    threshold = mean + rules.k_sigma * sigma
    if today.negative_share <= threshold:
        return SkippedSeries(NEGATIVE_SPIKE, brand, stage, "within baseline")
    message = (f"{brand} / {stage}: negative share {today.negative_share:.0%} on {day} "
               f"({today.negative} of {today.total}) vs {rules.baseline_days}-day mean {mean:.0%} "
               f"(threshold {threshold:.0%} = mean + {rules.k_sigma:g} sigma)")
    return Alert(NEGATIVE_SPIKE, brand, stage, day, round(today.negative_share, 4), round(mean, 4), message)


def _new_pain_points(brand: str, stage: str, days: dict[date, DailyStageStats], day: date,
                     rules: AlertRules) -> list[Alert] | SkippedSeries:
    today = days.get(day)
    if today is None or not today.pain_points:
        return []
    window = [day - timedelta(days=n) for n in range(1, rules.new_pain_lookback_days + 1)]
    history = [days[d] for d in window if d in days and days[d].total > 0]
    if len(history) < rules.min_baseline_days:
        return SkippedSeries(NEW_PAIN_POINT, brand, stage,
                             f"{len(history)} history days with mentions < min_baseline_days {rules.min_baseline_days}")
    seen = {name for row in history for name, count in row.pain_points.items() if count > 0}
    alerts = []
    for name, count in sorted(today.pain_points.items()):
        if name not in seen and count >= rules.min_new_pain_mentions:
            message = (f"{brand} / {stage}: new pain point {name!r} with {count} mentions on {day}, "
                       f"not seen in the previous {rules.new_pain_lookback_days} days")
            alerts.append(Alert(NEW_PAIN_POINT, brand, stage, day, float(count), 0.0, message, pain_point=name))
    return alerts


def evaluate_alerts(
    series: Iterable[DailyStageStats],
    *,
    day: date,
    rules: AlertRules | None = None,
    overrides: Mapping[tuple[str, str | None], AlertRules] | None = None,
) -> AlertReport:
    """Judge ``day`` for every (brand, stage) in ``series`` against the days before it.

    ``overrides`` sets rules per ``(brand, stage)`` or per ``(brand, None)`` for all of a brand's
    stages; the most specific one applies, else ``rules``. Days absent from the series count as
    days without mentions. Raises ValueError when a (brand, stage, day) appears twice.
    """
    default = rules or AlertRules()
    overrides = overrides or {}
    alerts: list[Alert] = []
    skipped: list[SkippedSeries] = []
    for (brand, stage), days in sorted(_index(series).items()):
        rules = overrides.get((brand, stage)) or overrides.get((brand, None)) or default
        spike = _negative_spike(brand, stage, days, day, rules)
        if isinstance(spike, Alert):
            alerts.append(spike)
        else:
            skipped.append(spike)
        new = _new_pain_points(brand, stage, days, day, rules)
        if isinstance(new, SkippedSeries):
            skipped.append(new)
        else:
            alerts.extend(new)
    log.info("alerts for %s: %d raised, %d series not judged or within baseline", day, len(alerts), len(skipped))
    return AlertReport(tuple(alerts), tuple(skipped))


class _MaskWebhookUrl(logging.Filter):
    """Rewrites httpx's own request log line so the webhook's secret path never reaches a log."""

    def __init__(self, url: str, masked: str) -> None:
        super().__init__()
        self._url, self._masked = url, masked

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(str(arg) == self._url for arg in record.args):
            record.args = tuple(self._masked if str(arg) == self._url else arg for arg in record.args)
        return True


class WebhookPoster:
    """Posts alerts as one JSON message (Slack-compatible ``text`` plus structured ``alerts``).

    The URL is a secret (webhook URLs embed tokens): only its host is ever logged or shown.
    """

    def __init__(self, url: str, *, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"alert webhook: URL with scheme {parts.scheme!r} is not an http(s) URL; "
                              f"set {WEBHOOK_URL_ENV} to the receiver's https URL")
        self._url = url
        self._host = parts.hostname
        self._client = client or httpx.Client()
        self._timeout = timeout
        masking = _MaskWebhookUrl(url, f"{parts.scheme}://{parts.hostname}/<hidden>")
        httpx_log = logging.getLogger("httpx")
        if not any(isinstance(f, _MaskWebhookUrl) and f._url == url for f in httpx_log.filters):
            httpx_log.addFilter(masking)

    @classmethod
    def from_env(cls, env_var: str = WEBHOOK_URL_ENV, *, client: httpx.Client | None = None) -> WebhookPoster:
        url = os.environ.get(env_var)
        if not url:
            raise ConfigError(f"alert webhook: env var {env_var} is not set; set it to the receiver's URL")
        return cls(url, client=client)

    def __repr__(self) -> str:
        return f"WebhookPoster(host={self._host!r})"

    def post(self, alerts: Sequence[Alert]) -> int:
        """Send ``alerts`` (nothing is sent for none); returns how many were sent.

        Raises PipelineError on a timeout, a transport error or a non-2xx answer.
        """
        if not alerts:
            return 0
        payload = {
            "text": "\n".join(a.message for a in alerts),
            "alerts": [
                {"key": a.key, "rule": a.rule, "brand": a.brand, "stage": a.stage, "day": a.day.isoformat(),
                 "value": a.value, "baseline": a.baseline, "pain_point": a.pain_point, "message": a.message}
                for a in alerts
            ],
        }
        try:
            response = self._client.post(self._url, json=payload, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise PipelineError(f"alert webhook: POST to {self._host} timed out after {self._timeout:g} s; "
                                "check the receiver or raise the timeout") from exc
        except httpx.HTTPError as exc:
            raise PipelineError(f"alert webhook: POST to {self._host} failed ({type(exc).__name__}); "
                                f"check {WEBHOOK_URL_ENV} and the network") from exc
        if not response.is_success:
            raise PipelineError(f"alert webhook: {self._host} answered HTTP {response.status_code}; "
                                f"check that {WEBHOOK_URL_ENV} is still valid")
        log.info("posted %d alerts to webhook host %s", len(alerts), self._host)
        return len(alerts)
