"""Journeys: the customer-journey domain (taxonomy and linking, CX maps, coaching, redaction, alerts).

Free of storage and model code: it takes and returns plain records, and the pipeline wires it
to the database.
"""

from __future__ import annotations

from pathlib import Path

from journeys.hybrid import EmbedFn, HybridLinker, fit_stage_classifier, link_all
from journeys.linker import Link, RuleLinker
from journeys.seedset import SeedExample, SeedSet, load_seeds
from journeys.taxonomy import Taxonomy, load_taxonomy


def load_linker(taxonomy_path: Path | str | None = None, *, review_threshold: float = 0.6) -> RuleLinker:
    """The journey linker for a taxonomy file (default: the bundled taxonomy)."""
    return RuleLinker(load_taxonomy(taxonomy_path), review_threshold=review_threshold)


def load_hybrid_linker(embed: EmbedFn, *, encoder_revision: str, taxonomy_path: Path | str | None = None,
                       seeds_path: Path | str | None = None, review_threshold: float = 0.6,
                       cache_dir: Path | None = None) -> HybridLinker:
    """Rules of a taxonomy file + a stage classifier trained on a seed file (defaults: the bundled ones).

    ``embed`` maps texts to L2-normalised embeddings and ``encoder_revision`` names that encoder;
    the trained classifier is cached under ``<cache_dir>/linker/`` (not cached when None).
    """
    rules = load_linker(taxonomy_path, review_threshold=review_threshold)
    seeds = load_seeds(rules.taxonomy, seeds_path)
    classifier = fit_stage_classifier(seeds, embed, rules.taxonomy.stage_names, encoder_revision=encoder_revision,
                                      cache_dir=cache_dir)
    return HybridLinker(rules, classifier, embed, seed_digest=seeds.digest, encoder_revision=encoder_revision)


__all__ = ["EmbedFn", "HybridLinker", "Link", "RuleLinker", "SeedExample", "SeedSet", "Taxonomy", "link_all",
           "load_hybrid_linker", "load_linker", "load_seeds", "load_taxonomy"]
