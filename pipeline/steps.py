"""The pipeline steps as plain functions: the CLI, the Airflow DAGs and the tests all call these.

Every step reads its input from the database and writes its output back, so each is
resumable and safe to re-run: a step only processes what has no result yet (for the current
model or taxonomy version), and returns a small report of counts, never the data itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from journeypulse.config import Settings, SourceConfig, load_settings
from journeypulse.errors import (
    ConfigError,
    CredentialsMissingError,
    CredentialsRejectedError,
    ListenerAuthError,
    ListenerError,
    ScoringError,
)
from journeypulse.privacy import load_pseudonymiser
from journeypulse.record import NO_BRAND_TERM, Mention, QuarantinedRow
from listeners import ListenerContext, build_listener, guarded
from pipeline.languages import LanguageIdentifier
from storage import (
    JourneyLinkRow,
    LanguageResult,
    MentionText,
    SentimentResult,
    Shard,
    Store,
    UpsertReport,
)

if TYPE_CHECKING:
    import numpy as np

    from journeys import HybridLinker, Link, RuleLinker
    from journeys.multitask import MultiTaskLinker
    from sentiment.scores import SentimentModel

logger = logging.getLogger(__name__)

Advance = Callable[[int], None]
"""Progress callback: called with the number of items just processed."""

PULL_BATCH_SIZE = 500
REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO_ROOT / "examples" / "config.example.yaml"


def _no_progress(_: int) -> None:
    return None


def _waiting(message: str) -> None:
    """Told by ``Store.step_lock`` that a concurrent run holds the step: say so (stderr by default)."""
    logger.warning(message)


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class PullTask:
    """One (source, query group) pair: the unit of pulling and of Airflow's task mapping."""

    source: str
    query: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class PullReport:
    """``read = stored + duplicates + quarantined + suppressed`` holds for every pull."""

    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    suppressed: int = 0  # mentions of people erased with forget-author, dropped at ingest
    sources: int = 0
    skipped: list[str] = field(default_factory=list)  # "source: why" for sources not pulled
    stopped_early: list[str] = field(default_factory=list)  # "source/query: why" (caps, page limits)
    failed: list[str] = field(default_factory=list)  # "source/query: error" for pulls that broke off
    more_remain: list[str] = field(default_factory=list)  # "source: N read, ..." where max_items_per_run stopped it
    no_brand: int = 0  # of the quarantined: rows that named no configured brand ("no brand term")
    late_arrivals: int = 0  # new items dated behind a stored cursor (read again through the overlap window)

    def add(self, upsert: UpsertReport, read: int) -> None:
        self.read += read
        self.stored += upsert.inserted + upsert.updated
        self.duplicates += upsert.unchanged
        self.quarantined += upsert.quarantined + upsert.quarantine_repeats
        self.suppressed += upsert.suppressed

    @property
    def balanced(self) -> bool:
        return self.read == self.stored + self.duplicates + self.quarantined + self.suppressed

    def as_dict(self) -> dict[str, int | str]:
        return {
            "read": self.read,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "suppressed": self.suppressed,
            "sources": self.sources,
            "late_arrivals": self.late_arrivals,
            "skipped": "; ".join(self.skipped),
            "failed": "; ".join(self.failed),
            "stopped_early": "; ".join(self.stopped_early),
            "more_remain": "; ".join(self.more_remain),
            "no_brand": self.no_brand,
        }


@dataclass(frozen=True)
class StepReport:
    step: str
    processed: int
    detail: str = ""

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


@dataclass(frozen=True)
class EnrichReport(StepReport):
    """``enrich``: mentions given a sentiment result and mentions linked (``processed`` = mentions looked at)."""

    classified: int = 0
    linked: int = 0
    model_detail: str = ""
    link_detail: str = ""


# --------------------------------------------------------------------------- setup


