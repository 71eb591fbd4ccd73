"""Alembic environment: runs on the connection ``storage.migrate`` hands over, or on a URL.

From the command line: ``alembic -c storage/alembic.ini -x url=postgresql+psycopg://... upgrade head``
(or set JOURNEYPULSE_DATABASE_URL). Autogenerate compares against ``storage.schema``.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from storage.schema import Base

config = context.config
target_metadata = Base.metadata

# Views are created by migrations, not by the models; autogenerate must not try to drop them.
_VIEWS_PREFIX = "v_"


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(_VIEWS_PREFIX))


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("JOURNEYPULSE_DATABASE_URL")
    if not url:
        raise SystemExit("no database: pass -x url=... or set JOURNEYPULSE_DATABASE_URL")
    return url


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
