"""The five destinations and ``build_destination``, which reads a destination's secrets from the environment.

Each destination sends one EscalationMessage through the shared retrying Sender (escalation/http.py).
Exactly-once per destination: the webhook and Zendesk de-duplicate on the key we send; Zendesk and
Freshdesk are also searched for a ticket carrying the key before one is created, so a crash between
send and record does not open a second ticket; Slack and Teams cannot de-duplicate (see the docs).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import cast

import httpx
from pydantic import JsonValue

from escalation import render
from escalation.http import Clock, Outgoing, Sender, hide_url_in_logs, text_reason, utc_now
from escalation.messages import DeliveryError, DeliveryReceipt, Destination, EscalationMessage
from escalation.signing import SIGNATURE_HEADER, sign
from journeypulse.config import DestinationConfig, check_endpoint_url
from journeypulse.errors import ConfigError

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}


def _json(body: Mapping[str, JsonValue]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _error_field(response: httpx.Response, *names: str) -> str | None:
    data = response.json()
    if not isinstance(data, dict):
        return None
    for name in names:
        value = data.get(name)
        if isinstance(value, dict):
            value = value.get("code") or value.get("title")
        if isinstance(value, str) and value:
            return value
    return None


class _HttpDestination:
    """What every destination shares: its name, kind, sender; ``close`` releases a client it created."""

    kind: str = ""
    supports_idempotency_key: bool = False

    def __init__(self, name: str, sender: Sender, *, owns_client: bool) -> None:
        self.name = name
        self._sender = sender
        self._owns_client = owns_client

    def close(self) -> None:
        if self._owns_client:
            self._sender.client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class WebhookDestination(_HttpDestination):
    """POSTs the message as JSON, signed (``X-Journeypulse-Signature``) and with an ``Idempotency-Key`` header.

    The receiver de-duplicates on the key, so a re-send after a crash is harmless.
    """

    kind = "webhook"
    supports_idempotency_key = True

    def __init__(self, name: str, sender: Sender, *, url: str, signing_key: str, key_hint: str,
                 owns_client: bool) -> None:
        super().__init__(name, sender, owns_client=owns_client)
        self._url, self._key, self._key_hint = url, signing_key, key_hint

    def send(self, message: EscalationMessage) -> DeliveryReceipt:
        def build() -> Outgoing:
            sent_at = self._sender.clock()
            body = _json(render.webhook_body(message, sent_at))
            headers = {**JSON_HEADERS, "Idempotency-Key": message.idempotency_key,
                       SIGNATURE_HEADER: sign(body, self._key, int(sent_at.timestamp()))}
            return Outgoing(headers=headers, content=body)

        response = self._sender.request("POST", self._url, build=build, reason=_webhook_reason,
                                        auth_hint=self._key_hint)
        return DeliveryReceipt(response.status_code)


def _webhook_reason(response: httpx.Response) -> str | None:
    if "json" in response.headers.get("Content-Type", ""):
        return _error_field(response, "error", "reason", "message")
    return text_reason(response)


class SlackDestination(_HttpDestination):
    """A Slack incoming webhook (or a compatible one: Mattermost, Rocket.Chat): text plus Block Kit blocks.

    Slack has no idempotency key for incoming webhooks: a re-send after a crash between send and
    record posts the message twice (it shows the key in small print, so people can tell a duplicate).
    """

    kind = "slack"
    supports_idempotency_key = False

    def __init__(self, name: str, sender: Sender, *, url: str, url_hint: str, owns_client: bool) -> None:
        super().__init__(name, sender, owns_client=owns_client)
        self._url, self._url_hint = url, url_hint

    def send(self, message: EscalationMessage) -> DeliveryReceipt:
        body = render.slack_body(message)
        content = _json(body)
        response = self._sender.request("POST", self._url, reason=text_reason, auth_hint=self._url_hint,
                                        build=lambda: Outgoing(headers=JSON_HEADERS, content=content))
        return DeliveryReceipt(response.status_code)


class TeamsDestination(_HttpDestination):
    """A Microsoft Teams incoming webhook or Workflows (Power Automate) URL: an Adaptive Card message.

    Teams has no idempotency key: a re-send after a crash between send and record posts twice.
    """

    kind = "teams"
    supports_idempotency_key = False

    def __init__(self, name: str, sender: Sender, *, url: str, url_hint: str, owns_client: bool) -> None:
        super().__init__(name, sender, owns_client=owns_client)
        self._url, self._url_hint = url, url_hint

    def send(self, message: EscalationMessage) -> DeliveryReceipt:
        content = _json(render.teams_body(message))
        response = self._sender.request("POST", self._url, reason=_teams_reason, auth_hint=self._url_hint,
                                        build=lambda: Outgoing(headers=JSON_HEADERS, content=content))
        return DeliveryReceipt(response.status_code)


def _teams_reason(response: httpx.Response) -> str | None:
    # Workflows answer {"error": {"code": ..., "message": ...}}; classic connectors answer plain text
    if "json" in response.headers.get("Content-Type", ""):
        return _error_field(response, "error")
    return text_reason(response)


class ZendeskDestination(_HttpDestination):
    """Opens a Zendesk ticket (``POST /api/v2/tickets.json``) with an internal first comment.

    Sends ``Idempotency-Key`` (Zendesk replays the first answer for a repeated key within its window)
    and sets ``external_id`` to the key; before creating, ``GET /api/v2/tickets.json?external_id=`` finds
    a ticket an earlier, crashed run already opened, whatever its age.
    """

    kind = "zendesk"
    supports_idempotency_key = True

    def __init__(self, name: str, sender: Sender, *, base_url: str, auth: httpx.BasicAuth, auth_hint: str,
                 tags: list[str], group_id: int | None, owns_client: bool) -> None:
        super().__init__(name, sender, owns_client=owns_client)
        self._base, self._auth, self._auth_hint = base_url, auth, auth_hint
        self._tags, self._group_id = tags, group_id

    def send(self, message: EscalationMessage) -> DeliveryReceipt:
        found = self._sender.request(
            "GET", f"{self._base}/api/v2/tickets.json", reason=_zendesk_reason, auth_hint=self._auth_hint,
            build=lambda: Outgoing(headers={"Accept": "application/json"}, auth=self._auth,
                                   params={"external_id": message.idempotency_key}))
        existing = _ids(found, "tickets")
        if existing:
            log.info("zendesk destination %r: ticket %s already carries this escalation; not creating another",
                     self.name, existing[0])
            return DeliveryReceipt(found.status_code, existing[0])
        content = _json(render.zendesk_body(message, tags=self._tags, group_id=self._group_id))
        headers = {**JSON_HEADERS, "Idempotency-Key": message.idempotency_key}
        response = self._sender.request(
            "POST", f"{self._base}/api/v2/tickets.json", reason=_zendesk_reason, auth_hint=self._auth_hint,
            build=lambda: Outgoing(headers=headers, content=content, auth=self._auth))
        ticket = _object(response, "ticket", self)
        if response.headers.get("x-idempotency-lookup") == "hit":
            log.info("zendesk destination %r: Zendesk replayed the ticket created for this key", self.name)
        return DeliveryReceipt(response.status_code, str(ticket["id"]))


def _zendesk_reason(response: httpx.Response) -> str | None:
    """``error`` and ``description``, plus the invalid fields' names and error codes from ``details``."""
    data = response.json()
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):  # some endpoints nest {"error": {"title", "message"}}
        error = error.get("title")
    parts = [p for p in (error, data.get("description")) if isinstance(p, str) and p]
    details = data.get("details")
    if isinstance(details, dict):
        codes = []
        for field, problems in details.items():
            first = problems[0] if isinstance(problems, list) and problems else {}
            code = first.get("error") if isinstance(first, dict) else None
            codes.append(f"{field} {code}" if isinstance(code, str) else str(field))
        if codes:
            parts.append(", ".join(codes))
    return ": ".join(parts) or None