def load_run_settings(config_path: str | Path | None = None) -> Settings:
    """Settings from ``config_path``, else $JOURNEYPULSE_CONFIG, else ./journeypulse.yaml, else the bundled example."""
    if config_path is not None:
        return load_settings(config_path)
    if env_path := os.environ.get("JOURNEYPULSE_CONFIG"):
        return load_settings(env_path)
    if Path("journeypulse.yaml").exists():
        return load_settings("journeypulse.yaml")
    return load_settings(EXAMPLE_CONFIG)


def open_store(settings: Settings) -> Store:
    """Open (and migrate) the configured database; the SQLite file's folder is created.

    The store pseudonymises quarantine payloads with the deployment's key and quarantines mentions dated
    more than ``pipeline.max_future_skew`` ahead. A bad ``storage.url`` is a ConfigError naming the file.
    """
    if not settings.storage.url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    pseudonymise = load_pseudonymiser(settings.privacy.pseudonym_key_env, settings.data_dir / ".pseudonym_key")
    try:
        return Store.open(settings.database_url, pseudonymise=pseudonymise,
                          max_future_skew=settings.pipeline.max_future_skew)
    except ConfigError as exc:
        raise ConfigError(f"{settings.config_file or 'configuration'}: {exc}") from exc


def _listener_context(settings: Settings, source: SourceConfig) -> ListenerContext:
    brands = tuple(b for b in settings.brands if not source.brands or b.name in source.brands)
    pseudonymise = load_pseudonymiser(settings.privacy.pseudonym_key_env, settings.data_dir / ".pseudonym_key")
    return ListenerContext(brands=brands, pseudonymise=pseudonymise)


def _resolved_source(settings: Settings, source: SourceConfig) -> SourceConfig:
    # File paths in the config are relative to the config file, not to the working directory.
    if source.kind == "file" and "base_dir" not in source.params:
        return source.model_copy(update={"params": {**source.params, "base_dir": str(settings.config_dir)}})
    return source


def _enabled_sources(settings: Settings, only: str | None, *, validate: bool = True) -> list[SourceConfig]:
    """The enabled sources (or ``only``); with ``validate`` each listener is built once (no I/O) so that a
    bad ``params`` entry is reported as ``<config file>: <problem>`` before anything is pulled."""
    sources = [s for s in settings.sources if s.enabled and (only is None or s.name == only)]
    if only is not None and not sources:
        known = ", ".join(s.name for s in settings.sources if s.enabled) or "none"
        raise ConfigError(f"source {only!r} is not configured or not enabled (enabled: {known})")
    resolved = [_resolved_source(settings, s) for s in sources]
    if validate:
        for source in resolved:
            try:
                build_listener(source, _listener_context(settings, source))
            except ConfigError as exc:
                raise ConfigError(f"{settings.config_file or 'configuration'}: {exc}") from exc
    return resolved


def pull_tasks(settings: Settings) -> list[PullTask]:
    """Every (source, query) pair of the enabled sources; building listeners does no I/O."""
    tasks: list[PullTask] = []
    for source in _enabled_sources(settings, None):
        listener = build_listener(source, _listener_context(settings, source))
        tasks.extend(PullTask(source.name, query, source.kind) for query in listener.queries())
    return tasks


@dataclass(frozen=True)
class SourceCheck:
    source: str
    kind: str
    status: str  # "ok" | "missing" | "rejected" | "error"
    detail: str


def check_sources(settings: Settings, *, include_disabled: bool = False) -> list[SourceCheck]:
    """Check each enabled (or every) source without pulling.

    Every source whose API has an authenticated call makes one cheap call with the configured
    credentials: "missing" names the unset variable, "rejected" the variable whose value the
    service refused. Sources that need no credentials only validate their configuration.
    """
    results = []
    sources = ([_resolved_source(settings, s) for s in settings.sources] if include_disabled
               else _enabled_sources(settings, None, validate=False))
    for source in sources:
        try:
            listener = build_listener(source, _listener_context(settings, source))
            results.append(SourceCheck(source.name, source.kind, "ok", listener.check()))
        except CredentialsMissingError as exc:
            results.append(SourceCheck(source.name, source.kind, "missing", str(exc)))
        except ListenerAuthError as exc:
            results.append(SourceCheck(source.name, source.kind, "rejected", str(exc)))
        except (ListenerError, ConfigError) as exc:
            results.append(SourceCheck(source.name, source.kind, "error", str(exc)))
    return results


