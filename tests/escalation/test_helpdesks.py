"""Zendesk and Freshdesk tickets: the request each API documents, and no second ticket after a crash."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable
from dataclasses import replace

import pytest

from escalation.messages import DeliveryError, Destination, EscalationMessage
from escalation.render import freshdesk_body, key_tag, ticket_html, zendesk_body
from helpers.scripted_http import Received, Reply, ScriptedServer, Sleeps

Make = Callable[..., Destination]
ZD_ENV = {"ZD_EMAIL": "agent@acme.example", "ZD_TOKEN": "zd-token-123"}
FD_ENV = {"FD_API_KEY": "fd-key-456"}


def _zendesk(make: Make, server: ScriptedServer, **params: object) -> Destination:
    return make("zendesk", ZD_ENV, url=server.url, secrets={"email": "ZD_EMAIL", "api_token": "ZD_TOKEN"},
                params=params)


def _freshdesk(make: Make, server: ScriptedServer, **params: object) -> Destination:
    return make("freshdesk", FD_ENV, url=server.url, secrets={"api_key": "FD_API_KEY"},
                params={"requester_email": "social@acme.example", **params})


def _basic(request: Received) -> str:
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(token).decode()


def test_zendesk_opens_an_internal_ticket_keyed_by_the_escalation(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"tickets": [], "count": 0}), Reply(201, {"ticket": {"id": 35436}}))

    receipt = _zendesk(make, service, tags=["social"], group_id=360001).send(message)

    assert receipt.external_id == "35436" and receipt.status_code == 201
    search, create = service.received
    assert (search.method, search.path, search.query) == ("GET", "/api/v2/tickets.json",
                                                          {"external_id": [message.idempotency_key]})
    assert (create.method, create.path) == ("POST", "/api/v2/tickets.json")
    assert _basic(create) == "agent@acme.example/token:zd-token-123"
    assert create.headers["idempotency-key"] == message.idempotency_key
    body = create.json()
    assert isinstance(body, dict)
    ticket = body["ticket"]
    assert ticket["subject"] == message.subject and ticket["priority"] == "urgent"
    assert ticket["external_id"] == message.idempotency_key and ticket["group_id"] == 360001
    assert ticket["comment"]["public"] is False
    html = ticket["comment"]["html_body"]
    assert message.text in html and f'href="{message.url}"' in html and "Suggested reply (es)" in html
    assert ticket["tags"] == ["journeypulse", "jp_rule_refund-urgent", "jp_stage_refund", "jp_pain_point_refund_delay",
                              "jp_exit_type_cancellation", "social"]


def test_zendesk_returns_the_ticket_an_earlier_crashed_run_opened_instead_of_a_second_one(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"tickets": [{"id": 35436, "external_id": message.idempotency_key}], "count": 1}))

    receipt = _zendesk(make, service).send(message)

    assert receipt.external_id == "35436"
    assert service.requests("POST") == []


def test_zendesk_takes_the_ticket_id_from_a_replayed_idempotent_answer(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"tickets": [], "count": 0}),
                   Reply(201, {"ticket": {"id": 35436}}, headers={"x-idempotency-lookup": "hit"}))

    destination = _zendesk(make, service)

    assert destination.send(message).external_id == "35436"
    assert destination.supports_idempotency_key is True


def test_zendesk_without_a_ticket_id_in_its_answer_is_retryable(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"tickets": [], "count": 0}), Reply(201, {"job_status": {"id": "x"}}))

    with pytest.raises(DeliveryError, match="without a ticket id") as caught:
        _zendesk(make, service).send(message)
    assert caught.value.retryable


def test_freshdesk_opens_an_open_ticket_under_the_configured_requester(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"results": [], "total": 0}), Reply(201, {"id": 1001, "status": 2}))

    receipt = _freshdesk(make, service, group_id=77, source=7).send(message)

    assert receipt.external_id == "1001"
    search, create = service.received
    tag = key_tag(message.idempotency_key)
    assert (search.method, search.path, search.query) == ("GET", "/api/v2/search/tickets",
                                                          {"query": [f"\"tag:'{tag}'\""]})
    assert (create.method, create.path) == ("POST", "/api/v2/tickets")
    assert _basic(create) == "fd-key-456:X"
    ticket = create.json()
    assert isinstance(ticket, dict)
    assert ticket["email"] == "social@acme.example" and ticket["priority"] == 4 and ticket["status"] == 2
    assert ticket["source"] == 7 and ticket["group_id"] == 77 and ticket["subject"] == message.subject
    assert tag in ticket["tags"] and len(tag) <= 32
    assert message.text in ticket["description"] and "Apologise" in ticket["description"]


def test_freshdesk_returns_the_ticket_that_already_carries_the_key_tag(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"results": [{"id": 1001, "tags": [key_tag(message.idempotency_key)]}], "total": 1}))

    destination = _freshdesk(make, service)

    assert destination.send(message).external_id == "1001"
    assert service.requests("POST") == []
    assert destination.supports_idempotency_key is False


@pytest.mark.parametrize(("priority", "zendesk", "freshdesk"),
                         [("low", "low", 1), ("normal", "normal", 2), ("high", "high", 3), ("urgent", "urgent", 4)])
def test_priorities_map_onto_each_helpdesks_scale(priority: str, zendesk: str, freshdesk: int,
                                                   message: EscalationMessage) -> None:
    changed = replace(message, priority=priority)
    ticket = zendesk_body(changed, tags=[], group_id=None)["ticket"]
    assert isinstance(ticket, dict) and ticket["priority"] == zendesk
    assert freshdesk_body(changed, requester_email="a@b.co", tags=[], group_id=None, source=2)["priority"] == freshdesk


def test_ticket_html_escapes_the_text_so_markup_in_a_post_stays_text(message: EscalationMessage) -> None:
    html = ticket_html(replace(message, text='<img src=x onerror="alert(1)"> refund\nnow'))

    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; refund<br>now" in html and "<img" not in html


@pytest.mark.parametrize("unsure", [Reply(502, "Bad Gateway"), Reply(504), Reply(201, {"id": 1}, delay=0.6)],
                         ids=["502", "504", "timeout"])
def test_a_freshdesk_create_with_an_unknown_outcome_is_left_to_the_next_run_which_searches_first(
        unsure: Reply, service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"results": [], "total": 0}), unsure, Reply(201, {"id": 1002}))

    with pytest.raises(DeliveryError, match="may have been carried out") as caught:
        _freshdesk(make, service).send(message)

    assert caught.value.retryable
    assert len(service.requests("POST")) == 1 and sleeps.waits == []


def test_a_freshdesk_503_or_429_surely_created_nothing_and_is_retried_in_the_run(
        service: ScriptedServer, make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    service.answer(Reply(200, {"results": [], "total": 0}), Reply(503, headers={"Retry-After": "2"}),
                   Reply(429, headers={"Retry-After": "3"}), Reply(201, {"id": 1003}))

    assert _freshdesk(make, service).send(message).external_id == "1003"
    assert sleeps.waits == [2.0, 3.0]


def test_a_freshdesk_service_that_refuses_connections_is_retried_in_the_run(
        make: Make, sleeps: Sleeps, message: EscalationMessage) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    destination = make("freshdesk", FD_ENV, url=f"http://127.0.0.1:{port}", secrets={"api_key": "FD_API_KEY"},
                       params={"requester_email": "social@acme.example"})

    with pytest.raises(DeliveryError, match="after 3 tries"):
        destination.send(message)
    assert len(sleeps.waits) == 2
