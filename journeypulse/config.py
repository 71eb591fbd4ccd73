"""The one settings object, read from a YAML file and validated by pydantic.

Secrets never live in the file: a source names the environment variables that hold them
(``secrets: {bearer_token: X_BEARER_TOKEN}``) and listeners read them at construction.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator, model_validator

from journeypulse.errors import ConfigError
from journeypulse.record import MENTION_COLUMN_CHARS

DEFAULT_MODEL = "journeypulse/sentiment-e5-small"
"""Name of the project's own model: the offline multilingual-e5-small encoder plus the
committed head in ``sentiment/artifacts/``. Any Hugging Face id or local folder also works."""


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else ValueError (pydantic shows it per field)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'Asia/Bangkok')") from exc
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandConfig(_Strict):
    name: str = Field(min_length=1, max_length=MENTION_COLUMN_CHARS["brand"])
    aliases: list[str] = []
    products: list[str] = []
    hashtags: list[str] = []
    keywords: list[str] = []
    languages: list[str] = []

    @field_validator("hashtags")
    @classmethod
    def _hashtags_start_with_hash(cls, tags: list[str]) -> list[str]:
        return [t if t.startswith("#") else f"#{t}" for t in tags]

    def terms(self) -> list[str]:
        """Every term that marks a mention of this brand, most specific first."""
        return [*self.products, *self.hashtags, self.name, *self.aliases, *self.keywords]


class SourceConfig(_Strict):
    name: str = Field(min_length=1, max_length=MENTION_COLUMN_CHARS["source"], pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str = Field(min_length=1)
    enabled: bool = True
    brands: list[str] = Field(default=[], description="brands this source listens for; empty = all")
    params: dict[str, JsonValue] = {}
    secrets: dict[str, str] = Field(default={}, description="parameter name -> environment variable")
    max_items_per_run: int = Field(default=10_000, gt=0)
    overlap_minutes: float = Field(
        default=15.0, ge=0, le=7 * 24 * 60,
        description="re-read this much behind a time cursor so late items (moderation, backdating, index lag) "
                    "are not lost; what was stored already counts as a duplicate",
    )
    overlap_items: int = Field(default=25, ge=0, le=1000,
                               description="the same for sources whose cursor is an id without a time (Reddit)")
    max_rate_limit_wait_minutes: float = Field(
        default=15.0, ge=0, description="total time one run may wait on rate limits (429) for this source",
    )

    def secret(self, key: str) -> str | None:
        """The secret's value from the environment, or None when its variable is unset."""
        env_name = self.secrets.get(key)
        return os.environ.get(env_name) if env_name else None


class ModelConfig(_Strict):
    name: str = DEFAULT_MODEL
    revision: str | None = None
    backend: Literal["torch", "onnx-int8"] = "torch"
    int8_recipe: str | None = Field(default=None, description="onnx-int8 quantisation recipe (sentiment/onnx_backend.py"
                                    "); default: the one the model folder names in backends.json, else the CPU's")
    batch_size: int = Field(default=32, gt=0)
    max_tokens: int = Field(default=128, ge=16, le=512)
    review_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    routes: dict[str, str] = Field(default={}, description="language code -> model name or folder")


class StorageConfig(_Strict):
    url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under data_dir")

    @field_validator("url")
    @classmethod
    def _looks_like_a_url(cls, url: str | None) -> str | None:
        # The full check is SQLAlchemy's (storage.create_engine); this catches the obvious slip early.
        # Never echo the value: it may hold a password.
        if url is not None and not re.match(r"^[A-Za-z][A-Za-z0-9+]*://", url.strip()):
            raise ValueError("not a database URL (expected e.g. sqlite:///data/jp.db or "
                             "postgresql+psycopg://user@host:5432/db)")
        return url


