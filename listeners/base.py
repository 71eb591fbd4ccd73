"""The listener contract shared by every source.

A listener turns one configured source into mentions. It never touches the database: the
pipeline stores what it yields and only then advances the stored cursor. Every cursor a
listener yields is a safe resume point (items come oldest first within a query).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.record import Cursor, Mention, QuarantinedRow

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
