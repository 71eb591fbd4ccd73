"""Small project-format journey data sets for tests (``journeys/data/mentions/<lang>.jsonl`` format)."""

from __future__ import annotations

import json
from pathlib import Path

STAGE_PHRASES = {
    "awareness": "just saw an ad for {brand}, what is it",
    "consideration": "is {brand} worth it compared to the others",
    "purchase": "ordered from {brand} and paid at checkout",
    "delivery": "my {brand} parcel delivery is late",
    "usage": "the {brand} app keeps crashing when I open it",
    "support": "waited two hours for {brand} support chat",
    "loyalty": "five years with {brand}, I recommend it to everyone",
    "exit": "cancel my {brand} subscription and refund me",
}
EXIT_TYPES = {"exit": "cancellation"}
PAINS = {"delivery": "late_delivery", "usage": "app_crash", "support": "long_wait"}


def project_row(lang: str, number: int, stage: str, brand: str = "Kivo Bank") -> dict[str, object]:
    """One valid row; its labels follow from the stage (exit rows carry an exit signal, some rows a pain)."""
    exit_row = stage == "exit"
    return {
        "id": f"{lang}-{number:04d}", "lang": lang, "brand": brand, "industry": "bank", "channel": "x",
        "text": f"{STAGE_PHRASES[stage].format(brand=brand)} #{number}", "stage": stage,
        "secondary_stages": ["support"] if stage == "delivery" and number % 2 else [],
        "exit_signal": exit_row, "exit_type": EXIT_TYPES.get(stage) if exit_row else None,
        "pain_point": PAINS.get(stage), "question": stage in ("awareness", "consideration"),
        "sentiment": "positive" if stage == "loyalty" else "neutral" if stage in ("awareness", "consideration")
        else "negative",
    }


def write_project_set(folder: Path, languages: tuple[str, ...] = ("en", "vi"), per_stage: int = 8) -> Path:
    """``per_stage`` rows per stage and language, ids in writing order; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for lang in languages:
        rows = []
        number = 1
        for _ in range(per_stage):
            for stage in STAGE_PHRASES:
                rows.append(project_row(lang, number, stage))
                number += 1
        (folder / f"{lang}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                              encoding="utf-8")
    return folder