class JourneyConfig(_Strict):
    taxonomy: str | None = Field(default=None, description="taxonomy YAML path; default bundled")
    playbook: str | None = Field(default=None, description="handling playbook YAML path (suggestions on coaching "
                                 "examples); default bundled")
    method: Literal["multitask", "hybrid", "rules"] = Field(
        default="multitask", description="multitask: journey heads over the sentiment model's features (one "
        "encoder pass with sentiment; falls back to the rules when the heads are missing or were trained on "
        "another encoder); hybrid: taxonomy rules + embedding classifier trained on the seed set; rules: "
        "taxonomy rules only (no model)")
    heads: str | None = Field(default=None, description="journey heads folder (multitask); default: the "
                              "committed journeys/artifacts/journey-heads")


# Widely used languages; identification is restricted to these so that short social posts
# are not labelled with rare neighbours (e.g. Indonesian as Javanese). Teams can widen it.
DEFAULT_LANGUAGE_CANDIDATES = [
    "ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
    "ko", "ms", "nl", "no", "pl", "pt", "ro", "ru", "sv", "sw", "ta", "th", "tl", "tr", "uk", "ur", "vi", "zh",
]


class LanguageConfig(_Strict):
    candidates: list[str] = Field(default=DEFAULT_LANGUAGE_CANDIDATES, min_length=1)
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0, description="below this the source's hint wins")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")


