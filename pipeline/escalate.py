"""The ``escalate`` step: newly enriched mentions that match a rule reach its destinations exactly once.

Per rule, mentions linked since the rule's watermark (minus an overlap) are matched; each hit is claimed
in the ``escalation`` table (one row per rule, subject and destination, INSERT .. ON CONFLICT DO NOTHING)
before anything is sent, then every ``pending`` or ``failed`` row is delivered: sent rows record the
external id, failures wait for the next run up to the destination's ``max_runs``, then ``dead``. A
crash after a send leaves the row ``pending``; the next run re-sends it with the same idempotency key.
Messages are rebuilt from the database on every send, so nothing but ids and outcomes is stored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from escalation.messages import DeliveryError, Destination, EscalationMessage
from escalation.rules import Match, VolumeGroup, idempotency_key, in_quiet_hours, match, volume_groups
from journeypulse.config import TICKET_KINDS, DestinationConfig, EscalationRuleConfig, Settings
from journeypulse.errors import ConfigError, JourneypulseError
from pipeline.escalation_messages import MessageBuilder, candidate, taxonomy_problems
from pipeline.steps import StepReport
from storage import EscalationClaim, EscalationRow, Store

logger = logging.getLogger(__name__)

DestinationFactory = Callable[[str, DestinationConfig], Destination]
"""Builds a destination client from its name and settings (default: ``escalation.destinations.build_destination``)."""
Clock = Callable[[], datetime]

MAX_AGE = timedelta(days=2)
"""Mentions first stored longer ago than this are never escalated (a relink of old data must not page anyone)."""
_PAGE = 500
DISABLED = "escalation disabled or no enabled rules"
_GROUP_PAGE = 10_000


def build_destination(name: str, config: DestinationConfig) -> Destination:
    """The destination client of ``escalation.destinations`` (httpx; credentials from the environment)."""
    from escalation import destinations  # httpx clients: imported only when escalating

    return destinations.build_destination(name, config, os.environ)


@dataclass(frozen=True)
class EscalateReport(StepReport):
    """Counts of one ``escalate`` run (``processed`` = candidates the rules looked at)."""

    matched: int = 0
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0


@dataclass
class _Run:
    now: datetime
    looked_at: int = 0
    matched: int = 0
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    notes: list[str] = field(default_factory=list)


def check_rules(settings: Settings, builder: MessageBuilder | None = None) -> MessageBuilder:
    """Raise ConfigError when a rule names a stage, pain point or exit type the taxonomy does not have;
    returns the message builder (playbook and taxonomy loaded once)."""
    builder = builder or MessageBuilder(settings)
    problems = taxonomy_problems(settings, builder.taxonomy)
    if problems:
        raise ConfigError(f"{settings.config_file or 'configuration'}: escalation.rules: " + "; ".join(problems))
    return builder


def escalate(
    settings: Settings,
    store: Store,
    *,
    destination_factory: DestinationFactory | None = None,
    clock: Clock | None = None,
) -> EscalateReport:
    """Match newly enriched mentions against the rules, claim each delivery once, deliver what is due."""
    config = settings.escalation
    if not config.enabled or not any(rule.enabled for rule in config.rules):
        return EscalateReport("escalate", 0, DISABLED)
    builder = check_rules(settings)
    clock = clock or (lambda: datetime.now(UTC))
    run = _Run(now=clock())
    with store.step_lock("escalate", on_wait=logger.warning):
        for rule in config.rules:
            if not rule.enabled:
                continue
            if in_quiet_hours(rule.quiet_hours, run.now):
                run.notes.append(f"{rule.id}: quiet hours, evaluated later")
                continue
            _evaluate(store, settings, rule, builder, run)
        _deliver(store, settings, builder, destination_factory or build_destination, run, clock)
    detail = (f"matched={run.matched} claimed={run.claimed} sent={run.sent} failed={run.failed} dead={run.dead} "
              f"deferred={run.deferred}" + (f"; {'; '.join(run.notes)}" if run.notes else ""))
    return EscalateReport("escalate", run.looked_at, detail, run.matched, run.claimed, run.sent, run.failed,
                          run.dead, run.deferred)


# ------------------------------------------------------------------------------ matching and claiming


def _evaluate(store: Store, settings: Settings, rule: EscalationRuleConfig, builder: MessageBuilder, run: _Run) -> None:
    ledger = store.escalations
    config = settings.escalation
    mark = ledger.watermark(rule.id)
    start = mark - config.overlap if mark is not None else run.now - config.initial_lookback
    seen_until = mark
    matches: list[Match] = []
    after: tuple[datetime, str | None] = (start, None)
    while page := ledger.candidates(limit=_PAGE, linked_after=after[0], after_id=after[1],
                                    stored_since=run.now - MAX_AGE):
        run.looked_at += len(page)
        after = (page[-1].linked_at, page[-1].mention_id)
        seen_until = max(seen_until or page[-1].linked_at, page[-1].linked_at)
        matches.extend(m for c in page if (m := match(rule, candidate(c))) is not None)
    run.matched += len(matches)
    if rule.volume is not None:
        deferred_from = _claim_groups(store, rule, builder, matches, run)
    else:
        deferred_from = _claim_mentions(store, rule, builder, matches, run)
    if deferred_from is not None:
        seen_until = deferred_from  # the rate cap stopped here: the rest waits (re-read from this point)
    if seen_until is not None:
        ledger.set_watermark(rule.id, seen_until, run.now)


def _budget(store: Store, rule: EscalationRuleConfig, now: datetime) -> int | None:
    if rule.max_per_hour is None:
        return None
    return max(0, rule.max_per_hour - store.escalations.claimed_since(rule.id, now - timedelta(hours=1)))


def _claims(rule: EscalationRuleConfig, subject: str, mention_id: str | None, builder: MessageBuilder,
            matches: Sequence[Match], published: datetime, pulled: datetime, brand: str | None,
            ) -> list[EscalationClaim]:
    stage, pain, exit_type = builder.focus(matches)
    suggestion = builder.suggest(matches)
    return [EscalationClaim(rule.id, subject, dest, mention_id, rule.priority, idempotency_key(rule.id, subject, dest),
                            brand, stage, pain, exit_type, len(matches), suggestion.playbook_rule,
                            suggestion.reply_language, published, pulled)
            for dest in rule.destinations]


def _claim_mentions(store: Store, rule: EscalationRuleConfig, builder: MessageBuilder, matches: Sequence[Match],
                    run: _Run) -> datetime | None:
    """Claim each match; returns the enrichment time from which the rate cap deferred the rest (None: none)."""
    budget = _budget(store, rule, run.now)
    for index, m in enumerate(matches):
        if budget is not None and budget <= 0:
            run.deferred += len(matches) - index
            run.notes.append(f"{rule.id}: rate cap of {rule.max_per_hour}/h reached")
            return m.candidate.enriched_at
        c = m.candidate
        claimed = store.escalations.claim(
            _claims(rule, c.mention_id, c.mention_id, builder, [m], c.published_at, c.pulled_at, c.brand), run.now)
        run.claimed += claimed
        if claimed and budget is not None:
            budget -= 1
    return None


def _claim_groups(store: Store, rule: EscalationRuleConfig, builder: MessageBuilder, matches: Sequence[Match],
                  run: _Run) -> datetime | None:
    """Volume rules: the new matches decide which windows to recount; every spike becomes one group claim."""
    volume = rule.volume
    if volume is None or not matches:
        return None
    since = min(m.candidate.published_at for m in matches) - volume.window
    until = max(m.candidate.published_at for m in matches) + volume.window
    groups = volume_groups(rule, group_matches(store, rule, since, until), _anchors(store, rule, since - volume.window))
    budget = _budget(store, rule, run.now)
    for group in groups:
        if budget is not None and budget <= 0:
            run.deferred += 1
            run.notes.append(f"{rule.id}: rate cap of {rule.max_per_hour}/h reached")
            return min(m.candidate.enriched_at for m in group.matches)
        claimed = store.escalations.claim(_group_claims(rule, builder, group), run.now)
        run.claimed += claimed
        if claimed and budget is not None:
            budget -= 1
    return None


def _group_claims(rule: EscalationRuleConfig, builder: MessageBuilder, group: VolumeGroup) -> list[EscalationClaim]:
    pulled = max(m.candidate.pulled_at for m in group.matches)
    return _claims(rule, group.key, None, builder, group.matches, group.anchor, pulled, group.brand)


def group_matches(store: Store, rule: EscalationRuleConfig, since: datetime, until: datetime) -> list[Match]:
    """Every mention published in [since, until] that the rule's conditions pick (fresh or not)."""
    found: list[Match] = []
    after: tuple[datetime | None, str | None] = (None, None)
    while page := store.escalations.candidates(limit=_GROUP_PAGE, linked_after=after[0], after_id=after[1],
                                               published_since=since, published_until=until):
        after = (page[-1].linked_at, page[-1].mention_id)
        found.extend(m for c in page if (m := match(rule, candidate(c))) is not None)
    return found


