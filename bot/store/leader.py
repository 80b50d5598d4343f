"""One active instance (SPEC §10), fenced by an epoch.

SQLite: the process takes an exclusive ``flock`` on the database file itself, so a second
process refuses to start whatever path (a symlink, a hard link) it opens the file by.

PostgreSQL: the processes that share a database elect the active one with an advisory lock
held on a connection of its own. The active one then *takes office*: it increments the
epoch in ``leader_state`` and renews a lease there every ``HEARTBEAT`` seconds, each renewal
bounded by a deadline. It may send only while its last renewal is younger than the lease
less a margin (``may_send``), so a process that hangs (SIGSTOP, a stalled host) stops
sending on its own before anyone can take over. A standby that finds the lease run out
ends the holder's database session (``pg_terminate_backend``), which frees the advisory
lock at once instead of after the TCP keepalive, and takes over. The outbox claims rows
only for the current epoch (bot/outbox.py), so a process that lost office cannot claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.rules.clock import Clock
from bot.store.db import Database
from bot.store.liveness import Liveness, holder_name
from bot.store.models import LeaderState

log = logging.getLogger("zhibu.leader")

ADVISORY_KEY = 0x7A68_6962_7500  # "zhibu" — any constant shared by all zhibu processes
LEASE = timedelta(seconds=15)  # how long a renewal holds
HEARTBEAT = 3.0  # seconds between renewals
DEADLINE = 5.0  # a renewal that takes longer counts as failed
MARGIN = 3.0  # stop sending this long before the lease runs out
POLL = 3.0  # a standby looks this often


class AlreadyRunning(RuntimeError):
    """Another process holds this SQLite database."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for memory databases."""
    path = url.split("///", 1)[1] if "///" in url else ""
    return Path(path).resolve() if path and path != ":memory:" else None


