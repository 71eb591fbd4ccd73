"""The listener contract shared by every source.

A listener turns one configured source into mentions. It never touches the database: the
pipeline stores what it yields and only then advances the stored cursor. Every cursor a
listener yields is a safe resume point (items come oldest first within a query).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import ssl
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Generic, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import httpx
import requests
from pydantic import BaseModel

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.errors import CredentialsMissingError, CredentialsRejectedError, JourneypulseError, ListenerError
from journeypulse.record import Cursor, Mention, QuarantinedRow
from listeners.query_building import parse_params, require_brand, select_brands
from listeners.retry import RateLimitBudgetSpent, RetryPolicy, TransientError, WaitBudget, call_with_retries

logger = logging.getLogger(__name__)

Pseudonymise = Callable[..., str]
"""``pseudonymise(identity, namespace="a") -> str``; see journeypulse.privacy.Pseudonymiser."""

Item = Mention | QuarantinedRow


@dataclass(frozen=True)
class ListenerContext:
    """What every listener gets besides its own source config."""

    brands: tuple[BrandConfig, ...]
    pseudonymise: Pseudonymise


@runtime_checkable
class Listener(Protocol):
    """One configured source. The constructor does no I/O."""

    source: SourceConfig

    def queries(self) -> list[str]:
        """Stable keys of this source's query groups; each has its own cursor."""
        ...

    def fetch(self, query: str, cursor: Cursor | None) -> Iterator[tuple[Item, Cursor | None]]:
        """Yield items newer than ``cursor``, oldest first, each with a safe resume cursor."""
        ...

    # Optional: a listener that stops a query early on purpose (a monthly cap, a page limit)
    # may expose ``stop_reasons: dict[str, str]`` (query -> why); the pull report shows them.
    # Optional: ``overlap_ids: set[str]`` holds the ids of mentions it yielded from the overlap
    # window behind a cursor; the pull counts those that were new as late arrivals.

    def check(self) -> str:
        """Validate configuration and credentials without pulling; return a one-line status.

        Raises ListenerError (ListenerAuthError for credentials) when the source is unusable.
        """
        ...


ListenerFactory = Callable[[SourceConfig, ListenerContext], Listener]


@dataclass(frozen=True)
class MatchResult:
    brand: str
    terms: tuple[str, ...]


class BrandMatcher:
    """Finds which configured brand a text mentions, by case-insensitive term containment.

    Containment (not word boundaries) because Thai and other scripts do not separate words
    with spaces.
    """

    def __init__(self, brands: tuple[BrandConfig, ...] | list[BrandConfig]) -> None:
        self._brands = [(b.name, [(t, t.casefold()) for t in b.terms() if t.strip()]) for b in brands]

    def match(self, text: str) -> MatchResult | None:
        folded = text.casefold()
        best: MatchResult | None = None
        for name, terms in self._brands:
            hits = tuple(dict.fromkeys(term for term, key in terms if key in folded))
            if hits and (best is None or len(hits) > len(best.terms)):
                best = MatchResult(name, hits)
        return best


# --------------------------------------------------------------------------- the listener boundary

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,  # tweepy, praw and Mastodon.py (ChunkedEncodingError, ConnectionError, ReadTimeout)
    httpx.HTTPError,  # httpx transports (RemoteProtocolError on a cut body, ReadTimeout, DecodingError)
    urllib.error.URLError,  # urllib (google-play-scraper's own helpers)
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected
    ssl.SSLError,
    ConnectionError,
    TimeoutError,
    json.JSONDecodeError,
)


def failure_message(exc: BaseException) -> str:
    """A one-line description of a third-party failure: its class, never a response body."""
    kind = "network" if isinstance(exc, TRANSPORT_ERRORS) else "unexpected"
    return f"{kind} error {type(exc).__module__}.{type(exc).__name__}"


def guarded(owner: str, query: str, stream: Iterator[tuple[Item, Cursor | None]]
            ) -> Iterator[tuple[Item, Cursor | None]]:
    """``stream`` with every non-project exception mapped to ListenerError at the listener boundary.

    Items already yielded are unaffected: the consumer has them (and their cursors) before the
    error reaches it. The message names the source and query and the error's class only.
    """
    try:
        yield from stream
    except JourneypulseError:
        raise
    except Exception as exc:
        message = failure_message(exc)
        if not isinstance(exc, TRANSPORT_ERRORS):
            logger.exception("%s query %s: %s", owner, query, message)  # a bug: keep the traceback in the log
        raise ListenerError(f"{owner} query {query}: {message}; what was read before it is kept and the next "
                            "run resumes from the last stored cursor") from exc


