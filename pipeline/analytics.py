"""Analytics steps on the stored mentions: the CX journey map, the coaching library, alerts, forgetting an author.

Like every step they read the database and write back (or write files under ``<data_dir>``), return a
small report, and are safe to re-run: maps and exports are rewritten from the database, alerts are
keyed so a re-check stores and posts nothing twice. Only redacted text leaves the database.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import httpx

from journeypulse.config import Settings
from journeypulse.errors import ConfigError, PipelineError
from journeypulse.privacy import load_pseudonymiser
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
from journeys.cxmap import K_ANONYMITY, JourneyMap, PainPointStat, Quote, StageCell, render_cx_map
from journeys.playbook import Playbook, load_playbook
from journeys.redaction import redact
from journeys.taxonomy import Taxonomy, load_taxonomy
from pipeline.steps import StepReport, resolve_period
from storage import AlertRow, CoachingExampleRow, CoachingReviewRow, CorrectionRow, ForgetReport, LinkedMention, Store

logger = logging.getLogger(__name__)

WINDOW_DAYS = 28
"""Default CX map period: the 28 days ending with the newest mention's UTC day."""
COACHING_PER_STAGE = 20
"""Examples ``select_coaching_candidates`` keeps per stage in the library."""
ALERT_HISTORY_DAYS = 30
_PAGE = 5000
_PSEUDONYM = re.compile(r"[a-z]_[0-9a-f]{16}")
_MAP_NAME = re.compile(r"cx-map-(?P<slug>.+)-(?P<start>\d{4}-\d{2}-\d{2})_(?P<end>\d{4}-\d{2}-\d{2})\.html")


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


