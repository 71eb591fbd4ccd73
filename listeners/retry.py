"""Retries with exponential backoff and full jitter, shared by the network listeners.

Only transient failures are retried (timeouts, connection errors, 5xx, 429); a 429 that
says when the limit resets waits until then, capped so a run never hangs for hours: one wait is
at most ``RetryPolicy.max_retry_after`` and all rate-limit waits of one listener in one run share a
``WaitBudget`` (``max_rate_limit_wait_minutes`` of the source, 15 minutes by default).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


class TransientError(Exception):
    """Raised by a listener's I/O method for a failure worth retrying.

    ``retry_after`` (seconds) is honoured when the server said when to come back.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 900.0  # never sleep longer than this for one 429

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class WaitBudget:
    """The rate-limit waiting one listener may still do in this run (seconds), shared by all its calls."""

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.waited_s = 0.0

    @property
    def left_s(self) -> float:
        return max(self.total_s - self.waited_s, 0.0)

    def spend(self, seconds: float) -> None:
        self.waited_s += seconds


class RateLimitBudgetSpent(TransientError):
    """A 429 asked for a wait longer than what is left of the run's rate-limit budget."""


def call_with_retries(
    operation: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    budget: WaitBudget | None = None,
) -> T:
    """Run ``operation``; on TransientError wait and retry, re-raising after the last attempt.

    A wait the server asked for (``retry_after``) is taken from ``budget``; when the budget cannot
    cover it, RateLimitBudgetSpent is raised at once instead of waiting.
    """
    rng = rng or random.Random()
    for attempt in range(policy.attempts):
        try:
            return operation()
        except TransientError as exc:
            if attempt == policy.attempts - 1:
                raise
            wait = policy.delay(attempt, exc.retry_after, rng)
            if exc.retry_after is not None and budget is not None:
                if wait > budget.left_s:
                    raise RateLimitBudgetSpent(
                        f"{exc}; the server asked to wait {wait:.0f}s but only {budget.left_s:.0f}s of this run's "
                        f"rate-limit budget ({budget.total_s:.0f}s, max_rate_limit_wait_minutes) is left"
                    ) from exc
                budget.spend(wait)
            logger.warning("%s: %s; retry %d/%d in %.1fs", what, exc, attempt + 1, policy.attempts - 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # the loop always returns or raises