def is_loopback_http(url: str) -> bool:
    """True for an ``http://`` URL whose host is this machine (localhost, 127.0.0.0/8, ::1)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, example: str) -> str:
    """A service base URL without a trailing slash: https, or http to a loopback host (tests, local relays)."""
    cleaned = url.rstrip("/")
    parts = urlsplit(cleaned)
    if not parts.netloc or parts.path or parts.query or not (parts.scheme == "https" or is_loopback_http(cleaned)):
        raise ValueError(f"{url!r} must be an https base URL like {example} (http only for a loopback host)")
    return cleaned


def overlap_seconds(source: SourceConfig) -> float:
    return source.overlap_minutes * 60.0


def wait_budget(source: SourceConfig) -> WaitBudget:
    """A fresh rate-limit budget for one run of ``source``."""
    return WaitBudget(source.max_rate_limit_wait_minutes * 60.0)


# --------------------------------------------------------------------------- review and feed listeners

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")


class BrandedListener(Generic[P]):
    """The constructor shared by the review and feed listeners (YouTube, Google Play, App Store, RSS).

    ``params`` is validated with ``params_model``; its optional ``brand`` must be one of the
    source's brands. ``client`` is an httpx client the tests inject (None: one per query).
    """

    params_model: ClassVar[type[BaseModel]]

    def __init__(
        self,
        source: SourceConfig,
        context: ListenerContext,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.params: P = parse_params(self.params_model, source)  # type: ignore[assignment]
        brands = select_brands(source, context.brands)
        require_brand(source, getattr(self.params, "brand", None), brands)
        self._matcher = BrandMatcher(brands)
        self._pseudonymise = context.pseudonymise
        self._client = client
        self._sleep = sleep
        self._clock = clock
        self._budget = wait_budget(source)
        self.overlap_ids: set[str] = set()


def send(client: httpx.Client, method: str, url: str, *, timeout: float, **kwargs: object) -> httpx.Response:
    """One HTTP request; a timeout or any transport failure (a body cut mid-way too) is TransientError."""
    try:
        return client.request(method, url, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        raise TransientError(f"timed out after {timeout}s") from exc
    except httpx.RequestError as exc:
        raise TransientError(f"connection failed: {type(exc).__name__}") from exc


def fetch_with_retries(operation: Callable[[], T], *, what: str, policy: RetryPolicy, sleep: Callable[[float], None],
                       budget: WaitBudget) -> T:
    """``call_with_retries`` whose final TransientError becomes the ListenerError a pull reports."""
    try:
        return call_with_retries(operation, what=what, policy=policy, sleep=sleep, budget=budget)
    except TransientError as exc:
        tries = "" if isinstance(exc, RateLimitBudgetSpent) else f" after {policy.attempts} attempts"
        raise ListenerError(f"{what} failed{tries} ({exc}); items already yielded are safe to store and the "
                            "next run resumes from the last cursor") from exc


def require_secret(source: SourceConfig, key: str, example_env: str, needs: str) -> str:
    """The value of ``secrets.<key>``; CredentialsMissingError (naming the variable) when it has none."""
    env = source.secrets.get(key)
    if not env:
        raise CredentialsMissingError(
            f"{source.kind} source {source.name!r}: secrets.{key} is not configured; name the env var that holds "
            f"{needs}, e.g. secrets: {{{key}: {example_env}}}"
        )
    value = source.secret(key)
    if not value:
        raise CredentialsMissingError(f"{source.kind} source {source.name!r}: env var {env} is not set (it must hold "
                                      f"{needs})")
    return value


def rejected(source: SourceConfig, keys: tuple[str, ...], service: str, detail: str) -> CredentialsRejectedError:
    """The error for a service that refused the credentials held in the env vars of ``secrets.<keys>``."""
    names = " / ".join(source.secrets.get(k, f"secrets.{k}") for k in keys)
    return CredentialsRejectedError(f"{source.kind} source {source.name!r}: {service} rejected the credentials in "
                                    f"env var {names} ({detail}); check the value")
