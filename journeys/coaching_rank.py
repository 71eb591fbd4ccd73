"""How useful a coaching candidate is to a trainer, and why: a score plus the short reasons behind it.

A pain point or exit signal, a clear customer situation and an agent interaction raise the score;
a neutral how-to question lowers it. ``diversity_penalty`` is what the selection subtracts for
each example already picked in the same stage, language or channel. Scores are deterministic.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

__all__ = ["DIVERSITY_PENALTY", "WEIGHTS", "Assessment", "assess", "diversity_penalty", "is_how_to_question"]

WEIGHTS = {"exit_signal": 3.0, "pain_point": 2.0, "clear_situation": 1.5, "agent": 1.0, "how_to": -2.0,
           "confidence": 0.5}
"""Score parts; ``confidence`` multiplies the sentiment confidence (0..1) and only breaks near-ties."""
DIVERSITY_PENALTY = 0.75
"""Subtracted per example already picked with the same stage, the same language, the same channel."""
_CLEAR_MIN_CONFIDENCE = 0.6
_CLEAR_MIN_WORDS = 6

# Someone on the brand's side the customer dealt with: what an agent can learn from.
_AGENT = re.compile(
    r"(?i:\b(?:agents?|staff|support team|customer service|customer care|rep|representative|operator|cashier|barista|"
    r"courier|driver|employee|manager|hotline|live chat|chat bot|advisor)\b|nhân viên|tổng đài|tư vấn viên|shipper|"
    r"cskh|chăm sóc khách hàng|พนักงาน|คอลเซ็นเตอร์|แอดมิน|ไรเดอร์|คนส่งของ|\b(?:petugas|kurir|admin|cs|customer "
    r"service|agente|asesor|asesora|atención al cliente|repartidor|cajero|cajera|atendente|entregador|suporte|sac)\b|"
    r"موظف|خدمة العملاء|المندوب|الدعم|الكاشير)"
)
_QUESTION_MARK = re.compile(r"[?？؟]")
_HOW_TO = re.compile(
    r"(?i:\b(?:how (?:do|can|to|does)|where (?:can|do)|is there a way|can i|what is|what's)\b|làm sao|làm thế nào|"
    r"cách nào|cách để|như thế nào|ยังไง|อย่างไร|วิธี|ทำไง|\b(?:bagaimana|gimana|caranya|cara)\b|\bc[oó]mo\b|"
    r"\bd[oó]nde\b|\bonde\b|\bqual\b|كيف|أين|هل يمكن)"
)


@dataclass(frozen=True)
class Assessment:
    score: float
    reasons: tuple[str, ...]


def is_how_to_question(text: str) -> bool:
    """A question asking how or where to do something ("how do I top up?", "làm sao để ...", "cómo ...")."""
    return bool(_HOW_TO.search(text)) or bool(_QUESTION_MARK.search(text)) and len(text) < 160


_THAI = re.compile(r"[\u0E00-\u0E7F]")


def _words(text: str) -> int:
    """Words in ``text``; Thai is written without spaces between words, so there 4 characters count as one."""
    return len(text) // 4 if _THAI.search(text) else len(text.split())


def assess(text: str, sentiment: str, confidence: float, pain_point: str | None, exit_signal: str | None) -> Assessment:
    """Score and reasons for one candidate (``text`` is the redacted text a trainer will read)."""
    score = WEIGHTS["confidence"] * confidence
    reasons: list[str] = []
    if exit_signal:
        score += WEIGHTS["exit_signal"]
        reasons.append(f"exit signal {exit_signal}")
    if pain_point:
        score += WEIGHTS["pain_point"]
        reasons.append(f"pain point {pain_point}")
    if sentiment == "neutral" and not (pain_point or exit_signal) and is_how_to_question(text):
        score += WEIGHTS["how_to"]
        reasons.append("neutral how-to question")
    elif sentiment != "neutral" and confidence >= _CLEAR_MIN_CONFIDENCE and _words(text) >= _CLEAR_MIN_WORDS:
        score += WEIGHTS["clear_situation"]
        reasons.append(f"clear {sentiment} situation ({confidence:.2f})")
    if _AGENT.search(text):
        score += WEIGHTS["agent"]
        reasons.append("agent interaction")
    return Assessment(round(score, 4), tuple(reasons))


def diversity_penalty(stage: str, language: str, channel: str, picked: Counter[tuple[str, str]]) -> float:
    """Penalty for a candidate given how many picked examples share its stage, language and channel."""
    return DIVERSITY_PENALTY * (picked[("stage", stage)] + picked[("language", language)] + picked[("channel", channel)])
