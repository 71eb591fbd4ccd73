"""The ``journeypulse model`` commands: prepare (build encoder and export), train, and eval (metrics as JSON).

Models load once per command; only the project's errors are caught (``error: ...``, exit 2 for
configuration and usage, 1 for a failed run). Metrics in the JSON are fractions in [0, 1].
"""

from __future__ import annotations

import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from journeypulse.config import ModelConfig, Settings
from journeypulse.errors import ConfigError, ScoringError
from pipeline import steps
from pipeline.cli_common import ConfigOption, console, err_console, guard
from sentiment import LABELS, load_sentiment_model
from sentiment.corrections import DEFAULT_HOLDOUT_PERCENT, Correction, read_corrections_export, split_corrections
from sentiment.evaluation import (
    DEFAULT_LABEL_MAP,
    FORMATS,
    LabelledRow,
    TableSpec,
    evaluate_model,
    metrics,
    parse_label_map,
    read_labelled,
    report,
)

if TYPE_CHECKING:
    from sentiment.finetune import FinetuneSettings as FinetuneSettingsT
    from sentiment.training import LabelledFile as LabelledFileT

model_app = typer.Typer(help="Prepare, train and evaluate sentiment models.", no_args_is_help=True)

ModelOption = Annotated[str | None, typer.Option("--model", help="model name, folder or Hugging Face id "
                                                 "(default: the config's model.name)")]
BackendOption = Annotated[str | None, typer.Option(help="torch or onnx-int8 (default: the config's model.backend)")]


def _model_config(settings: Settings, model: str | None, backend: str | None) -> ModelConfig:
    update: dict[str, object] = {}
    if model is not None:
        update["name"] = model
        update["revision"] = None  # a revision pin belongs to the configured model, not to another one
    if backend is not None:
        if backend not in ("torch", "onnx-int8"):
            raise ConfigError(f"--backend {backend!r} is not torch or onnx-int8")
        update["backend"] = backend
    return settings.model.model_copy(update=update)


# --------------------------------------------------------------------------- prepare


@model_app.command()
def prepare(config: ConfigOption = None, model: ModelOption = None, backend: BackendOption = None) -> None:
    """Build the offline encoder (and the int8 ONNX export for backend onnx-int8) so the first run is fast."""
    settings = guard(lambda: steps.load_run_settings(config))
    model_config = guard(lambda: _model_config(settings, model, backend))
    started = time.perf_counter()
    with err_console.status(f"preparing {model_config.name} ({model_config.backend}); the first build takes "
                            "minutes", spinner="dots"):
        loaded = guard(lambda: load_sentiment_model(model_config, settings.cache_dir))
        guard(lambda: loaded.score(["journeypulse model prepare: warm-up"]))
    console.print(f"ready: {loaded.name} revision {loaded.revision} backend {loaded.backend} "
                  f"(cache {settings.cache_dir}, {time.perf_counter() - started:.0f} s)", highlight=False,
                  overflow="fold")  # revisions are long single words; never cut them with an ellipsis


# --------------------------------------------------------------------------- corrections

# Corrections carry ISO codes; the training files name languages, so corrections join their language's group.
_LANGUAGE_NAMES = {"ar": "arabic", "en": "english", "fr": "french", "de": "german", "hi": "hindi", "it": "italian",
                   "pt": "portuguese", "es": "spanish", "th": "thai", "vi": "vietnamese", "id": "indonesian"}
CorrectionsFileOption = Annotated[Path | None, typer.Option(help="read corrections from this export (.csv/.jsonl: "
                                                            "mention_id, text, language, label) instead of the "
                                                            "database")]


