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


def _open_key(args: tuple[str, str]) -> str:
    env_var, key_file = args
    return load_pseudonymiser(env_var, Path(key_file))("@same_person")


def test_workers_opening_a_fresh_deployment_at_once_share_one_complete_key(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.delenv("JP_RACE_KEY", raising=False)
    for attempt in range(5):  # each attempt: a new key file raced for by eight processes
        key_file = tmp_path / f"run{attempt}" / ".pseudonym_key"
        with ProcessPoolExecutor(max_workers=8) as pool:
            pseudonyms = set(pool.map(_open_key, [("JP_RACE_KEY", str(key_file))] * 8))
        assert len(pseudonyms) == 1
        assert len(key_file.read_text(encoding="utf-8").strip()) == 64
        assert [p.name for p in key_file.parent.iterdir()] == [".pseudonym_key"]  # no temporary file left
        assert key_file.stat().st_mode & 0o777 == 0o600


def test_an_empty_key_file_is_a_clear_error_not_an_empty_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from journeypulse.errors import ConfigError

    monkeypatch.delenv("JP_EMPTY_KEY", raising=False)
    key_file = tmp_path / ".pseudonym_key"
    key_file.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty; restore it from a backup or set JP_EMPTY_KEY"):
        load_pseudonymiser("JP_EMPTY_KEY", key_file)
