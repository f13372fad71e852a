"""Database plumbing shared by core and plugins: column types and engine setup.

SQLite's Python driver only opens a transaction before DML, so a SELECT that guards a
write would run outside the writing transaction (NOTES trap 6). We take over
transaction control (``isolation_level=None``) and open every *write* transaction with
``BEGIN IMMEDIATE``, which takes the write lock up front and serialises writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, event
from sqlalchemy.types import TypeDecorator

from .extensions import db

WRITE_OPTION = "fulian_write"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An aware UTC instant on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no zone, so values are stored as naive
    UTC and re-tagged on load. Naive input is refused: it is always a bug upstream.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def configure_engine(engine: Engine) -> None:
    """Install the SQLite pragmas and transaction recipe; no-op on other backends."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


@contextmanager
def write_transaction() -> Iterator[Any]:
    """Run a unit of work in one write transaction; commit on success, roll back on error.

    Services wrap every write in this so that checks and writes share one transaction
    (and on SQLite hold the write lock from the first statement).
    """
    session = db.session()
    if session.in_transaction():
        # A read already opened a deferred transaction: end it so the write lock is
        # taken before our first read.
        session.commit()
    session.connection(execution_options={WRITE_OPTION: True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