def _load_corrections(settings: Settings, export: Path | None) -> list[Correction]:
    """Corrections from an export file, or from the configured database's sentiment_correction table."""
    if export is not None:
        return read_corrections_export(export)
    store = steps.open_store(settings)
    try:
        rows = store.sentiment_corrections()
        texts = {mention_id: (text, language or "und")
                 for mention_id, (text, language) in store.mention_texts([r.mention_id for r in rows]).items()}
    finally:
        store.close()
    if not rows:
        raise ConfigError(f"the database {settings.database_url} has no sentiment corrections; record some with "
                          "`journeypulse label` or pass --corrections-file")
    found = []
    for row in rows:
        if row.mention_id not in texts:
            continue  # the mention was deleted (e.g. forget-author) after it was corrected
        if row.label not in LABELS:
            raise ScoringError(f"sentiment correction of mention {row.mention_id} has label {row.label!r}; "
                               f"expected one of {', '.join(LABELS)}")
        text, language = texts[row.mention_id]
        found.append(Correction(row.mention_id, text, language, LABELS.index(row.label)))
    return found


def _corrections_files(corrections: list[Correction], folder: Path) -> list[LabelledFileT]:
    """The training part of the corrections as one JSONL training file per language (held-out part left out)."""
    from sentiment.training import LabelledFile

    train_part, held_out = split_corrections(corrections)
    err_console.print(f"corrections: {len(train_part)} train, {len(held_out)} held out (sha256 of mention id)")
    by_language: dict[str, list[Correction]] = {}
    for correction in train_part:
        by_language.setdefault(_LANGUAGE_NAMES.get(correction.language, correction.language), []).append(correction)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for language, rows in sorted(by_language.items()):
        path = folder / f"corrections-{language}.jsonl"
        path.write_text("".join(json.dumps({"text": c.text, "label": LABELS[c.label]}, ensure_ascii=False) + "\n"
                                for c in rows), encoding="utf-8")
        files.append(LabelledFile(path, "jsonl", language, "train", {name: name for name in LABELS}, capped=False))
    return files


def _parse_file(spec: str) -> LabelledFileT:
    """``PATH,FORMAT,LANGUAGE,SPLIT[,RAW=LABEL;RAW=LABEL...]`` -> a LabelledFile."""
    from sentiment.training import LabelledFile

    parts = [p.strip() for p in spec.split(",")]
    if len(parts) not in (4, 5) or not all(parts[:4]):
        raise ConfigError(f"--file {spec!r} is not PATH,FORMAT,LANGUAGE,SPLIT[,RAW=LABEL;...]; e.g. "
                          "--file vi_train.jsonl,jsonl,vietnamese,train")
    path, fmt, language, split = parts[:4]
    # Without a map, label cells may hold our names, their short forms or UMSAB's 0/1/2.
    mapping = parse_label_map(parts[4].replace(";", ",")) if len(parts) == 5 else DEFAULT_LABEL_MAP
    return LabelledFile(Path(path), fmt, language, split, {raw: LABELS[index] for raw, index in mapping.items()})


# --------------------------------------------------------------------------- train