def _anchors(store: Store, rule: EscalationRuleConfig, since: datetime) -> dict[str | None, list[datetime]]:
    anchors: dict[str | None, list[datetime]] = {}
    for brand, at in store.escalations.volume_anchors(rule.id, since):
        anchors.setdefault(brand, []).append(at)
    return anchors


# ------------------------------------------------------------------------------ delivery


def _deliver(store: Store, settings: Settings, builder: MessageBuilder, factory: DestinationFactory, run: _Run,
             clock: Clock, only: Sequence[int] = ()) -> None:
    """Send every pending (never sent, or sent before a crash) and failed row (or those of ``only``), oldest first."""
    config = settings.escalation
    rules = {rule.id: rule for rule in config.rules}
    built: dict[str, Destination | str] = {}
    throttled: set[str] = set()
    try:
        for row in store.escalations.rows(statuses=("pending", "failed"), ids=only):
            rule = rules.get(row.rule_id)
            dest_config = config.destinations.get(row.destination)
            if rule is None or dest_config is None or row.destination not in rule.destinations:
                what = "rule" if rule is None else "destination"
                _fail(store, row, f"{what} no longer configured", None, dead=True, run=run)
                continue
            if not rule.enabled or in_quiet_hours(rule.quiet_hours, run.now) or row.destination in throttled:
                continue
            destination = built.get(row.destination)
            if destination is None:
                try:
                    destination = factory(row.destination, dest_config)
                except JourneypulseError as exc:
                    destination = f"destination {row.destination} could not be built: {exc}"
                built[row.destination] = destination
            if isinstance(destination, str):
                _fail(store, row, destination, None, dead=row.runs + 1 >= dest_config.max_runs, run=run)
                continue
            message = _message(store, builder, rule, row, dest_config)
            if message is None:
                _fail(store, row, "its mentions no longer match the rule (relinked or forgotten)", None, dead=True, run=run)
                continue
            store.escalations.start_attempt(row.id, clock())
            try:
                receipt = destination.send(message)
            except DeliveryError as exc:
                dead = not exc.retryable or row.runs + 1 >= dest_config.max_runs
                _fail(store, row, str(exc), exc.status_code, dead=dead, run=run)
                if exc.retryable and exc.status_code == 429:
                    throttled.add(row.destination)  # the rest waits for the next run instead of hammering it
                continue
            store.escalations.mark_sent(row.id, receipt.status_code, receipt.external_id, clock())
            run.sent += 1
    finally:
        for made in built.values():  # the httpx clients the destinations opened
            close = getattr(made, "close", None)
            if callable(close):
                close()