def _parse_duration(value: object) -> object:
    """'30m', '12h', '1d', '45s' -> timedelta; anything else is left to pydantic (seconds, ISO 8601)."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return timedelta(**{unit: float(match[1])})
    return value


class PipelineConfig(_Strict):
    max_future_skew: timedelta = Field(
        default=timedelta(days=1), description="mentions dated further ahead of now are quarantined; "
        "a number of seconds or e.g. '30m', '12h', '1d'")
    enrich_shards: int = Field(
        default=1, ge=1, le=1024, description="parts the enrichment work is split into (mention shard key "
        "modulo this): the enrichment DAG runs one mapped enrich task per shard with work, in parallel up to "
        "the journeypulse_classify pool; keep it at least the pool's slots, and the same for all runs")

    @field_validator("max_future_skew", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _parse_duration(value)

    @field_validator("max_future_skew")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

DESTINATION_SECRETS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind -> (secrets that must be named, secrets that may be named)
    "webhook": (frozenset({"signing_key"}), frozenset({"signing_key", "url"})),
    "slack": (frozenset(), frozenset({"url"})),
    "teams": (frozenset(), frozenset({"url"})),
    "zendesk": (frozenset({"email", "api_token"}), frozenset({"email", "api_token"})),
    "freshdesk": (frozenset({"api_key"}), frozenset({"api_key"})),
}
DESTINATION_PARAMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind -> (params that must be set, params that may be set)
    "webhook": (frozenset(), frozenset()),
    "slack": (frozenset(), frozenset()),
    "teams": (frozenset(), frozenset()),
    "zendesk": (frozenset(), frozenset({"tags", "group_id"})),
    "freshdesk": (frozenset({"requester_email"}), frozenset({"requester_email", "tags", "group_id", "source"})),
}
FRESHDESK_SOURCES = frozenset({1, 2, 3, 7, 9, 10})
"""Ticket sources Freshdesk accepts on creation: email, portal, phone, chat, feedback widget, outbound email."""
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_endpoint_url(url: str, *, base: bool) -> str:
    """An https URL (http only to a loopback host); ``base``: no path, query or fragment (trailing / dropped).

    Raises ValueError without echoing the URL (a webhook URL may embed its token).
    """
    cleaned = url.rstrip("/") if base else url
    parts = urlsplit(cleaned)
    loopback = parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK_HOSTS
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        raise ValueError("must be an https URL (http only for a loopback host such as 127.0.0.1)")
    if base and (parts.path or parts.query or parts.fragment):
        raise ValueError("must be the service's base URL without a path, e.g. https://acme.zendesk.com")
    return cleaned


class DestinationConfig(_Strict):
    """Where escalations go. Credentials are named environment variables, never values.

    Per kind (checked here; that the variables are set is checked when the destination is built):
    webhook: ``url`` or ``secrets.url``, ``secrets.signing_key``; slack and teams: ``url`` or (better, the
    URL embeds its token) ``secrets.url``; zendesk: base ``url``, ``secrets.email`` and ``secrets.api_token``,
    params ``tags``, ``group_id``; freshdesk: base ``url``, ``secrets.api_key``, params ``requester_email``
    (required), ``tags``, ``group_id``, ``source``.
    """

    kind: Literal["webhook", "slack", "teams", "zendesk", "freshdesk"]
    url: str | None = Field(default=None, min_length=1, description="endpoint: webhook URL, or the helpdesk's base "
                            "URL (https://<subdomain>.zendesk.com, https://<domain>.freshdesk.com); https, http only "
                            "for a loopback host")
    secrets: dict[str, str] = Field(default={}, description="parameter name -> environment variable, e.g. "
                                    "{signing_key: ESC_HMAC_KEY} (webhook), {email: ZD_EMAIL, api_token: ZD_TOKEN} "
                                    "(zendesk), {api_key: FD_API_KEY} (freshdesk), {url: SLACK_WEBHOOK_URL}")
    params: dict[str, JsonValue] = Field(default={}, description="destination-specific options, e.g. ticket "
                                         "group or tags")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_attempts: int = Field(default=3, ge=1, le=10, description="tries within one run before the row waits "
                              "for the next run")
    max_runs: int = Field(default=5, ge=1, le=100, description="runs that may retry a failed escalation before "
                          "it is dead-lettered")
    max_retry_after_seconds: float = Field(default=60.0, gt=0, le=900, description="longest Retry-After wait "
                                           "honoured within a run; a longer one ends the run's tries for this "
                                           "message, which waits for the next run")

    @model_validator(mode="after")
    def _fits_its_kind(self) -> DestinationConfig:
        required, allowed = DESTINATION_SECRETS[self.kind]
        _check_names("secrets", set(self.secrets), required, allowed, self.kind)
        for param, env_var in self.secrets.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env_var):
                raise ValueError(f"secrets.{param} must name an environment variable (letters, digits, _), "
                                 "not hold the secret itself")
        required, allowed = DESTINATION_PARAMS[self.kind]
        _check_names("params", set(self.params), required, allowed, self.kind)
        if self.kind in ("zendesk", "freshdesk"):
            if self.url is None:
                raise ValueError(f"a {self.kind} destination needs url: the service's base URL")
            object.__setattr__(self, "url", check_endpoint_url(self.url, base=True))
        elif (self.url is None) == ("url" not in self.secrets):
            raise ValueError(f"a {self.kind} destination needs exactly one of url and secrets.url (the environment "
                             "variable holding the URL; better for URLs that embed a token)")
        elif self.url is not None:
            check_endpoint_url(self.url, base=False)
        _check_params(self.kind, self.params)
        return self


def _check_names(what: str, given: set[str], required: frozenset[str], allowed: frozenset[str], kind: str) -> None:
    if missing := sorted(required - given):
        raise ValueError(f"a {kind} destination needs {what}: {', '.join(missing)}")
    if unknown := sorted(given - allowed):
        raise ValueError(f"a {kind} destination does not take {what}: {', '.join(unknown)} "
                         f"(it takes {', '.join(sorted(allowed)) or 'none'})")


def _check_params(kind: str, params: dict[str, JsonValue]) -> None:
    tags = params.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t and " " not in t for t in tags):
        raise ValueError("params.tags must be a list of tags without spaces")
    if "group_id" in params and (not isinstance(params["group_id"], int) or isinstance(params["group_id"], bool)):
        raise ValueError("params.group_id must be the numeric id of the helpdesk group")
    if "source" in params and params["source"] not in FRESHDESK_SOURCES:
        raise ValueError(f"params.source must be one of Freshdesk's ticket sources {sorted(FRESHDESK_SOURCES)}")
    if kind == "freshdesk":
        email = params.get("requester_email")
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise ValueError("params.requester_email must be an e-mail address (the requester Freshdesk files the "
                             "ticket under, e.g. the brand's social inbox)")


ENGAGEMENT_METRICS = ("likes", "reposts", "replies")
"""Public engagement a rule may ask for; which metadata key holds each, per source, is in
``escalation.rules.ENGAGEMENT_KEYS`` (sources that report none leave the condition undecided)."""


class QuietHoursConfig(_Strict):
    """A daily window (local time of ``timezone``) in which a rule sends nothing; its matches wait and are
    sent when the window ends. ``start`` after ``end`` spans midnight (22:00-07:00)."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time")
    timezone: str = Field(default="UTC", description="IANA name, e.g. Asia/Ho_Chi_Minh")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return check_time_zone(zone)