@model_app.command()
def train(
    out: Annotated[Path, typer.Option(help="model folder to write (weights, head, MODEL_CARD.md)")],
    datasets: Annotated[Path | None, typer.Option(help="folder in the shared layout (umsab/<language>/, "
                                                  "wisesight/); every train and val split in it is used")] = None,
    file: Annotated[list[str] | None, typer.Option("--file", help="PATH,FORMAT,LANGUAGE,SPLIT[,RAW=LABEL;...] "
                                                   "(format umsab|wisesight|jsonl|csv; repeatable)")] = None,
    probe: Annotated[list[str] | None, typer.Option("--probe", help="PATH,FORMAT,LANGUAGE[,RAW=LABEL;...]: a small "
                                                    "labelled set scored for the model card only, never trained "
                                                    "or tuned on (repeatable)")] = None,
    corrections: Annotated[bool, typer.Option("--corrections", help="also train on the recorded sentiment "
                                              "corrections (their held-out part is left out)")] = False,
    corrections_file: CorrectionsFileOption = None,
    method: Annotated[str, typer.Option(help="top-layers (fine-tune the top encoder layers) or linear")] = "top-layers",
    epochs: Annotated[int | None, typer.Option(min=1, help="most epochs (early stopping may end sooner; "
                                               "default: the shipped recipe's)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop after this many optimiser steps (smoke runs)")] = None,
    encoder: Annotated[Path | None, typer.Option(help="encoder folder (default: the built-in e5-small; another "
                                                 "encoder starts from a fresh head)")] = None,
    top_layers: Annotated[int | None, typer.Option(min=1, help="encoder layers fine-tuned by top-layers "
                                                   "(default: the shipped recipe's)")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=16, help="tokens per training text")] = None,
    max_train_rows: Annotated[int | None, typer.Option(min=1, help="cut each train file to this many rows x its "
                                                       "language factor (corrections are never cut)")] = None,
    all_train_rows: Annotated[bool, typer.Option("--all-train-rows", help="use every train row (no cut)")] = False,
    language_factor: Annotated[list[str] | None, typer.Option("--language-factor", help="LANGUAGE=FACTOR: that "
                               "language's share of each epoch and of the cut (repeatable; default thai=2)")] = None,
    seed: Annotated[int, typer.Option(help="random seed; the same seed and data give the same model")] = 0,
    licence: Annotated[list[str] | None, typer.Option("--licence", help="keep only --datasets sets of this licence "
                       "class: permissive, share-alike or research (repeatable; default: all)")] = None,
    exclude_dataset: Annotated[list[str] | None, typer.Option("--exclude-dataset", help="leave this --datasets set "
                               "out (folder name, repeatable)")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the same run (same out, data, recipe and seed) "
                                         "from its last checkpoint")] = False,
    config: ConfigOption = None,
) -> None:
    """Train a sentiment model on labelled files with language tags (seeded) and write its model card."""
    from sentiment.datasets import LICENCE_CLASSES
    from sentiment.training import discover_files, train_model

    settings = guard(lambda: steps.load_run_settings(config))
    files: list[LabelledFileT] = [] if datasets is None else guard(partial(
        discover_files, datasets, tuple(licence or LICENCE_CLASSES), tuple(exclude_dataset or ())))
    files += [guard(partial(_parse_file, spec)) for spec in (file or [])]
    if corrections or corrections_file is not None:
        found = guard(lambda: _load_corrections(settings, corrections_file))
        files += _corrections_files(found, settings.cache_dir / "corrections" / out.resolve().name)
    if not files:
        guard(lambda: _raise(ConfigError("nothing to train on: pass --datasets DIR and/or --file ...")))
    started = time.perf_counter()
    with err_console.status(f"training {method} on {len(files)} file(s)"):
        # The first head and its card scores belong to the built-in encoder; another encoder starts fresh.
        fresh = {"init_head": None, "baseline": None} if encoder is not None else {}
        recipe = guard(lambda: _finetune_settings(max_train_rows, all_train_rows, language_factor or []))
        probes = [guard(partial(_parse_probe, spec)) for spec in (probe or [])]
        result = guard(lambda: train_model(files, out, settings.cache_dir, seed=seed, method=method, epochs=epochs,
                                            top_layers=top_layers, max_tokens=max_tokens, max_steps=max_steps,
                                            encoder=encoder, settings=recipe, probes=probes, resume=resume,
                                            **fresh))
    console.print(f"wrote {result.out_dir} in {time.perf_counter() - started:.0f} s; validation macro-F1 "
                  + ", ".join(f"{k} {v:.3f}" for k, v in sorted(result.val_macro_f1.items())), highlight=False)


def _parse_probe(spec: str) -> LabelledFileT:
    """``PATH,FORMAT,LANGUAGE[,RAW=LABEL;...]`` -> a validation-shaped LabelledFile scored for the card only."""
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) not in (3, 4):
        raise ConfigError(f"--probe {spec!r} is not PATH,FORMAT,LANGUAGE[,RAW=LABEL;...]")
    return _parse_file(",".join([*parts[:3], "val", *parts[3:]]))


def _finetune_settings(max_train_rows: int | None, all_train_rows: bool, factors: list[str]) -> FinetuneSettingsT:
    """The shipped recipe (FinetuneSettings defaults) with the command line's sampling options applied."""
    import dataclasses

    from sentiment.finetune import FinetuneSettings

    if all_train_rows and max_train_rows is not None:
        raise ConfigError("give --max-train-rows or --all-train-rows, not both")
    recipe = FinetuneSettings()
    changes: dict[str, object] = {}
    if all_train_rows or max_train_rows is not None:
        changes["max_train_rows"] = None if all_train_rows else max_train_rows
    if factors:
        changes["language_factors"] = dict(_language_factor(spec) for spec in factors)
    return dataclasses.replace(recipe, **changes)  # type: ignore[arg-type]


