"""Alembic migrations: upgrade from empty, no drift against the models, downgrade and upgrade again."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from journeypulse.errors import ConfigError, StorageError
from journeypulse.record import Mention
from storage import VIEW_COLUMNS, Store

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "storage" / "alembic.ini"


def test_upgrade_from_empty_creates_every_table_and_view_and_shows_no_drift(empty_store_url: str) -> None:
    with Store.open(empty_store_url) as store:
        store.check_schema()  # alembic check: models and migrated database agree
        assert store.counts() == {"mentions": 0, "quarantined": 0, "with_language": 0, "with_sentiment": 0, "linked": 0}
        assert {view: store.view_columns(view) for view in VIEW_COLUMNS} == {
            view: list(cols) for view, cols in VIEW_COLUMNS.items()
        }


def test_opening_an_empty_database_without_migrating_names_the_fix(empty_store_url: str) -> None:
    with pytest.raises(StorageError, match="empty database.*migrate=True"):
        Store.open(empty_store_url, migrate=False)


def test_reopening_a_migrated_database_keeps_its_data(store_url: str, make_mention: Callable[..., Mention]) -> None:
    with Store.open(store_url) as store:
        store.store_batch("sample", "q", [make_mention("1")], [], "c1")
    with Store.open(store_url) as again, Store.open(store_url, migrate=False) as unmigrated:
        assert again.counts()["mentions"] == 1 and unmigrated.get_cursor("sample", "q") == "c1"


def test_alembic_command_line_downgrades_to_empty_and_the_store_upgrades_again(empty_store_url: str) -> None:
    Store.open(empty_store_url).close()
    env = {**os.environ, "PYTHONPATH": str(ALEMBIC_INI.parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"url={empty_store_url}", "downgrade", "base"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(StorageError, match="empty database"):
        Store.open(empty_store_url, migrate=False)
    with Store.open(empty_store_url) as store:
        store.check_schema()


def test_unsupported_database_url_is_refused_with_the_supported_forms() -> None:
    # A bad storage.url is a configuration error (exit 2 in the CLI) naming the field, never a storage failure.
    with pytest.raises(ConfigError, match="storage.url: backend 'mysql' is not supported; use sqlite:///path or postgresql"):
        Store.open("mysql://user@localhost/db")
    with pytest.raises(ConfigError, match="storage.url: not a valid database URL"):
        Store.open("not a url")


def test_schema_check_reports_a_column_added_outside_the_migrations(sqlite_url: str) -> None:
    import sqlite3

    Store.open(sqlite_url).close()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as raw:
        raw.execute("ALTER TABLE mention ADD COLUMN sneaky TEXT")
    with Store.open(sqlite_url) as store, pytest.raises(StorageError, match="schema differs.*sneaky"):
        store.check_schema()


def test_stores_opened_at_once_on_a_fresh_database_migrate_it_once(empty_store_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def open_and_count(_: int) -> int:
        with Store.open(empty_store_url) as store:
            return store.counts()["mentions"]

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(open_and_count, range(3))) == [0, 0, 0]
    with Store.open(empty_store_url, migrate=False) as store:
        store.check_schema()
