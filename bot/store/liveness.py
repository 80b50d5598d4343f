"""Every long-lived task survives its errors and says when it last completed a loop.

Each task (the outbox sender, the update intake, the minute tick, housekeeping, the leader
heartbeat) calls ``ok`` after a loop that worked and ``failed`` after one that did not, then
waits ``Backoff.next()`` before trying again. ``/healthz`` reads the registry of its own
process; ``zhibu doctor`` reads the ``task_liveness`` rows the registry writes every few seconds.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.clock import Clock
from bot.store.db import Database
from bot.store.models import TaskLiveness

log = logging.getLogger("zhibu.liveness")

# How long each task may go without a good loop before it counts as stalled.
STALE_AFTER: dict[str, timedelta] = {
    "sender": timedelta(seconds=60),
    "intake": timedelta(seconds=120),
    "tick": timedelta(minutes=3),
    "housekeeping": timedelta(hours=13),
    "scores": timedelta(minutes=25),  # every 10 minutes
    "leader": timedelta(seconds=30),
    "liveness": timedelta(seconds=60),
    "web": timedelta(seconds=60),
}
DEFAULT_STALE = timedelta(minutes=5)


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


class Backoff:
    """Waits that double after each failure, up to a cap; a success starts again."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return float(min(self.cap, self.first * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        self.failures = 0


@dataclass
class TaskState:
    name: str
    started: datetime
    last_ok: datetime | None = None
    last_error: str | None = None
    error_at: datetime | None = None
    failures: int = 0  # in a row

    def stalled(self, now: datetime) -> bool:
        since = self.last_ok or self.started
        return now - since > STALE_AFTER.get(self.name, DEFAULT_STALE)


@dataclass
class Liveness:
    clock: Clock
    holder: str = field(default_factory=holder_name)
    tasks: dict[str, TaskState] = field(default_factory=dict)

    def register(self, name: str) -> None:
        self.tasks.setdefault(name, TaskState(name, self.clock.now()))

    def ok(self, name: str) -> None:
        self.register(name)
        state = self.tasks[name]
        state.last_ok = self.clock.now()
        state.failures = 0

    def failed(self, name: str, exc: BaseException) -> None:
        self.register(name)
        state = self.tasks[name]
        state.failures += 1
        state.error_at = self.clock.now()
        state.last_error = f"{type(exc).__name__}: {exc}"[:500]

    def report(self) -> dict[str, dict[str, object]]:
        """What /healthz shows: each task's last good loop and whether it is stalled."""
        now = self.clock.now()
        return {
            s.name: {
                "ok": not s.stalled(now),
                "last_ok": s.last_ok.isoformat() if s.last_ok else None,
                "failures": s.failures,
                "last_error": s.last_error if s.failures else None,
            }
            for s in self.tasks.values()
        }

    def healthy(self) -> bool:
        now = self.clock.now()
        return not any(s.stalled(now) for s in self.tasks.values())

    async def publish(self, db: Database) -> None:
        """``save`` in a transaction of its own."""
        async with db.write() as session:
            await self.save(session)

    async def save(self, session: AsyncSession) -> None:
        """Write the registry to ``task_liveness`` (for zhibu doctor in another process)."""
        now = self.clock.now()
        stored = {
            row.name: row
            for row in (
                await session.execute(
                    select(TaskLiveness).where(TaskLiveness.name.in_(list(self.tasks)))
                )
            ).scalars()
        }
        for state in self.tasks.values():
            row = stored.get(state.name)
            if row is None:
                row = TaskLiveness(name=state.name, failures=0)
                session.add(row)
            row.holder = self.holder
            row.last_ok = state.last_ok
            row.last_error = state.last_error
            row.error_at = state.error_at
            row.failures = state.failures
            row.updated_at = now


async def stored(session: AsyncSession) -> list[TaskLiveness]:
    return list((await session.execute(select(TaskLiveness).order_by(TaskLiveness.name))).scalars())


def stalled_row(row: TaskLiveness, now: datetime) -> bool:
    since = row.last_ok or row.updated_at
    return now - since > STALE_AFTER.get(row.name, DEFAULT_STALE)
