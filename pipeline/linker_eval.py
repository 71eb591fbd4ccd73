"""Held-out evaluation and training of the journey linkers (``journeypulse journeys eval | eval-seeds | train``).

Invariant: ``eval`` scores only the held-out part of the project's labelled set (and ``eval-seeds`` only
the seed set's test split), with the same models and heads the pipeline uses, so the printed numbers
describe production.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from journeypulse.config import Settings
from journeypulse.errors import ConfigError
from journeys import HybridLinker, Link, SeedExample, SeedSet, load_hybrid_linker, load_seeds
from journeys.dataset import STAGES as STAGE_NAMES
from pipeline.cli_common import ConfigOption, console, err_console, guard

METHODS = ("rules", "embedding", "hybrid")
PROJECT_METHODS = ("rules", "hybrid", "multitask")
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


def evaluate_project(settings: Settings, *, data_dir: Path | None = None, heads_dir: Path | None = None,
                     methods: Sequence[str] = PROJECT_METHODS, progress: Callable[[str], None] | None = None,
                     ) -> dict[str, Any]:
    """Every method on the held-out part of the project's set (journeys/data/mentions), as a JSON-able dict.

    rules: the taxonomy rules; hybrid: rules + the seed-set embedding classifier (its own encoder);
    multitask: the journey heads over the configured sentiment model's features (one pass, which also
    gives the sentiment macro-F1 reported under ``sentiment``).
    """
    from journeys import load_linker
    from journeys.dataset import held_out, load_mentions
    from journeys.multitask import load_multitask_linker
    from pipeline.journey_eval import from_links, method_metrics, sentiment_macro_f1
    from pipeline.journey_train import LAYERS, feature_model
    from pipeline.steps import _taxonomy_path

    say = progress or (lambda _: None)
    examples = held_out(load_mentions(data_dir))
    if not examples:
        raise ConfigError("the project set has no held-out mentions to evaluate")
    say(f"held-out part: {len(examples)} mentions")
    rules = load_linker(_taxonomy_path(settings))
    items = [(e.text, e.language, e.channel) for e in examples]
    rule_links = [rules.link(text, language=lang, channel=None) for text, lang, _ in items]
    out: dict[str, Any] = {"held_out": len(examples), "methods": {}}
    if "rules" in methods:
        out["methods"]["rules"] = method_metrics(examples, [from_links(links) for links in rule_links])
    if "hybrid" in methods:
        from sentiment import load_embedder

        embedder = load_embedder(settings.cache_dir)
        hybrid = load_hybrid_linker(embedder, encoder_revision=embedder.revision,
                                    taxonomy_path=_taxonomy_path(settings), cache_dir=settings.cache_dir)
        say("hybrid: embedding the held-out part with the seed classifier's encoder")
        probabilities = hybrid.stage_probabilities([e.text for e in examples])
        out["methods"]["hybrid"] = method_metrics(
            examples, [from_links(hybrid.combine(links, row, None)) for links, row in
                       zip(rule_links, probabilities, strict=True)])
        out["methods"]["embedding"] = method_metrics(
            examples, [from_links([Link(stage=hybrid.classifier.stages[int(row.argmax())], touchpoint=None,
                                        pain_point=None, exit_signal=None, method="embedding",
                                        confidence=float(row.max()), needs_review=False)]) for row in probabilities])
    if "multitask" in methods:
        from journeys.multitask import FALLBACK_METHOD
        from pipeline.journey_eval import Predicted

        model, revision = feature_model(settings)
        say(f"multitask: one pass of sentiment model {revision}")
        scores, features = model.analyse([e.text for e in examples], LAYERS)
        out["sentiment"] = sentiment_macro_f1(examples, [s.label for s in scores])
        linker, why = load_multitask_linker(rules, revision, heads_dir=heads_dir)
        if linker is None:
            out["methods"]["multitask"] = {"unavailable": why, "method": FALLBACK_METHOD}
        else:
            dim = features.shape[1] // len(LAYERS)
            encoded = features if "mid" in linker.layers else features[:, :dim]
            predictions = linker.predict(linker.features(encoded, rule_links))
            out["methods"]["multitask"] = method_metrics(examples, [
                Predicted(p.stage, p.exit_signal, p.pain_point, p.question) for p in predictions])
            out["multitask_heads"] = {"digest": linker.heads.digest, "encoder_revision": revision,
                                      "features": linker.heads.features.as_dict(),
                                      "thresholds": linker.heads.thresholds}
    return out


def project_tables(result: dict[str, Any]) -> list[Table]:
    """Rich tables of ``evaluate_project``'s result: summary per method, per language, per stage, confusion."""
    methods = {k: v for k, v in result["methods"].items() if "n" in v}
    summary = Table(title=f"Journey linkers, held-out part of the project set ({result['held_out']} mentions)")
    for column in ("method", "stage acc", "exit P", "exit R", "exit F1", "pain P", "pain R", "question F1"):
        summary.add_column(column, justify="left" if column == "method" else "right")
    for name, m in methods.items():
        question = m.get("question", {}).get("f1")
        summary.add_row(name, f"{m['accuracy']:.3f}", *(f"{m['exit_signal'][k]:.3f}" for k in ("precision", "recall",
                                                                                                "f1")),
                        f"{m['pain_point']['precision']:.3f}", f"{m['pain_point']['recall']:.3f}",
                        "-" if question is None else f"{question:.3f}")
    for name, v in result["methods"].items():
        if "unavailable" in v:
            summary.add_row(name, f"unavailable: {v['unavailable']}", "", "", "", "", "", "")
    tables = [summary]
    for key, title in (("accuracy_by_language", "language"), ("accuracy_by_stage", "stage")):
        table = Table(title=f"Primary-stage accuracy per {title}")
        table.add_column(title)
        for name in methods:
            table.add_column(name, justify="right")
        keys = list(dict.fromkeys(k for m in methods.values() for k in m[key]))
        for k in keys:
            table.add_row(k, *(f"{m[key].get(k, 0.0):.3f}" for m in methods.values()))
        tables.append(table)
    for name, m in methods.items():
        table = Table(title=f"Stage confusion, {name} (rows: gold, columns: predicted)")
        table.add_column("gold")
        columns = [*STAGE_NAMES, "none"]
        for c in columns:
            table.add_column(c[:5], justify="right")
        for gold, row in m["confusion"].items():
            table.add_row(gold, *(str(row.get(c, 0)) for c in columns))
        tables.append(table)
    if "sentiment" in result:
        s = result["sentiment"]
        table = Table(title="Sentiment (default model) on the held-out mentions")
        table.add_column("language")
        table.add_column("macro-F1", justify="right")
        for lang, f1 in s["by_language"].items():
            table.add_row(lang, f"{f1:.3f}")
        table.add_row("all", f"{s['macro_f1']:.3f}")
        tables.append(table)
    return tables