def map_period(store: Store, brand: str, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until) of the map: given bounds, else ``WINDOW_DAYS`` ending with the newest mention's day."""
    since, until = resolve_period(since, until)
    if until is None and since is not None:
        until = since + timedelta(days=WINDOW_DAYS)
    if until is None:
        period = store.mention_period(brand=brand)
        newest = period[1] if period else datetime.now(UTC)
        until = datetime.combine(newest.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    since = since if since is not None else until - timedelta(days=WINDOW_DAYS)
    if since >= until:
        raise ConfigError(f"CX map period {since.isoformat()} .. {until.isoformat()} is empty; since must be before until")
    return since, until


@dataclass
class _StageAgg:
    mentions: set[str] = field(default_factory=set)
    labels: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    authors: set[str] = field(default_factory=set)
    themes: dict[tuple[str, str], tuple[set[str], set[str]]] = field(default_factory=dict)  # (kind, name) -> ids, authors
    best: dict[str, LinkedMention] = field(default_factory=dict)  # theme name or "" (stage) -> quote candidate

    def add(self, row: LinkedMention) -> None:
        self.mentions.add(row.mention_id)
        if row.label is not None:
            self.labels[row.mention_id] = row.label
        self.channels[row.mention_id] = row.touchpoint or row.channel or "unknown"
        if row.author:
            self.authors.add(row.author)
        for kind, name in (("pain", row.pain_point), ("exit", row.exit_signal)):
            if name:
                ids, authors = self.themes.setdefault((kind, name), (set(), set()))
                ids.add(row.mention_id)
                if row.author:
                    authors.add(row.author)
        for theme in (row.pain_point or "", ""):
            current = self.best.get(theme)
            if current is None or _quote_rank(row) < _quote_rank(current):
                self.best[theme] = row


def _quote_rank(row: LinkedMention) -> tuple[float, str]:
    return (-(row.sentiment_confidence or 0.0) - row.link_confidence, row.mention_id)


def _aggregate(store: Store, brand: str, since: datetime, until: datetime) -> dict[str, _StageAgg]:
    stages: dict[str, _StageAgg] = defaultdict(_StageAgg)
    for row in _linked(store, brand=brand, since=since, until=until):
        stages[row.stage].add(row)
    return stages


def _quote(row: LinkedMention, authors: int, keep: Sequence[str]) -> Quote:
    text = redact(row.text, language=row.language, keep=keep).text
    return Quote(text, authors, row.language, row.label, row.touchpoint or row.channel, row.pain_point)


def _cell(name: str, label: str, agg: _StageAgg, previous: _StageAgg | None, keep: Sequence[str]) -> StageCell:
    counts = Counter(agg.labels.values())
    stats = {kind: tuple(PainPointStat(n, len(ids), len(auth)) for (k, n), (ids, auth) in agg.themes.items() if k == kind)
             for kind in ("pain", "exit")}
    quotes: list[Quote] = []
    for stat in sorted(stats["pain"], key=lambda s: (-s.mentions, s.name)):
        if stat.authors >= K_ANONYMITY and len(quotes) < 3:
            quotes.append(_quote(agg.best[stat.name], stat.authors, keep))
    stage_quote = agg.best.get("")
    if len(quotes) < 3 and stage_quote is not None and len(agg.authors) >= K_ANONYMITY and \
            all(q.text != redact(stage_quote.text, language=stage_quote.language, keep=keep).text for q in quotes):
        quotes.append(_quote(stage_quote, len(agg.authors), keep))
    prev_volume = prev_net = None
    if previous is not None and previous.mentions:
        prev_counts = Counter(previous.labels.values())
        prev_volume = len(previous.mentions)
        prev_net = (prev_counts["positive"] - prev_counts["negative"]) / prev_volume * 100
    return StageCell(
        stage=name, volume=len(agg.mentions), positive=counts["positive"], neutral=counts["neutral"],
        negative=counts["negative"], previous_volume=prev_volume, previous_net=prev_net,
        pain_points=stats["pain"], channels=tuple(Counter(agg.channels.values()).items()),
        exit_signals=stats["exit"], quotes=tuple(quotes), label=label,
    )


def build_journey_map(settings: Settings, store: Store, brand: str, since: datetime, until: datetime) -> JourneyMap:
    """One brand's map for [since, until) with the equally long previous period as the trend baseline."""
    taxonomy = _taxonomy(settings)
    keep = _keep_terms(settings, brand)
    current = _aggregate(store, brand, since, until)
    previous = _aggregate(store, brand, since - (until - since), since)
    labels = {stage.name: stage.label for stage in taxonomy.stages}
    order = [*taxonomy.stage_names, *sorted(set(current) - set(taxonomy.stage_names))]
    cells = tuple(_cell(name, labels.get(name, name), current.get(name, _StageAgg()), previous.get(name), keep)
                  for name in order)
    end = (until - timedelta(microseconds=1)).date()
    return JourneyMap(brand, since.date(), end, cells, previous_label=f"{(since - (until - since)).date()} to "
                      f"{(since - timedelta(microseconds=1)).date()}")


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
    """Render ``<data_dir>/reports/cx-map-<brand>-<start>_<end>.html`` for one brand or every configured brand."""
    brands = [settings.brand(brand).name] if brand is not None else [b.name for b in settings.brands]
    folder = out_dir or settings.data_dir / "reports"
    paths = []
    for name in brands:
        start, end = map_period(store, name, since, until)
        journey_map = build_journey_map(settings, store, name, start, end)
        target = folder / f"cx-map-{_slug(name)}-{journey_map.period_start}_{journey_map.period_end}.html"
        paths.append(render_cx_map(journey_map, out_path=target, keep=_keep_terms(settings, name)))
    return StepReport("write_cx_map", len(paths), "; ".join(str(p) for p in paths))


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
    """Judge ``day`` (default: the newest mention's UTC day); store new alerts; with ``webhook`` post unposted ones."""
    if day is None:
        period = store.mention_period()
        if period is None:
            return StepReport("check_alerts", 0, "no mentions stored")
        day = period[1].astimezone(UTC).date()
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


def author_pseudonym(settings: Settings, who: str) -> str:
    """``who`` when it already is a pseudonym (``a_`` + 16 hex), else the configured key's pseudonym of the handle."""
    who = who.strip()
    if not who:
        raise ConfigError("forget-author: give a pseudonym (a_0123456789abcdef) or a handle")
    if _PSEUDONYM.fullmatch(who):
        return who
    pseudonymise = load_pseudonymiser(settings.privacy.pseudonym_key_env, settings.data_dir / ".pseudonym_key")
    return pseudonymise(who.lstrip("@"), namespace="a")


def forget_author(settings: Settings, store: Store, who: str) -> tuple[ForgetReport, list[Path]]:
    """Delete the author everywhere, then rewrite the exports under ``<data_dir>`` from the database.

    Rewritten: the training pack in ``<data_dir>/coaching/pack`` and every CX map in ``<data_dir>/reports``.
    Files written elsewhere (``--out``) are the caller's to delete.
    """
    report = store.forget_author(author_pseudonym(settings, who))
    rewritten: list[Path] = []
    pack = default_pack_dir(settings)
    if (pack / "manifest.json").exists():
        rewritten.extend(export_pack(settings, store, pack).files)
    slugs = {_slug(b.name): b.name for b in settings.brands}
    reports = settings.data_dir / "reports"
    for path in sorted(reports.glob("cx-map-*.html")) if reports.exists() else []:
        match = _MAP_NAME.fullmatch(path.name)
        if match is None or match["slug"] not in slugs:
            raise PipelineError(f"forget-author: cannot tell which map {path} is; delete it or re-run `journeypulse map`")
        start = datetime.combine(date.fromisoformat(match["start"]), time(), UTC)
        end = datetime.combine(date.fromisoformat(match["end"]) + timedelta(days=1), time(), UTC)
        done = write_cx_map(settings, store, brand=slugs[match["slug"]], since=start, until=end, out_dir=reports)
        rewritten.extend(Path(p) for p in done.detail.split("; "))
    logger.info("forgot an author: %d mentions removed, %d exports rewritten", report.mentions, len(rewritten))
    return report, rewritten


__all__ = [
    "COACHING_PER_STAGE",
    "WINDOW_DAYS",
    "author_pseudonym",
    "build_journey_map",
    "check_alerts",
    "coaching_candidates",
    "default_pack_dir",
    "export_pack",
    "forget_author",
    "label_mention",
    "map_period",
    "pull_coaching_examples",
    "redact_rows",
    "review_example",
    "select_coaching_candidates",
    "write_cx_map",
]
