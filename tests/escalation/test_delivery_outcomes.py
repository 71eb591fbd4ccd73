"""Every destination against a local service answering in that service's documented shapes.

One table of services; each behaviour (created, 429 + Retry-After, 5xx, timeouts, a rejected
payload, refused credentials) runs for each of them, and no secret may reach an error or a log.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from escalation.messages import DeliveryError, Destination, EscalationMessage
from helpers.scripted_http import Received, Reply, ScriptedServer, Sleeps

Make = Callable[..., Destination]


@dataclass(frozen=True)
class Service:
    kind: str
    env: dict[str, str]
    config: Callable[[str], dict[str, object]]
    created: Reply
    external_id: str | None
    rejected: Reply
    reason: str
    refused: Reply
    checks: tuple[str, ...]
    """What a refused-credentials error must tell the user to check (env var names)."""
    search: Reply | None = None
    """The helpdesk's answer to the de-duplication search when no ticket carries the key yet."""


SLACK_PATH = "/services/T0001/B0002/sl4ckS3cretPath"
SERVICES = [
    Service("webhook", {"JP_HOOK_KEY": "whsec-k3y-VALUE-never-shown"},
            lambda url: {"url": f"{url}/hooks/escalations", "secrets": {"signing_key": "JP_HOOK_KEY"}},
            created=Reply(202, {"received": True}), external_id=None,
            rejected=Reply(422, {"error": "unknown priority"}), reason="unknown priority",
            refused=Reply(401, {"error": "signature mismatch"}), checks=("JP_HOOK_KEY",)),
    Service("slack", {"JP_SLACK_URL": ""}, lambda url: {"secrets": {"url": "JP_SLACK_URL"}},
            created=Reply(200, "ok"), external_id=None,
            rejected=Reply(400, "invalid_payload"), reason="invalid_payload",
            refused=Reply(403, "invalid_token"), checks=("JP_SLACK_URL",)),
    Service("teams", {"JP_TEAMS_URL": ""}, lambda url: {"secrets": {"url": "JP_TEAMS_URL"}},
            created=Reply(202, b""), external_id=None,
            rejected=Reply(400, {"error": {"code": "InvalidRequestContent",
                                           "message": "The input body for trigger 'manual' of type 'Request' "
                                                      "did not match its schema definition."}}),
            reason="InvalidRequestContent",
            refused=Reply(401, {"error": {"code": "DirectApiAuthorizationRequired",
                                          "message": "The request must be authenticated."}}),
            checks=("JP_TEAMS_URL",)),
    Service("zendesk", {"ZD_EMAIL": "agent@acme.example", "ZD_TOKEN": "zdT0ken-S3CRET-value"},
            lambda url: {"url": url, "secrets": {"email": "ZD_EMAIL", "api_token": "ZD_TOKEN"}},
            created=Reply(201, {"ticket": {"id": 35436, "url": "https://acme.zendesk.com/api/v2/tickets/35436.json",
                                           "status": "new", "priority": "urgent"}},
                          headers={"x-idempotency-lookup": "miss"}),
            external_id="35436",
            rejected=Reply(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                 "details": {"priority": [{"description": "Priority: is not valid for agent@acme",
                                                           "error": "InvalidValue"}]}}),
            reason="RecordInvalid: Record validation errors: priority InvalidValue",
            refused=Reply(401, {"error": "Couldn't authenticate you"}), checks=("ZD_EMAIL", "ZD_TOKEN"),
            search=Reply(200, {"tickets": [], "count": 0, "next_page": None, "previous_page": None})),
    Service("freshdesk", {"FD_API_KEY": "fdKEY-S3CRET-value"},
            lambda url: {"url": url, "secrets": {"api_key": "FD_API_KEY"},
                         "params": {"requester_email": "social@acme.example"}},
            created=Reply(201, {"id": 1001, "status": 2, "priority": 4, "subject": "x"}), external_id="1001",
            rejected=Reply(400, {"description": "Validation failed", "errors": [
                {"field": "email", "message": "It should be a valid email address", "code": "invalid_value"}]}),
            reason="Validation failed: email invalid_value",
            refused=Reply(401, {"code": "invalid_credentials",
                                "message": "You have to be logged in to perform this action."}),
            checks=("FD_API_KEY",),
            search=Reply(200, {"results": [], "total": 0})),
]


def _secrets(service: Service, server: ScriptedServer) -> dict[str, str]:
    env = dict(service.env)
    for name in env:
        if name.endswith("_URL"):
            env[name] = server.url + SLACK_PATH
    return env


def _script(server: ScriptedServer, service: Service, *posts: Reply) -> None:
    """The search (helpdesks) always finds nothing; the POSTs are answered in order."""
    queue = deque(posts)

    def respond(request: Received) -> Reply:
        if request.method == "GET" and service.search is not None:
            return service.search
        return queue.popleft() if queue else Reply(500, "no reply scripted")

    server.respond = respond