def _fail(store: Store, row: EscalationRow, error: str, status_code: int | None, *, dead: bool, run: _Run) -> None:
    store.escalations.mark_failed(row.id, error, status_code, dead=dead)
    if dead:
        run.dead += 1
    else:
        run.failed += 1
    logger.warning("escalation %d (%s -> %s) %s: %s", row.id, row.rule_id, row.destination,
                   "dead" if dead else "failed, retried next run", error)


def _message(store: Store, builder: MessageBuilder, rule: EscalationRuleConfig, row: EscalationRow,
             dest: DestinationConfig) -> EscalationMessage | None:
    """The message of a stored row, rebuilt from the database (the same on every re-send)."""
    contact = rule.include_contact_details and dest.kind in TICKET_KINDS
    if row.mention_id is not None:
        found = store.escalations.candidates(limit=1, mention_ids=[row.mention_id])
        hit = match(rule, candidate(found[0])) if found else None
        if hit is None:
            return None
        return builder.mention_message(rule, row.idempotency_key, hit, contact_details=contact)
    volume = rule.volume
    if volume is None:
        return None
    matches = group_matches(store, rule, row.published_at - volume.window, row.published_at)
    in_window = [m for m in matches if m.candidate.published_at > row.published_at - volume.window
                 and (not volume.per_brand or m.candidate.brand == row.brand)]
    if not in_window:
        return None
    return builder.group_message(rule, row.idempotency_key, row.brand, row.published_at, in_window)


def retry(settings: Settings, store: Store, ids: Sequence[int] = (), *, dead: bool = False,
          destination_factory: DestinationFactory | None = None, clock: Clock | None = None) -> EscalateReport:
    """Put failed/dead rows (``ids``, or every dead one) back in line with a fresh run budget and deliver now."""
    requeued = store.escalations.requeue(ids, dead=dead)
    if not requeued:
        return EscalateReport("escalate", 0, "nothing to retry (sent rows are never re-sent)")
    clock = clock or (lambda: datetime.now(UTC))
    run = _Run(now=clock())
    with store.step_lock("escalate", on_wait=logger.warning):
        _deliver(store, settings, MessageBuilder(settings), destination_factory or build_destination, run, clock,
                 requeued)
    return EscalateReport("escalate", len(requeued), f"requeued={len(requeued)} sent={run.sent} failed={run.failed} "
                          f"dead={run.dead}", 0, 0, run.sent, run.failed, run.dead, 0)


__all__ = ["DISABLED", "MAX_AGE", "DestinationFactory", "EscalateReport", "build_destination", "check_rules", "escalate",
           "group_matches", "retry"]