def _language_factor(spec: str) -> tuple[str, float]:
    language, _, value = spec.partition("=")
    try:
        factor = float(value)
    except ValueError:
        factor = 0.0
    if not language.strip() or factor <= 0:
        raise ConfigError(f"--language-factor {spec!r} is not LANGUAGE=FACTOR with a positive factor, e.g. thai=2")
    return language.strip(), factor


def _raise(error: Exception) -> None:
    raise error


# --------------------------------------------------------------------------- eval


def _dataset_splits_report(datasets: Path, wanted: str, model_config: ModelConfig, settings: Settings,
                           show: Console, scored: dict[str, tuple[object, object]] | None = None) -> dict[str, object]:
    """split_report of every (split key, split) of the shared layout: what the model card's tables show.
    ``scored``, when given, receives (gold labels, probabilities) per split key."""
    from sentiment.evaluation import split_report
    from sentiment.training import _merged_splits, discover_files

    chosen = {part.strip() for part in wanted.split(",")}
    if not chosen or not chosen <= {"val", "test"}:
        raise ConfigError(f"--splits {wanted!r} must be val, test or val,test")
    parts = [s for s in _merged_splits(discover_files(datasets)) if s.split in chosen]
    loaded = load_sentiment_model(model_config, settings.cache_dir)
    table = Table(title=f"{loaded.name} ({loaded.backend}) on {datasets}")
    for column in ("split", "rows", "macro-F1 [95% CI]", "accuracy", "ECE", "gold neg/neu/pos", "predicted neg/neu/pos"):
        table.add_column(column)
    result: dict[str, object] = {"model": loaded.name, "revision": loaded.revision, "backend": loaded.backend}
    for part in parts:
        with err_console.status(f"scoring {part.split} {part.language} ({len(part.texts)} rows)"):
            probabilities = evaluate_model(loaded, list(part.texts))
        item = split_report(probabilities, part.labels)
        result[f"{part.split}:{part.language}"] = item
        if scored is not None:
            scored[f"{part.split}:{part.language}"] = (part.labels, probabilities)
        low, high = cast(list[float], item["ci95"])
        macro, accuracy, ece = (float(cast(float, item[k])) for k in ("macro_f1", "accuracy", "ece"))
        gold, predicted = (cast(list[float], item[k]) for k in ("gold_shares", "predicted_shares"))
        table.add_row(f"{part.split}:{part.language}", str(item["rows"]),
                      f"{100 * macro:.1f} [{100 * low:.1f}, {100 * high:.1f}]", f"{accuracy:.3f}", f"{ece:.3f}",
                      "/".join(f"{100 * x:.0f}" for x in gold), "/".join(f"{100 * x:.0f}" for x in predicted))
    show.print(table)
    return result


def _backend_comparison(reference: dict[str, tuple[object, object]], candidate: dict[str, tuple[object, object]],
                        reference_name: str, candidate_name: str, show: Console) -> dict[str, object]:
    from sentiment.backend_check import compare_backends

    result = compare_backends({k: cast(Any, v[0]) for k, v in reference.items()},
                              {k: cast(Any, v[1]) for k, v in reference.items()},
                              {k: cast(Any, v[1]) for k, v in candidate.items()},
                              reference_name=reference_name, candidate_name=candidate_name)
    table = Table(title=f"{candidate_name} against {reference_name} (macro-F1, points)")
    for column in ("split", "rows", reference_name, candidate_name, "difference", "label flips"):
        table.add_column(column)
    for key, row in cast(dict[str, dict[str, float]], result["splits"]).items():
        table.add_row(key, str(int(row["rows"])), f"{100 * row[reference_name]:.1f}",
                      f"{100 * row[candidate_name]:.1f}", f"{100 * row['difference']:+.2f}", f"{100 * row['flips']:.1f}%")
    show.print(table)
    verdict = cast(dict[str, str], result["verdict"])
    show.print(f"default backend by the budgets: {verdict['default']} ({verdict['why']})", highlight=False)
    return result