def _assert_nothing_secret(service: Service, text: str) -> None:
    for value in service.env.values():
        if value:
            assert value not in text
    assert SLACK_PATH not in text and "sl4ckS3cretPath" not in text


BY_KIND = pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.kind)
# Freshdesk cannot de-duplicate a create, so it re-sends within a run only when the first try surely did
# nothing (429, 503, no connection); test_helpdesks covers its unsure cases.
RESENDING = pytest.mark.parametrize("svc", [s for s in SERVICES if s.kind != "freshdesk"], ids=lambda s: s.kind)


@BY_KIND
def test_a_message_the_service_accepts_returns_its_status_and_ticket_id(
        svc: Service, service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    _script(service, svc, svc.created)
    destination = make(svc.kind, _secrets(svc, service), **svc.config(service.url))

    receipt = destination.send(message)

    assert receipt.status_code == svc.created.status
    assert receipt.external_id == svc.external_id
    assert len(service.requests("POST")) == 1


@BY_KIND
def test_a_429_with_retry_after_waits_that_long_then_succeeds(
        svc: Service, service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    _script(service, svc, Reply(429, "rate_limited", headers={"Retry-After": "7"}), svc.created)
    destination = make(svc.kind, _secrets(svc, service), **svc.config(service.url))

    receipt = destination.send(message)

    assert receipt.external_id == svc.external_id
    assert sleeps.waits == [7.0]
    assert len(service.requests("POST")) == 2


@RESENDING
def test_a_5xx_is_retried_with_backoff_and_the_next_try_succeeds(
        svc: Service, service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    _script(service, svc, Reply(502, "Bad Gateway"), svc.created)
    destination = make(svc.kind, _secrets(svc, service), **svc.config(service.url))

    receipt = destination.send(message)

    assert receipt.status_code == svc.created.status
    assert len(sleeps.waits) == 1 and 0.25 <= sleeps.waits[0] <= 0.5  # base 0.5 s, jitter 0.5-1


@RESENDING
def test_5xx_on_every_try_ends_in_a_retryable_error_for_the_next_run(
        svc: Service, service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    _script(service, svc, Reply(500), Reply(503), Reply(500))
    destination = make(svc.kind, _secrets(svc, service), **svc.config(service.url))

    with pytest.raises(DeliveryError) as caught:
        destination.send(message)

    assert caught.value.retryable and caught.value.status_code == 500
    assert "after 3 tries" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert len(service.requests("POST")) == 3 and len(sleeps.waits) == 2
    assert sleeps.waits[0] < sleeps.waits[1] * 2  # exponential: 0.25-0.5 s, then 0.5-1 s


@RESENDING
def test_a_service_slower_than_the_timeout_is_a_retryable_error(
        svc: Service, service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    slow = Reply(svc.created.status, svc.created.body, svc.created.headers, delay=0.6)
    _script(service, svc, slow, slow)
    destination = make(svc.kind, _secrets(svc, service), max_attempts=2, **svc.config(service.url))

    with pytest.raises(DeliveryError) as caught:
        destination.send(message)

    assert caught.value.retryable and caught.value.status_code is None
    assert "timed out after 0.2 s" in str(caught.value)
    assert len(service.requests("POST")) == 2


@BY_KIND
def test_a_rejected_payload_is_not_retried_and_says_the_services_reason(
        svc: Service, service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    _script(service, svc, svc.rejected)
    destination = make(svc.kind, _secrets(svc, service), **svc.config(service.url))

    with pytest.raises(DeliveryError) as caught:
        destination.send(message)

    error = str(caught.value)
    assert not caught.value.retryable and caught.value.status_code == svc.rejected.status
    assert f"({svc.reason})" in error
    assert message.text not in error and "agent@acme" not in error  # no payload, no echoed values
    assert len(service.requests("POST")) == 1 and sleeps.waits == []


@BY_KIND
def test_refused_credentials_are_not_retried_and_name_the_env_vars_to_check_not_their_values(
        svc: Service, service: ScriptedServer, make: Make, message: EscalationMessage,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _script(service, svc, svc.refused)
    env = _secrets(svc, service)
    destination = make(svc.kind, env, **svc.config(service.url))

    with pytest.raises(DeliveryError) as caught:
        destination.send(message)

    error = str(caught.value)
    assert not caught.value.retryable and caught.value.status_code == svc.refused.status
    assert all(name in error for name in svc.checks)
    _assert_nothing_secret(svc, error)
    _assert_nothing_secret(svc, caplog.text)


@BY_KIND
def test_no_secret_text_or_body_reaches_the_logs_through_retries_and_success(
        svc: Service, service: ScriptedServer, make: Make, message: EscalationMessage,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _script(service, svc, Reply(503, "upstream failure"), Reply(429, headers={"Retry-After": "1"}), svc.created)
    destination = make(svc.kind, _secrets(svc, service), **svc.config(service.url))

    destination.send(message)

    _assert_nothing_secret(svc, caplog.text)
    assert message.text not in caplog.text and "upstream failure" not in caplog.text
    assert "try 2/3" in caplog.text and "try 3/3" in caplog.text
