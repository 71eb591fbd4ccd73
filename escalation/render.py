"""Turning an EscalationMessage into each service's body: pure functions, no I/O.

The text goes out exactly as the engine redacted it (only escaped for the target's markup); the
link is the public post's URL; only the known journey-context keys are shown to people, so nothing
else the context might carry (never a handle) reaches a chat or a ticket.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import JsonValue

from escalation.messages import EscalationMessage

WEBHOOK_SCHEMA = "journeypulse.escalation/v1"
ZENDESK_PRIORITIES = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
FRESHDESK_PRIORITIES = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
FRESHDESK_STATUS_OPEN = 2
FRESHDESK_SOURCE_PORTAL = 2
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150


def facts(message: EscalationMessage) -> list[tuple[str, str]]:
    """The journey context as (label, value) pairs for people to read, in a fixed order; empty ones left out."""
    ctx = message.context

    def value(key: str) -> str | None:
        raw = ctx.get(key)
        if raw is None or raw == "":
            return None
        return ("yes" if raw else "no") if isinstance(raw, bool) else str(raw)

    rows: list[tuple[str, str | None]] = [
        ("Priority", message.priority),
        ("Rule", message.rule_id),
        ("Brand", value("brand")),
        ("Source", " / ".join(v for v in (value("source"), value("channel")) if v) or None),
        ("Language", message.language),
        ("Stage", value("stage")),
        ("Exit signal", _exit(ctx.get("exit_signal"), value("exit_type"))),
        ("Pain point", value("pain_point")),
        ("Sentiment", _sentiment(value("sentiment"), ctx.get("confidence"))),
        ("Question", value("question")),
        ("Mentions", value("count")),
        ("Published", value("published_at")),
    ]
    return [(label, text) for label, text in rows if text]


def _exit(signal: object, exit_type: str | None) -> str | None:
    if signal is None:  # not given: the type alone, if any
        return exit_type
    if signal in (False, 0, "", "false", "no"):
        return None
    return exit_type or "yes"


def public_link(url: str | None) -> str | None:
    """The post's URL when it is an http(s) link; anything else is not made clickable."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def _sentiment(label: str | None, confidence: object) -> str | None:
    if label is None:
        return None
    if isinstance(confidence, int | float) and not isinstance(confidence, bool):
        return f"{label} ({confidence:.0%})"
    return label


def webhook_body(message: EscalationMessage, sent_at: datetime) -> dict[str, JsonValue]:
    """The generic webhook's JSON (schema ``journeypulse.escalation/v1``, see docs/escalation-destinations.md)."""
    suggestion: JsonValue = None
    if message.suggestion is not None:
        s = message.suggestion
        suggestion = {"action": s.action, "reply": s.reply, "reply_language": s.reply_language,
                      "playbook_rule": s.playbook_rule, "playbook_version": s.playbook_version}
    return {
        "schema": WEBHOOK_SCHEMA,
        "idempotency_key": message.idempotency_key,
        "rule": message.rule_id,
        "priority": message.priority,
        "subject": message.subject,
        "text": message.text,
        "url": message.url,
        "language": message.language,
        "context": dict(message.context),
        "suggestion": suggestion,
        "sent_at": sent_at.isoformat(),
    }


def _slack_escape(text: str) -> str:
    # Slack's three control characters; escaping also keeps <!channel> or <@U123> in a post from pinging anyone
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_chunks(text: str, limit: int = SLACK_SECTION_CHARS) -> list[str]:
    """The escaped text in pieces of at most ``limit`` characters (never splitting an escape)."""
    chunks: list[str] = []
    current = ""
    for char in text:
        piece = _slack_escape(char)
        if len(current) + len(piece) > limit:
            chunks.append(current)
            current = ""
        current += piece
    if current or not chunks:
        chunks.append(current)
    return chunks


def _plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def slack_body(message: EscalationMessage) -> dict[str, JsonValue]:
    """An incoming-webhook message: ``text`` (notifications, fallback) plus Block Kit blocks."""
    blocks: list[JsonValue] = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(message.subject, SLACK_HEADER_CHARS)}},
    ]
    blocks.extend({"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                  for chunk in _slack_chunks(message.text or " "))
    fields: list[JsonValue] = [{"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(text)}"}
                               for label, text in facts(message)]
    blocks.extend({"type": "section", "fields": fields[i:i + 10]} for i in range(0, len(fields), 10))  # 10 a section
    if message.suggestion is not None:
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _plain(
            f"*Suggested action*\n{_slack_escape(message.suggestion.action)}", SLACK_SECTION_CHARS)}})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _plain(
            f"*Suggested reply ({_slack_escape(message.suggestion.reply_language)})*\n"
            f"{_slack_escape(message.suggestion.reply)}", SLACK_SECTION_CHARS)}})
    footer: list[JsonValue] = []
    url = public_link(message.url)
    if url:
        link = f"<{url.replace('|', '%7C').replace('>', '%3E')}|Open the public post>"
        footer.append({"type": "mrkdwn", "text": link})
    # the key tells a re-sent duplicate (Slack cannot de-duplicate) from a second escalation
    footer.append({"type": "plain_text", "text": f"escalation {message.idempotency_key}"})
    blocks.append({"type": "context", "elements": footer})
    fallback = _slack_escape(message.subject) + (f" {url}" if url else "")
    return {"text": fallback, "blocks": blocks}


