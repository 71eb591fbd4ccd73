"""journeypulse shared kernel: the mention record, configuration and errors.

Every other package imports from here; this package imports none of them.
"""

from journeypulse.errors import (
    ConfigError,
    JourneypulseError,
    ListenerError,
    PipelineError,
    ScoringError,
    StorageError,
)
from journeypulse.record import (
    Cursor,
    Mention,
    QuarantinedRow,
    content_hash,
    make_mention_id,
    normalise_text,
)

__all__ = [
    "ConfigError",
    "Cursor",
    "JourneypulseError",
    "ListenerError",
    "Mention",
    "PipelineError",
    "QuarantinedRow",
    "ScoringError",
    "StorageError",
    "content_hash",
    "make_mention_id",
    "normalise_text",
]
