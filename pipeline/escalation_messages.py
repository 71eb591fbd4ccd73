"""Escalation messages: a stored candidate or volume group -> the redacted ``EscalationMessage`` with the
playbook's next best action in the mention's language (English where the playbook has no reply in it).

The message carries the public post link (X links without the author's handle), never a handle, a
pseudonym or a secret; e-mail addresses and phone numbers stay only where a rule allows them for a
ticket destination.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from escalation.messages import EscalationMessage, Suggestion
from escalation.rules import Candidate, LinkFacts, Match
from journeypulse.config import EscalationRuleConfig, Settings
from journeys.playbook import Playbook, load_playbook
from journeys.redaction import redact
from journeys.taxonomy import Taxonomy, load_taxonomy
from storage import EscalationCandidate

CONTACT_KINDS = ("EMAIL", "PHONE")
MAX_TEXT_CHARS = 2000
GROUP_LINKS = 5
_X_STATUS = re.compile(r"^https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/[^/?#]+/status(?:es)?/(\d+)", re.IGNORECASE)


def public_url(url: str | None) -> str | None:
    """The post's public link; an X/Twitter status link loses the author's handle (``/i/web/status/<id>``)."""
    if url is None:
        return None
    found = _X_STATUS.match(url)
    return f"https://x.com/i/web/status/{found[1]}" if found else url


def candidate(row: EscalationCandidate) -> Candidate:
    """A stored candidate as the rules read it."""
    return Candidate(
        mention_id=row.mention_id, brand=row.brand, source=row.source, channel=row.channel or row.source_kind,
        language=row.language, text=row.text, url=row.url, published_at=row.created_at, enriched_at=row.linked_at,
        pulled_at=row.stored_at, sentiment=row.label, sentiment_confidence=row.sentiment_confidence,
        question=row.question, links=tuple(LinkFacts(link.stage, link.pain_point, link.exit_signal, link.confidence)
                                           for link in row.links),
        metadata=row.metadata,
    )


def _path(settings: Settings, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else settings.config_dir / path


def _taxonomy(settings: Settings) -> Taxonomy:
    return load_taxonomy(_path(settings, settings.journeys.taxonomy))


def taxonomy_problems(settings: Settings, taxonomy: Taxonomy) -> list[str]:
    """Rule conditions that name stages, pain points or exit types the configured taxonomy lacks."""
    known = {"stages": set(taxonomy.stage_names), "pain_points": {p.name for p in taxonomy.pain_points},
             "exit_types": {e.name for e in taxonomy.exit_signals}}
    problems = []
    for index, rule in enumerate(settings.escalation.rules):
        for field, names in known.items():
            unknown = sorted(set(getattr(rule, field)) - names)
            if unknown:
                problems.append(f"[{index}] ({rule.id}).{field}: {unknown} not in the taxonomy "
                                f"(one of: {', '.join(sorted(names))})")
    return problems


class MessageBuilder:
    """Builds messages for one settings object (playbook and brand terms loaded once)."""

    def __init__(self, settings: Settings) -> None:
        self.taxonomy: Taxonomy = _taxonomy(settings)
        self.playbook: Playbook = load_playbook(_path(settings, settings.journeys.playbook), taxonomy=self.taxonomy)
        self.keep = tuple(term for brand in settings.brands for term in brand.terms())

    @staticmethod
    def focus(matches: Sequence[Match]) -> tuple[str | None, str | None, str | None]:
        """(stage, pain point, exit type) of the matches' deciding links: the most common of each."""
        links = [m.link for m in matches if m.link is not None]

        def common(values: list[str | None]) -> str | None:
            present = [v for v in values if v is not None]
            return Counter(present).most_common(1)[0][0] if present else None

        return (common([link.stage for link in links]), common([link.pain_point for link in links]),
                common([link.exit_type for link in links]))

    def suggest(self, matches: Sequence[Match]) -> Suggestion:
        """The playbook's action and reply, in the (most common) mention language, else English."""
        stage, pain, exit_type = self.focus(matches)
        found = self.playbook.suggest(stage, pain, exit_type)
        languages = Counter(m.candidate.language for m in matches if m.candidate.language)
        wanted = languages.most_common(1)[0][0] if languages else None
        language = wanted if wanted in found.replies else "en"
        return Suggestion(playbook_rule=found.rule, playbook_version=found.version, action=found.action,
                          reply=found.replies[language], reply_language=language)

    def _context(self, c: Candidate, link: LinkFacts | None, count: int) -> dict[str, str | float | int | bool | None]:
        exit_type = link.exit_type if link is not None else None
        return {
            "brand": c.brand, "source": c.source, "channel": c.channel, "language": c.language,
            "stage": link.stage if link else None, "pain_point": link.pain_point if link else None,
            "exit_signal": any(x.exit_type is not None for x in c.links), "exit_type": exit_type,
            "sentiment": c.sentiment, "confidence": c.sentiment_confidence, "question": c.question,
            "link_confidence": link.confidence if link else None, "mention_id": c.mention_id, "count": count,
            "published_at": c.published_at.isoformat(),
        }

    @staticmethod
    def _subject(rule: EscalationRuleConfig, stage: str | None, pain: str | None, exit_type: str | None,
                 brand: str | None, where: str) -> str:
        what = stage or "unlinked"
        detail = exit_type or pain
        return f"[{rule.priority}] {what}{': ' + detail if detail else ''} - {brand or 'no brand'} ({where})"

    def mention_message(self, rule: EscalationRuleConfig, key: str, hit: Match, *,
                        contact_details: bool = False) -> EscalationMessage:
        """One mention's message; ``contact_details`` keeps e-mails and phones (ticket destinations only)."""
        c, link = hit.candidate, hit.link
        text = redact(c.text, language=c.language, keep=self.keep,
                      allow=CONTACT_KINDS if contact_details else ()).text[:MAX_TEXT_CHARS]
        stage, pain, exit_type = self.focus([hit])
        where = ", ".join(v for v in (c.channel, c.language) if v)
        return EscalationMessage(
            idempotency_key=key, rule_id=rule.id, priority=rule.priority,
            subject=self._subject(rule, stage, pain, exit_type, c.brand, where), text=text, url=public_url(c.url),
            language=c.language, context=self._context(c, link, 1), suggestion=self.suggest([hit]))

    def group_message(self, rule: EscalationRuleConfig, key: str, brand: str | None, anchor: datetime,
                      matches: Sequence[Match]) -> EscalationMessage:
        """A volume spike's message: counts and public links only (no mention text)."""
        stage, pain, exit_type = self.focus(matches)
        window = rule.volume.window if rule.volume else None
        ordered = sorted(matches, key=lambda m: (m.candidate.published_at, m.candidate.mention_id))
        links = [url for m in ordered if (url := public_url(m.candidate.url))][:GROUP_LINKS]
        first = ordered[0].candidate.published_at
        text = (f"{len(matches)} mentions matched rule {rule.id} between {first.isoformat()} and "
                f"{anchor.isoformat()} (window {window}). Examples: " + (" ".join(links) or "none with a link"))
        languages = Counter(m.candidate.language for m in matches if m.candidate.language)
        channels = Counter(m.candidate.channel for m in matches if m.candidate.channel)
        context: dict[str, str | float | int | bool | None] = {
            "brand": brand, "stage": stage, "pain_point": pain, "exit_signal": exit_type is not None,
            "exit_type": exit_type, "count": len(matches), "published_at": anchor.isoformat(),
            "window_minutes": window.total_seconds() / 60 if window else None,
            "channel": channels.most_common(1)[0][0] if channels else None,
            "language": languages.most_common(1)[0][0] if languages else None,
        }
        return EscalationMessage(
            idempotency_key=key, rule_id=rule.id, priority=rule.priority,
            subject=self._subject(rule, stage, pain, exit_type, brand, f"{len(matches)} mentions"), text=text,
            url=links[0] if links else None, language=context["language"] if isinstance(context["language"], str)
            else None, context=context, suggestion=self.suggest(matches))


__all__ = ["CONTACT_KINDS", "MessageBuilder", "candidate", "public_url", "taxonomy_problems"]
