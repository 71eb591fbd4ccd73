"""The webhook signature: HMAC-SHA256 over ``<unix time>.<body>``, sent as ``t=<unix>,v1=<hex>``.

Receivers check it with ``verify_signature`` (constant-time compare, and a replay window so a
captured request cannot be replayed later).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from journeypulse.errors import JourneypulseError

SIGNATURE_HEADER = "X-Journeypulse-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(JourneypulseError):
    """A webhook request's signature is missing, malformed, wrong or too old."""


def _digest(key: str | bytes, timestamp: int, body: bytes) -> str:
    secret = key.encode() if isinstance(key, str) else key
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, key: str | bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(key, timestamp, body)}"


def verify_signature(body: bytes, header: str | None, key: str | bytes, *,
                     tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> int:
    """Check a received request; return its signed timestamp.

    ``body`` must be the raw bytes received (not re-serialised JSON). Raises SignatureError when the
    header is missing or malformed, no ``v1`` signature matches, or the timestamp is more than
    ``tolerance_seconds`` away from ``now`` (default: the current time). Several ``v1`` entries are
    accepted so a sender can sign with an old and a new key while rotating.
    """
    if not header:
        raise SignatureError(f"{SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise SignatureError(f"{SIGNATURE_HEADER}: t is not a unix time") from exc
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(f"{SIGNATURE_HEADER} must look like t=<unix time>,v1=<hex digest>")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(f"{SIGNATURE_HEADER}: signed {current - timestamp:.0f} s from now, outside the "
                             f"{tolerance_seconds:g} s window (a replay, or a clock that is off)")
    expected = _digest(key, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError(f"{SIGNATURE_HEADER}: no signature matches the body and key")
    return timestamp
