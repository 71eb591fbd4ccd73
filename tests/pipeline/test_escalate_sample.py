"""The bundled sample through ``journeypulse run`` with the example config's escalation rules switched on:
the right mentions reach a local webhook (a real HTTP server in a thread), once, and a re-run sends nothing.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from escalation.messages import DeliveryError, DeliveryReceipt, EscalationMessage
from journeypulse.config import DestinationConfig
from pipeline import escalate, steps
from pipeline.cli import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "examples" / "config.example.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local webhook receiver: (its URL, the JSON bodies it was sent)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/escalations", received
    finally:
        server.shutdown()
        server.server_close()


class JsonPost:
    """Posts the message as JSON (the engine's side of the contract), standing in for the webhook client."""

    def __init__(self, name: str, config: DestinationConfig) -> None:
        self.name, self.kind, self.supports_idempotency_key, self.url = name, config.kind, True, str(config.url)

    def send(self, message: EscalationMessage) -> DeliveryReceipt:
        response = httpx.post(self.url, json=dataclasses.asdict(message), timeout=5,
                              headers={"Idempotency-Key": message.idempotency_key})
        if response.status_code >= 300:
            raise DeliveryError(f"{self.name}: HTTP {response.status_code}", retryable=response.status_code >= 500,
                                status_code=response.status_code)
        return DeliveryReceipt(response.status_code)


@pytest.fixture(autouse=True)
def _signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYPULSE_WEBHOOK_KEY", "k" * 40)  # the example's webhook signs with this key


def _config(write_config: Callable[..., Path], url: str, receiver_url: str) -> Path:
    section = json.loads(json.dumps(EXAMPLE["escalation"]))
    section["enabled"] = True
    section["destinations"]["local-webhook"]["url"] = receiver_url
    return write_config(url, escalation=section)


def _expected(config: Path) -> set[str]:
    """Mentions the public-exits and refund-delays rules should pick, read from the fact view."""
    settings = steps.load_run_settings(config)
    exits = set(settings.escalation.rules[0].exit_types)
    channels = set(settings.escalation.rules[0].channels)
    with steps.open_store(settings) as store:
        columns, rows = store.query_view("v_journey_facts", filters={}, limit=None)
    facts = [dict(zip(columns, row, strict=True)) for row in rows]
    public_exits = {f["mention_id"] for f in facts if f["exit_type"] in exits and f["channel"] in channels}
    refunds = {f["mention_id"] for f in facts if f["pain_point"] == "refund_delay" and f["sentiment"] == "negative"
               and float(f["sentiment_confidence"] or 0) >= 0.5}
    return {str(m) for m in public_exits | refunds}


def _sent_rows(config: Path) -> int:
    with steps.open_store(steps.load_run_settings(config)) as store:
        return len(store.escalations.rows(statuses=["sent"]))


def _run_twice(config: Path, received: list[dict[str, Any]], *, engine_messages: bool) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["run", "-c", str(config)])
    assert first.exit_code == 0, first.output
    assert "escalations:" in first.output
    assert received and len(received) == _sent_rows(config)
    if engine_messages:  # the JSON of EscalationMessage itself
        singles = [m for m in received if m["context"].get("count") == 1]
        mentions = {m["context"]["mention_id"] for m in singles}
        assert mentions and mentions <= _expected(config) and len(mentions) == len(singles)  # right ones, once each
        for message in received:
            assert not (message["url"] or "").startswith("https://x.com/") or "/i/web/status/" in message["url"]
            assert message["suggestion"]["reply"] and message["suggestion"]["reply_language"]
            assert not any("author" in key for key in message["context"])
    before = len(received)
    second = runner.invoke(app, ["run", "-c", str(config)])
    assert second.exit_code == 0, second.output
    assert len(received) == before  # nothing sent twice


def test_the_sample_run_escalates_public_exits_and_refund_delays_to_a_local_webhook_once(
        sqlite_url: str, write_config: Callable[..., Path], receiver: tuple[str, list[dict[str, Any]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    receiver_url, received = receiver
    monkeypatch.setattr(escalate, "build_destination", JsonPost)
    _run_twice(_config(write_config, sqlite_url, receiver_url), received, engine_messages=True)


def test_the_sample_run_reaches_the_local_webhook_through_the_real_webhook_client(
        sqlite_url: str, write_config: Callable[..., Path], receiver: tuple[str, list[dict[str, Any]]]) -> None:
    receiver_url, received = receiver
    _run_twice(_config(write_config, sqlite_url, receiver_url), received, engine_messages=False)