# --------------------------------------------------------------------------- pull + store


def _batches(items: Iterator[tuple[Mention | QuarantinedRow, str | None]], size: int, limit: int) -> Iterator[
    tuple[list[Mention], list[QuarantinedRow], str | None, int]
]:
    """Group a listener's stream into store batches; each batch ends on a safe cursor.

    When the stream fails, what it yielded before the failure is handed out as a last batch
    (with the cursor of its last item) and only then is the error raised again.
    """
    mentions: list[Mention] = []
    quarantined: list[QuarantinedRow] = []
    cursor: str | None = None
    read = 0
    try:
        for item, item_cursor in items:
            read += 1
            (mentions if isinstance(item, Mention) else quarantined).append(item)  # type: ignore[arg-type]
            cursor = item_cursor if item_cursor is not None else cursor
            if len(mentions) + len(quarantined) >= size:
                yield mentions, quarantined, cursor, len(mentions) + len(quarantined)
                mentions, quarantined = [], []
            if read >= limit:
                break
    except Exception:
        if mentions or quarantined:
            yield mentions, quarantined, cursor, len(mentions) + len(quarantined)
        raise
    if mentions or quarantined:
        yield mentions, quarantined, cursor, len(mentions) + len(quarantined)


def _late_arrivals(store: Store, mentions: list[Mention], overlap_ids: set[str]) -> int:
    """How many of ``mentions`` came from an overlap window behind a cursor and are not stored yet."""
    candidates = list(dict.fromkeys(m.id for m in mentions if m.id in overlap_ids))
    if not candidates:
        return 0
    return len(candidates) - len(store.mention_texts(candidates))


def pull(
    settings: Settings,
    store: Store,
    *,
    source: str | None = None,
    query: str | None = None,
    advance: Advance = _no_progress,
) -> PullReport:
    """Pull new items from the enabled sources and store them, batch by batch.

    Each batch's mentions, quarantine rows and the listener's cursor are committed in one
    transaction, so an interrupted pull resumes where it stopped with nothing lost or doubled.
    A source without credentials is skipped with a note; one whose credentials are rejected is
    recorded in ``failed``. A source that breaks off mid-pull (any
    error of its client library is mapped to ListenerError at the listener boundary) has what it
    yielded so far stored with its cursor, is recorded in ``failed``, and the pull goes on with
    the next query and source.
    """
    report = PullReport()
    for source_config in _enabled_sources(settings, source):
        # One pull per source at a time: a concurrent pull waits, then reads the rest, and each report counts
        # only what it stored itself.
        with store.step_lock("pull", source_config.name, on_wait=_waiting):
            listener = build_listener(source_config, _listener_context(settings, source_config))
            queries = listener.queries()
            if query is not None:
                if query not in queries:
                    raise ConfigError(f"source {source_config.name!r} has no query {query!r} (queries: {queries})")
                queries = [query]
            report.sources += 1
            budget = source_config.max_items_per_run
            owner = f"{source_config.kind} source {source_config.name!r}"
            overlap_ids: set[str] = getattr(listener, "overlap_ids", set())
            for position, query_key in enumerate(queries):
                cursor = store.get_cursor(source_config.name, query_key)
                try:
                    stream = guarded(owner, query_key, listener.fetch(query_key, cursor))
                    for mentions, quarantined, batch_cursor, read in _batches(stream, PULL_BATCH_SIZE, budget):
                        late = _late_arrivals(store, mentions, overlap_ids)
                        upsert = store.store_batch(source_config.name, query_key, mentions, quarantined, batch_cursor)
                        report.add(upsert, read)
                        report.no_brand += sum(row.reason.startswith(NO_BRAND_TERM) for row in quarantined)
                        report.late_arrivals += late
                        budget -= read
                        advance(read)
                except CredentialsRejectedError as exc:  # a wrong token is a failure, not a source left unconfigured
                    report.failed.append(f"{source_config.name}/{query_key}: {exc}")
                    logger.error("pull of %s stopped: %s", source_config.name, exc)
                    break
                except ListenerAuthError as exc:
                    report.skipped.append(f"{source_config.name}: {exc}")
                    logger.warning("skipping source %s: %s", source_config.name, exc)
                    break
                except ListenerError as exc:
                    report.failed.append(f"{source_config.name}/{query_key}: {exc}")
                    logger.error("pull of %s/%s broke off: %s", source_config.name, query_key, exc)
                if budget <= 0:
                    if position + 1 < len(queries) or _has_more(stream):
                        note = (f"{source_config.name}: {source_config.max_items_per_run} read, more remain: run again "
                                "(max_items_per_run)")
                        report.more_remain.append(note)
                        logger.warning("pull: %s", note)
                    break
            # Listeners that stop a query early on purpose (monthly caps, page limits) say why.
            stop_reasons: dict[str, str] = getattr(listener, "stop_reasons", {})
            report.stopped_early.extend(f"{source_config.name}/{q}: {why}" for q, why in stop_reasons.items())
    if report.no_brand:
        logger.warning("pull: %d of %d quarantined rows named no configured brand (%s); give file sources a brand "
                       "column, params.brand_by_channel or params.brand", report.no_brand, report.quarantined,
                       NO_BRAND_TERM)
    logger.info("pull: %s", report.as_dict())
    return report