def teams_body(message: EscalationMessage) -> dict[str, JsonValue]:
    """An Adaptive Card (1.4) in the message envelope that Teams incoming webhooks and Workflows accept."""
    body: list[JsonValue] = [
        {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": message.text, "wrap": True},
    ]
    fact_rows: list[JsonValue] = [{"title": label, "value": text} for label, text in facts(message)]
    if fact_rows:
        body.append({"type": "FactSet", "facts": fact_rows})
    if message.suggestion is not None:
        body.extend([
            {"type": "TextBlock", "text": "Suggested action", "weight": "Bolder", "wrap": True, "spacing": "Medium"},
            {"type": "TextBlock", "text": message.suggestion.action, "wrap": True},
            {"type": "TextBlock", "text": f"Suggested reply ({message.suggestion.reply_language})",
             "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": message.suggestion.reply, "wrap": True},
        ])
    body.append({"type": "TextBlock", "text": f"escalation {message.idempotency_key}", "isSubtle": True,
                 "size": "Small", "wrap": True})
    card: dict[str, JsonValue] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    url = public_link(message.url)
    if url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the public post", "url": url}]
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def ticket_html(message: EscalationMessage) -> str:
    """The ticket's first (internal) comment or description as HTML: text, link, context, suggestion."""
    parts = [f"<p>{html.escape(message.text).replace(chr(10), '<br>')}</p>"]
    url = public_link(message.url)
    if url:
        parts.append(f'<p><a href="{html.escape(url)}">Open the public post</a></p>')
    rows = "".join(f"<li><strong>{html.escape(label)}:</strong> {html.escape(text)}</li>"
                   for label, text in facts(message))
    if rows:
        parts.append(f"<ul>{rows}</ul>")
    if message.suggestion is not None:
        s = message.suggestion
        parts.append(f"<p><strong>Suggested action:</strong> {html.escape(s.action)}</p>")
        parts.append(f"<p><strong>Suggested reply ({html.escape(s.reply_language)}):</strong><br>"
                     f"{html.escape(s.reply).replace(chr(10), '<br>')}</p>")
    parts.append(f"<p><small>journeypulse escalation {html.escape(message.idempotency_key)}</small></p>")
    return "".join(parts)


def _tag(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_")


def ticket_tags(message: EscalationMessage, extra: Sequence[str]) -> list[str]:
    """``journeypulse``, the rule and the journey context as tags (so agents can build views), plus configured ones."""
    tags = ["journeypulse", f"jp_rule_{_tag(message.rule_id)}"]
    for key in ("stage", "pain_point", "exit_type"):
        raw = message.context.get(key)
        if isinstance(raw, str) and _tag(raw):
            tags.append(f"jp_{key}_{_tag(raw)}")
    tags.extend(extra)
    return list(dict.fromkeys(tags))


def key_tag(idempotency_key: str) -> str:
    """A short tag that carries the idempotency key (Freshdesk tags are short), used to find a ticket again."""
    return "jp-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def zendesk_body(message: EscalationMessage, *, tags: Sequence[str], group_id: int | None) -> dict[str, JsonValue]:
    """``POST /api/v2/tickets.json``: an internal first comment, the mapped priority, external_id = the key."""
    ticket: dict[str, JsonValue] = {
        "subject": message.subject,
        "comment": {"html_body": ticket_html(message), "public": False},
        "priority": ZENDESK_PRIORITIES[message.priority],
        "tags": list(ticket_tags(message, tags)),
        "external_id": message.idempotency_key,
    }
    if group_id is not None:
        ticket["group_id"] = group_id
    return {"ticket": ticket}


def freshdesk_body(message: EscalationMessage, *, requester_email: str, tags: Sequence[str],
                   group_id: int | None, source: int) -> dict[str, JsonValue]:
    """``POST /api/v2/tickets``: open, the mapped priority, the key carried in a tag to find the ticket again."""
    ticket: dict[str, JsonValue] = {
        "subject": message.subject,
        "description": ticket_html(message),
        "email": requester_email,
        "priority": FRESHDESK_PRIORITIES[message.priority],
        "status": FRESHDESK_STATUS_OPEN,
        "source": source,
        "tags": [*ticket_tags(message, tags), key_tag(message.idempotency_key)],
    }
    if group_id is not None:
        ticket["group_id"] = group_id
    return ticket
