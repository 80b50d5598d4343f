"""Engine and transactions. One session per unit of work, one transaction per change.

SQLite runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` and are serialised inside the process by a lock, so two writers
never meet half-way. PostgreSQL uses its own locking.

``Database.unit`` runs a whole transaction written as plain (synchronous) SQLAlchemy code in
one go, so its statements cost no trip each through the event loop (which, while the bot is
busy, is what a transaction mostly waits for): on a SQLite file in a database thread of its
own, or — a short unit — right on the event loop's thread; on PostgreSQL (asyncpg has no
thread) and in-memory SQLite through the async session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Insert, Result, Select, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import QueryableAttribute, Session

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

SQLITE_BUSY_TIMEOUT_MS = 10_000
QUICK_BUSY_TIMEOUT_MS = 20  # a short unit on the event loop waits no longer than this
# What a database that is not there (gone, locked, full, unreachable) raises: callers above
# the store catch these without knowing the driver.
UNAVAILABLE: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)
_WRITE_OPTION = "zhibu_write"

# Work that rides along in every write transaction of the current task (e.g. marking the
# update being handled as done in the same transaction as its first change). Plain
# SQLAlchemy, so that it rides in a ``unit`` as well as in a ``write``.
Rider = Callable[[Session], None]
_rider: ContextVar[Rider | None] = ContextVar("zhibu_rider", default=None)


@contextmanager
def riding(rider: Rider | None) -> Iterator[None]:
    """While inside, every write transaction of this task runs ``rider`` before it commits."""
    token = _rider.set(rider)
    try:
        yield
    finally:
        _rider.reset(token)


SLICE = 0.01  # seconds of work in one go, in a long loop on the event loop's thread
PAUSE = 0.0005  # then this long asleep, so that the database's threads get the interpreter
_last_pause = 0.0


async def let_others_run() -> None:
    """Call often from a long loop on the event loop's thread: every ``SLICE`` seconds it
    sleeps ``PAUSE``, letting waiting tasks (a member's button press) and the database's
    threads run. A bare ``sleep(0)`` is not enough: the interpreter's lock is then dropped
    and taken back so briefly that a database thread waiting for it may never get it."""
    global _last_pause
    now = time.perf_counter()
    if now - _last_pause >= SLICE:
        await asyncio.sleep(PAUSE)
        _last_pause = time.perf_counter()


_pausing = 0  # long pieces of work that want the full collections held back


@contextmanager
def full_collections_later() -> Iterator[None]:
    """Hold Python's garbage collector back while a long piece of work builds a great many
    objects that live until it ends (the 09:00 tick: a million), and let it run after.
    Otherwise the collector walks all of them again and again mid-work — measured at 10,000
    branches: pauses of up to 0.34 s, during which no button is answered. The objects are
    freed by reference counting when the work ends (peak memory measured the same); the
    collector runs as usual once the last such work is over."""
    global _pausing
    if _pausing == 0 and not gc.isenabled():  # someone else turned it off: not ours to touch
        yield
        return
    _pausing += 1
    gc.disable()
    try:
        yield
    finally:
        _pausing -= 1
        if _pausing == 0:
            gc.enable()


P = ParamSpec("P")


def collecting_after(work: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """``work`` (a coroutine function) runs inside ``full_collections_later``."""

    @functools.wraps(work)
    async def held(*args: P.args, **kwargs: P.kwargs) -> T:
        with full_collections_later():
            return await work(*args, **kwargs)

    return held


WIDE = 500  # more values than this in an IN list cost more to build than the rows they skip


def among(
    column: QueryableAttribute[Any] | ColumnElement[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """``column IN values`` — or, for more than ``WIDE`` values, ``column BETWEEN`` their
    least and greatest: a statement with thousands of parameters takes longer to build and
    run than reading the rows it would have skipped (the ids of orgs made together lie
    together). The caller keeps only the rows whose value it knows."""
    if len(values) > WIDE:
        return column.between(min(values), max(values))
    return column.in_(list(values))


async def plain_rows(session: AsyncSession, statement: Select[*Ts]) -> Result[*Ts]:
    """The rows of a select of columns, read through the session's connection: no ORM
    processing of each row (for hundreds of thousands of rows it cost more than the reading)."""
    connection = await session.connection()
    return await connection.execute(statement)


@functools.cache
def insert_skipping(dialect: str, table: Table, keys: tuple[str, ...]) -> Insert:
    """``INSERT`` into ``table`` that skips a row whose ``keys`` are already taken, in one
    statement (SQLite and PostgreSQL both say ``ON CONFLICT DO NOTHING``); its rowcount says
    how many rows went in. Built once per table."""
    insert_ = sqlite_insert if dialect == "sqlite" else postgresql_insert
    return insert_(table).on_conflict_do_nothing(index_elements=keys)


def reading_only(session: AsyncSession) -> bool:
    """The session is one of ``Database.read``'s: it writes nothing, so what it reads is
    what others will read too (a write session may read its own uncommitted changes)."""
    bind = session.bind
    return isinstance(bind, AsyncEngine) and not bind.get_execution_options().get(_WRITE_OPTION)


def _busy(exc: OperationalError) -> bool:
    """SQLite could not get its lock in time (another process is writing)."""
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


def _configure_sqlite(engine: AsyncEngine | Engine, busy_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit transactions are unreliable).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync, "begin")
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
        # SQLite on a file: a plain engine on the same file, used from one thread of its own
        self._direct: Engine | None = None
        self._quick: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        url = engine.url
        if self.is_sqlite and url.database not in (None, "", ":memory:"):
            self._direct = create_engine(url.set(drivername="sqlite"))
            _configure_sqlite(self._direct)
            # the same, for short units on the event loop's thread: it never waits long
            self._quick = create_engine(url.set(drivername="sqlite"))
            _configure_sqlite(self._quick, busy_ms=QUICK_BUSY_TIMEOUT_MS)
        # the same engines, for writes (made once: making one per unit costs more than a query)
        self._writing: dict[Engine, Engine] = {
            e: e.execution_options(**{_WRITE_OPTION: True})
            for e in (self._direct, self._quick)
            if e is not None
        }

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
                    await session.run_sync(rider)
            return
        async with self._write_lock, self._write() as session, session.begin():
            yield session
            if rider is not None:
                await session.run_sync(rider)

    async def unit(
        self, work: Callable[[Session], T], *, write: bool = True, short: bool = False
    ) -> T:
        """Run ``work`` in one transaction (committed if ``write`` and it returns, else rolled
        back) and return what it returns. ``work`` is plain SQLAlchemy, with no awaits, and
        may be run again from the start if the database was busy. A write carries the task's
        rider, like ``write``.

        ``short``: a few quick statements. On SQLite they run right here, on the event loop's
        thread (a hop to another thread costs more than they do, and the two threads then
        fight over the interpreter); if another process holds the database, in its thread."""
        if self._direct is None or self._quick is None:
            context = self.write() if write else self.read()
            async with context as session:  # write() adds the rider
                return await session.run_sync(work)
        rider = _rider.get() if write else None

        def run(engine: Engine) -> T:
            bind = self._writing[engine] if write else engine
            with Session(bind, expire_on_commit=False) as session:  # closing rolls back
                if not write:
                    return work(session)
                with session.begin():
                    done = work(session)
                    if rider is not None:
                        rider(session)
                    return done

        loop = asyncio.get_running_loop()
        async with self._write_lock if write and self._write_lock else contextlib.nullcontext():
            if short:
                try:
                    return run(self._quick)
                except OperationalError as exc:
                    if not _busy(exc):
                        raise
            if self._thread is None:  # started on first use, stopped by dispose()
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="zhibu-db")
            return await loop.run_in_executor(self._thread, run, self._direct)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        for direct in (self._direct, self._quick):
            if direct is not None:
                direct.dispose()
