"""Database fixtures shared by every test package.

- ``pg_server`` (session): the URL of a PostgreSQL server. When ``TEST_DATABASE_URL`` is set
  (e.g. ``postgresql+psycopg://user:pw@host:5432/postgres``; the role needs CREATEDB) that server
  is used. Otherwise a throwaway PostgreSQL 15 cluster is started from /usr/lib/postgresql/15/bin
  (initdb --no-sync -A trust, fsync=off, 127.0.0.1 on a free port, socket in a temp dir; run as the
  ``postgres`` user when the suite runs as root) and stopped at session end. If no server can be
  started the postgres tests are skipped with the reason, except when CI=true: then they fail.
- ``postgres_url``: a fresh database on that server for one test (dropped afterwards), already at the
  newest schema revision: it is cloned from a template migrated once per session, so ``Store.open``
  on it is a no-op migration and costs no DDL per test. It holds no rows.
- ``empty_postgres_url``: a fresh, completely empty database (for migration tests).
- ``sqlite_url``: a fresh SQLite file path in the test's tmp_path (the file does not exist yet).
- ``store_url``: parametrised over ``sqlite_url`` and ``postgres_url`` (ids ``sqlite`` and ``postgres``;
  the postgres case carries the ``postgres`` marker), so one storage test runs on both dialects.
- ``empty_store_url``: the same over ``sqlite_url`` and ``empty_postgres_url``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

# tests/<package>/ folders mirror the top-level packages but have no __init__.py; when pytest puts
# tests/ on sys.path (plain `pytest`, rootdir conftest) they would shadow the real packages as namespace
# packages, because the editable install's finder runs after the path finder. The repository root on
# sys.path makes the regular packages win. (pyproject's pytest `pythonpath = ["."]` would do the same.)
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(1, _REPO_ROOT)

PG_BIN = Path(os.environ.get("TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(_as_postgres(cmd), check=False, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")


class _ThrowawayCluster:
    """A PostgreSQL cluster in a temp dir, owned by the postgres user when we are root."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="jp-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres", group="postgres")
        self.root.chmod(0o700)

    def start(self) -> str:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL binaries not found under {PG_BIN} (set TEST_PG_BIN)")
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        options = (
            f"-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        )
        _run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "30",
                "start",
            ]
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            _run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    env_url = os.environ.get("TEST_DATABASE_URL")
    if env_url:
        yield env_url
        return
    cluster = _ThrowawayCluster()
    try:
        url = cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(cluster.root, ignore_errors=True)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL could not be started and CI=true (never skipped in CI): {exc}")
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    try:
        yield url
    finally:
        cluster.stop()


def _admin(server_url: str, sql: str) -> None:
    import psycopg

    conninfo = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql)


def _database_url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


@contextmanager
def _database(server_url: str, template: str, prefix: str) -> Iterator[str]:
    """A new database cloned from ``template``, dropped afterwards; yields its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}" ENCODING \'UTF8\'')
    try:
        yield name
    finally:
        _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_migrated_template(pg_server: str) -> Iterator[str]:
    """Name of a database migrated to the newest revision once per session (clone it, never use it)."""
    from storage import Store

    with _database(pg_server, "template0", "jp_template") as name:
        Store.open(_database_url(pg_server, name)).close()  # close: CREATE DATABASE needs no open sessions
        yield name


@pytest.fixture
def postgres_url(pg_server: str, pg_migrated_template: str) -> Iterator[str]:
    with _database(pg_server, pg_migrated_template, "jp_test") as name:
        yield _database_url(pg_server, name)


@pytest.fixture
def empty_postgres_url(pg_server: str) -> Iterator[str]:
    with _database(pg_server, "template0", "jp_empty") as name:
        yield _database_url(pg_server, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journeypulse.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_store_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    return str(request.getfixturevalue(fixture))
