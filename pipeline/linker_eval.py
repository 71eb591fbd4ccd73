"""Held-out evaluation of the journey linker: rules alone, embedding alone and hybrid, per language.

Invariant: only the seed set's recorded test split is scored, with the same classifier (trained on
the train split, same cache) that ``link_journeys`` uses, so the printed numbers describe production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from journeypulse.config import Settings
from journeys import HybridLinker, SeedExample, SeedSet, load_hybrid_linker, load_seeds
from pipeline.cli_common import ConfigOption, guard

METHODS = ("rules", "embedding", "hybrid")
ALL = "all"


@dataclass(frozen=True)
class EvalRow:
    """Top-1 stage metrics of one method on one language's held-out examples (``language="all"``: pooled).

    A text with no link counts as wrong; macro-F1 averages the per-stage F1 over the stages of the taxonomy.
    """

    language: str
    method: str
    examples: int
    accuracy: float
    macro_f1: float
    linked: float  # share of texts with at least one link


def top_stages(linker: HybridLinker, examples: Sequence[SeedExample]) -> dict[str, list[str | None]]:
    """The top-1 stage (or None) of each example under each method, in example order."""
    texts = [e.text for e in examples]
    probabilities = linker.stage_probabilities(texts)
    stages = linker.classifier.stages
    predictions: dict[str, list[str | None]] = {method: [] for method in METHODS}
    for example, row in zip(examples, probabilities, strict=True):
        rule_links = linker.rules.link(example.text, language=example.language, channel=None)
        hybrid_links = linker.combine(rule_links, row, None)
        predictions["rules"].append(rule_links[0].stage if rule_links else None)
        predictions["embedding"].append(stages[int(row.argmax())])
        predictions["hybrid"].append(hybrid_links[0].stage if hybrid_links else None)
    return predictions


def _macro_f1(gold: Sequence[str], predicted: Sequence[str | None], stages: Sequence[str]) -> float:
    scores = []
    for stage in stages:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == stage and p == stage)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != stage and p == stage)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == stage and p != stage)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def evaluate(linker: HybridLinker, seeds: SeedSet) -> list[EvalRow]:
    """Rows per (language, method) on the held-out split, then the pooled ``all`` rows."""
    examples = seeds.test
    predictions = top_stages(linker, examples)
    stages = linker.classifier.stages
    rows = []
    for language in (*seeds.languages, ALL):
        index = [i for i, e in enumerate(examples) if language in (ALL, e.language)]
        if not index:
            continue
        gold = [examples[i].stage for i in index]
        for method in METHODS:
            predicted = [predictions[method][i] for i in index]
            correct = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p)
            rows.append(EvalRow(language, method, len(index), correct / len(index),
                                _macro_f1(gold, predicted, stages),
                                sum(1 for p in predicted if p is not None) / len(index)))
    return rows


def evaluate_linker(settings: Settings, *, seeds_path: Path | None = None) -> list[EvalRow]:
    """Build the configured hybrid linker with the real default encoder and score its held-out split."""
    from pipeline.steps import _taxonomy_path
    from sentiment import load_embedder  # heavy: loads the encoder

    embedder = load_embedder(settings.cache_dir)
    linker = load_hybrid_linker(embedder, encoder_revision=embedder.revision, taxonomy_path=_taxonomy_path(settings),
                                seeds_path=seeds_path, cache_dir=settings.cache_dir)
    return evaluate(linker, load_seeds(linker.rules.taxonomy, seeds_path))


def eval_table(rows: Sequence[EvalRow]) -> Table:
    table = Table(title="Journey linker, held-out seed split (top-1 stage)")
    table.add_column("language")
    table.add_column("n", justify="right")
    for method in METHODS:
        table.add_column(f"{method} acc", justify="right")
        table.add_column(f"{method} F1", justify="right")
    by_key = {(row.language, row.method): row for row in rows}
    for language in dict.fromkeys(row.language for row in rows):
        cells = [language, str(by_key[(language, METHODS[0])].examples)]
        for method in METHODS:
            row = by_key[(language, method)]
            cells += [f"{row.accuracy:.2f}", f"{row.macro_f1:.2f}"]
        table.add_row(*cells)
    return table


app = typer.Typer(help="Journey taxonomy and linker tools.", no_args_is_help=True)


@app.command("eval")
def eval_command(
    config: ConfigOption = None,
    seeds: Annotated[Path | None, typer.Option(help="seed file (default: the bundled one)")] = None,
) -> None:
    """Print accuracy and macro-F1 per language on the held-out seed split: rules, embedding, hybrid."""
    from pipeline import steps

    settings = guard(lambda: steps.load_run_settings(config))
    rows = guard(lambda: evaluate_linker(settings, seeds_path=seeds))
    Console(width=120).print(eval_table(rows))


__all__ = ["ALL", "METHODS", "EvalRow", "app", "eval_table", "evaluate", "evaluate_linker", "top_stages"]