app = typer.Typer(help="Journey taxonomy and linker tools.", no_args_is_help=True)


@app.command("eval")
def eval_command(
    config: ConfigOption = None,
    data: Annotated[Path | None, typer.Option(help="folder of <lang>.jsonl labelled mentions (default: the "
                                              "bundled journeys/data/mentions)")] = None,
    heads: Annotated[Path | None, typer.Option(help="journey heads folder (default: journeys.heads or the "
                                               "committed one)")] = None,
    method: Annotated[list[str] | None, typer.Option(help="rules, hybrid, multitask (repeatable; default all)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the figures as JSON here ('-': "
                                                  "stdout only)")] = None,
) -> None:
    """Held-out part of the project set: per-language and per-stage accuracy, exit-signal P/R/F1, pain-point
    P/R, question F1, sentiment macro-F1 and the stage confusion, for rules, hybrid/embedding and multitask."""
    from pipeline import steps

    methods = method or list(PROJECT_METHODS)
    unknown = sorted(set(methods) - set(PROJECT_METHODS))
    if unknown:
        err_console.print(f"[bold red]error:[/] unknown method(s) {unknown}; choose from {list(PROJECT_METHODS)}")
        raise typer.Exit(2)
    settings = guard(lambda: steps.load_run_settings(config))
    heads_dir = heads if heads is not None else steps._heads_path(settings)
    result = guard(lambda: evaluate_project(settings, data_dir=data, heads_dir=heads_dir, methods=methods,
                                            progress=lambda line: err_console.print(line, highlight=False)))
    if json_out is not None and str(json_out) == "-":
        typer.echo(json.dumps(result, indent=2))
        return
    for table in project_tables(result):
        Console(width=140).print(table)
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        err_console.print(f"wrote {json_out}", highlight=False)


