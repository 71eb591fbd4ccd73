"""Pseudonyms are keyed, stable, namespaced and never reveal the key."""

import stat
from pathlib import Path

import pytest

from journeypulse.errors import ConfigError
from journeypulse.privacy import Pseudonymiser, load_pseudonymiser


def test_pseudonyms_are_stable_case_insensitive_and_keyed() -> None:
    one = Pseudonymiser(b"k" * 32)
    assert one("@Minh_Tran") == one("@minh_tran ")
    assert one("@minh_tran").startswith("a_") and "minh" not in one("@minh_tran")
    assert Pseudonymiser(b"z" * 32)("@minh_tran") != one("@minh_tran")
    assert one("1042", namespace="c") != one("1042", namespace="i")


def test_short_keys_are_refused_and_the_key_is_never_printed() -> None:
    with pytest.raises(ConfigError):
        Pseudonymiser(b"short")
    assert "k" * 32 not in repr(Pseudonymiser(b"k" * 32))


def test_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JP_TEST_KEY", raising=False)
    key_file = tmp_path / "data" / ".pseudonym_key"
    first = load_pseudonymiser("JP_TEST_KEY", key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_pseudonymiser("JP_TEST_KEY", key_file)("@a") == first("@a")
    monkeypatch.setenv("JP_TEST_KEY", "an-environment-key-of-enough-length")
    assert load_pseudonymiser("JP_TEST_KEY", key_file)("@a") != first("@a")
