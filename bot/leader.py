"""One active instance (SPEC §10).

On PostgreSQL the processes that share a database elect the active one with an advisory
lock, held on a connection of its own: the others wait and take over when it is gone. On
SQLite a second process on the same file refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("zhibu.leader")

ADVISORY_KEY = 0x7A68_6962_7500  # "zhibu" — any constant shared by all zhibu processes
POLL_SECONDS = 5.0
HEALTH_SECONDS = 5.0


class AlreadyRunning(RuntimeError):
    """Another process holds this SQLite database."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for memory databases."""
    path = url.split("///", 1)[1] if "///" in url else ""
    return Path(path).resolve() if path and path != ":memory:" else None


@contextlib.contextmanager
def sqlite_lock(url: str) -> Iterator[None]:
    """Hold ``<database>.lock`` for as long as this process runs; refuse if another does."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise AlreadyRunning(
            f"another zhibu run (pid {holder}) is already using {path.name}; "
            "stop it first, or use PostgreSQL to run several processes"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class Leadership:
    """PostgreSQL: wait for the advisory lock, then watch that we still hold it."""

    def __init__(
        self, engine: AsyncEngine, *, poll: float = POLL_SECONDS, health: float = HEALTH_SECONDS
    ) -> None:
        self.engine = engine
        self.poll = poll
        self.health = health
        self._conn: AsyncConnection | None = None
        self.lost = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Return once this process is the active one."""
        waited = False
        while True:
            try:
                if self._conn is None:
                    self._conn = await (await self.engine.connect()).execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                got = (
                    await self._conn.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}
                    )
                ).scalar()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("cannot reach the database to elect the active process: %s", exc)
                await self._drop()
                got = False
            if got:
                log.info("this process is the active one%s", " (took over)" if waited else "")
                self._watch = asyncio.create_task(self._keep())
                return
            if not waited:
                log.info("another zhibu process is active; waiting to take over")
                waited = True
            await asyncio.sleep(self.poll)

    async def _keep(self) -> None:
        """If the lock's connection breaks, the lock is gone: stop being active."""
        while True:
            await asyncio.sleep(self.health)
            try:
                assert self._conn is not None
                await self._conn.execute(text("SELECT 1"))
            except (SQLAlchemyError, OSError, AssertionError):
                log.error("lost the connection that holds the active-process lock; stopping")
                self.lost.set()
                return

    async def release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
        await self._drop()

    async def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self._conn.close()
            self._conn = None
