"""The generic JSON webhook: the documented body, the Idempotency-Key header, and a signature the receiver verifies."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from escalation.messages import DeliveryError, Destination, EscalationMessage
from escalation.signing import SignatureError, verify_signature
from helpers.scripted_http import Received, Reply, ScriptedServer

Make = Callable[..., Destination]
KEY = "whsec-0123456789abcdef"
NOW_UNIX = 1_772_366_400  # conftest's NOW, 2026-03-01 12:00 UTC


def _verifying_receiver(server: ScriptedServer, key: str) -> None:
    """Answers like a receiver that checks the signature on the raw bytes (401 when it does not match)."""
    def respond(request: Received) -> Reply:
        try:
            verify_signature(request.body, request.headers.get("x-journeypulse-signature"), key, now=NOW_UNIX + 2)
        except SignatureError as exc:
            return Reply(401, {"error": str(exc).split(": ")[-1]})
        return Reply(200, {"received": True})

    server.respond = respond


def _webhook(make: Make, server: ScriptedServer) -> Destination:
    return make("webhook", {"JP_HOOK_KEY": KEY}, url=f"{server.url}/hooks/jp",
                secrets={"signing_key": "JP_HOOK_KEY"})


def test_the_receiver_verifies_the_signature_over_the_exact_bytes_sent(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    _verifying_receiver(service, KEY)

    receipt = _webhook(make, service).send(message)

    assert receipt.status_code == 200
    request = service.received[0]
    assert request.path == "/hooks/jp"
    assert request.headers["x-journeypulse-signature"].startswith(f"t={NOW_UNIX},v1=")


def test_a_receiver_with_another_key_refuses_it_and_the_error_names_the_env_var(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    _verifying_receiver(service, "a-different-key")

    with pytest.raises(DeliveryError) as caught:
        _webhook(make, service).send(message)

    error = str(caught.value)
    assert not caught.value.retryable
    assert "HTTP 401 (no signature matches the body and key)" in error and "JP_HOOK_KEY" in error
    assert KEY not in error


def test_the_body_carries_the_documented_fields_and_the_idempotency_key_header(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(204))

    _webhook(make, service).send(message)

    request = service.received[0]
    assert request.headers["idempotency-key"] == message.idempotency_key
    assert request.headers["content-type"].startswith("application/json")
    body = json.loads(request.body)
    assert body == {
        "schema": "journeypulse.escalation/v1",
        "idempotency_key": message.idempotency_key,
        "rule": "refund-urgent",
        "priority": "urgent",
        "subject": message.subject,
        "text": message.text,
        "url": message.url,
        "language": "es",
        "context": dict(message.context),
        "suggestion": {"action": message.suggestion.action if message.suggestion else None,
                       "reply": message.suggestion.reply if message.suggestion else None,
                       "reply_language": "es", "playbook_rule": "refund_delay", "playbook_version": "1"},
        "sent_at": "2026-03-01T12:00:00+00:00",
    }


def test_every_retry_repeats_the_idempotency_key_so_the_receiver_can_drop_duplicates(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(500), Reply(200))

    _webhook(make, service).send(message)

    keys = {r.headers["idempotency-key"] for r in service.received}
    assert len(service.received) == 2 and keys == {message.idempotency_key}
    assert _webhook(make, service).supports_idempotency_key is True


def test_text_is_sent_exactly_as_the_engine_gave_it(service: ScriptedServer, make: Make,
                                                    message: EscalationMessage) -> None:
    service.answer(Reply(200))
    tricky = replace(message, text="<b>¡Ya!</b> & \"adiós\"\nbye 👋", suggestion=None)

    _webhook(make, service).send(tricky)

    body = json.loads(service.received[0].body)
    assert body["text"] == tricky.text and body["suggestion"] is None
