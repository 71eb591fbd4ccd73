"""Analytics steps on the stored mentions: the CX journey map, the coaching library, alerts, forgetting an author.

Like every step they read the database and write back (or write files under ``<data_dir>``), return a
small report, and are safe to re-run: maps and exports are rewritten from the database, alerts are
keyed so a re-check stores and posts nothing twice. Only redacted text leaves the database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx

from journeypulse.config import Settings
from journeypulse.errors import ConfigError, PipelineError
from journeypulse.privacy import PSEUDONYM_PATTERN, ErasureTarget, load_pseudonymiser
from journeypulse.privacy import erasure_target as privacy_target
from journeypulse.record import content_hash
from journeys.alerts import AlertRules, DailyStageStats, WebhookPoster, evaluate_alerts
from journeys.coaching import (
    CoachingCandidate,
    CoachingExample,
    CoachingFilter,
    ReviewAction,
    ReviewDecision,
    TrainingPackReport,
    export_training_pack,
    select_examples,
)
from journeys.cxmap import K_ANONYMITY, MapLink, MapMention, build_cx_map, render_cx_map
from journeys.playbook import Playbook, load_playbook
from journeys.redaction import redact
from journeys.taxonomy import Taxonomy, load_taxonomy
from listeners.registry import LISTENER_KINDS
from pipeline.steps import StepReport, resolve_period
from storage import (
    AlertRow,
    CoachingExampleRow,
    CoachingReviewRow,
    CorrectionRow,
    ForgetReport,
    JourneyCorrectionRow,
    LinkedMention,
    Store,
)

logger = logging.getLogger(__name__)

WINDOW_DAYS = 28
"""Default CX map period: the 28 days ending with the newest mention's UTC day (never after today)."""
COACHING_PER_STAGE = 20
"""Examples ``select_coaching_candidates`` keeps per stage in the library."""
ALERT_HISTORY_DAYS = 30
_PAGE = 5000
_MAP_NAME = re.compile(r"cx-map-(?:(?P<slug>.+)-)?(?P<start>\d{4}-\d{2}-\d{2})_(?P<end>\d{4}-\d{2}-\d{2})\.html")


def _taxonomy(settings: Settings) -> Taxonomy:
    if settings.journeys.taxonomy is None:
        return load_taxonomy(None)
    path = Path(settings.journeys.taxonomy)
    return load_taxonomy(path if path.is_absolute() else settings.config_dir / path)


def _playbook(settings: Settings) -> Playbook:
    """The configured handling playbook (default: bundled), checked against the configured taxonomy's names."""
    if settings.journeys.playbook is None:
        return load_playbook(taxonomy=_taxonomy(settings))
    path = Path(settings.journeys.playbook)
    return load_playbook(path if path.is_absolute() else settings.config_dir / path, taxonomy=_taxonomy(settings))


def _keep_terms(settings: Settings, brand: str | None) -> tuple[str, ...]:
    brands = settings.brands if brand is None else [settings.brand(brand)]
    return tuple(term for b in brands for term in b.terms())


def _linked(store: Store, **window: object) -> Iterator[LinkedMention]:
    """Every current link in the window, paged by mention id so memory stays bounded."""
    after: str | None = None
    while page := store.linked_mentions(limit=_PAGE, after_id=after, **window):  # type: ignore[arg-type]
        yield from page
        after = page[-1].mention_id


def redact_rows(settings: Settings, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
                ) -> list[tuple[object, ...]]:
    """Rows of a view with every ``text`` cell redacted (using the row's ``language`` when the view has one),
    so query output shown to people carries no personal data."""
    if "text" not in columns:
        return list(rows)
    at, lang_at = columns.index("text"), columns.index("language") if "language" in columns else None
    keep = _keep_terms(settings, None)
    out: list[tuple[object, ...]] = []
    for row in rows:
        cells = list(row)
        text = cells[at]
        if isinstance(text, str):
            language = cells[lang_at] if lang_at is not None else None
            cells[at] = redact(text, language=language if isinstance(language, str) else None, keep=keep).text
        out.append(tuple(cells))
    return out


# --------------------------------------------------------------------------- CX map