@contextlib.contextmanager
def sqlite_lock(url: str) -> Iterator[None]:
    """Hold an exclusive lock on the database file for as long as this process runs.

    The lock is on the file (its inode), not on a name: a hard link or a symlink to the same
    database is the same lock. SQLite's own locks are POSIX record locks, which ``flock``
    does not touch. The process id goes to ``<database>.lock`` for the refusal message.
    """
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")  # an empty file is a valid new SQLite database
    pid_file = path.with_name(path.name + ".lock")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        holder = pid_file.read_text().strip() if pid_file.exists() else "?"
        raise AlreadyRunning(
            f"another zhibu run (pid {holder or '?'}) is already using {path.name}; "
            "stop it first, or use PostgreSQL to run several processes"
        ) from None
    with contextlib.suppress(OSError):
        pid_file.write_text(str(os.getpid()))
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class Leadership:
    """Who may send. SQLite: the process holding the file lock, always. PostgreSQL: the
    holder of the advisory lock, while its lease is fresh."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        liveness: Liveness | None = None,
        lease: timedelta = LEASE,
        heartbeat: float = HEARTBEAT,
        poll: float = POLL,
    ) -> None:
        self.db = db
        self.clock = clock
        self.liveness = liveness
        self.lease = lease
        self.heartbeat = heartbeat
        self.poll = poll
        self.epoch: int | None = None
        self.predecessor_gone = True
        self.lost = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._valid_until = 0.0
        self._watch: asyncio.Task[None] | None = None
        self.holder = holder_name()

    @property
    def sole(self) -> bool:
        """No other process can be active (SQLite): everything mid-send is ours to recover."""
        return self.db.is_sqlite

    def may_send(self) -> bool:
        if self.sole:
            return True
        return not self.lost.is_set() and time.monotonic() < self._valid_until

    # ------------------------------------------------------------ election (PostgreSQL)

    async def acquire(self) -> None:
        """Return once this process holds the advisory lock (at once on SQLite)."""
        if self.sole:
            return
        waited = False
        while True:
            got = False
            try:
                if self._conn is None:
                    self._conn = await (await self.db.engine.connect()).execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                got = bool(
                    (
                        await self._conn.execute(
                            text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}
                        )
                    ).scalar()
                )
                if not got and await self._holder_expired(self._conn):
                    continue  # its session was ended: try the lock again at once
            except (SQLAlchemyError, OSError) as exc:
                log.warning("cannot reach the database to elect the active process: %s", exc)
                await self._drop()
            if got:
                log.info("this process is the active one%s", " (took over)" if waited else "")
                return
            if not waited:
                log.info("another zhibu process is active; waiting to take over")
                waited = True
            await asyncio.sleep(self.poll)

    async def _holder_expired(self, conn: AsyncConnection) -> bool:
        """If the active process has let its lease run out, end its session (freeing the lock)."""
        try:
            lease_until = (
                await conn.execute(select(LeaderState.lease_until).where(LeaderState.id == 1))
            ).scalar()
        except ProgrammingError:  # a fresh database: the active one is migrating it
            return False
        if lease_until is None or lease_until >= self.clock.now():
            return False
        ended = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                    "AND classid = :hi AND objid = :lo AND pid <> pg_backend_pid() "
                    # advisory locks are per database: never end another database's holder
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"hi": ADVISORY_KEY >> 32, "lo": ADVISORY_KEY & 0xFFFFFFFF},
            )
        ).scalar()
        if ended:
            log.warning(
                "the active process stopped renewing its lease (hung or unreachable); "
                "ended its session to take over"
            )
        return bool(ended)

    # ------------------------------------------------------------ office

    async def take_office(self) -> int:
        """After migrations: a new epoch (fencing every earlier holder) and, on PostgreSQL,
        the lease and its heartbeat."""
        now = self.clock.now()
        async with self.db.write() as session:
            state = await session.get(LeaderState, 1, with_for_update=not self.sole)
            if state is None:
                state = LeaderState(id=1, epoch=0)
                session.add(state)
            # The one before us stopped sending for sure if it left (lease cleared) or let its
            # lease run out (it stops MARGIN before that): what it had claimed is free now.
            self.predecessor_gone = (
                self.sole or state.lease_until is None or state.lease_until <= now
            )
            state.epoch += 1
            state.holder = self.holder
            state.lease_until = None if self.sole else now + self.lease
            self.epoch = state.epoch
        self._valid_until = time.monotonic() + self.lease.total_seconds() - MARGIN
        if not self.sole:
            self._watch = asyncio.create_task(self._keep(), name="leader heartbeat")
        log.info("active with epoch %s", self.epoch)
        return self.epoch

    async def _keep(self) -> None:
        """Renew the lease; if a renewal fails or is late, this process is no longer active."""
        while True:
            await asyncio.sleep(self.heartbeat)
            started = time.monotonic()
            try:
                renewed = await asyncio.wait_for(self._renew(), DEADLINE)
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                renewed = False
            except Exception as exc:  # anything at all: stop being active, loudly
                log.exception("leader heartbeat failed unexpectedly")
                reason = type(exc).__name__
                renewed = False
            else:
                reason = "another process took over"
            if renewed:
                self._valid_until = started + self.lease.total_seconds() - MARGIN
                if self.liveness is not None:
                    self.liveness.ok("leader")
                continue
            self._valid_until = 0.0
            log.error("no longer the active process (%s); stopping", reason)
            if self.liveness is not None:
                self.liveness.failed("leader", RuntimeError(reason))
            self.lost.set()
            return

    async def _renew(self) -> bool:
        if self._conn is None:
            return False
        result = await self._conn.execute(
            update(LeaderState)
            .where(LeaderState.id == 1, LeaderState.epoch == self.epoch)
            .values(lease_until=self.clock.now() + self.lease)
        )
        return bool(getattr(result, "rowcount", 0))

    async def release(self) -> None:
        """Leave office: the lease ends now, so a standby takes over at its next look."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError, OSError, asyncio.TimeoutError):
                if self.epoch is not None and not self.lost.is_set():
                    await asyncio.wait_for(
                        self._conn.execute(
                            update(LeaderState)
                            .where(LeaderState.id == 1, LeaderState.epoch == self.epoch)
                            .values(lease_until=None)
                        ),
                        DEADLINE,
                    )
                await asyncio.wait_for(
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY}),
                    DEADLINE,
                )
        await self._drop()

    async def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self._conn.close()
            self._conn = None
