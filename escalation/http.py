"""Sending one request to a destination over httpx: timeouts, retries with backoff, Retry-After, clear errors.

Retried: 429, 5xx, timeouts and connection errors, up to ``max_attempts`` tries. Never retried: any
other 4xx (the payload or the credentials are wrong). Errors and logs name the destination, its host
and the status, never the URL's path (webhook URLs embed tokens), a credential, the payload or a body.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from escalation.messages import DeliveryError
from journeypulse.retry_after import retry_after_seconds

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Reason = Callable[[httpx.Response], str | None]
"""The service's short reason for a rejected request, from its documented error fields; None if absent."""

_RETRY_AFTER_STATUSES = (429, 503)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outgoing:
    """One try's request: the body is already serialised (a signature covers its exact bytes)."""

    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    params: Mapping[str, str] | None = None
    auth: httpx.BasicAuth | None = None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: try n (0-based) waits ``base * 2**n`` capped at ``cap``, times 0.5-1."""

    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return float(min(self.cap_seconds, self.base_seconds * 2.0**attempt) * rng.uniform(0.5, 1.0))


@dataclass
class Sender:
    """One destination's HTTP side. ``sleep``, ``clock`` and ``rng`` are injectable so tests never wait."""

    destination: str
    kind: str
    client: httpx.Client
    timeout_seconds: float
    max_attempts: int
    max_retry_after_seconds: float
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] = time.sleep
    clock: Clock = utc_now
    rng: random.Random = field(default_factory=random.Random)

    @property
    def label(self) -> str:
        return f"{self.kind} destination {self.destination!r}"

    def request(self, method: str, url: str, *, reason: Reason, auth_hint: str,
                build: Callable[[], Outgoing], retry_unsure: bool = True) -> httpx.Response:
        """Send until a 2xx answer, a non-retryable answer, or the tries run out.

        ``build`` makes the request and is called again for every try (a signature carries the time it
        was made).
        ``auth_hint`` is what a 401/403 tells the user to check (the env var names, never their values).
        Raises DeliveryError: retryable for 429/5xx/timeouts/connection errors once tries run out or the
        service asks to wait longer than ``max_retry_after_seconds``; not retryable otherwise.
        ``retry_unsure=False`` (a create the service cannot de-duplicate) stops at the first failure after
        which the request may have been carried out (a read timeout, a dropped answer, a 5xx other than
        503): the next run, which searches for the record first, decides instead of a blind re-send.
        """
        host = urlsplit(url).hostname or "?"
        last: DeliveryError | None = None
        for attempt in range(self.max_attempts):
            try:
                out = build()
                response = self.client.request(method, url, headers=out.headers, content=out.content,
                                               params=out.params, auth=out.auth, timeout=self.timeout_seconds)
            except httpx.TimeoutException as exc:
                last = DeliveryError(f"{self.label}: {method} to {host} timed out after {self.timeout_seconds:g} s",
                                     retryable=True)
                last.__cause__ = exc
                unsure = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            except httpx.TransportError as exc:
                last = DeliveryError(f"{self.label}: {method} to {host} failed ({type(exc).__name__})",
                                     retryable=True)
                last.__cause__ = exc
                unsure = not isinstance(exc, httpx.ConnectError)
            else:
                if response.is_success:
                    log.info("%s: %s to %s answered HTTP %d (try %d)", self.label, method, host,
                             response.status_code, attempt + 1)
                    return response
                last = self._failure(response, method, host, reason, auth_hint)
                if not last.retryable:
                    raise last
                unsure = response.status_code not in _RETRY_AFTER_STATUSES
                if last.retry_after is not None and last.retry_after > self.max_retry_after_seconds:
                    raise DeliveryError(f"{last}; it asked to wait {last.retry_after:.0f} s, longer than "
                                        f"max_retry_after_seconds ({self.max_retry_after_seconds:g} s): the next run "
                                        "tries again", retryable=True, status_code=last.status_code,
                                        retry_after=last.retry_after)
            if unsure and not retry_unsure:
                raise DeliveryError(f"{last}; it may have been carried out, so it is not sent again in this run: the "
                                    "next run looks for it first", retryable=True,
                                    status_code=last.status_code) from last.__cause__
            if attempt + 1 < self.max_attempts:
                wait = last.retry_after if last.retry_after is not None else self.backoff.delay(attempt, self.rng)
                log.warning("%s: %s; try %d/%d again in %.1f s", self.label, last, attempt + 2,
                            self.max_attempts, wait)
                self.sleep(wait)
        assert last is not None  # max_attempts >= 1, and every path that does not return sets it
        raise DeliveryError(f"{last} (after {self.max_attempts} tries; the next run tries again)", retryable=True,
                            status_code=last.status_code, retry_after=last.retry_after) from last.__cause__

    def _failure(self, response: httpx.Response, method: str, host: str, reason: Reason,
                 auth_hint: str) -> DeliveryError:
        status = response.status_code
        why = _safe_reason(reason, response) if 400 <= status < 500 else None  # 5xx bodies are often HTML pages
        said = f" ({why})" if why else ""
        what = f"{self.label}: {method} to {host} answered HTTP {status}{said}"
        if status == 429 or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self.clock) \
                if status in _RETRY_AFTER_STATUSES else None
            return DeliveryError(what, retryable=True, status_code=status, retry_after=retry_after)
        if status in (401, 403):
            return DeliveryError(f"{what}; the service refused the credentials: check {auth_hint}",
                                 retryable=False, status_code=status)
        if 300 <= status < 400:
            return DeliveryError(f"{what}; it redirects: set the destination's final URL", retryable=False,
                                 status_code=status)
        if status == 404:
            return DeliveryError(f"{what}; check the destination's URL", retryable=False, status_code=status)
        return DeliveryError(f"{what}; the service rejected the message, sending it again will not help",
                             retryable=False, status_code=status)


_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_ .,:'()-]{1,160}$")


def _safe_reason(reason: Reason, response: httpx.Response) -> str | None:
    """The service's reason, only if it is short plain text (no URL, address or markup can slip through)."""
    try:
        why = reason(response)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if why is None:
        return None
    why = " ".join(why.split())
    return why if _SAFE_TEXT.match(why) else None


def text_reason(response: httpx.Response) -> str | None:
    """A plain-text error body such as Slack's ``invalid_payload`` (only when short and plain)."""
    return response.text.strip() or None


class _HideSecretUrls(logging.Filter):
    """Rewrites httpx's own request log line so a secret URL shows as ``scheme://host/<hidden>``."""

    def __init__(self) -> None:
        super().__init__()
        self.secret_urls: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret_urls and isinstance(record.args, tuple):
            record.args = tuple(self._mask(arg) for arg in record.args)
        return True

    def _mask(self, arg: object) -> object:
        text = str(arg)
        for secret, masked in self.secret_urls.items():
            if secret in text:
                return text.replace(secret, masked)
        return arg


_HIDE = _HideSecretUrls()
logging.getLogger("httpx").addFilter(_HIDE)


def hide_url_in_logs(url: str) -> None:
    """Keep ``url`` (one that embeds a token) out of httpx's request log lines."""
    parts = urlsplit(url)
    masked = f"{parts.scheme}://{parts.hostname}/<hidden>"
    _HIDE.secret_urls[url] = masked
    _HIDE.secret_urls[str(httpx.URL(url))] = masked  # as httpx prints it (default port dropped, escapes added)