def _has_more(stream: Iterator[tuple[Mention | QuarantinedRow, str | None]]) -> bool:
    """Whether a stream stopped by max_items_per_run has more items: one is read ahead (not stored; the next run
    reads it again) and the stream is closed."""
    try:
        return next(stream, None) is not None
    except ListenerError:
        return True
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


# --------------------------------------------------------------------------- language


def identify_languages(settings: Settings, store: Store, *, batch_size: int = 500, advance: Advance = _no_progress) -> StepReport:
    """Give every mention without a language one ('und' when there is nothing to identify)."""
    identifier = LanguageIdentifier(settings.language, settings.brands)
    done = 0
    with store.step_lock("identify_languages", on_wait=_waiting):
        while batch := store.mentions_without_language(batch_size):
            results = []
            for row in batch:
                guess = identifier.identify(row.text, row.language_hint)
                results.append(LanguageResult(row.id, guess.language, guess.confidence, guess.method))
            store.save_languages(results)
            done += len(batch)
            advance(len(batch))
    return StepReport("identify_languages", done)


# --------------------------------------------------------------------------- sentiment


def _pages(fetch: Callable[[str | None], list[MentionText]]) -> Iterator[list[MentionText]]:
    """Keyset paging by id, so rows a step decides to pass over are never fetched twice."""
    after: str | None = None
    while page := fetch(after):
        yield page
        after = page[-1].id


