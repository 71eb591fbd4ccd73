"""Recall and false-positive rate of the redactor on a labelled corpus (JSON lines).

Each line is ``{"kind", "language", "text", "spans": [[start, end, substring], ...]}``. For a
personal-data line (kind phone, email, address or name) each span is a piece of personal data: it
counts as caught when placeholders cover all its letters and digits. For a look-alike line (kind
``none``) each span must survive: it is a false positive when any placeholder other than ``[ORDER]``
touches it (an order or ticket reference after its keyword is hidden as ``[ORDER]`` on purpose, and
counted apart). Print the table with ``python -m journeys.redaction_corpus [path]``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from journeys.redaction import Span, find_spans

__all__ = ["PII_KINDS", "CorpusEntry", "CorpusScore", "format_table", "load_corpus", "score_corpus"]

PII_KINDS = ("phone", "email", "address", "name")


@dataclass(frozen=True)
class CorpusEntry:
    kind: str
    language: str
    text: str
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class CorpusScore:
    caught: dict[str, int]  # per PII kind
    total: dict[str, int]
    lookalikes: int
    false_positives: int
    hidden_as_order: int
    misses: tuple[tuple[str, str], ...]  # (kind, substring) not fully covered
    wrongly_redacted: tuple[str, ...]  # look-alike substrings that were touched

    def recall(self, kind: str) -> float:
        return self.caught[kind] / self.total[kind] if self.total[kind] else 1.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.lookalikes if self.lookalikes else 0.0


def load_corpus(path: Path | str) -> list[CorpusEntry]:
    """Entries of a corpus file; raises ValueError naming the line when a span does not match its text."""
    entries = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        spans = tuple((int(s), int(e)) for s, e, _ in raw["spans"])
        for (start, end), (_, _, expected) in zip(spans, raw["spans"], strict=True):
            if raw["text"][start:end] != expected:
                raise ValueError(f"{path}:{number}: span {start}..{end} is {raw['text'][start:end]!r}, not {expected!r}")
        if raw["kind"] not in (*PII_KINDS, "none") or not spans:
            raise ValueError(f"{path}:{number}: kind {raw['kind']!r} must be one of {PII_KINDS} or 'none', with spans")
        entries.append(CorpusEntry(raw["kind"], raw["language"], raw["text"], spans))
    return entries


def _covered(text: str, start: int, end: int, found: list[Span]) -> bool:
    return all(any(s <= i < e for s, e, _ in found) for i in range(start, end) if text[i].isalnum())


def score_corpus(entries: list[CorpusEntry]) -> CorpusScore:
    caught: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    misses: list[tuple[str, str]] = []
    wrong: list[str] = []
    lookalikes = false_positives = hidden_as_order = 0
    for entry in entries:
        found = find_spans(entry.text, language=entry.language)
        for start, end in entry.spans:
            if entry.kind == "none":
                lookalikes += 1
                touching = {kind for s, e, kind in found if s < end and start < e}
                if touching - {"ORDER"}:
                    false_positives += 1
                    wrong.append(entry.text[start:end])
                elif touching:
                    hidden_as_order += 1
            else:
                total[entry.kind] += 1
                if _covered(entry.text, start, end, found):
                    caught[entry.kind] += 1
                else:
                    misses.append((entry.kind, entry.text[start:end]))
    return CorpusScore({k: caught[k] for k in PII_KINDS}, {k: total[k] for k in PII_KINDS}, lookalikes,
                       false_positives, hidden_as_order, tuple(misses), tuple(wrong))


def format_table(score: CorpusScore) -> str:
    """A Markdown table: recall per kind, then the look-alikes' false-positive rate."""
    rows = ["| kind | items | caught | recall |", "|---|---:|---:|---:|"]
    for kind in PII_KINDS:
        rows.append(f"| {kind} | {score.total[kind]} | {score.caught[kind]} | {score.recall(kind):.3f} |")
    rows.append(f"| look-alikes (must survive) | {score.lookalikes} | {score.false_positives} redacted | "
                f"FP rate {score.false_positive_rate:.3f} |")
    return "\n".join(rows)


def _main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parent.parent / "tests" / "journeys" / "data" / "pii_corpus.jsonl"
    score = score_corpus(load_corpus(argv[0] if argv else default))
    print(format_table(score))
    print(f"\n{score.hidden_as_order} look-alikes were order/ticket references hidden as [ORDER] by design.")
    for kind, missed in score.misses:
        print(f"missed {kind}: {missed}")
    for survived in score.wrongly_redacted:
        print(f"false positive: {survived}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
