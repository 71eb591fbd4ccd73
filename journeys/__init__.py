"""Journeys: the customer-journey domain (taxonomy and linking, CX maps, coaching, redaction, alerts).

Free of storage and model code: it takes and returns plain records, and the pipeline wires it
to the database.
"""

from __future__ import annotations

from pathlib import Path

from journeys.linker import Link, RuleLinker
from journeys.taxonomy import Taxonomy, load_taxonomy


def load_linker(taxonomy_path: Path | str | None = None, *, review_threshold: float = 0.6) -> RuleLinker:
    """The journey linker for a taxonomy file (default: the bundled taxonomy)."""
    return RuleLinker(load_taxonomy(taxonomy_path), review_threshold=review_threshold)


__all__ = ["Link", "RuleLinker", "Taxonomy", "load_linker", "load_taxonomy"]