def classify(
    settings: Settings,
    store: Store,
    *,
    batch_size: int = 256,
    model_name: str | None = None,
    brand: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    shard: Shard | None = None,
    advance: Advance = _no_progress,
) -> StepReport:
    """Classify every mention that has no result for the model its language routes to.

    Models are loaded once per call. ``model_name`` overrides the default model (reprocessing);
    per-language routes from the settings apply to the languages they name. With ``shard`` only that
    shard's mentions are classified (other shards may run at the same time).
    """
    from sentiment import load_sentiment_model  # heavy: imported only when classifying

    model_config = settings.model if model_name is None else settings.model.model_copy(update={"name": model_name})
    routes = {} if model_name is not None else dict(settings.model.routes)
    done = 0
    plans: list[tuple[str, list[str] | None]] = [(name, [lang]) for lang, name in routes.items()]
    plans.append((model_config.name, None))
    # Concurrent runs would score the same rows twice: one run per shard (or one whole-step run) at a time.
    with store.step_lock("classify", shard=shard, on_wait=_waiting):
        for name, languages in plans:
            model = load_sentiment_model(model_config.model_copy(update={"name": name}), settings.cache_dir)

            def fetch(after: str | None, model: SentimentModel = model,
                      languages: list[str] | None = languages) -> list[MentionText]:
                return store.mentions_without_sentiment(
                    model.name, model.revision, batch_size, brand=brand, since=since, until=until,
                    languages=languages, after_id=after, shard=shard,
                )

            for page in _pages(fetch):
                # Languages with a route of their own are scored by that model, not the default.
                rows = [r for r in page if languages is not None or r.language not in routes]
                if not rows:
                    continue
                scores = model.score([r.text for r in rows])
                if len(scores) != len(rows):
                    raise ScoringError(f"model {model.name} returned {len(scores)} results for {len(rows)} texts")
                now = datetime.now(UTC)
                store.save_sentiments(
                    [
                        SentimentResult(
                            mention_id=r.id, model=model.name, revision=model.revision, backend=model.backend,
                            label=s.label, p_negative=s.probabilities[0], p_neutral=s.probabilities[1],
                            p_positive=s.probabilities[2], confidence=s.confidence, needs_review=s.needs_review,
                            classified_at=now,
                        )
                        for r, s in zip(rows, scores, strict=True)
                    ]
                )
                done += len(rows)
                advance(len(rows))
    return StepReport("classify", done, f"model={model_config.name}" + (f" {shard}" if shard else ""))


# --------------------------------------------------------------------------- journeys


@dataclass
class JourneyLinking:
    """The configured journey linker, resolved once per step call.

    ``multitask`` is set when the heads are usable with the sentiment model (then links need its
    features); otherwise ``rules`` link, with method ``rules-fallback`` when multitask was configured.
    """

    version: str
    detail: str
    rules: RuleLinker
    multitask: MultiTaskLinker | None = None
    hybrid: HybridLinker | None = None
    fallback: bool = False

    def link(self, items: Sequence[tuple[str, str | None, str | None]],
             features: np.ndarray | None = None) -> list[list[Link]]:
        return self.link_with_questions(items, features)[0]

    def link_with_questions(self, items: Sequence[tuple[str, str | None, str | None]],
                            features: np.ndarray | None = None) -> tuple[list[list[Link]], list[bool | None]]:
        """Links per item and the question head's answer (None where no heads linked: rules, hybrid)."""
        from journeys import link_all
        from journeys.multitask import fallback_links

        if self.multitask is not None:
            if features is None:
                raise ScoringError("the multi-task journey linker needs the sentiment model's features")
            links, questions = self.multitask.link_encoded_with_questions(items, features)
            return links, list(questions)
        unknown: list[bool | None] = [None] * len(items)
        if self.hybrid is not None:
            return link_all(self.hybrid, items), unknown
        if self.fallback:
            return fallback_links(self.rules, items), unknown
        return link_all(self.rules, items), unknown


def _heads_path(settings: Settings) -> Path | None:
    if settings.journeys.heads is None:
        return None
    path = Path(settings.journeys.heads)
    return path if path.is_absolute() else settings.config_dir / path