def newest_day(store: Store, brand: str | None = None) -> date:
    """The UTC day of the newest mention, but never after today: one row dated in the future (a clock or
    parsing error the skew check let through, or one stored before it existed) cannot move a report's
    period or the alert day."""
    today = datetime.now(UTC).date()
    period = store.mention_period(brand=brand)
    return today if period is None else min(period[1].astimezone(UTC).date(), today)


def map_period(store: Store, brand: str | None, since: datetime | None,
               until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until) of the map: given bounds, else ``WINDOW_DAYS`` ending with ``newest_day`` (at most today).

    The newest mention is looked up over every brand when ``brand`` is None, so all brands share one period.
    """
    since, until = resolve_period(since, until)
    if until is None and since is not None:
        until = since + timedelta(days=WINDOW_DAYS)
    if until is None:
        until = datetime.combine(newest_day(store, brand) + timedelta(days=1), time(), UTC)
    since = since if since is not None else until - timedelta(days=WINDOW_DAYS)
    if since >= until:
        raise ConfigError(f"CX map period {since.isoformat()} .. {until.isoformat()} is empty; since must be before until")
    return since, until


def _map_mentions(store: Store, brand: str | None, since: datetime, until: datetime) -> list[MapMention]:
    """The period's mentions with their current links; mentions without a link come from v_journey_facts."""
    mentions: list[MapMention] = []
    rows: list[LinkedMention] = []

    def flush() -> None:
        if rows:
            first = rows[0]
            links = tuple(MapLink(r.stage, r.pain_point, r.exit_signal, r.link_confidence) for r in rows)
            mentions.append(MapMention(first.mention_id, first.brand or "", first.language, first.channel, first.author,
                                       first.created_at.astimezone(UTC).date(), first.label,
                                       first.sentiment_confidence, first.text, links))
            rows.clear()

    for row in _linked(store, brand=brand, since=since, until=until):
        if rows and rows[0].mention_id != row.mention_id:
            flush()
        rows.append(row)
    flush()
    where = {"stage": ["unlinked"], **({"brand": [brand]} if brand is not None else {})}
    columns, facts = store.query_view("v_journey_facts", filters={}, limit=None, where=where)
    for fact in (dict(zip(columns, values, strict=True)) for values in facts):
        created = fact["created_at"]
        if isinstance(created, datetime) and since <= created < until:
            mentions.append(MapMention(str(fact["mention_id"]), str(fact["brand"] or ""), _str(fact["language"]),
                                       _str(fact["channel"]), None, created.astimezone(UTC).date(),
                                       _str(fact["sentiment"]), None, ""))
    return mentions


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def build_map_data(settings: Settings, store: Store, brand: str | None, since: datetime,
                   until: datetime) -> dict[str, Any]:
    """The map's data for [since, until): every brand (or one), k-anonymous, quotes redacted."""
    taxonomy = _taxonomy(settings)
    end = (until - timedelta(microseconds=1)).date()
    who = brand if brand is not None else ", ".join(b.name for b in settings.brands)
    return build_cx_map(
        _map_mentions(store, brand, since, until),
        stages=[(stage.name, stage.label) for stage in taxonomy.stages],
        period_start=since.date(), period_end=end, title=f"{who} — customer journey map, {since.date()} to {end}",
        min_authors=K_ANONYMITY, keep=_keep_terms(settings, brand),
    )


def _escalation_summary(store: Store, brand: str | None) -> list[dict[str, object]]:
    """``v_escalation_summary`` rows (of one brand, or all), most escalations first, for the map's section."""
    columns, rows = store.query_view("v_escalation_summary", filters={"brand": brand} if brand else {}, limit=50)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _slug(value: str) -> str:
    return re.sub(r"[^\w]+", "-", value.casefold()).strip("-_") or "brand"


