"""The shared sender's waiting rules: Retry-After (seconds or a date, capped), backoff, unreachable services."""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from escalation.http import Backoff
from escalation.messages import DeliveryError, Destination, EscalationMessage
from helpers.scripted_http import Reply, ScriptedServer, Sleeps
from journeypulse.retry_after import retry_after_seconds

Make = Callable[..., Destination]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _hook(make: Make, url: str, **fields: object) -> Destination:
    return make("webhook", {"K": "secret-key"}, url=url, secrets={"signing_key": "K"}, **fields)


@pytest.mark.parametrize(("header", "seconds"), [
    ("7", 7.0), ("0", 0.0), ("2.5", 2.5), ("-3", 0.0),
    ("Sun, 01 Mar 2026 12:00:20 GMT", 20.0), ("Sun, 01 Mar 2026 11:59:00 GMT", 0.0),
    (None, None), ("soon", None), ("", None),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, lambda: NOW) == seconds


def test_a_503_with_an_http_date_retry_after_waits_until_that_date(
        service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    service.answer(Reply(503, headers={"Retry-After": "Sun, 01 Mar 2026 12:00:12 GMT"}), Reply(200))

    _hook(make, service.url).send(message)

    assert sleeps.waits == [12.0]


def test_a_retry_after_beyond_the_cap_stops_at_once_and_hands_the_wait_to_the_next_run(
        service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    service.answer(Reply(429, "rate_limited", headers={"Retry-After": "3600"}), Reply(200))

    with pytest.raises(DeliveryError) as caught:
        _hook(make, service.url, max_retry_after_seconds=60).send(message)

    assert caught.value.retryable and caught.value.retry_after == 3600.0 and caught.value.status_code == 429
    assert "longer than max_retry_after_seconds (60 s)" in str(caught.value)
    assert len(service.received) == 1 and sleeps.waits == []


def test_a_429_on_the_last_try_keeps_the_services_retry_after_for_the_next_run(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(429, headers={"Retry-After": "5"}))

    with pytest.raises(DeliveryError) as caught:
        _hook(make, service.url, max_attempts=1).send(message)

    assert caught.value.retryable and caught.value.retry_after == 5.0


def test_a_service_that_refuses_connections_is_a_retryable_error(
        make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(DeliveryError, match=r"failed \(ConnectError\)") as caught:
        _hook(make, f"http://127.0.0.1:{port}/hook", max_attempts=2).send(message)

    assert caught.value.retryable and len(sleeps.waits) == 1


def test_a_redirect_is_not_followed_and_asks_for_the_final_url(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(301, headers={"Location": "https://elsewhere.example/hook"}))

    with pytest.raises(DeliveryError, match="set the destination's final URL") as caught:
        _hook(make, service.url).send(message)

    assert not caught.value.retryable and len(service.received) == 1


def test_a_long_or_marked_up_error_body_is_left_out_of_the_error(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(400, "<html><body>Bad request for https://internal/x?token=abc</body></html>"))

    with pytest.raises(DeliveryError) as caught:
        _hook(make, service.url).send(message)

    assert str(caught.value).count("HTTP 400;") == 1 and "html" not in str(caught.value)


def test_backoff_doubles_up_to_its_cap_with_jitter_between_half_and_all_of_it() -> None:
    backoff, rng = Backoff(base_seconds=1.0, cap_seconds=8.0), random.Random(1)

    for attempt, ceiling in enumerate([1, 2, 4, 8, 8, 8]):
        waits = [backoff.delay(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len({round(w, 6) for w in waits}) > 40  # jittered, not one fixed value


def test_a_secret_url_stays_out_of_httpxs_log_even_as_httpx_rewrites_it(
        service: ScriptedServer, make: Make, message: EscalationMessage, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # journeypulse.logs quiets httpx to WARNING once any command has set up logging; a deployment may turn it up
    caplog.set_level(logging.DEBUG, logger="httpx")
    service.answer(Reply(202))
    port = service.url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/workflows/ab/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S3cr3tSig x"

    make("teams", {"TEAMS_URL": url}, secrets={"url": "TEAMS_URL"}).send(message)

    assert "HTTP Request: POST http://localhost/<hidden>" in caplog.text
    assert "S3cr3tSig" not in caplog.text and "/workflows/ab" not in caplog.text
