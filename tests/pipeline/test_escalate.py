"""The escalate step on a real database (SQLite and PostgreSQL): exactly-once delivery, retries, dead letters,
crashes between send and record, overlapping runs, volume groups, rate caps and privacy of the payload.

Destinations here are small recording doubles of the network services (the real clients are tested against
local HTTP servers in tests/escalation); everything else is the real code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalation.messages import DeliveryError, DeliveryReceipt, EscalationMessage
from journeypulse.config import DestinationConfig, Settings
from journeypulse.errors import ConfigError
from journeypulse.record import Mention
from pipeline.escalate import escalate, retry
from storage import JourneyLinkRow, SentimentResult, Store
from storage.escalation import EscalationLedger

NOW = datetime.now(UTC)
HOOK = {"kind": "webhook", "url": "http://127.0.0.1:9/h", "secrets": {"signing_key": "JP_TEST_SIGNING_KEY"}}


@dataclass
class Service:
    """What a destination service saw: every request, and one ticket per idempotency key when it honours keys."""

    requests: list[EscalationMessage] = field(default_factory=list)
    tickets: dict[str, str] = field(default_factory=dict)
    closed: int = 0


class RecordingDestination:
    """A destination double: records each message; ``failures`` are raised first, one per send."""

    def __init__(self, name: str, config: DestinationConfig, service: Service, failures: list[DeliveryError],
                 idempotent: bool = True) -> None:
        self.name, self.kind, self.supports_idempotency_key = name, config.kind, idempotent
        self.service, self.failures = service, failures

    def close(self) -> None:
        self.service.closed += 1

    def send(self, message: EscalationMessage) -> DeliveryReceipt:
        self.service.requests.append(message)
        if self.failures:
            raise self.failures.pop(0)
        key = message.idempotency_key if self.supports_idempotency_key else f"req-{len(self.service.requests)}"
        ticket = self.service.tickets.setdefault(key, str(1000 + len(self.service.tickets)))
        return DeliveryReceipt(201, ticket if self.kind in ("zendesk", "freshdesk") else None)


@dataclass
class Factory:
    service: Service = field(default_factory=Service)
    failures: list[DeliveryError] = field(default_factory=list)
    idempotent: bool = True

    def __call__(self, name: str, config: DestinationConfig) -> RecordingDestination:
        return RecordingDestination(name, config, self.service, self.failures, self.idempotent)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def settings(rules: list[dict[str, Any]], **destinations: dict[str, Any]) -> Settings:
    return Settings.model_validate({
        "brands": [{"name": "Sorami", "products": ["Sorami Pay"]}],
        "escalation": {"destinations": destinations or {"hook": HOOK},
                       "rules": rules},
    })


def add(store: Store, native_id: str, text: str, *, stage: str = "purchase", pain: str | None = None,
        exit_type: str | None = None, label: str = "negative", language: str = "en", minutes: int = 0,
        author: str = "p_author", question: bool | None = None, url: str | None = None,
        metadata: dict[str, Any] | None = None) -> str:
    mention = Mention.build(source="sample", source_kind="file", native_id=native_id, text=text,
                            created_at=NOW - timedelta(hours=1) + timedelta(minutes=minutes), fetched_at=NOW,
                            brand="Sorami", channel="x", author=author, matched_terms=("Sorami",),
                            url=url or f"https://x.com/someone/status/{native_id}", metadata=metadata or {})
    store.store_batch("sample", "q", [mention], [], None)
    from storage import LanguageResult

    store.save_languages([LanguageResult(mention.id, language, 0.9, "test")])
    probs = {"negative": (0.9, 0.05, 0.05), "neutral": (0.05, 0.9, 0.05), "positive": (0.05, 0.05, 0.9)}[label]
    store.save_sentiments([SentimentResult(mention.id, "m", "r", "torch", label, *probs, 0.9, False, NOW)])
    store.save_journey_links("tax-v1", {mention.id: [JourneyLinkRow(stage, None, pain, exit_type, "multitask", 0.8,
                                                                     False)]}, {mention.id: question})
    return mention.id


REFUND_RULE = {"id": "refunds", "destinations": ["hook"], "priority": "urgent", "exit_types": ["refund_request"]}


def test_a_matching_mention_is_sent_once_redacted_without_handle_and_with_the_playbook_reply_in_its_language(
        store: Store) -> None:
    mid = add(store, "1", "Quiero mi reembolso de Sorami Pay ya, escríbanme a ana@example.com o al +34 612 345 678",
              stage="exit", exit_type="refund_request", language="es")
    add(store, "2", "Sorami Pay is fine", stage="usage", label="positive")
    factory = Factory()

    report = escalate(settings([REFUND_RULE]), store, destination_factory=factory)

    assert (report.matched, report.claimed, report.sent, report.failed) == (1, 1, 1, 0)
    (message,) = factory.service.requests
    assert message.rule_id == "refunds" and message.priority == "urgent"
    assert message.url == "https://x.com/i/web/status/1"  # no handle in the link
    assert "ana@example.com" not in message.text and "612 345 678" not in message.text
    assert "[EMAIL]" in message.text and "Sorami Pay" in message.text
    assert message.context["mention_id"] == mid and message.context["exit_type"] == "refund_request"
    assert "author" not in message.context and "p_author" not in repr(message)
    assert message.suggestion is not None and message.suggestion.reply_language == "es"
    assert message.suggestion.playbook_rule == "exit_refund_request"
    (row,) = store.escalations.rows()
    assert (row.status, row.attempts, row.runs, row.mention_id) == ("sent", 1, 1, mid)
    assert row.idempotency_key == message.idempotency_key and row.last_error is None


def test_each_destination_a_run_builds_is_closed_at_its_end_even_after_a_failure(store: Store) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    add(store, "2", "refund now Sorami", stage="exit", exit_type="refund_request")
    factory = Factory(failures=[DeliveryError("HTTP 503", retryable=True, status_code=503)])
    report = escalate(settings([REFUND_RULE]), store, destination_factory=factory)
    assert (report.sent, report.failed) == (1, 1)
    assert factory.service.closed == 1  # one destination built for the run, closed once


def test_a_language_without_a_playbook_reply_gets_the_english_one_and_says_so(store: Store) -> None:
    add(store, "1", "Sorami Pay: Rückerstattung bitte", stage="exit", exit_type="refund_request", language="de")
    factory = Factory()
    escalate(settings([REFUND_RULE]), store, destination_factory=factory)
    suggestion = factory.service.requests[0].suggestion
    assert suggestion is not None and suggestion.reply_language == "en" and suggestion.reply


def test_re_running_sends_nothing_twice_and_a_newly_enriched_mention_is_sent_on_the_next_run(store: Store) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    factory = Factory()
    config = settings([REFUND_RULE])
    escalate(config, store, destination_factory=factory)
    again = escalate(config, store, destination_factory=factory)
    assert (again.claimed, again.sent) == (0, 0)
    add(store, "2", "refund now Sorami", stage="exit", exit_type="refund_request")
    third = escalate(config, store, destination_factory=factory)
    assert (third.claimed, third.sent) == (1, 1)
    assert len(factory.service.requests) == 2 and len(store.escalations.rows(statuses=["sent"])) == 2


def test_a_crash_between_send_and_record_resends_with_the_same_idempotency_key(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    config = settings([{**REFUND_RULE, "destinations": ["desk"]}], desk={"kind": "zendesk", "url": "https://a.zendesk.com",
                                                                "secrets": {"email": "ZD_EMAIL", "api_token": "ZD_TOKEN"}})
    factory = Factory()

    def crash(*_: object, **__: object) -> None:
        raise RuntimeError("worker killed after the service answered")

    monkeypatch.setattr(EscalationLedger, "mark_sent", crash)
    with pytest.raises(RuntimeError, match="worker killed"):
        escalate(config, store, destination_factory=factory)
    (row,) = store.escalations.rows()
    assert (row.status, row.attempts) == ("pending", 1)  # sent, but not recorded
    monkeypatch.undo()

    report = escalate(config, store, destination_factory=factory)

    assert report.sent == 1
    first, second = factory.service.requests
    assert first.idempotency_key == second.idempotency_key == row.idempotency_key
    assert len(factory.service.tickets) == 1  # the service de-duplicated on the key: one ticket
    (row,) = store.escalations.rows()
    assert (row.status, row.attempts, row.external_id) == ("sent", 2, "1000")


def test_without_idempotency_support_the_resend_after_a_crash_duplicates_and_is_counted(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    factory = Factory(idempotent=False)
    monkeypatch.setattr(EscalationLedger, "mark_sent", lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        escalate(settings([REFUND_RULE]), store, destination_factory=factory)
    monkeypatch.undo()
    escalate(settings([REFUND_RULE]), store, destination_factory=factory)
    assert len(factory.service.tickets) == 2  # the documented duplicate: the service cannot tell
    assert store.escalations.rows()[0].attempts == 2


def test_retryable_failures_wait_for_later_runs_and_end_dead_after_max_runs(store: Store) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    config = settings([REFUND_RULE], hook={**HOOK, "max_runs": 2})
    failing = Factory(failures=[DeliveryError("hook: HTTP 503", retryable=True, status_code=503)] * 5)
    first = escalate(config, store, destination_factory=failing)
    assert (first.failed, first.dead) == (1, 0)
    assert store.escalations.rows()[0].status == "failed"
    second = escalate(config, store, destination_factory=failing)
    assert (second.failed, second.dead) == (0, 1)
    (row,) = store.escalations.rows(statuses=["dead"])
    assert (row.runs, row.status_code, row.last_error) == (2, 503, "hook: HTTP 503")
    assert escalate(config, store, destination_factory=failing).dead == 0  # dead rows are not retried by runs


def test_a_rejected_payload_is_dead_at_once_and_retry_replays_it(store: Store) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    config = settings([REFUND_RULE])
    rejecting = Factory(failures=[DeliveryError("hook: HTTP 422 rejected", retryable=False, status_code=422)])
    assert escalate(config, store, destination_factory=rejecting).dead == 1
    report = retry(config, store, dead=True, destination_factory=rejecting)
    assert report.sent == 1
    (row,) = store.escalations.rows()
    assert (row.status, row.attempts) == ("sent", 2)
    assert retry(config, store, [row.id], destination_factory=rejecting).processed == 0  # sent: never re-sent


def test_a_429_stops_sending_to_that_destination_until_the_next_run(store: Store) -> None:
    for i in range(3):
        add(store, str(i), f"refund {i} Sorami", stage="exit", exit_type="refund_request")
    factory = Factory(failures=[DeliveryError("hook: HTTP 429", retryable=True, status_code=429, retry_after=30)])
    report = escalate(settings([REFUND_RULE]), store, destination_factory=factory)
    assert (report.claimed, report.failed, report.sent) == (3, 1, 0)
    assert len(factory.service.requests) == 1
    assert escalate(settings([REFUND_RULE]), store, destination_factory=factory).sent == 3


def test_overlapping_runs_send_each_escalation_once(store_url: str) -> None:
    with Store.open(store_url) as setup:
        for i in range(6):
            add(setup, str(i), f"refund {i} Sorami", stage="exit", exit_type="refund_request")
    factory = Factory()
    config = settings([REFUND_RULE])
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            with Store.open(store_url) as own:
                escalate(config, own, destination_factory=factory)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(m.context["mention_id"] for m in factory.service.requests) == sorted(
        {m.context["mention_id"] for m in factory.service.requests})
    assert len(factory.service.requests) == 6


def test_a_volume_rule_sends_one_group_message_per_spike(store: Store) -> None:
    rule = {"id": "payment-spike", "destinations": ["hook"], "pain_points": ["payment_failed"],
            "volume": {"min_mentions": 3, "window": "30m"}}
    for i in range(4):
        add(store, str(i), f"Sorami Pay payment failed again {i}", pain="payment_failed", minutes=i * 5)
    add(store, "late", "Sorami Pay payment failed hours later", pain="payment_failed", minutes=-300)
    factory = Factory()
    report = escalate(settings([rule]), store, destination_factory=factory)
    assert (report.claimed, report.sent) == (1, 1)
    (message,) = factory.service.requests
    assert message.context["count"] == 3 and message.context["pain_point"] == "payment_failed"
    assert "payment failed" not in message.text  # group messages carry counts and links, not texts
    add(store, "4", "Sorami Pay payment failed once more", pain="payment_failed", minutes=20)
    assert escalate(settings([rule]), store, destination_factory=factory).claimed == 0  # same spike
    (row,) = store.escalations.rows()
    assert row.mention_id is None and row.subject_key.startswith("volume:Sorami:")


def test_the_rate_cap_defers_the_rest_to_the_next_hour(store: Store) -> None:
    for i in range(3):
        add(store, str(i), f"refund {i} Sorami", stage="exit", exit_type="refund_request")
    config = settings([{**REFUND_RULE, "max_per_hour": 2}])
    factory = Factory()
    first = escalate(config, store, destination_factory=factory)
    assert (first.sent, first.deferred) == (2, 1)
    assert escalate(config, store, destination_factory=factory).sent == 0
    later = escalate(config, store, destination_factory=factory, clock=lambda: datetime.now(UTC) + timedelta(hours=1,
                                                                                                          minutes=1))
    assert later.sent == 1 and len(factory.service.requests) == 3


def test_contact_details_reach_only_ticket_destinations_of_a_rule_that_allows_them(store: Store) -> None:
    add(store, "1", "Sorami refund please, mail ana@example.com", stage="exit", exit_type="refund_request")
    rule = {**REFUND_RULE, "destinations": ["hook", "desk"], "include_contact_details": True}
    config = settings([rule], hook=HOOK, desk={"kind": "freshdesk", "url": "https://acme.freshdesk.com",
                                               "secrets": {"api_key": "FD_KEY"},
                                               "params": {"requester_email": "social@acme.example"}})
    factory = Factory()
    escalate(config, store, destination_factory=factory)
    texts = {m.idempotency_key: m.text for m in factory.service.requests}
    rows = {row.destination: row.idempotency_key for row in store.escalations.rows()}
    assert "ana@example.com" in texts[rows["desk"]] and "ana@example.com" not in texts[rows["hook"]]


def test_conditions_on_question_sentiment_and_engagement_pick_only_the_fitting_mentions(store: Store) -> None:
    asked = add(store, "1", "how do I link Sorami Pay", stage="usage", label="neutral", question=True,
                metadata={"likeCount": 12})
    add(store, "2", "Sorami Pay linked", stage="usage", label="neutral", question=False, metadata={"likeCount": 50})
    add(store, "3", "Sorami Pay how", stage="usage", label="neutral", question=True, metadata={"likeCount": 2})
    rule = {"id": "questions", "destinations": ["hook"], "question": True, "sentiment": ["neutral"],
            "stages": ["usage"], "min_engagement": {"likes": 10}}
    factory = Factory()
    escalate(settings([rule]), store, destination_factory=factory)
    assert [m.context["mention_id"] for m in factory.service.requests] == [asked]
    assert factory.service.requests[0].context["question"] is True


def test_forgetting_an_author_removes_their_escalation_rows(store: Store) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request", author="p_gone")
    add(store, "2", "refund now Sorami", stage="exit", exit_type="refund_request", author="p_stays")
    escalate(settings([REFUND_RULE]), store, destination_factory=Factory())
    report = store.forget_author("p_gone")
    assert report.escalations == 1
    assert ("escalation", "deleted", 1) in report.per_table()
    assert len(store.escalations.rows()) == 1


def test_the_escalation_view_reports_time_to_escalate_per_rule_and_stage(store: Store) -> None:
    add(store, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    escalate(settings([REFUND_RULE]), store, destination_factory=Factory())
    columns, rows = store.query_view("v_escalations", filters={}, limit=None)
    row = dict(zip(columns, rows[0], strict=True))
    assert (row["rule_id"], row["stage"], row["status"]) == ("refunds", "exit", "sent")
    assert 59 <= float(row["minutes_published_to_sent"]) <= 70  # type: ignore[arg-type]
    assert 0 <= float(row["minutes_pulled_to_sent"]) < 5  # type: ignore[arg-type]
    columns, rows = store.query_view("v_escalation_summary", filters={}, limit=None)
    summary = dict(zip(columns, rows[0], strict=True))
    assert (summary["escalations"], summary["sent"], summary["dead"]) == (1, 1, 0)


def test_a_rule_naming_a_stage_the_taxonomy_lacks_is_a_config_error_at_start(store: Store) -> None:
    with pytest.raises(ConfigError, match=r"\(bad\)\.stages: \['checkout_typo'\] not in the taxonomy"):
        escalate(settings([{"id": "bad", "destinations": ["hook"], "stages": ["checkout_typo"]}]), store,
                 destination_factory=Factory())


def test_the_cli_escalates_lists_by_status_and_retries_dead_rows(sqlite_url: str, tmp_path: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml
    from typer.testing import CliRunner

    from pipeline import escalate as escalate_module
    from pipeline.cli import app

    with Store.open(sqlite_url) as setup:
        add(setup, "1", "refund please Sorami", stage="exit", exit_type="refund_request")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "brands": [{"name": "Sorami"}], "storage": {"url": sqlite_url},
        "escalation": {"destinations": {"hook": {**HOOK, "max_runs": 1}},
                       "rules": [REFUND_RULE]}}), encoding="utf-8")
    runner = CliRunner()
    monkeypatch.setattr(escalate_module, "build_destination",
                        Factory(failures=[DeliveryError("hook: HTTP 503", retryable=True, status_code=503)]))
    failed = runner.invoke(app, ["escalate", "-c", str(config)])
    assert failed.exit_code == 1 and "1 dead" in failed.output, failed.output
    listed = runner.invoke(app, ["escalations", "list", "-c", str(config), "--status", "dead"])
    assert listed.exit_code == 0 and "(1 rows, newest first)" in listed.output, listed.output
    assert "dead" in listed.output and "503" in listed.output  # status and the last error (the table wraps at 80)
    assert "(0 rows" in runner.invoke(app, ["escalations", "list", "-c", str(config), "--status", "sent"]).output
    assert runner.invoke(app, ["escalations", "list", "-c", str(config), "--status", "lost"]).exit_code == 2
    assert runner.invoke(app, ["escalations", "retry", "-c", str(config)]).exit_code == 2
    monkeypatch.setattr(escalate_module, "build_destination", Factory())
    retried = runner.invoke(app, ["escalations", "retry", "-c", str(config), "--dead"])
    assert retried.exit_code == 0 and "retried 1: 1 sent" in retried.output, retried.output
    with Store.open(sqlite_url) as store:
        assert [row.status for row in store.escalations.rows()] == ["sent"]
