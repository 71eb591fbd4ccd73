"""``params`` of a ``kind: file`` source, validated when the listener is built."""

from __future__ import annotations

import codecs
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from journeypulse.config import check_time_zone

FIELDS = ("id", "text", "created_at", "author", "url", "channel", "language_hint", "customer_id",
          "interaction_id", "brand")
DEFAULT_COLUMNS = {**{f: f for f in FIELDS}, "language_hint": "lang"}
REQUIRED = ("id", "text", "created_at")
IDENTITY_NAMESPACES = {"author": "a", "customer_id": "c", "interaction_id": "i"}


class FileParams(BaseModel):
    """``params`` of a ``kind: file`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="file or glob; relative paths resolve against base_dir")
    base_dir: str | None = Field(default=None, description="folder of the config file (the pipeline sets it)")
    format: Literal["jsonl", "csv"] | None = Field(default=None, description="default: from the extension")
    encoding: str = Field(default="utf-8", description="used when the file has no byte-order mark")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV field delimiter")
    columns: dict[str, str] = Field(default={}, description="record field -> column name, over the defaults")
    metadata_columns: list[str] = Field(default=[], description="extra columns copied into metadata")
    default_channel: str | None = None
    timezone: str = Field(default="UTC", description="zone for naive timestamps")
    timestamp_format: str | None = Field(default=None, description="strptime format when not ISO-8601")
    require_brand_match: bool = Field(default=True, description="false for contact-center exports")
    brand: str | None = Field(default=None, description="brand of rows that name none (no brand column value "
                              "and no brand_by_channel entry); rows then need no brand term")
    brand_by_channel: dict[str, str] = Field(default={}, description="channel -> brand of that channel's rows")
    settle_seconds: float = Field(default=300, ge=0, description="an unterminated last line is read once the "
                                  "file has not changed for this long (a complete JSON object at once)")
    max_record_lines: int = Field(default=1_000, ge=2, description="a quoted CSV field spanning more physical "
                                  "lines is a runaway quote: its first line is quarantined, reading resumes after it")
    max_record_bytes: int = Field(default=1_048_576, ge=1_024, description="the same limit in bytes")

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown record field(s) {unknown}; map only {list(FIELDS)}")
        if any(not name.strip() for name in columns.values()):
            raise ValueError("column names must not be empty")
        return columns

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            return codecs.lookup(encoding).name
        except LookupError as exc:
            raise ValueError(f"unknown encoding {encoding!r}") from exc

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return check_time_zone(name)

    @model_validator(mode="after")
    def _identities_stay_out_of_metadata(self) -> FileParams:
        # Identity columns would leak raw ids; the identity field names are the keys of their pseudonyms.
        reserved = {self.column(f) for f in IDENTITY_NAMESPACES} | {"customer_id", "interaction_id"}
        leaked = sorted(reserved & set(self.metadata_columns))
        if leaked:
            raise ValueError(f"metadata_columns {leaked} hold identities or reserved keys; remove them")
        return self

    def column(self, field: str) -> str:
        return self.columns.get(field, DEFAULT_COLUMNS[field])
