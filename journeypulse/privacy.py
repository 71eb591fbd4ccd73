"""Keyed pseudonyms for author and customer identities.

A raw handle never leaves the listener that read it: listeners call a ``Pseudonymiser``
and store only its output. The key comes from an environment variable (or a key file
the pipeline creates under the data directory), so pseudonyms are stable per deployment
but cannot be reversed or joined across deployments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from journeypulse.errors import ConfigError
from journeypulse.record import QuarantinedRow


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
    """Key from ``env_var`` if set, else from ``key_file`` (created with a random key, mode 0600).

    Several workers may open a fresh deployment at once: the key is written whole to a private temporary file
    and hard-linked into place, which fails if another process got there first, so every process reads the
    same complete key (never an empty or half-written file, never two keys)."""
    value = os.environ.get(env_var)
    if value:
        return Pseudonymiser(value.encode("utf-8"))
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pseudonym_key-", dir=key_file.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(tmp, key_file)
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            os.unlink(tmp)
    key = key_file.read_text(encoding="utf-8").strip()
    if not key:
        raise ConfigError(f"pseudonym key file {key_file} is empty; restore it from a backup or set {env_var} "
                          "(a new key changes every pseudonym)")
    return Pseudonymiser(key.encode("utf-8"))


# --------------------------------------------------------------------------- identities to erase

PSEUDONYM_PATTERN = re.compile(r"[a-z]_[0-9a-f]{16}")
"""What a ``Pseudonymiser`` returns: a one-letter namespace, ``_`` and 16 hex digits."""

IDENTITY_NAMESPACES = {"a": "author", "c": "customer id", "i": "interaction id"}
"""Namespaces listeners pseudonymise into (``listeners/files.py``: author, customer_id, interaction_id)."""


@dataclass(frozen=True)
class ErasureTarget:
    """Everything one erasure request may match: the pseudonyms to delete and the raw forms to scrub."""

    pseudonyms: frozenset[str]
    raw: frozenset[str]  # the handle / id as typed, with and without "@" or a source prefix (never stored)

    def needles(self) -> list[str]:
        """Strings whose presence in a stored text marks it as carrying this identity (3+ characters)."""
        return sorted({*self.pseudonyms, *(r for r in self.raw if len(r) >= 3)})


def _bare_forms(who: str, source_kinds: Iterable[str]) -> set[str]:
    """``who`` without an optional ``<kind>:`` prefix, ``@`` or ``u/`` (how people write handles)."""
    forms = {who}
    kinds = {k.casefold() for k in source_kinds}
    prefix, sep, rest = who.partition(":")
    if sep and prefix.casefold() in kinds and rest:
        forms.add(rest)
    for form in list(forms):
        stripped = form.lstrip("@")
        for lead in ("/u/", "u/"):
            if stripped.casefold().startswith(lead):
                stripped = stripped[len(lead):]
        forms.add(stripped)
    return {f.strip() for f in forms if f.strip()}


def erasure_target(who: str, pseudonymise: Pseudonymiser, source_kinds: Iterable[str]) -> ErasureTarget:
    """The pseudonyms a handle, customer id, interaction id or pseudonym may be stored under.

    A pseudonym is used as it is. Anything else is pseudonymised every way a listener may have done it:
    as an author (namespace ``a``) bare and with each source kind's prefix (``reddit:<name>``,
    ``x:<id>``, ``mastodon:<acct>``, ``bluesky:<did>``, ...), with and without ``@``; and as a
    contact-center customer id (``c``) and interaction id (``i``).
    """
    who = who.strip()
    if not who:
        raise ConfigError("forget-author: give a handle, a customer or interaction id, or a pseudonym (a_0123456789abcdef)")
    if PSEUDONYM_PATTERN.fullmatch(who):
        return ErasureTarget(frozenset({who}), frozenset())
    kinds = list(source_kinds)
    bare = _bare_forms(who, kinds)
    authors = {f"{kind}:{form}" for kind in kinds for form in bare} | bare
    pseudonyms = {pseudonymise(a, namespace="a") for a in authors}
    pseudonyms |= {pseudonymise(form, namespace=ns) for form in bare for ns in ("c", "i")}
    raw = bare | {f"@{form}" for form in bare}
    return ErasureTarget(frozenset(pseudonyms), frozenset(raw))


# --------------------------------------------------------------------------- quarantine payloads

IDENTITY_KEYS = frozenset({
    # people and accounts (whole sub-objects such as Mastodon's ``account`` or X's ``includes.users``)
    "author", "authors", "author_id", "author_name", "author_fullname", "author_detail", "author_url",
    "authordisplayname", "authorchannelid", "authorchannelurl", "authorprofileimageurl", "account", "user",
    "users", "user_id", "userid", "username", "user_name", "userimage", "user_image", "screen_name", "acct",
    "did", "handle", "nickname", "nick", "display_name", "displayname", "avatar", "profile_image_url",
    "owner", "creator", "contributors", "publisher", "channel_id", "channelid", "replytouser", "in_reply_to_user_id",
    # contact details and contact-center identities
    "email", "e-mail", "e_mail", "mail", "phone", "phone_number", "customer_id", "customer", "interaction_id",
    # links that embed a handle or DID (https://host/@name, at://did:plc:.../...)
    "url", "uri", "permalink", "link", "profile_url",
})
"""JSON keys (case-insensitive) whose values identify a person; their scalars become pseudonyms."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])\+\d[\d ()./-]{6,}\d|\(\d{3}\)\s?\d{3}[-.\s]\d{4}")
_DID = re.compile(r"did:(?:plc|web):[\w.:%-]+")
_HANDLE = re.compile(r"(?<![\w@/])@[A-Za-z0-9_][\w.]{1,}(?:@[\w-]+(?:\.[\w-]+)+)?")