def resolve_linking(settings: Settings, model: SentimentModel | None) -> JourneyLinking:
    """The linker ``journeys.method`` names. For ``multitask``, ``model`` is the sentiment model whose
    features the heads read (None: load the configured one); unusable heads fall back to the rules
    with a warning naming why (method ``rules-fallback``)."""
    from journeys import load_hybrid_linker, load_linker
    from journeys.multitask import FALLBACK_METHOD, load_multitask_linker

    method = settings.journeys.method
    rules = load_linker(_taxonomy_path(settings))
    if method == "rules":
        return JourneyLinking(rules.revision, f"method=rules taxonomy={rules.revision}", rules)
    if method == "hybrid":
        from sentiment import load_embedder  # heavy: loads the encoder

        embedder = load_embedder(settings.cache_dir)
        hybrid = load_hybrid_linker(embedder, encoder_revision=embedder.revision,
                                    taxonomy_path=_taxonomy_path(settings), cache_dir=settings.cache_dir)
        return JourneyLinking(hybrid.revision, f"method=hybrid revision={hybrid.revision} taxonomy="
                              f"{hybrid.rules.taxonomy.version} seeds={hybrid.seed_digest[:12]} encoder="
                              f"{hybrid.encoder_revision}", rules, hybrid=hybrid)
    if model is None:
        from sentiment import load_sentiment_model  # heavy: loads the model

        model = load_sentiment_model(settings.model, settings.cache_dir)
    revision = _feature_revision(model)
    linker, why = load_multitask_linker(rules, revision, heads_dir=_heads_path(settings))
    backend = getattr(model, "backend", "torch")
    if linker is not None and backend != "torch" and any(layer != "last" for layer in linker.layers):
        # The int8 export returns only the pooled last layer; these heads also read an inner layer.
        why = (f"the heads read the {'+'.join(linker.layers)} layers and model.backend {backend} exposes only "
               "the last; use model.backend: torch for multitask links")
        linker = None
    if linker is None:
        logger.warning("journey heads not used (%s); linking with the taxonomy rules, method %s", why,
                       FALLBACK_METHOD)
        return JourneyLinking(rules.revision, f"method={FALLBACK_METHOD} taxonomy={rules.revision}", rules,
                              fallback=True)
    return JourneyLinking(linker.revision, f"method=multitask revision={linker.revision} heads="
                          f"{linker.heads.digest[:12]} features={'+'.join(linker.layers)}"
                          f"{'+rules' if linker.heads.features.rules else ''}", rules, multitask=linker)


def _feature_revision(model: SentimentModel) -> str | None:
    """The revision features are keyed by: an encoder + head model's base revision, else None."""
    return getattr(model, "base_revision", None) if hasattr(model, "analyse") else None


def _link_rows(found: Sequence[Sequence[Link]]) -> list[list[JourneyLinkRow]]:
    return [[JourneyLinkRow(stage=link.stage, touchpoint=link.touchpoint, pain_point=link.pain_point,
                            exit_signal=link.exit_signal, method=link.method, confidence=link.confidence,
                            needs_review=link.needs_review) for link in links] for links in found]


def _item(row: MentionText) -> tuple[str, str | None, str | None]:
    return (row.text, row.language, row.channel or row.source_kind)


def link_journeys(
    settings: Settings,
    store: Store,
    *,
    batch_size: int = 500,
    relink: bool = False,
    brand: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    shard: Shard | None = None,
    advance: Advance = _no_progress,
) -> StepReport:
    """Link every mention not yet linked under the current linker revision (of ``shard`` only, when given).

    ``journeys.method`` picks the linker: ``multitask`` (default; the journey heads over the sentiment
    model's features, revision = taxonomy version + digest of heads and encoder; the rules, method
    ``rules-fallback``, when the heads cannot be used), ``hybrid`` (taxonomy rules + the seed-set embedding
    classifier) or ``rules``. Models load once per call. ``enrich`` does this and ``classify`` in one pass.
    """
    if relink and shard is not None and shard.count > 1:
        raise ConfigError(f"relinking works on every mention at once, not on {shard}: drop the shard to relink")
    linking = resolve_linking(settings, None)
    model = None
    if linking.multitask is not None:
        from sentiment import load_sentiment_model

        model = load_sentiment_model(settings.model, settings.cache_dir)
    version = linking.version
    done = 0

    def fetch(after: str | None) -> list[MentionText]:
        return store.mentions_without_links(version, batch_size, brand=brand, since=since, until=until,
                                            after_id=after, shard=shard)

    # One run per linker revision (and shard) at a time: a second `link --relink` waits instead of interleaving.
    with store.step_lock("link_journeys", version, shard=shard, on_wait=_waiting):
        if relink:
            store.reset_links(version, brand=brand, since=since, until=until)
        for page in _pages(fetch):
            features = None
            if model is not None and linking.multitask is not None:
                _, features = model.analyse([row.text for row in page], linking.multitask.layers)  # type: ignore[attr-defined]
            found, questions = linking.link_with_questions([_item(row) for row in page], features)
            store.save_journey_links(version, {row.id: links for row, links in zip(page, _link_rows(found),
                                                                                   strict=True)},
                                     {row.id: q for row, q in zip(page, questions, strict=True)})
            done += len(page)
            advance(len(page))
    return StepReport("link_journeys", done, linking.detail)


