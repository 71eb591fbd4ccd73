"""Source config -> query plans: validated listener params and brand terms packed into queries.

A group's key is derived from its brand and the exact query text, so the same configuration
always yields the same keys (and cursors); editing a brand's terms starts a new group.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from journeypulse.config import BrandConfig, SourceConfig
from journeypulse.errors import ConfigError

X_MAX_QUERY_CHARS = 512
"""X API v2 recent search limit for self-serve (basic/pro) projects."""

REDDIT_MAX_QUERY_CHARS = 512
"""Reddit search rejects longer ``q`` values."""

P = TypeVar("P", bound=BaseModel)

_NEEDS_QUOTES = re.compile(r"[\s\"():\-]")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class QueryGroup:
    """One query a source runs on its own cursor."""

    key: str
    brand: str
    query: str
    terms: tuple[str, ...]


def parse_params(model: type[P], source: SourceConfig) -> P:
    """Validate ``source.params`` with ``model``; ConfigError names each bad field and the fix."""
    try:
        return model.model_validate(source.params)
    except ValidationError as exc:
        problems = "; ".join(
            f"params.{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"{source.kind} source {source.name!r}: {problems} (fix sources[{source.name}].params in the config file)"
        ) from exc


def select_brands(source: SourceConfig, brands: Sequence[BrandConfig]) -> list[BrandConfig]:
    """The brands ``source`` listens for (all when its ``brands`` list is empty)."""
    if not source.brands:
        return list(brands)
    known = {b.name: b for b in brands}
    missing = [name for name in source.brands if name not in known]
    if missing:
        raise ConfigError(
            f"source {source.name!r}: brands {missing} are not configured "
            f"(configured: {sorted(known)}); fix sources[].brands or add them under brands"
        )
    return [known[name] for name in source.brands]



def require_brand(source: SourceConfig, brand: str | None, brands: Sequence[BrandConfig]) -> None:
    """ConfigError unless ``brand`` (a source's ``params.brand``; None = unset) is one of ``brands``."""
    if brand is not None and brand not in {b.name for b in brands}:
        raise ConfigError(f"{source.kind} source {source.name!r}: params.brand {brand!r} is not a "
                          f"configured brand of this source (known: {[b.name for b in brands]})")

def quote_term(term: str) -> str:
    """A term as a search operand: hashtags bare, phrases and punctuated words quoted."""
    term = term.strip()
    if term.startswith("#") and not _NEEDS_QUOTES.search(term):
        return term
    if _NEEDS_QUOTES.search(term):
        return '"' + term.replace('"', "") + '"'
    return term


def group_key(brand: str, query: str) -> str:
    """Stable key: readable brand slug plus a hash of the exact query."""
    slug = _SLUG.sub("-", brand.casefold()).strip("-") or "brand"
    return f"{slug}:{hashlib.sha256(query.encode('utf-8')).hexdigest()[:10]}"


def _unique_terms(brand: BrandConfig) -> list[str]:
    seen: dict[str, str] = {}
    for term in brand.terms():
        cleaned = term.strip()
        if cleaned and cleaned.casefold() not in seen:
            seen[cleaned.casefold()] = cleaned
    return list(seen.values())


def pack_or_groups(
    brand: str,
    terms: Sequence[str],
    render: Callable[[Sequence[str]], str],
    *,
    max_length: int,
    what: str,
) -> list[QueryGroup]:
    """Pack terms (in order) into as few OR-groups as fit ``max_length`` once rendered.

    Raises ConfigError when one term alone does not fit.
    """
    groups: list[QueryGroup] = []
    current: list[str] = []
    for term in terms:
        if len(render([term])) > max_length:
            raise ConfigError(
                f"{what}: brand {brand!r} term {term!r} makes a query longer than {max_length} characters; "
                "shorten the term or remove languages"
            )
        if current and len(render([*current, term])) > max_length:
            groups.append(_group(brand, current, render))
            current = []
        current.append(term)
    if current:
        groups.append(_group(brand, current, render))
    return groups


def _group(brand: str, terms: Sequence[str], render: Callable[[Sequence[str]], str]) -> QueryGroup:
    query = render(terms)
    return QueryGroup(key=group_key(brand, query), brand=brand, query=query, terms=tuple(terms))


def x_query_groups(
    brands: Sequence[BrandConfig],
    *,
    max_length: int = X_MAX_QUERY_CHARS,
    exclude_retweets: bool = True,
    extra: str = "",
) -> list[QueryGroup]:
    """X v2 search queries: ``(a OR "b c" OR #d) (lang:en OR lang:th) -is:retweet [extra]``."""
    groups: list[QueryGroup] = []
    for brand in brands:
        tail = []
        langs = [lang.strip().lower() for lang in brand.languages if lang.strip()]
        if langs:
            tail.append(_or_clause([f"lang:{lang}" for lang in langs]))
        if exclude_retweets:
            tail.append("-is:retweet")
        if extra.strip():
            tail.append(extra.strip())

        def render(terms: Sequence[str], tail: list[str] = tail) -> str:
            return " ".join([_or_clause([quote_term(t) for t in terms]), *tail])

        groups.extend(pack_or_groups(brand.name, _unique_terms(brand), render, max_length=max_length, what="x query"))
    return groups


def reddit_query_groups(brands: Sequence[BrandConfig], *, max_length: int = REDDIT_MAX_QUERY_CHARS) -> list[QueryGroup]:
    """Reddit search queries: ``"a" OR "b c"`` (hashtags searched as plain words)."""
    groups: list[QueryGroup] = []
    for brand in brands:
        terms = list(dict.fromkeys(t.lstrip("#") for t in _unique_terms(brand) if t.lstrip("#")))

        def render(terms: Sequence[str]) -> str:
            return " OR ".join(quote_term(t) if " " in t else f'"{t}"' for t in terms)

        groups.extend(pack_or_groups(brand.name, terms, render, max_length=max_length, what="reddit query"))
    return groups


def single_term_groups(brands: Sequence[BrandConfig], *, prefix: str, hashtags_only: bool = False) -> list[QueryGroup]:
    """One group per term, for APIs without OR (Mastodon hashtags and search, Bluesky).

    Keys look like ``acme:tag:acmeapp`` so they stay readable in the cursor table.
    """
    groups: list[QueryGroup] = []
    for brand in brands:
        for term in _unique_terms(brand):
            if hashtags_only and not term.startswith("#"):
                continue
            query = term.lstrip("#") if hashtags_only else term
            slug = _SLUG.sub("-", brand.name.casefold()).strip("-") or "brand"
            groups.append(QueryGroup(key=f"{slug}:{prefix}:{query.casefold()}", brand=brand.name, query=query, terms=(term,)))
    return groups


def _or_clause(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def group_by_key(groups: Sequence[QueryGroup], *, what: str) -> dict[str, QueryGroup]:
    """Index groups by key, refusing two groups with one key (their cursors would collide)."""
    index: dict[str, QueryGroup] = {}
    for group in groups:
        if group.key in index:
            raise ConfigError(f"{what}: two query groups share key {group.key!r}; remove the repeated brand term")
        index[group.key] = group
    return index
