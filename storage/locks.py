"""Locks that make concurrent runs of one step safe on both databases.

- ``step_lock(engine, step, scope)``: held for a whole step run (e.g. ``link_journeys`` of one taxonomy
  revision). PostgreSQL: a session advisory lock on a connection of its own; SQLite: an ``flock`` on a
  file next to the database (mode 0600). Both are released by the operating system or the server when
  the process dies, so a killed run never leaves a stale lock. When the lock is taken, ``on_wait`` is
  called with "another run holds ..." and the step waits for it. A run of one shard (``shard=(index,
  count)``) holds the step's lock *shared* and its shard's lock exclusively: the shards of a step run in
  parallel, the same shard never twice at once, and a whole-step run (exclusive) excludes them all.
- ``xact_lock(conn, name)``: a PostgreSQL transaction advisory lock (``pg_advisory_xact_lock``) taken by
  delete-then-insert writers (journey links, summary tables), so two concurrent transactions never both
  insert. SQLite needs none: it admits one writer at a time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def xact_lock(conn: sa.Connection, name: str) -> None:
    """Serialise this transaction with every other one that takes the same ``name`` (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def _describe(step: str, scope: str) -> str:
    return f"{step} ({scope})" if scope else step


@contextmanager
def step_lock(engine: sa.Engine, step: str, scope: str, on_wait: Callable[[str], None],
              shard: tuple[int, int] | None = None) -> Iterator[None]:
    """Hold the lock of ``step`` for ``scope`` for the duration of the block (see the module docstring)."""
    if shard is None:
        with _lock(engine, f"{step}\x1f{scope}", _describe(step, scope), on_wait, shared=False):
            yield
        return
    index, count = shard
    with _lock(engine, f"{step}\x1f{scope}", _describe(step, scope), on_wait, shared=True), \
            _lock(engine, f"{step}\x1f{scope}\x1fshard {index} of {count}",
                  f"{_describe(step, scope)} shard {index} of {count}", on_wait, shared=False):
        yield


@contextmanager
def _lock(engine: sa.Engine, name: str, what: str, on_wait: Callable[[str], None], *, shared: bool) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        key = lock_key(f"step\x1f{name}")
        kind = "_shared" if shared else ""
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            if not conn.execute(sa.text(f"SELECT pg_try_advisory_lock{kind}(:key)"), {"key": key}).scalar_one():
                on_wait(f"another run holds the lock on {what}; waiting for it to finish")
                conn.execute(sa.text(f"SELECT pg_advisory_lock{kind}(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(sa.text(f"SELECT pg_advisory_unlock{kind}(:key)"), {"key": key})
        return
    database = engine.url.database
    if not database or database == ":memory:":  # one connection, one process: nothing to coordinate
        yield
        return
    step = name.split("\x1f", 1)[0]
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    path = Path(database).expanduser().with_name(f"{Path(database).name}.{step}-{digest}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"another run holds the lock on {what}; waiting for it to finish")
            fcntl.flock(fd, mode)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