JsonTree = dict[str, "JsonTree"] | list["JsonTree"] | str | int | float | bool | None


def _alias(value: str, pseudonymise: Pseudonymiser | None, namespace: str = "a") -> str:
    if PSEUDONYM_PATTERN.fullmatch(value.strip()):
        return value  # already a pseudonym (e.g. the file listener's parsed rows)
    if pseudonymise is None:
        return "[identity removed]"
    return pseudonymise(value.lstrip("@"), namespace=namespace)


def scrub_text(text: str, pseudonymise: Pseudonymiser | None) -> str:
    """Free text with e-mail addresses, international phone numbers and @handles replaced."""
    text = _EMAIL.sub(lambda m: _alias(m.group(0), pseudonymise, "e"), text)
    text = _PHONE.sub("[phone removed]", text)
    text = _DID.sub(lambda m: _alias(m.group(0), pseudonymise), text)
    return _HANDLE.sub(lambda m: "@" + _alias(m.group(0), pseudonymise), text)


def _scrub_json(value: JsonTree, pseudonymise: Pseudonymiser | None, identity: bool) -> JsonTree:
    if isinstance(value, dict):
        return {k: _scrub_json(v, pseudonymise, identity or k.casefold() in IDENTITY_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v, pseudonymise, identity) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if identity:
        return _alias(str(value), pseudonymise)
    return scrub_text(value, pseudonymise) if isinstance(value, str) else value


def scrub_payload(payload: str, pseudonymise: Pseudonymiser | None) -> str:
    """A quarantine payload with every identity replaced by its pseudonym (or removed without a key).

    JSON payloads keep their shape, so the row still shows what was wrong with it: values under
    identity keys (``IDENTITY_KEYS``, at any depth, whole sub-objects such as ``account`` or
    ``includes.users`` included) become pseudonyms; e-mail addresses, phone numbers in international
    form and ``@handles`` in any other string are replaced too. Other payloads (a CSV or text line
    that could not be parsed) get the free-text replacement.
    """
    stripped = payload.strip()
    if stripped[:1] in ("{", "["):
        try:
            tree = json.loads(stripped)
        except (ValueError, RecursionError):
            return scrub_text(payload, pseudonymise)
        try:
            return json.dumps(_scrub_json(tree, pseudonymise, False), ensure_ascii=False)
        except RecursionError:
            return scrub_text(payload, pseudonymise)
    return scrub_text(payload, pseudonymise)


def scrub_quarantined(row: QuarantinedRow, pseudonymise: Pseudonymiser | None) -> QuarantinedRow:
    """The row as it may be stored: identity fields of its payload and locator pseudonymised.

    Applied by the storage layer to every quarantine row before it is written (see ``Store.open``).
    """
    return dataclasses.replace(row, payload=scrub_payload(row.payload, pseudonymise),
                               locator=scrub_text(row.locator, pseudonymise))
