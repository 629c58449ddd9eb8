"""The database engine (SQLite pragmas, real transactions) and schema migrations."""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["begin_write", "database_url_for", "migrate", "open_engine"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions (a test keeps the two in step). Knowing it lets
# a start-up with a current schema skip importing Alembic, a tenth of the cold start.
SCHEMA_HEAD = "0006"
# Postgres advisory lock key that serialises migrate() across processes (any fixed bigint).
_PG_MIGRATE_LOCK = 0x6C6F636B67617465 & 0x7FFFFFFFFFFFFFFF
_MIGRATE_BUSY_TIMEOUT_MS = 120_000
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


def database_url_for(data_dir: Path) -> str:
    """The default store: one SQLite file in the data dir."""
    return f"sqlite:///{data_dir / 'lockgate.db'}"


def open_engine(url: str, *, busy_timeout_ms: int = 5000) -> sa.Engine:
    """An engine that is safe to share between threads; for SQLite, WAL and real transactions."""
    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite":
        return sa.create_engine(u, pool_pre_ping=True)
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLAlchemy pools file databases with QueuePool and check_same_thread=False: fine for threads.
    engine = sa.create_engine(u)
    sa.event.listen(engine, "connect", functools.partial(_sqlite_on_connect, busy_timeout_ms))
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(busy_timeout_ms: int, dbapi_conn: Any, _record: Any) -> None:
    # The sqlite3 driver's legacy mode never BEGINs before DDL or SELECT, so migrations would
    # not be atomic; take transaction control away from it and emit BEGIN in _sqlite_on_begin
    # (the recipe in SQLAlchemy's SQLite docs).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        # busy_timeout first: switching a fresh file to WAL needs a lock another process may hold.
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _to_wal(cur, busy_timeout_ms)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _to_wal(cur: Any, busy_timeout_ms: int) -> None:
    """`PRAGMA journal_mode=WAL`, retried: while another process switches a fresh file, SQLite can
    answer "database is locked" at once, without waiting in the busy handler."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _sqlite_on_begin(conn: sa.Connection) -> None:
    mode = str(conn.get_execution_options().get("lockgate_begin", "DEFERRED")).upper()
    if mode not in _BEGIN_MODES:
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def begin_write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that will write. On SQLite it takes the write lock up front (BEGIN
    IMMEDIATE), so a read-then-write cannot fail halfway with a stale snapshot, and waiting
    for the lock obeys busy_timeout."""
    with engine.connect() as conn:
        conn.execution_options(lockgate_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()  # no alembic.ini: everything is set here
    cfg.set_main_option("script_location", str(_MIGRATIONS).replace("%", "%%"))
    return cfg


def _current_revisions(conn: sa.Connection) -> set[str]:
    if not sa.inspect(conn).has_table("alembic_version"):
        return set()
    return {str(r[0]) for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}


def migrate(engine: sa.Engine) -> None:
    """Upgrade the schema to the newest revision; safe when several processes start at once.

    The whole upgrade runs in one write transaction (SQLite: BEGIN IMMEDIATE; Postgres: an
    advisory lock), so a second process waits, then finds the schema current and does nothing.
    """
    # Common case: already current. A plain read, so startup does not queue behind writers.
    with engine.connect() as conn:
        if _current_revisions(conn) == {SCHEMA_HEAD}:
            return
    from alembic import command

    cfg = _alembic_config()
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        if raw is not None:
            # Batch migrations copy and drop tables; with foreign keys on, dropping `requests`
            # would cascade-delete its bodies. The pragma is ignored inside a transaction, so
            # it is set on the raw connection before BEGIN.
            raw.execute("PRAGMA foreign_keys=OFF")
            # Processes starting together queue for the write lock while the first one
            # upgrades (Alembic's import included): wait longer than a request would.
            busy = raw.execute("PRAGMA busy_timeout").fetchone()[0]
            raw.execute(f"PRAGMA busy_timeout={_MIGRATE_BUSY_TIMEOUT_MS}")
        try:
            conn.execution_options(lockgate_begin="IMMEDIATE")
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if raw is not None:
                try:
                    raw.execute("PRAGMA foreign_keys=ON")
                    raw.execute(f"PRAGMA busy_timeout={int(busy)}")
                except Exception:
                    conn.invalidate()  # never hand a connection without foreign keys back to the pool