class FreshdeskDestination(_HttpDestination):
    """Opens a Freshdesk ticket (``POST /api/v2/tickets``) under the configured requester e-mail.

    Freshdesk has no idempotency key: the key travels in a tag (``jp-<hash>``) and, before creating,
    ``GET /api/v2/search/tickets?query="tag:'jp-<hash>'"`` finds a ticket an earlier run opened. A create
    whose outcome is unknown (timeout, 5xx) is not re-sent within the run; the next run searches first.
    Freshdesk's search index lags ticket creation a little, so a re-run within that lag can still open
    a second ticket.
    """

    kind = "freshdesk"
    supports_idempotency_key = False

    def __init__(self, name: str, sender: Sender, *, base_url: str, auth: httpx.BasicAuth, auth_hint: str,
                 requester_email: str, tags: list[str], group_id: int | None, source: int,
                 owns_client: bool) -> None:
        super().__init__(name, sender, owns_client=owns_client)
        self._base, self._auth, self._auth_hint = base_url, auth, auth_hint
        self._requester, self._tags, self._group_id, self._source = requester_email, tags, group_id, source

    def send(self, message: EscalationMessage) -> DeliveryReceipt:
        tag = render.key_tag(message.idempotency_key)
        found = self._sender.request(
            "GET", f"{self._base}/api/v2/search/tickets", reason=_freshdesk_reason, auth_hint=self._auth_hint,
            build=lambda: Outgoing(headers={"Accept": "application/json"}, auth=self._auth,
                                   params={"query": f"\"tag:'{tag}'\""}))
        existing = _ids(found, "results")
        if existing:
            log.info("freshdesk destination %r: ticket %s already carries this escalation; not creating another",
                     self.name, existing[0])
            return DeliveryReceipt(found.status_code, existing[0])
        content = _json(render.freshdesk_body(message, requester_email=self._requester, tags=self._tags,
                                              group_id=self._group_id, source=self._source))
        response = self._sender.request(
            "POST", f"{self._base}/api/v2/tickets", reason=_freshdesk_reason, auth_hint=self._auth_hint,
            build=lambda: Outgoing(headers=JSON_HEADERS, content=content, auth=self._auth), retry_unsure=False)
        ticket = _object(response, None, self)
        return DeliveryReceipt(response.status_code, str(ticket["id"]))


