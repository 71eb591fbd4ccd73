"""The one settings object, read from a YAML file and validated by pydantic.

Secrets never live in the file: a source names the environment variables that hold them
(``secrets: {bearer_token: X_BEARER_TOKEN}``) and listeners read them at construction.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from journeypulse.errors import ConfigError

DEFAULT_MODEL = "journeypulse/sentiment-e5-small"
"""Name of the project's own model: the offline multilingual-e5-small encoder plus the
committed head in ``sentiment/artifacts/``. Any Hugging Face id or local folder also works."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandConfig(_Strict):
    name: str = Field(min_length=1)
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
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str = Field(min_length=1)
    enabled: bool = True
    brands: list[str] = Field(default=[], description="brands this source listens for; empty = all")
    params: dict[str, JsonValue] = {}
    secrets: dict[str, str] = Field(default={}, description="parameter name -> environment variable")
    max_items_per_run: int = Field(default=10_000, gt=0)

    def secret(self, key: str) -> str | None:
        """The secret's value from the environment, or None when its variable is unset."""
        env_name = self.secrets.get(key)
        return os.environ.get(env_name) if env_name else None


class ModelConfig(_Strict):
    name: str = DEFAULT_MODEL
    revision: str | None = None
    backend: Literal["torch", "onnx-int8"] = "torch"
    batch_size: int = Field(default=32, gt=0)
    max_tokens: int = Field(default=128, ge=16, le=512)
    review_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    routes: dict[str, str] = Field(default={}, description="language code -> model name or folder")


class StorageConfig(_Strict):
    url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under data_dir")


class JourneyConfig(_Strict):
    taxonomy: str | None = Field(default=None, description="taxonomy YAML path; default bundled")
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


class PrivacyConfig(_Strict):
    pseudonym_key_env: str = "JOURNEYPULSE_PSEUDONYM_KEY"


class Settings(_Strict):
    config_dir: Path = Field(default=Path("."), description="folder of the config file; set by load_settings")
    data_dir: Path = Path("data")
    cache_dir: Path = Field(default_factory=lambda: Path(os.environ.get("JOURNEYPULSE_CACHE", "~/.cache/journeypulse")).expanduser())
    brands: list[BrandConfig] = Field(min_length=1)
    sources: list[SourceConfig] = []
    model: ModelConfig = ModelConfig()
    storage: StorageConfig = StorageConfig()
    journeys: JourneyConfig = JourneyConfig()
    language: LanguageConfig = LanguageConfig()
    privacy: PrivacyConfig = PrivacyConfig()

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


def load_settings(path: Path | str, *, base_dir: Path | None = None) -> Settings:
    """Read and validate a config file; relative paths in it resolve against its folder.

    Raises ConfigError naming the field and the problem.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist (copy config.example.yaml)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"config file {path}: {problems}") from exc
    base = base_dir or path.parent
    data_dir = settings.data_dir if settings.data_dir.is_absolute() else base / settings.data_dir
    return settings.model_copy(update={"data_dir": data_dir.resolve(), "config_dir": base.resolve()})