def write_cx_map(
    settings: Settings,
    store: Store,
    *,
    brand: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    out_dir: Path | None = None,
) -> StepReport:
    """Render one map for every brand (``cx-map-<start>_<end>.html``, with a brand filter) or for one brand
    (``cx-map-<brand>-<start>_<end>.html``) under ``<data_dir>/reports``."""
    name = settings.brand(brand).name if brand is not None else None
    start, end = map_period(store, None, since, until)
    data = build_map_data(settings, store, name, start, end)
    data["escalations"] = _escalation_summary(store, name)
    folder = out_dir or settings.data_dir / "reports"
    prefix = "cx-map-" if name is None else f"cx-map-{_slug(name)}-"
    target = folder / f"{prefix}{data['period'][0]}_{data['period'][1]}.html"
    path = render_cx_map(data, out_path=target)
    return StepReport("write_cx_map", 1, str(path))


# --------------------------------------------------------------------------- coaching


def coaching_candidates(store: Store) -> list[CoachingCandidate]:
    """Every scored, stage-linked mention as a candidate (raw text: selection redacts it)."""
    return [
        CoachingCandidate(row.mention_id, row.text, row.language, row.stage, row.pain_point,
                          row.touchpoint or row.channel, row.label, float(row.sentiment_confidence or 0.0),
                          row.source, content_hash(row.text), row.author, row.exit_signal)
        for row in _linked(store) if row.label is not None
    ]


def _save_library(store: Store, examples: Sequence[CoachingExample]) -> int:
    now = datetime.now(UTC)
    return store.save_coaching_examples([
        CoachingExampleRow(e.mention_id, e.text, e.language, e.stage, e.pain_point, e.channel, e.sentiment,
                           e.confidence, e.source, e.content_hash, e.redactions, now, e.exit_signal, e.score, e.reason,
                           e.playbook_rule, e.suggested_action, e.suggested_reply)
        for e in examples
    ])


def pull_coaching_examples(
    settings: Settings, store: Store, *, filters: CoachingFilter, limit: int
) -> list[CoachingExample]:
    """Redacted, de-duplicated examples ranked for trainers, with reason and suggested handling; they join the
    coaching library under their stage."""
    examples = select_examples(coaching_candidates(store), filters=filters, limit=limit,
                               keep=_keep_terms(settings, None), playbook=_playbook(settings))
    _save_library(store, examples)
    return examples


def select_coaching_candidates(settings: Settings, store: Store) -> StepReport:
    """Refresh the coaching library with up to ``COACHING_PER_STAGE`` examples per taxonomy stage."""
    pool = coaching_candidates(store)
    keep = _keep_terms(settings, None)
    playbook = _playbook(settings)
    saved = 0
    for stage in _taxonomy(settings).stage_names:
        picked = select_examples(pool, filters=CoachingFilter(stages=frozenset({stage})), limit=COACHING_PER_STAGE,
                                 keep=keep, playbook=playbook)
        saved += _save_library(store, picked)
    return StepReport("select_coaching_candidates", saved, f"{len(pool)} candidates")


def review_example(store: Store, mention_id: str, action: str, reviewer: str, *, new_label: str | None = None,
                   note: str = "", stage: str | None = None) -> CoachingReviewRow:
    """Record a decision on a library example (``stage``: which one, when the mention is in the library under
    several stages); a relabel also lands in ``sentiment_correction``. Returns the review with its stage."""
    return store.add_coaching_review(CoachingReviewRow(mention_id, action, reviewer, datetime.now(UTC), new_label,
                                                       note, stage))


def label_mention(store: Store, mention_id: str, label: str, reviewer: str) -> None:
    """A manual sentiment label (``sentiment_correction``, source 'manual') for the training loop."""
    store.add_sentiment_correction(CorrectionRow(mention_id, label, "manual", reviewer, datetime.now(UTC)))


def correct_journey(settings: Settings, store: Store, mention_id: str, reviewer: str, *, stage: str | None,
                    exit_signal: bool | None, exit_type: str | None, source: str = "manual") -> None:
    """A human stage and/or exit-signal correction (``journey_correction``) that ``journeys train
    --corrections`` learns from. The stage must be one of the configured taxonomy's; an exit type
    (one of its exit signals) implies an exit signal."""
    from pipeline.steps import _taxonomy_path

    taxonomy = load_taxonomy(_taxonomy_path(settings))
    exit_names = [e.name for e in taxonomy.exit_signals]
    if exit_type is not None:
        if exit_type not in exit_names:
            raise ConfigError(f"exit type {exit_type!r} is not one of {', '.join(exit_names)}")
        if exit_signal is False:
            raise ConfigError("--exit-type names an exit signal; it cannot go with --no-exit-signal")
        exit_signal = True
    if stage is not None and stage not in taxonomy.stage_names:
        raise ConfigError(f"stage {stage!r} is not one of {', '.join(taxonomy.stage_names)}")
    store.add_journey_correction(JourneyCorrectionRow(mention_id, stage, exit_signal, exit_type, source, reviewer,
                                                      datetime.now(UTC)), taxonomy.stage_names)


