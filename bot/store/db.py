"""Engine and transactions. One session per unit of work, one transaction per change.

SQLite runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` and are serialised inside the process by a lock, so two writers
never meet half-way. PostgreSQL uses its own locking.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 10_000
# What a database that is not there (gone, locked, full, unreachable) raises: callers above
# the store catch these without knowing the driver.
UNAVAILABLE: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)
_WRITE_OPTION = "zhibu_write"

# Work that rides along in the next write transaction of the current task (e.g. marking the
# update being handled as done in the same transaction as its first change).
Rider = Callable[[AsyncSession], Awaitable[None]]
_rider: ContextVar[Rider | None] = ContextVar("zhibu_rider", default=None)


@contextmanager
def riding(rider: Rider | None) -> Iterator[None]:
    """While inside, every write transaction of this task runs ``rider`` before it commits."""
    token = _rider.set(rider)
    try:
        yield
    finally:
        _rider.reset(token)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit transactions are unreliable).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The engine plus the two ways to use it: read and write."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; its transaction is rolled back at the end."""
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        rider = _rider.get()
        if self._write_lock is None:
            async with self._write() as session, session.begin():
                yield session
                if rider is not None:
                    await rider(session)
            return
        async with self._write_lock, self._write() as session, session.begin():
            yield session
            if rider is not None:
                await rider(session)

    async def dispose(self) -> None:
        await self.engine.dispose()