def _freshdesk_reason(response: httpx.Response) -> str | None:
    """``description`` plus each invalid field's name and error code (``errors[].field``, ``.code``)."""
    data = response.json()
    if not isinstance(data, dict):
        return None
    parts = [p for p in (data.get("description"), data.get("code")) if isinstance(p, str) and p]
    errors = data.get("errors")
    if isinstance(errors, list):
        codes = [f"{e.get('field') or '?'} {e.get('code') or ''}".strip() for e in errors if isinstance(e, dict)]
        if codes:
            parts.append(", ".join(codes))
    return ": ".join(parts) or None


def _ids(response: httpx.Response, key: str) -> list[str]:
    """Ids of the records a search answered with (``{key: [{"id": ...}, ...]}``)."""
    try:
        data = response.json()
    except ValueError:
        return []
    records = data.get(key) if isinstance(data, dict) else None
    if not isinstance(records, list):
        return []
    return [str(r["id"]) for r in records if isinstance(r, dict) and r.get("id") is not None]


def _object(response: httpx.Response, key: str | None, destination: _HttpDestination) -> dict[str, JsonValue]:
    """The created record (``{"ticket": {...}}`` or the record itself) with an ``id``."""
    try:
        data = response.json()
    except ValueError:
        data = None
    record = data.get(key) if isinstance(data, dict) and key else data
    if not isinstance(record, dict) or record.get("id") is None:
        # the ticket may exist: retryable, and the next run's search finds it before creating another
        raise DeliveryError(f"{destination.kind} destination {destination.name!r}: HTTP {response.status_code} "
                            "without a ticket id in the answer", retryable=True, status_code=response.status_code)
    return cast(dict[str, JsonValue], record)


