"""Reads the labelled sentiment data sets (UMSAB per language, Wisesight Thai, the converted JSONL sets) into
uniform splits, with each set's licence class and the deterministic test-like part of every train file.

Invariant: labels come out as indices into LABELS (0 negative, 1 neutral, 2 positive); Wisesight's
question class ``q`` is read as neutral. A malformed line raises ScoringError naming file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from journeypulse.errors import ScoringError

__all__ = ["DATASETS", "ISO_LANGUAGES", "LICENCE_CLASSES", "UMSAB_LANGUAGES", "DatasetInfo", "LabelledSplit", "carve_test_like",
           "is_test_like", "language_of", "read_converted", "read_umsab", "read_wisesight"]

UMSAB_LANGUAGES = ("arabic", "english", "french", "german", "hindi", "italian", "portuguese", "spanish")
_WISESIGHT_LABELS = {"neg": 0, "neu": 1, "q": 1, "pos": 2}


@dataclass(frozen=True)
class LabelledSplit:
    """One file's texts and labels: ``language`` (e.g. thai), ``split`` (train or val), source files."""

    language: str
    split: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    files: tuple[Path, ...]


def read_umsab(folder: Path, language: str, split: str) -> LabelledSplit:
    text_file = folder / f"{split}_text.txt"
    label_file = folder / f"{split}_labels.txt"
    try:
        texts = text_file.read_text(encoding="utf-8").splitlines()
        raw_labels = label_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ScoringError(f"UMSAB {language} {split}: cannot read {exc.filename}; point the data directory at "
                           "a copy of cardiffnlp/xlm-t data/sentiment") from exc
    if len(texts) != len(raw_labels):
        raise ScoringError(f"UMSAB {language} {split}: {text_file} has {len(texts)} lines but {label_file} "
                           f"has {len(raw_labels)}")
    labels = []
    for number, raw in enumerate(raw_labels, start=1):
        if raw.strip() not in ("0", "1", "2"):
            raise ScoringError(f"{label_file} line {number}: label {raw!r} is not 0, 1 or 2")
        labels.append(int(raw))
    return LabelledSplit(language, split, tuple(texts), tuple(labels), (text_file, label_file))


def read_wisesight(path: Path, split: str) -> LabelledSplit:
    texts: list[str] = []
    labels: list[int] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ScoringError(f"Wisesight {split}: cannot read {path}; point the data directory at a copy of "
                           "PyThaiNLP/wisesight-sentiment") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = _WISESIGHT_LABELS[row["category"]]
            text = str(row["texts"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoringError(f"{path} line {number}: expected {{category: pos/neu/neg/q, texts}}") from exc
        texts.append(text)
        labels.append(label)
    return LabelledSplit("thai", split, tuple(texts), tuple(labels), (path,))


# ----------------------------------------------------------------------------------------------------- catalogue
# The labelled sets of the shared datasets layout, with their licence class so a recipe can keep only the sets a
# user may train on ("permissive": Apache / MIT / CC0 / CC BY; "share-alike": CC BY-SA, GPL; "research": no licence
# stated or research use only). Facts from datasets/README.md.
LICENCE_CLASSES = ("permissive", "share-alike", "research")
ISO_LANGUAGES = {"ar": "arabic", "de": "german", "en": "english", "es": "spanish", "fr": "french", "hi": "hindi",
                 "id": "indonesian", "it": "italian", "pt": "portuguese", "th": "thai", "vi": "vietnamese"}


@dataclass(frozen=True)
class DatasetInfo:
    """One labelled set: its folder, licence (as stated) and licence class."""

    name: str
    licence: str
    licence_class: str


DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo("umsab", "Apache-2.0 (repository); SemEval/DEFT/SB-10K/SAIL/SENTIPOLC/SentiBR/InterTASS terms",
                "permissive"),
    DatasetInfo("wisesight", "CC0-1.0", "permissive"),
    DatasetInfo("indonlu-smsa", "Apache-2.0 (repository)", "permissive"),
    DatasetInfo("nusax-senti", "CC BY-SA 4.0", "share-alike"),
    DatasetInfo("astd", "GPL-2.0", "share-alike"),
    DatasetInfo("sentimix-hinglish", "no licence stated (SemEval-2020 Task 9 research data)", "research"),
    DatasetInfo("uit-vsfc", "no licence stated (UIT NLP Group research data)", "research"),
    DatasetInfo("uit-visfd", "research use only (authors ask companies to contact them)", "research"),
    DatasetInfo("aivivn-2019", "no licence stated (AIVIVN 2019 contest data)", "research"),
)}

_JSONL_LABELS = {"negative": 0, "neutral": 1, "positive": 2}


def read_converted(path: Path, dataset: str, split: str) -> list[LabelledSplit]:
    """A converted set's file (``{"text", "label", "lang"}`` lines) as one split per language it holds, each
    named ``<language>/<dataset>`` so training balances and reports every (language, set) on its own."""
    by_language: dict[str, tuple[list[str], list[int]]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ScoringError(f"{dataset} {split}: cannot read {path}; point --datasets at the shared datasets "
                           "folder") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = _JSONL_LABELS[row["label"]]
            text = str(row["text"])
            language = ISO_LANGUAGES[row["lang"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ScoringError(f"{path} line {number}: expected {{text, label: negative/neutral/positive, lang: "
                               f"one of {sorted(ISO_LANGUAGES)}}}") from exc
        texts, labels = by_language.setdefault(language, ([], []))
        texts.append(text)
        labels.append(label)
    return [LabelledSplit(f"{language}/{dataset}", split, tuple(t), tuple(y), (path,))
            for language, (t, y) in sorted(by_language.items())]


def language_of(key: str) -> str:
    """The language of a split key (``thai`` or ``vietnamese/uit-vsfc`` -> ``vietnamese``)."""
    return key.split("/", 1)[0]


def is_test_like(text: str) -> bool:
    """The project's untouched test-like part of every train file: about 10% of rows, chosen by a salted hash of
    the normalised text (NFKC, case-folded, white space collapsed), so repeated texts land on the same side and
    the choice never depends on file order, seeds or settings."""
    import hashlib
    import unicodedata

    normalised = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    digest = hashlib.sha256(("journeypulse-test-like/1:" + normalised).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 10 == 0


def carve_test_like(split: LabelledSplit) -> tuple[LabelledSplit, LabelledSplit]:
    """(train without its test-like rows, the test-like rows as split ``test``) of a train split."""
    keep = [i for i, text in enumerate(split.texts) if not is_test_like(text)]
    held = [i for i, text in enumerate(split.texts) if is_test_like(text)]
    def pick(rows: list[int], name: str) -> LabelledSplit:
        return LabelledSplit(split.language, name, tuple(split.texts[i] for i in rows),
                             tuple(split.labels[i] for i in rows), split.files)

    return pick(keep, split.split), pick(held, "test")