class VolumeConfig(_Strict):
    """Escalate a spike once: ``min_mentions`` matching mentions published within ``window``."""

    min_mentions: int = Field(ge=2, le=100_000)
    window: timedelta = Field(description="e.g. '30m', '2h'")
    per_brand: bool = Field(default=True, description="count each brand's mentions apart")

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _parse_duration(value)

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > timedelta(days=7):
            raise ValueError("must be more than 0 and at most 7 days")
        return value


class EscalationRuleConfig(_Strict):
    """One routing rule: which enriched mentions (or volume spikes) go to which destinations.

    Every condition that is set must hold (AND); a list condition holds when the mention's value is one
    of the list (OR). Stage, pain point and exit type names are checked against the taxonomy when the
    escalate step starts.
    """

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    destinations: list[str] = Field(min_length=1)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    enabled: bool = True
    brands: list[str] = Field(default=[], description="brand names; empty = any")
    sources: list[str] = Field(default=[], description="source names; empty = any")
    channels: list[str] = Field(default=[], description="channels (x, reddit, app_review, ...); empty = any")
    languages: list[str] = Field(default=[], description="identified languages (ISO 639-1); empty = any")
    stages: list[str] = Field(default=[], description="journey stages (any current link); empty = any")
    pain_points: list[str] = Field(default=[], description="pain points (any current link); empty = any")
    exit_signal: bool | None = Field(default=None, description="true: some link carries an exit signal; "
                                     "false: none does")
    exit_types: list[str] = Field(default=[], description="exit types (cancellation, refund_request, ...); "
                                  "implies an exit signal")
    sentiment: list[Literal["negative", "neutral", "positive"]] = Field(default=[], description="current sentiment "
                                                                           "label; empty = any")
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0, description="sentiment confidence at least")
    max_confidence: float | None = Field(default=None, ge=0.0, le=1.0, description="sentiment confidence at most")
    min_link_confidence: float | None = Field(default=None, ge=0.0, le=1.0,
                                              description="confidence of the link that met the journey conditions")
    question: bool | None = Field(default=None, description="true: the journey heads read the mention as a "
                                  "question (mentions linked without the heads have no answer and do not match)")
    min_engagement: dict[Literal["likes", "reposts", "replies"], int] = Field(
        default={}, description="public engagement at least, where the source reports it")
    unknown_engagement: Literal["match", "skip"] = Field(
        default="match", description="a mention whose source reports no such count: match (default) or skip")
    volume: VolumeConfig | None = Field(default=None, description="escalate spikes of matching mentions as one "
                                        "group message instead of each mention")
    quiet_hours: QuietHoursConfig | None = None
    max_per_hour: int | None = Field(default=None, ge=1, le=10_000, description="at most this many subjects "
                                     "(mentions or volume groups) escalated by this rule in any hour, each to all its "
                                     "destinations; the rest wait for the next hour")
    include_contact_details: bool = Field(default=False, description="keep e-mail addresses and phone numbers in "
                                          "the text sent to ticket destinations (zendesk, freshdesk) only")

    @field_validator("min_engagement")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        if any(v < 0 for v in value.values()):
            raise ValueError("engagement thresholds must be 0 or more")
        return value

    @field_validator("destinations")
    @classmethod
    def _unique_destinations(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("a destination is named twice")
        return names


TICKET_KINDS = ("zendesk", "freshdesk")
"""Destination kinds that open a ticket (the only ones ``include_contact_details`` applies to)."""


class EscalationConfig(_Strict):
    enabled: bool = True
    destinations: dict[str, DestinationConfig] = {}
    rules: list[EscalationRuleConfig] = []
    initial_lookback: timedelta = Field(
        default=timedelta(days=1), description="a rule's first run considers mentions enriched this far back "
        "(later runs: those enriched since its previous run)")
    overlap: timedelta = Field(default=timedelta(minutes=5), description="re-read this much behind a rule's "
                               "watermark so a slow enrichment commit is not missed (claims never repeat)")

    @field_validator("initial_lookback", "overlap", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _parse_duration(value)

    @model_validator(mode="after")
    def _rules_name_known_destinations(self) -> EscalationConfig:
        ids = [r.id for r in self.rules]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"rule ids must be unique, repeated: {', '.join(repeated)}")
        for rule in self.rules:
            unknown = [d for d in rule.destinations if d not in self.destinations]
            if unknown:
                raise ValueError(f"rule {rule.id!r} names destinations {unknown} that are not configured "
                                 f"(configured: {sorted(self.destinations)})")
            if rule.include_contact_details and not any(self.destinations[d].kind in TICKET_KINDS
                                                        for d in rule.destinations):
                raise ValueError(f"rule {rule.id!r}: include_contact_details applies to ticket destinations "
                                 f"({', '.join(TICKET_KINDS)}) and the rule names none")
            if (rule.min_confidence is not None and rule.max_confidence is not None
                    and rule.min_confidence > rule.max_confidence):
                raise ValueError(f"rule {rule.id!r}: min_confidence is above max_confidence")
        return self


class PrivacyConfig(_Strict):
    pseudonym_key_env: str = "JOURNEYPULSE_PSEUDONYM_KEY"


class Settings(_Strict):
    config_dir: Path = Field(default=Path("."), description="folder of the config file; set by load_settings")
    config_file: Path | None = Field(default=None, description="the config file itself; set by load_settings")
    data_dir: Path = Path("data")
    cache_dir: Path = Field(default_factory=lambda: Path(os.environ.get("JOURNEYPULSE_CACHE", "~/.cache/journeypulse")).expanduser())
    brands: list[BrandConfig] = Field(min_length=1)
    sources: list[SourceConfig] = []
    model: ModelConfig = ModelConfig()
    storage: StorageConfig = StorageConfig()
    journeys: JourneyConfig = JourneyConfig()
    language: LanguageConfig = LanguageConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    pipeline: PipelineConfig = PipelineConfig()
    escalation: EscalationConfig = EscalationConfig()

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {', '.join(duplicates)}")
        return sources

    @property
    def database_url(self) -> str:
        if self.storage.url:
            return self.storage.url
        return f"sqlite:///{(self.data_dir / 'journeypulse.db').resolve()}"

    def brand(self, name: str) -> BrandConfig:
        for brand in self.brands:
            if brand.name == name:
                return brand
        raise ConfigError(f"brand {name!r} is not configured (configured: {[b.name for b in self.brands]})")


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read_text(path: Path) -> str:
    """The file's text, or a one-line ConfigError: ``<file>: <what>: <problem>``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file: does not exist (copy examples/config.example.yaml)") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: file: is a folder; pass the YAML file inside it") from exc
    except PermissionError as exc:
        raise ConfigError(f"{path}: file: cannot be read (permission denied)") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: file: cannot be read ({exc.strerror or exc.__class__.__name__})") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from exc


def load_settings(path: Path | str, *, base_dir: Path | None = None) -> Settings:
    """Read and validate a config file; relative paths in it resolve against its folder.

    Raises ConfigError, one line: ``<file>: <field or line>: <problem>`` (values are never echoed,
    so a secret pasted into the wrong field does not reach the terminal or the logs).
    """
    path = Path(path)
    text = _read_text(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "YAML"
        problem = " ".join(str(exc.problem or exc.context or "unreadable").split())
        raise ConfigError(f"{path}: {where}: not valid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level: must be a mapping (brands:, sources:, ...)")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
    base = base_dir or path.parent
    data_dir = settings.data_dir if settings.data_dir.is_absolute() else base / settings.data_dir
    return settings.model_copy(update={"data_dir": data_dir.resolve(), "config_dir": base.resolve(),
                                       "config_file": path.resolve()})