def _secret(name: str, config: DestinationConfig, env: Mapping[str, str], param: str) -> str:
    env_var = config.secrets[param]
    value = env.get(env_var, "")
    if not value.strip():
        raise ConfigError(f"{config.kind} destination {name!r}: env var {env_var} (secrets.{param}) is not set; "
                          f"export it before running")
    return value.strip()


def _endpoint(name: str, config: DestinationConfig, env: Mapping[str, str]) -> tuple[str, str]:
    """The endpoint URL and what to check when it is refused; a URL from the environment is kept out of logs."""
    if config.url is not None:
        if config.kind in ("slack", "teams"):
            hide_url_in_logs(config.url)  # their URLs embed the token even when written in the file
        return config.url, f"the {config.kind} URL in destination {name!r}"
    url = _secret(name, config, env, "url")
    try:
        check_endpoint_url(url, base=False)
    except ValueError as exc:
        raise ConfigError(f"{config.kind} destination {name!r}: env var {config.secrets['url']} {exc}") from exc
    hide_url_in_logs(url)
    return url, f"env var {config.secrets['url']} (the URL may have been revoked)"


def build_destination(name: str, config: DestinationConfig, env: Mapping[str, str] = os.environ, *,
                      client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep,
                      clock: Clock = utc_now, rng: random.Random | None = None) -> Destination:
    """The destination ``name`` configured by ``config``, with its secrets read from ``env`` now.

    Raises ConfigError naming the environment variable that is missing (never its value). No I/O.
    ``client`` (shared, closed by its owner), ``sleep``, ``clock`` and ``rng`` are for tests and reuse;
    a destination that made its own client releases it on ``close()``.
    """
    owns_client = client is None
    sender = Sender(destination=name, kind=config.kind, client=client or httpx.Client(),
                    timeout_seconds=config.timeout_seconds, max_attempts=config.max_attempts,
                    max_retry_after_seconds=config.max_retry_after_seconds, sleep=sleep, clock=clock,
                    rng=rng or random.Random())
    try:
        return _build(name, config, env, sender, owns_client)
    except ConfigError:
        if owns_client:
            sender.client.close()
        raise


def _build(name: str, config: DestinationConfig, env: Mapping[str, str], sender: Sender,
           owns_client: bool) -> Destination:
    params = config.params
    tags = [str(t) for t in cast(list[JsonValue], params.get("tags", []))]
    group_id = cast(int | None, params.get("group_id"))
    if config.kind == "webhook":
        url, _ = _endpoint(name, config, env)
        key_hint = f"env var {config.secrets['signing_key']} (the receiver must verify with the same key)"
        return WebhookDestination(name, sender, url=url, signing_key=_secret(name, config, env, "signing_key"),
                                  key_hint=key_hint, owns_client=owns_client)
    if config.kind == "slack":
        url, hint = _endpoint(name, config, env)
        return SlackDestination(name, sender, url=url, url_hint=hint, owns_client=owns_client)
    if config.kind == "teams":
        url, hint = _endpoint(name, config, env)
        return TeamsDestination(name, sender, url=url, url_hint=hint, owns_client=owns_client)
    assert config.url is not None  # DestinationConfig requires a base URL for helpdesks
    if config.kind == "zendesk":
        email, token = _secret(name, config, env, "email"), _secret(name, config, env, "api_token")
        hint = f"env vars {config.secrets['email']} and {config.secrets['api_token']} (agent e-mail and API token)"
        return ZendeskDestination(name, sender, base_url=config.url, auth=httpx.BasicAuth(f"{email}/token", token),
                                  auth_hint=hint, tags=tags, group_id=group_id, owns_client=owns_client)
    api_key = _secret(name, config, env, "api_key")
    return FreshdeskDestination(
        name, sender, base_url=config.url, auth=httpx.BasicAuth(api_key, "X"),
        auth_hint=f"env var {config.secrets['api_key']} (the agent's API key)",
        requester_email=str(params["requester_email"]), tags=tags, group_id=group_id,
        source=cast(int, params.get("source", render.FRESHDESK_SOURCE_PORTAL)), owns_client=owns_client)