def export_pack(settings: Settings, store: Store, out_dir: Path | None = None) -> TrainingPackReport:
    """Training pack (one JSONL per stage/pain point) of approved and relabelled library examples."""
    rows = store.coaching_examples()
    examples = [CoachingExample(r.mention_id, r.text, r.language, r.stage, r.pain_point, r.channel, r.sentiment,
                                r.confidence, r.source, r.content_hash, r.redactions, r.exit_signal, r.score, r.reason,
                                r.playbook_rule, r.suggested_action, r.suggested_reply) for r in rows]
    decisions = [ReviewDecision(r.mention_id, r.stage or "", ReviewAction(r.action), r.reviewer, r.decided_at,
                                r.new_label, r.note) for r in store.coaching_reviews()]
    return export_training_pack(examples, decisions, out_dir or default_pack_dir(settings))


def default_pack_dir(settings: Settings) -> Path:
    return settings.data_dir / "coaching" / "pack"


# --------------------------------------------------------------------------- alerts


def check_alerts(settings: Settings, store: Store, *, day: date | None = None, webhook: bool = False,
                 rules: AlertRules | None = None, client: httpx.Client | None = None) -> StepReport:
    """Judge ``day`` (default: ``newest_day``, never after today); store new alerts; with ``webhook`` post unposted ones."""
    if day is None:
        if store.mention_period() is None:
            return StepReport("check_alerts", 0, "no mentions stored")
        day = newest_day(store)
    counts = store.daily_stage_counts(since=day - timedelta(days=ALERT_HISTORY_DAYS), until=day)
    series = [DailyStageStats(c.brand, c.stage, c.day, c.total, c.negative, dict(c.pain_points)) for c in counts]
    report = evaluate_alerts(series, day=day, rules=rules)
    now = datetime.now(UTC)
    new = store.save_alerts([AlertRow(a.key, a.rule, a.brand, a.stage, a.day, a.pain_point, a.value, a.baseline,
                                      a.message, now) for a in report.alerts])
    posted = 0
    if webhook:
        pending = store.alerts(unposted_only=True)
        if pending:
            from journeys.alerts import Alert

            poster = WebhookPoster.from_env(client=client)
            posted = poster.post([Alert(a.rule, a.brand, a.stage, a.day, a.value, a.baseline, a.message, a.pain_point)
                                  for a in pending])
            store.mark_alerts_posted([a.key for a in pending])
    detail = f"day={day}; raised {len(report.alerts)} ({len(new)} new); posted {posted}"
    return StepReport("check_alerts", len(new), detail)


# --------------------------------------------------------------------------- privacy


def erasure_target(settings: Settings, who: str) -> ErasureTarget:
    """Every pseudonym ``who`` (handle with or without source prefix or ``@``, customer id, interaction id,
    or a pseudonym) may be stored under, with the configured key and every listener kind's prefix."""
    if PSEUDONYM_PATTERN.fullmatch(who.strip()):
        return ErasureTarget(frozenset({who.strip()}), frozenset())
    pseudonymise = load_pseudonymiser(settings.privacy.pseudonym_key_env, settings.data_dir / ".pseudonym_key")
    return privacy_target(who, pseudonymise, LISTENER_KINDS)


def author_pseudonym(settings: Settings, who: str) -> str:
    """``who`` when it already is a pseudonym (``a_`` + 16 hex), else the configured key's pseudonym of the bare handle."""
    who = who.strip()
    if not who:
        raise ConfigError("forget-author: give a pseudonym (a_0123456789abcdef) or a handle")
    if PSEUDONYM_PATTERN.fullmatch(who):
        return who
    pseudonymise = load_pseudonymiser(settings.privacy.pseudonym_key_env, settings.data_dir / ".pseudonym_key")
    return pseudonymise(who.lstrip("@"), namespace="a")


