"""Fixtures for the destination tests: a scripted local service, a sample message, fast destinations.

``make(kind, env, **config)`` builds a destination with short timeouts, a recorded sleep (no test waits
for a backoff), a fixed clock, a seeded jitter and the session's shared httpx client.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import httpx
import pytest

from escalation.destinations import build_destination
from escalation.messages import Destination, EscalationMessage, Suggestion
from helpers.scripted_http import ScriptedServer, Sleeps
from journeypulse.config import DestinationConfig

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Make = Callable[..., Destination]


@pytest.fixture
def service() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(scope="session")
def http_client() -> Iterator[httpx.Client]:
    """One client for all tests: building one loads the CA bundle, which is slow on a busy machine."""
    with httpx.Client() as client:
        yield client


@pytest.fixture
def make(sleeps: Sleeps, http_client: httpx.Client) -> Make:
    def _make(kind: str, env: Mapping[str, str], **fields: object) -> Destination:
        config = DestinationConfig.model_validate(
            {"kind": kind, "timeout_seconds": 0.2, "max_attempts": 3, "max_retry_after_seconds": 30} | fields)
        destination = build_destination(f"{kind}-test", config, env, client=http_client, sleep=sleeps,
                                        clock=lambda: NOW, rng=random.Random(7))
        return destination

    return _make


@pytest.fixture
def message() -> EscalationMessage:
    return EscalationMessage(
        idempotency_key="esc:refund-urgent:m-4f2a:zd",
        rule_id="refund-urgent",
        priority="urgent",
        subject="[urgent] exit: cancellation - Acme Bank (x, es)",
        text="Llevo 3 semanas esperando el reembolso, cancelo mi cuenta. Escribidme a [email]",
        url="https://x.com/i/web/status/1890000000000000001",
        language="es",
        context={"brand": "Acme Bank", "source": "x", "channel": "x", "stage": "refund", "exit_signal": True,
                 "exit_type": "cancellation", "pain_point": "refund_delay", "sentiment": "negative",
                 "confidence": 0.93, "question": False, "mention_id": "m-4f2a",
                 "published_at": "2026-03-01T11:52:00+00:00"},
        suggestion=Suggestion(playbook_rule="refund_delay", playbook_version="1", action="Apologise, give the "
                              "refund timeline and offer the status page",
                              reply="Sentimos mucho la espera. Tu reembolso se procesa en 5 días hábiles.",
                              reply_language="es"),
    )
