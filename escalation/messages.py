"""The contract between the rule engine and the destinations.

The engine builds one ``EscalationMessage`` per (rule, mention or group, destination), already
redacted and carrying the playbook's suggestion; a destination turns it into its service's shape
and returns a ``DeliveryReceipt`` or raises ``DeliveryError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from journeypulse.errors import JourneypulseError

Priority = Literal["low", "normal", "high", "urgent"]


@dataclass(frozen=True)
class Suggestion:
    """Next best action from the playbook, in the mention's language where the playbook has it."""

    playbook_rule: str
    playbook_version: str
    action: str
    reply: str
    reply_language: str


@dataclass(frozen=True)
class EscalationMessage:
    idempotency_key: str
    """Stable for (rule, subject, destination): re-sending after a crash reuses it."""
    rule_id: str
    priority: Priority
    subject: str
    """One line, e.g. "[urgent] exit: cancellation - Acme Bank (x, es)"."""
    text: str
    """The mention's text (or a group's summary), already redacted for this destination."""
    url: str | None
    """Link to the public post; never an author handle."""
    language: str | None
    context: Mapping[str, str | float | int | bool | None] = field(default_factory=dict)
    """brand, source, channel, stage, exit_signal, exit_type, pain_point, sentiment, confidence, question,
    mention_id, count (for volume groups), published_at (ISO 8601)."""
    suggestion: Suggestion | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    status_code: int
    external_id: str | None = None
    """The ticket id for helpdesks; None for webhooks and chat messages."""


class DeliveryError(JourneypulseError):
    """A destination did not accept a message.

    ``retryable`` says whether trying again can succeed (429, 5xx, timeouts, connection errors)
    or not (a rejected payload, wrong credentials); ``retry_after`` is the service's hint in seconds.
    Messages never include the payload, the response body verbatim or a credential.
    """

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after


class Destination(Protocol):
    name: str
    kind: str
    supports_idempotency_key: bool
    """True where the service de-duplicates on a key we send (then a crash between send and record
    cannot create a second ticket); False where a re-send after such a crash may duplicate."""

    def send(self, message: EscalationMessage) -> DeliveryReceipt: ...