def enrich(
    settings: Settings,
    store: Store,
    *,
    batch_size: int = 256,
    brand: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    shard: Shard | None = None,
    advance: Advance = _no_progress,
) -> EnrichReport:
    """Sentiment and journey links in one pass: each mention's text is read once and encoded once.

    With ``shard`` only that shard's mentions are enriched: the shards of one count are disjoint and cover
    every mention, run in parallel (each under its own lock) and each is resumable on its own.

    Selects mentions lacking the default model's current sentiment result or a link run under the
    current linker revision; one ``analyse`` call per page yields the sentiment scores and the
    features the journey heads read; each result is written only where it was missing, so a re-run
    writes nothing new and an interrupted run resumes. Languages routed to another sentiment model
    (``model.routes``) are then classified by ``classify``; ``journeys.method: hybrid`` (its own
    encoder) runs ``classify`` then ``link_journeys``.
    """
    if settings.journeys.method == "hybrid":
        classified = classify(settings, store, brand=brand, since=since, until=until, shard=shard, advance=advance)
        relinked = link_journeys(settings, store, brand=brand, since=since, until=until, shard=shard)
        return EnrichReport("enrich", classified.processed + relinked.processed,
                            f"{classified.detail}; two passes (hybrid linker): {relinked.detail}",
                            classified.processed, relinked.processed, classified.detail, relinked.detail)
    from sentiment import load_sentiment_model  # heavy: imported only when enriching

    model = load_sentiment_model(settings.model, settings.cache_dir)
    linking = resolve_linking(settings, model)
    analyse = getattr(model, "analyse", None) if linking.multitask is not None else None
    routes = list(settings.model.routes)
    scored = linked = looked_at = 0
    after: str | None = None
    # The same locks as classify and link_journeys: a concurrent enrich, classify or link waits instead of
    # scoring or linking the same mentions twice.
    with store.step_lock("classify", shard=shard, on_wait=_waiting), \
            store.step_lock("link_journeys", linking.version, shard=shard, on_wait=_waiting):
        while page := store.mentions_to_enrich(model.name, model.revision, linking.version, batch_size,
                                               skip_languages=routes, brand=brand, since=since, until=until,
                                               after_id=after, shard=shard):
            after = page[-1].mention.id
            encode = [item for item in page if item.needs_sentiment or (item.needs_links and analyse is not None)]
            texts = [item.mention.text for item in encode]
            features = None
            if analyse is not None and linking.multitask is not None:
                scores, features = analyse(texts, linking.multitask.layers) if texts else ([], None)
            else:
                scores = model.score(texts) if texts else []
            if len(scores) != len(encode):
                raise ScoringError(f"model {model.name} returned {len(scores)} results for {len(encode)} texts")
            now = datetime.now(UTC)
            results = [
                SentimentResult(
                    mention_id=item.mention.id, model=model.name, revision=model.revision, backend=model.backend,
                    label=s.label, p_negative=s.probabilities[0], p_neutral=s.probabilities[1],
                    p_positive=s.probabilities[2], confidence=s.confidence, needs_review=s.needs_review,
                    classified_at=now,
                )
                for item, s in zip(encode, scores, strict=True) if item.needs_sentiment
            ]
            if results:
                store.save_sentiments(results)
            to_link = [i for i, item in enumerate(encode) if item.needs_links] if features is not None else []
            if features is not None:
                rows = [encode[i].mention for i in to_link]
                found, questions = linking.link_with_questions([_item(r) for r in rows], features[to_link])
            else:
                rows = [item.mention for item in page if item.needs_links]
                found, questions = linking.link_with_questions([_item(r) for r in rows])
            if rows:
                store.save_journey_links(linking.version,
                                         {r.id: links for r, links in zip(rows, _link_rows(found), strict=True)},
                                         {r.id: q for r, q in zip(rows, questions, strict=True)})
            scored += len(results)
            linked += len(rows)
            looked_at += len(page)
            advance(len(page))
    model_detail = f"model={model.name}" + (f" {shard}" if shard else "")
    if routes:
        routed = classify(settings, store, batch_size=batch_size, brand=brand, since=since, until=until, shard=shard)
        model_detail += f"; routed languages {routes}: {routed.processed} by their own model"
        scored += routed.processed
    return EnrichReport("enrich", looked_at, f"classified={scored} linked={linked} {model_detail}; {linking.detail}",
                        scored, linked, model_detail, linking.detail)