def _read_data(data: list[Path], spec: TableSpec, langs: list[str]) -> list[LabelledRow]:
    if langs and len(langs) not in (1, len(data)):
        raise ConfigError(f"--lang was given {len(langs)} times for {len(data)} --data files; give it once "
                          "(all files) or once per file, in order")
    rows: list[LabelledRow] = []
    for index, path in enumerate(data):
        lang = langs[0] if len(langs) == 1 else (langs[index] if langs else None)
        rows += read_labelled(path, TableSpec(**{**spec.__dict__, "lang": lang}))
    return rows


def _metrics_table(title: str, groups: dict[str, dict[str, object]]) -> Table:
    table = Table(title=title)
    for column in ("group", "n", "accuracy", "macro-F1", "ECE"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for name, values in groups.items():
        table.add_row(name, str(values["n"]), f"{values['accuracy']:.3f}", f"{values['macro_f1']:.3f}",
                      f"{values['ece']:.3f}")
    return table


def _confusion_table(values: dict[str, object]) -> Table:
    confusion = values["confusion"]
    assert isinstance(confusion, dict)
    table = Table("gold \\ predicted", *LABELS, title="Confusion matrix (all rows)")
    for name, row in zip(LABELS, confusion["counts"], strict=True):
        table.add_row(name, *(str(v) for v in row))
    return table


def _holdout(corrections: list[Correction], percent: int, after_config: ModelConfig, before_config: ModelConfig,
             settings: Settings) -> dict[str, object]:
    """Before/after macro-F1 on the held-out corrections (the same split `model train` leaves out)."""
    _train_part, held_out = split_corrections(corrections, percent)
    if not held_out:
        raise ConfigError(f"none of the {len(corrections)} corrections fall in the {percent}% held-out part; "
                          "record more corrections or raise --holdout-percent")
    gold = [c.label for c in held_out]
    result: dict[str, object] = {"n": len(held_out), "percent": percent, "split": "sha256(mention_id)"}
    for role, model_config in (("before", before_config), ("after", after_config)):
        model = load_sentiment_model(model_config, settings.cache_dir)
        probabilities = evaluate_model(model, [c.text for c in held_out])
        result[role] = {"model": model.name, "revision": model.revision,
                        **metrics(gold, probabilities).as_dict()}
    return result


@model_app.command("eval")
def evaluate(
    data: Annotated[list[Path] | None, typer.Option("--data", help="labelled file (repeatable)")] = None,
    model: ModelOption = None,
    fmt: Annotated[str, typer.Option("--format", help=f"one of {', '.join(FORMATS)} (txt: *text*.txt lines "
                                     "paired with the *labels*.txt file beside it)")] = "jsonl",
    text_col: Annotated[str, typer.Option(help="text column / JSON key")] = "text",
    label_col: Annotated[str, typer.Option(help="label column / JSON key")] = "label",
    lang_col: Annotated[str | None, typer.Option(help="language column / JSON key")] = None,
    lang: Annotated[list[str] | None, typer.Option("--lang", help="language of the file(s): once, or once "
                                                   "per --data")] = None,
    source_col: Annotated[str | None, typer.Option(help="column naming each row's source (default: the file)")] = None,
    label_map: Annotated[str | None, typer.Option(help='raw label -> label, e.g. "0=negative,1=neutral,'
                                                  '2=positive" or "pos=positive,neu=neutral,neg=negative,'
                                                  'q=neutral"')] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report as JSON here ('-': stdout)")] = None,
    corrections_holdout: Annotated[bool, typer.Option("--corrections-holdout", help="before/after macro-F1 on "
                                                      "the held-out part of the recorded corrections")] = False,
    corrections_file: CorrectionsFileOption = None,
    before: Annotated[str | None, typer.Option(help="the model before corrections (default: the config's "
                                               "model.name)")] = None,
    holdout_percent: Annotated[int, typer.Option(help="share of corrections held out")] = DEFAULT_HOLDOUT_PERCENT,
    backend: BackendOption = None,
    datasets: Annotated[Path | None, typer.Option(help="the shared datasets folder: report every validation split "
                                                  "and the test-like part of every train file, as the model card "
                                                  "does")] = None,
    splits: Annotated[str, typer.Option(help="with --datasets: val, test or val,test")] = "val,test",
    compare_backend: Annotated[str | None, typer.Option(help="with --datasets: also score with this backend (e.g. "
                                                        "onnx-int8) and report its macro-F1 against the first per "
                                                        "split and language, label flips, and whether it may be "
                                                        "the default (sentiment/backend_check.py)")] = None,
    config: ConfigOption = None,
) -> None:
    """Evaluate a model on labelled files: accuracy, macro-F1, confusion, calibration error per language/source."""
    settings = guard(lambda: steps.load_run_settings(config))
    model_config = guard(lambda: _model_config(settings, model, backend))
    files = list(data or [])
    if not files and not corrections_holdout and datasets is None:
        guard(lambda: _raise(ConfigError("nothing to evaluate: pass --data FILE, --datasets DIR or "
                                         "--corrections-holdout")))
    # With --json - the report owns stdout, so the tables go to stderr.
    show = err_console if json_out is not None and str(json_out) == "-" else console
    output: dict[str, object] = {}
    if compare_backend is not None and datasets is None:
        guard(lambda: _raise(ConfigError("--compare-backend needs --datasets DIR")))
    if datasets is not None:
        scored: dict[str, tuple[object, object]] = {}
        output["splits"] = guard(lambda: _dataset_splits_report(datasets, splits, model_config, settings, show,
                                                                scored))
        if compare_backend is not None:
            other_config = guard(lambda: _model_config(settings, model, compare_backend))
            other: dict[str, tuple[object, object]] = {}
            output["compare_splits"] = guard(lambda: _dataset_splits_report(datasets, splits, other_config, settings,
                                                                            show, other))
            output["backends"] = _backend_comparison(scored, other, model_config.backend, other_config.backend, show)
    if files:
        mapping = guard(lambda: parse_label_map(label_map)) if label_map else None
        spec = TableSpec(format=fmt, text_col=text_col, label_col=label_col, lang_col=lang_col,
                         source_col=source_col, label_map=mapping)
        rows = guard(lambda: _read_data(files, spec, list(lang or [])))
        loaded = guard(lambda: load_sentiment_model(model_config, settings.cache_dir))
        with err_console.status(f"scoring {len(rows)} labelled texts with {loaded.name}"):
            probabilities = guard(lambda: evaluate_model(loaded, [r.text for r in rows]))
        output = report(rows, probabilities, model=loaded.name, revision=loaded.revision, backend=loaded.backend,
                        files=[str(f) for f in files])
        overall = output["overall"]
        assert isinstance(overall, dict)
        show.print(f"{loaded.name} ({loaded.backend}): {overall['n']} rows, accuracy {overall['accuracy']:.3f}, "
                      f"macro-F1 {overall['macro_f1']:.3f}, ECE {overall['ece']:.3f}", highlight=False)
        for key, title in (("by_language", "Per language"), ("by_source", "Per source")):
            groups = output[key]
            assert isinstance(groups, dict)
            show.print(_metrics_table(title, groups))
        show.print(_confusion_table(overall))
    if corrections_holdout:
        before_config = guard(lambda: _model_config(settings, before or settings.model.name, backend))
        found = guard(lambda: _load_corrections(settings, corrections_file))
        holdout = guard(lambda: _holdout(found, holdout_percent, model_config, before_config, settings))
        output["corrections_holdout"] = holdout
        for role in ("before", "after"):
            part = holdout[role]
            assert isinstance(part, dict)
            show.print(f"held-out corrections ({holdout['n']}), {role}: {part['model']} macro-F1 "
                          f"{part['macro_f1']:.3f}, accuracy {part['accuracy']:.3f}", highlight=False)
    if json_out is not None:
        text = json.dumps(output, indent=2, ensure_ascii=False)
        if str(json_out) == "-":
            sys.stdout.write(text + "\n")
        else:
            json_out.write_text(text + "\n", encoding="utf-8")
            console.print(f"wrote {json_out}", highlight=False)
