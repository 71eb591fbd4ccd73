"""Check the hand-labelled journey mention files (journeys/data/mentions/<lang>.jsonl).

Usage: python journeys/data/check_mentions.py FILE [FILE ...]

Checks every line against the labelling guide (fields, allowed values, unique ids,
exit rules) and prints rows per stage and label shares. Exit status 1 when a file
has problems.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

LANGS = {"en", "vi", "th", "id", "es", "pt", "ar"}
INDUSTRIES = {"bank", "telco", "coffee", "food_delivery", "ecommerce", "airline", "software"}
CHANNELS = {
    "x", "facebook", "instagram", "tiktok", "reddit", "forum", "app_review",
    "review_site", "support_chat", "email", "youtube",
}
STAGES = ("awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "exit")
EXIT_TYPES = {
    "refund_request", "cancellation", "unsubscribe", "abandoned_cart",
    "refused_upgrade", "switch_to_competitor", "uninstall",
}
PAIN_POINTS = {
    "late_delivery", "damaged_item", "wrong_item", "payment_failed", "app_crash", "long_wait",
    "rude_agent", "hidden_fees", "refund_delay", "login_problem", "out_of_stock", "price",
}
SENTIMENTS = {"negative", "neutral", "positive"}
FIELDS = (
    "id", "lang", "brand", "industry", "channel", "text", "stage", "secondary_stages",
    "exit_signal", "exit_type", "pain_point", "question", "sentiment",
)


def row_problems(row: dict[str, Any], lang: str) -> list[str]:
    """Return what is wrong with one labelled row (empty when it follows the guide)."""
    missing = [f for f in FIELDS if f not in row]
    if missing:
        return [f"missing fields {missing}"]
    problems: list[str] = []
    if row["lang"] != lang:
        problems.append(f"lang {row['lang']!r} in the {lang} file")
    if not str(row["id"]).startswith(f"{lang}-") or not str(row["id"])[len(lang) + 1:].isdigit():
        problems.append(f"id {row['id']!r} is not {lang}-NNNN")
    if not isinstance(row["text"], str) or not row["text"].strip():
        problems.append("empty text")
    for field, allowed in (
        ("industry", INDUSTRIES), ("channel", CHANNELS), ("stage", set(STAGES)), ("sentiment", SENTIMENTS),
    ):
        if row[field] not in allowed:
            problems.append(f"{field} {row[field]!r} not allowed")
    secondary = row["secondary_stages"]
    if not isinstance(secondary, list) or any(s not in STAGES for s in secondary):
        problems.append(f"secondary_stages {secondary!r} not a list of stages")
    elif row["stage"] in secondary or len(set(secondary)) != len(secondary):
        problems.append("secondary_stages repeats a stage")
    if not isinstance(row["exit_signal"], bool) or not isinstance(row["question"], bool):
        problems.append("exit_signal and question must be booleans")
    if row["pain_point"] is not None and row["pain_point"] not in PAIN_POINTS:
        problems.append(f"pain_point {row['pain_point']!r} not allowed")
    if row["exit_signal"]:
        if row["exit_type"] not in EXIT_TYPES:
            problems.append(f"exit_type {row['exit_type']!r} not allowed with an exit signal")
        if row["stage"] != "exit" and "exit" not in (secondary if isinstance(secondary, list) else []):
            problems.append("exit signal without exit as primary or secondary stage")
    else:
        if row["exit_type"] is not None:
            problems.append("exit_type set without an exit signal")
        if row["stage"] == "exit":
            problems.append("primary stage exit without an exit signal")
    return problems


def check_file(path: Path) -> int:
    """Print the problems and the label summary of one file; return the number of problems."""
    lang = path.stem
    rows: list[dict[str, Any]] = []
    errors = 0
    seen_ids: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"{path}:{number}: not JSON ({exc.msg})")
                errors += 1
                continue
            problems = row_problems(row, lang)
            if row.get("id") in seen_ids:
                problems.append(f"duplicate id {row.get('id')!r}")
            seen_ids.add(str(row.get("id")))
            for problem in problems:
                print(f"{path}:{number}: {problem}")
            errors += len(problems)
            rows.append(row)
    total = len(rows) or 1
    stages = Counter(r.get("stage") for r in rows)
    sentiments = Counter(r.get("sentiment") for r in rows)
    print(f"{path}: {len(rows)} rows, {errors} problems")
    print("  per stage: " + " ".join(f"{s}={stages[s]}" for s in STAGES))
    print(
        f"  exit_signal {sum(bool(r.get('exit_signal')) for r in rows) / total:.1%}"
        f"  question {sum(bool(r.get('question')) for r in rows) / total:.1%}"
        f"  pain_point {sum(r.get('pain_point') is not None for r in rows) / total:.1%}"
        "  sentiment " + " ".join(f"{s}={sentiments[s] / total:.1%}" for s in sorted(SENTIMENTS))
    )
    return errors


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: check_mentions.py FILE [FILE ...]")
        return 2
    return 1 if sum(check_file(Path(a)) for a in argv) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
