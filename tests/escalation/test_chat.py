"""Slack and Teams messages: what people see (text, context, suggestion, link), in each service's shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from escalation.messages import Destination, EscalationMessage
from escalation.render import slack_body, teams_body, ticket_html
from helpers.scripted_http import Reply, ScriptedServer

Make = Callable[..., Destination]


def _all_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_slack_gets_a_fallback_text_and_blocks_with_context_suggestion_and_link(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(200, "ok"))
    slack = make("slack", {"SLACK_URL": f"{service.url}/services/T1/B2/xyz"}, secrets={"url": "SLACK_URL"})

    slack.send(message)

    body = service.received[0].json()
    assert isinstance(body, dict) and service.received[0].path == "/services/T1/B2/xyz"
    assert body["text"] == f"{message.subject} {message.url}"
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds[0] == "header" and "context" in kinds
    assert body["blocks"][1]["text"]["text"] == message.text  # no markup in it: sent exactly as given
    shown = _all_text(body["blocks"])
    for expected in ("*Stage*\\nrefund", "*Exit signal*\\ncancellation", "*Pain point*\\nrefund_delay",
                     "*Sentiment*\\nnegative (93%)", "Suggested action", "Suggested reply (es)",
                     "Tu reembolso se procesa", f"<{message.url}|Open the public post>",
                     f"escalation {message.idempotency_key}"):
        assert expected in shown
    assert slack.supports_idempotency_key is False


def test_slack_escapes_control_characters_so_a_post_cannot_ping_the_channel(message: EscalationMessage) -> None:
    body = slack_body(replace(message, text="<!channel> refund & <@U123> now > later"))

    section = _all_text(body["blocks"][1])
    assert "&lt;!channel&gt; refund &amp; &lt;@U123&gt; now &gt; later" in section and "<!channel>" not in section


def test_slack_splits_a_long_text_over_sections_within_its_3000_character_limit(message: EscalationMessage) -> None:
    long_text = ("Refund & cancel. " * 400).strip()

    body = slack_body(replace(message, text=long_text))

    blocks = json.loads(_all_text(body["blocks"]))
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b
                and not b["text"]["text"].startswith("*Suggested")]
    assert len(sections) >= 3 and all(len(s) <= 3000 for s in sections)
    assert "".join(sections).replace("&amp;", "&") == long_text


def test_slack_leaves_out_the_suggestion_and_link_when_there_are_none(message: EscalationMessage) -> None:
    shown = _all_text(slack_body(replace(message, suggestion=None, url=None)))

    assert "Suggested" not in shown and "Open the public post" not in shown


def test_teams_gets_an_adaptive_card_in_the_message_envelope(
        service: ScriptedServer, make: Make, message: EscalationMessage) -> None:
    service.answer(Reply(202, b""))
    teams = make("teams", {"TEAMS_URL": f"{service.url}/workflows/abc/triggers/manual/run"},
                 secrets={"url": "TEAMS_URL"})

    receipt = teams.send(message)

    assert receipt.status_code == 202 and receipt.external_id is None
    body = service.received[0].json()
    assert isinstance(body, dict) and body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == message.subject and card["body"][1]["text"] == message.text
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Stage"] == "refund" and facts["Pain point"] == "refund_delay" and facts["Priority"] == "urgent"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the public post", "url": message.url}]
    assert "Tu reembolso se procesa" in _all_text(card)
    assert f"escalation {message.idempotency_key}" in _all_text(card)
    assert teams.supports_idempotency_key is False


def test_chat_messages_show_only_the_known_context_keys(message: EscalationMessage) -> None:
    leaky = replace(message, context={**message.context, "author": "@maria_g", "handle": "@maria_g"})

    assert "maria_g" not in _all_text(slack_body(leaky)) and "maria_g" not in _all_text(teams_body(leaky))


def test_a_volume_group_keeps_every_fact_in_slack_ten_fields_to_a_section(message: EscalationMessage) -> None:
    group = replace(message, context={**message.context, "count": 5})

    blocks = json.loads(_all_text(slack_body(group)["blocks"]))
    field_sections = [b["fields"] for b in blocks if "fields" in b]

    assert [len(f) for f in field_sections] == [10, 2]
    assert {"type": "mrkdwn", "text": "*Mentions*\n5"} in field_sections[1]


def test_a_link_that_is_not_http_is_not_made_clickable(message: EscalationMessage) -> None:
    odd = replace(message, url="javascript:alert(1)")

    for body in (slack_body(odd), teams_body(odd), ticket_html(odd)):
        assert "javascript:" not in _all_text(body)
