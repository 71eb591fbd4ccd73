"""Schema migrations: upgrade a database to the newest Alembic revision, or check it is there.

The migrations in ``storage/migrations/versions`` are the only way the schema is created outside tests;
released revisions are never edited, changes go in a new revision.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from journeypulse.errors import StorageError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for our migrations; with ``connection`` the commands run on it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StorageError(f"no Alembic revision found under {MIGRATIONS_DIR}: the package is incomplete, reinstall it")
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine) -> None:
    """Bring the database to the newest revision (a no-op when it is already there)."""
    before = current_revision(engine)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    after = current_revision(engine)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)


def require_head(engine: sa.Engine) -> None:
    """Raise unless the database is at the newest revision (used when opened with migrate=False)."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise StorageError(
            f"database schema is at revision {current or 'none (empty database)'}, expected {head}: "
            "open the store with migrate=True or run `alembic -c storage/alembic.ini -x url=... upgrade head`"
        )


def check_no_drift(engine: sa.Engine) -> None:
    """Raise if the models and the migrated database differ (Alembic's ``check`` command)."""
    with engine.connect() as conn:
        command.check(alembic_config(conn))