@app.command("eval-seeds")
def eval_seeds_command(
    config: ConfigOption = None,
    seeds: Annotated[Path | None, typer.Option(help="seed file (default: the bundled one)")] = None,
) -> None:
    """The v2 check: accuracy and macro-F1 per language on the held-out seed split (rules, embedding, hybrid)."""
    from pipeline import steps

    settings = guard(lambda: steps.load_run_settings(config))
    rows = guard(lambda: evaluate_linker(settings, seeds_path=seeds))
    Console(width=120).print(eval_table(rows))


COUNTS_START = "<!-- counts:start (journeypulse journeys counts --write) -->"
COUNTS_END = "<!-- counts:end -->"


@app.command("counts")
def counts_command(
    data: Annotated[Path | None, typer.Option(help="folder of <lang>.jsonl labelled mentions (default: the "
                                              "bundled journeys/data/mentions)")] = None,
    write: Annotated[Path | None, typer.Option(help="replace the counts table between the markers of this "
                                               "Markdown file (journeys/data/README.md)")] = None,
) -> None:
    """Rows per language and stage of the project's labelled set, with the held-out share (validates it)."""
    from journeys.dataset import counts_table, load_mentions

    table = guard(lambda: counts_table(load_mentions(data)))
    if write is None:
        typer.echo(table)
        return
    text = write.read_text(encoding="utf-8")
    if COUNTS_START not in text or COUNTS_END not in text:
        err_console.print(f"[bold red]error:[/] {write} has no counts markers ({COUNTS_START} ... {COUNTS_END})")
        raise typer.Exit(2)
    head, rest = text.split(COUNTS_START, 1)
    _, tail = rest.split(COUNTS_END, 1)
    write.write_text(f"{head}{COUNTS_START}\n{table}\n{COUNTS_END}{tail}", encoding="utf-8")
    console.print(f"updated the counts table in {write}", highlight=False)


@app.command("train")
def train_command(
    config: ConfigOption = None,
    data: Annotated[Path | None, typer.Option(help="folder of <lang>.jsonl labelled mentions (default: the "
                                              "bundled journeys/data/mentions)")] = None,
    public_data: Annotated[Path | None, typer.Option(help="folder of the public journey data sets (default: "
                                                     "../shared/datasets/journey next to the checkout)")] = None,
    no_public: Annotated[bool, typer.Option("--no-public", help="train on the project set only")] = False,
    out: Annotated[Path | None, typer.Option(help="write the heads here (default: the committed "
                                             "journeys/artifacts/journey-heads)")] = None,
    corrections: Annotated[bool, typer.Option("--corrections", help="also train on the stage / exit-signal "
                                              "corrections recorded in the database (their held-out part is left "
                                              "out)")] = False,
) -> None:
    """Train the multi-task journey heads on the default sentiment model's features (one command, minutes)."""
    from pipeline import steps
    from pipeline.journey_train import DEFAULT_PUBLIC_DATA, train_heads

    settings = guard(lambda: steps.load_run_settings(config))
    public = None if no_public else (public_data or DEFAULT_PUBLIC_DATA)
    if public is not None and not public.is_dir():
        err_console.print(f"[bold red]error:[/] public journey data {public} does not exist; pass --public-data DIR "
                          "or --no-public")
        raise typer.Exit(2)

    def say(line: str) -> None:
        err_console.print(line, highlight=False, soft_wrap=True)

    heads, folder = guard(lambda: train_heads(settings, data_dir=data, public_dir=public, out_dir=out,
                                              use_corrections=corrections, progress=say))
    console.print(f"journey heads written to {folder} (encoder {heads.encoder_revision}; validation "
                  f"{heads.meta.get('validation')})", highlight=False, soft_wrap=True)


__all__ = ["ALL", "METHODS", "PROJECT_METHODS", "EvalRow", "app", "eval_table", "evaluate", "evaluate_linker",
           "evaluate_project", "project_tables", "top_stages"]