def enrich_shard(settings: Settings, index: int, count: int | None = None) -> Shard:
    """Shard ``index`` of ``count`` (default: ``pipeline.enrich_shards``); a ConfigError names a bad pair."""
    return Shard(index, settings.pipeline.enrich_shards if count is None else count)


def plan_enrich(settings: Settings, store: Store) -> list[int]:
    """Which of the ``pipeline.enrich_shards`` shards hold mentions ``enrich`` would process, in order.

    Loads the model and linker ``enrich`` would use (their revisions decide what is missing) but scores
    nothing. With ``model.routes`` every shard holding a mention in a routed language is included (those
    results are checked by the shard's own ``classify`` of the routed models).
    """
    from sentiment import load_sentiment_model

    count = settings.pipeline.enrich_shards
    model = load_sentiment_model(settings.model, settings.cache_dir)
    linking = resolve_linking(settings, model)
    routes = list(settings.model.routes)
    return store.shards_to_enrich(model.name, model.revision, linking.version, count,
                                  skip_languages=routes, also_languages=routes)


def _taxonomy_path(settings: Settings) -> Path | None:
    """The configured taxonomy file, relative to the config file (None: the bundled one)."""
    if settings.journeys.taxonomy is None:
        return None
    path = Path(settings.journeys.taxonomy)
    return path if path.is_absolute() else settings.config_dir / path


def refresh_summaries(settings: Settings, store: Store) -> StepReport:
    """Recompute the stored summary tables behind the marketing views."""
    with store.step_lock("refresh_summaries", on_wait=_waiting):
        rows = store.refresh_summaries()
    return StepReport("refresh_summaries", rows)


def resolve_period(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Reject naive datetimes at the edge; every window is timezone-aware."""
    for value in (since, until):
        if value is not None and value.tzinfo is None:
            raise ConfigError(f"date {value.isoformat()} has no timezone (use e.g. 2026-10-01T00:00:00+00:00)")
    return since, until


__all__: Sequence[str] = [
    "EXAMPLE_CONFIG",
    "EnrichReport",
    "SourceCheck",
    "check_sources",
    "PullReport",
    "PullTask",
    "Shard",
    "StepReport",
    "JourneyLinking",
    "classify",
    "enrich",
    "enrich_shard",
    "identify_languages",
    "link_journeys",
    "load_run_settings",
    "open_store",
    "plan_enrich",
    "pull",
    "pull_tasks",
    "refresh_summaries",
    "resolve_linking",
    "resolve_period",
]


# The analytics steps live in pipeline/analytics.py (which imports this module); they are re-exported
# here lazily (PEP 562) so ``steps.write_cx_map`` works for the DAGs without a circular import.
_ANALYTICS_STEPS = ("write_cx_map", "select_coaching_candidates", "check_alerts")


def __getattr__(name: str) -> Any:  # the analytics and escalation steps, typed in their modules
    if name == "escalate":
        from pipeline import escalate

        return escalate.escalate
    if name in _ANALYTICS_STEPS:
        from pipeline import analytics

        return getattr(analytics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
