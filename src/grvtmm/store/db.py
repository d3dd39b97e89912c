"""Database engines: SQLite files in WAL mode with a busy timeout, or any SQLAlchemy URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

IMMEDIATE: Final = "grvtmm_sqlite_immediate"
"""Execution option: start the transaction with BEGIN IMMEDIATE (take the write lock up front)."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, busy_timeout_ms: int = 5_000) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        # every connection to ":memory:" is a new empty database; share the one connection
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    _configure_sqlite(engine, busy_timeout_ms, wal=not memory)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that BEGIN is ours (see below)
        # and DDL runs inside transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that later writes cannot wait for the lock (SQLite returns
        # BUSY at once to avoid a deadlock); writers therefore lock up front and so honour
        # the busy timeout, while readers stay deferred and never block in WAL mode.
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection inside a write transaction, committed on success, rolled back on error."""
    with engine.connect() as connection:
        if is_sqlite(engine):
            connection.execution_options(**{IMMEDIATE: True})
        with connection.begin():
            yield connection
