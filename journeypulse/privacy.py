"""Keyed pseudonyms for author and customer identities.

A raw handle never leaves the listener that read it: listeners call a ``Pseudonymiser``
and store only its output. The key comes from an environment variable (or a key file
the pipeline creates under the data directory), so pseudonyms are stable per deployment
but cannot be reversed or joined across deployments.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from journeypulse.errors import ConfigError


class Pseudonymiser:
    """Turns an identity into a stable keyed pseudonym like ``a_3f9c0e1b2d4a5c6e``."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigError("pseudonym key must be at least 16 bytes long")
        self._key = key

    def __call__(self, identity: str, *, namespace: str = "a") -> str:
        # The namespace keeps e.g. author handles and order numbers from colliding.
        digest = hmac.new(self._key, f"{namespace}\x1f{identity.strip().casefold()}".encode(), hashlib.sha256)
        return f"{namespace}_{digest.hexdigest()[:16]}"

    def __repr__(self) -> str:  # never print the key
        return "Pseudonymiser(<key hidden>)"


def load_pseudonymiser(env_var: str, key_file: Path) -> Pseudonymiser:
    """Key from ``env_var`` if set, else from ``key_file`` (created with a random key, mode 0600)."""
    value = os.environ.get(env_var)
    if value:
        return Pseudonymiser(value.encode("utf-8"))
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return Pseudonymiser(key_file.read_text(encoding="utf-8").strip().encode("utf-8"))
