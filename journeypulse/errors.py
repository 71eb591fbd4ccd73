"""One base error with a subclass per area.

Third-party errors are mapped at the boundary with ``raise ... from exc`` so callers only
ever catch these. Messages name the thing, the value and the fix.
"""


class JourneypulseError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(JourneypulseError):
    """The configuration file or an environment variable it names is wrong or missing."""


class ListenerError(JourneypulseError):
    """A source could not be read (auth, network, payload shape)."""


class ListenerAuthError(ListenerError):
    """A source refused the credentials (or they are missing)."""


class CredentialsMissingError(ListenerAuthError):
    """A credential the source needs is not configured, or its environment variable is not set."""


class CredentialsRejectedError(ListenerAuthError):
    """The service answered that the configured credential is wrong, expired or lacks access."""


class ScoringError(JourneypulseError):
    """A model could not be built, loaded or run."""


class StorageError(JourneypulseError):
    """The database could not be reached, migrated or written."""


class PipelineError(JourneypulseError):
    """A pipeline step could not complete (e.g. nothing usable was read)."""