@dataclass(frozen=True)
class ForgetOutcome:
    """What ``forget_author`` did: rows per table, exports rewritten, exports deleted (they still named the person)."""

    report: ForgetReport
    rewritten: list[Path]
    deleted: list[Path]


def _sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file, when the store is one."""
    url = settings.database_url
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    return Path(url.split(":///", 1)[1].split("?", 1)[0]).expanduser().resolve()


def _exports_naming(settings: Settings, target: ErasureTarget) -> list[Path]:
    """Files under ``data_dir`` that still hold a pseudonym or raw form of the person.

    Not scanned: the SQLite database with its ``-wal``/``-shm``/lock companions (the erasure already
    ran there) and the pseudonym key.
    """
    needles = target.needles()
    if not needles or not settings.data_dir.exists():
        return []
    pattern = re.compile("|".join(rf"(?<![\w]){re.escape(n)}(?![\w])" for n in needles), re.IGNORECASE)
    db = _sqlite_file(settings)
    key = (settings.data_dir / ".pseudonym_key").resolve()
    found = []
    for path in sorted(settings.data_dir.rglob("*")):
        resolved = path.resolve()
        if not path.is_file() or resolved == key or (
                db is not None and resolved.parent == db.parent and resolved.name.startswith(db.name)):
            continue
        if pattern.search(path.read_bytes().decode("utf-8", "ignore")):
            found.append(path)
    return found


def forget_author(settings: Settings, store: Store, who: str) -> ForgetOutcome:
    """Erase a person everywhere, then rewrite the exports under ``<data_dir>`` from the database.

    ``who`` is a handle (``maria``, ``@maria``, ``reddit:maria``), a contact-center customer or
    interaction id, or a pseudonym. Rewritten: the training pack in ``<data_dir>/coaching/pack`` and
    every CX map in ``<data_dir>/reports``; any other file under ``<data_dir>`` that still names the
    person (a coaching export saved there, an old map) is deleted and listed. Files written outside
    ``data_dir`` (``--out``) are the caller's to delete.
    """
    target = erasure_target(settings, who)
    report = store.forget(target)
    rewritten: list[Path] = []
    pack = default_pack_dir(settings)
    if (pack / "manifest.json").exists():
        rewritten.extend(export_pack(settings, store, pack).files)
    slugs = {_slug(b.name): b.name for b in settings.brands}
    reports = settings.data_dir / "reports"
    for path in sorted(reports.glob("cx-map-*.html")) if reports.exists() else []:
        match = _MAP_NAME.fullmatch(path.name)
        if match is None or (match["slug"] is not None and match["slug"] not in slugs):
            raise PipelineError(f"forget-author: cannot tell which map {path} is; delete it or re-run `journeypulse map`")
        start = datetime.combine(date.fromisoformat(match["start"]), time(), UTC)
        end = datetime.combine(date.fromisoformat(match["end"]) + timedelta(days=1), time(), UTC)
        brand = slugs[match["slug"]] if match["slug"] is not None else None
        done = write_cx_map(settings, store, brand=brand, since=start, until=end, out_dir=reports)
        rewritten.extend(Path(p) for p in done.detail.split("; "))
    deleted = _exports_naming(settings, target)
    for path in deleted:
        path.unlink()
    rewritten = [p for p in rewritten if p not in deleted]
    logger.info("forgot a person: %d mentions removed, %d exports rewritten, %d deleted", report.mentions,
                len(rewritten), len(deleted))
    return ForgetOutcome(report, rewritten, deleted)


__all__ = [
    "COACHING_PER_STAGE",
    "WINDOW_DAYS",
    "ForgetOutcome",
    "author_pseudonym",
    "build_map_data",
    "erasure_target",
    "check_alerts",
    "coaching_candidates",
    "default_pack_dir",
    "export_pack",
    "forget_author",
    "label_mention",
    "map_period",
    "newest_day",
    "pull_coaching_examples",
    "redact_rows",
    "review_example",
    "select_coaching_candidates",
    "write_cx_map",
]
