"""The update inbox (SPEC §11): every update is stored before Telegram is told we have it.

Polling confirms an update (the next ``getUpdates`` offset) and the webhook answers 200 only
after the update is in ``update_inbox``; a process that dies before handling it handles it
after the restart. An update is marked handled in the same transaction as the first change
its handlers make (``Handling`` rides on the write transactions of the task), so a restart
never applies a change twice; an update whose handlers change nothing is marked at the end.
The stored update id is also what makes a second delivery of the same update change nothing.

An update keeps its payload until its handlers have finished (and so have answered): a
process that dies after the change was committed but before the answer went out leaves it
handled but unanswered, and the next process tells that person their action was saved
(``unanswered``, bot/delivery/recovery.py). Nobody is left wondering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.store.db import UNAVAILABLE, Database, riding
from bot.store.models import InboxUpdate

log = logging.getLogger("zhibu.inbox")

INBOX = cast(Table, InboxUpdate.__table__)
# Statements on the path of every update, built once. A payload let go is SQL NULL
# (``null()``): a plain None in a JSON column is stored as the JSON text 'null', which
# "payload IS NOT NULL" would count as a payload still owed.
_KNOWN = select(INBOX.c.update_id).where(INBOX.c.update_id.in_(bindparam("uids", expanding=True)))
_HANDLED_AT = select(INBOX.c.handled_at).where(INBOX.c.update_id == bindparam("uid"))
_HANDLED = (
    update(INBOX)
    .where(INBOX.c.update_id == bindparam("uid"), INBOX.c.handled_at.is_(None))
    .values(handled_at=bindparam("at"))
)
_HANDLED_AND_ANSWERED = _HANDLED.values(payload=null())
_ANSWERED_ONE = (
    update(INBOX)
    .where(INBOX.c.update_id == bindparam("uid"), INBOX.c.handled_at.is_not(None))
    .values(payload=null())
)
_ANSWERED = (
    update(INBOX)
    .where(
        INBOX.c.update_id.in_(bindparam("uids", expanding=True)), INBOX.c.handled_at.is_not(None)
    )
    .values(payload=null())
)

# Telegram redelivers an unconfirmed update for at most a day; a week is plenty.
KEEP_HANDLED = timedelta(days=7)


def store(
    session: Session, updates: Sequence[tuple[int, dict[str, Any]]], *, now: datetime
) -> list[int]:
    """Add the updates not seen before; return their ids in order (the ones to handle).
    Plain SQLAlchemy on the table: one read of the ids known, one insert of the rest."""
    if not updates:
        return []
    conn = session.connection()
    ids = [uid for uid, _ in updates]
    known = set(conn.execute(_KNOWN, {"uids": ids}).scalars())
    fresh: dict[int, dict[str, Any]] = {}
    for uid, payload in updates:
        if uid not in known and uid not in fresh:
            fresh[uid] = payload
    if fresh:
        conn.execute(
            insert(INBOX),
            [{"update_id": uid, "received_at": now, "payload": p} for uid, p in fresh.items()],
        )
    return sorted(fresh)


async def pending(session: AsyncSession, *, limit: int = 10_000) -> list[dict[str, Any]]:
    """Stored updates not yet handled, oldest first (what a restart picks up)."""
    rows = await session.execute(
        select(InboxUpdate.payload)
        .where(InboxUpdate.handled_at.is_(None), InboxUpdate.payload.is_not(None))
        .order_by(InboxUpdate.update_id)
        .limit(limit)
    )
    return [payload for payload in rows.scalars() if payload is not None]


def begin_handling(session: Session, update_id: int, *, now: datetime) -> bool:
    """Whether this update is still to be handled; an update that did not come through the
    inbox (handed to the application directly) is recorded now (an IntegrityError if the
    same update is being recorded side by side)."""
    conn = session.connection()
    row = conn.execute(_HANDLED_AT, {"uid": update_id}).first()
    if row is None:
        conn.execute(insert(INBOX), {"update_id": update_id, "received_at": now})
        return True
    return row[0] is None


def mark_handled(session: Session, update_id: int, *, now: datetime, answered: bool = True) -> None:
    """The update's change is made; ``answered``: and its handlers are done with it."""
    mark = _HANDLED_AND_ANSWERED if answered else _HANDLED
    session.connection().execute(mark, {"uid": update_id, "at": now})


def mark_answered(session: Session, update_ids: Sequence[int]) -> None:
    """The handlers of these updates have finished: nothing is owed to anyone for them."""
    if len(update_ids) == 1:  # each update as it finishes: the statement built once
        session.connection().execute(_ANSWERED_ONE, {"uid": update_ids[0]})
        return
    session.connection().execute(_ANSWERED, {"uids": list(update_ids)})


async def unanswered(
    session: AsyncSession, *, limit: int = 10_000
) -> list[tuple[int, dict[str, Any]]]:
    """Updates whose change was made but whose handlers never finished (a crash between)."""
    rows = await session.execute(
        select(InboxUpdate.update_id, InboxUpdate.payload)
        .where(InboxUpdate.handled_at.is_not(None), InboxUpdate.payload.is_not(None))
        .order_by(InboxUpdate.update_id)
        .limit(limit)
    )
    return [(uid, payload) for uid, payload in rows.all() if payload is not None]


async def prune(session: AsyncSession, *, now: datetime) -> int:
    """Forget handled update ids old enough never to come back."""
    result = await session.execute(
        delete(InboxUpdate).where(
            InboxUpdate.handled_at.is_not(None), InboxUpdate.received_at < now - KEEP_HANDLED
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def finish(db: Database, update_id: int, *, marked: bool, now: datetime) -> None:
    """The handlers of an update are done: handled (if nothing changed it yet) and answered."""
    await _finish_all(db, [update_id] if marked else [], [(update_id, now)] if not marked else [])


async def _finish_all(
    db: Database, answered: list[int], unchanged: list[tuple[int, datetime]]
) -> None:
    def done(session: Session) -> None:
        if answered:
            mark_answered(session, answered)
        for update_id, now in unchanged:
            mark_handled(session, update_id, now=now)

    with riding(None):  # the marks are this unit's whole work
        await db.unit(done, short=True)


FINISH_EVERY = 0.02  # seconds: updates finished within this are marked in one transaction


class Finishing:
    """Marks finished updates done. While other updates are being handled (a burst), the
    ones that finish within ``FINISH_EVERY`` of one another are marked in one transaction
    instead of one each (under a burst of presses that transaction was a third of the
    database work per press); an update that finishes alone is marked at once, with any
    still waiting. Flushed at stop.

    What a crash costs in that window is what it costs between an answer and its mark: an
    update whose change was saved is told "saved" by the next process
    (``recovery.tell_unanswered``); one that changed nothing is handled again."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._answered: list[int] = []
        self._unchanged: list[tuple[int, datetime]] = []
        self._waiting = False  # a flush is due within FINISH_EVERY
        self._tasks: set[asyncio.Task[None]] = set()

    async def finished(self, update_id: int, *, marked: bool, now: datetime, alone: bool) -> None:
        """``alone``: no other update is being handled now (so nothing would join a batch)."""
        if marked:
            self._answered.append(update_id)
        else:
            self._unchanged.append((update_id, now))
        if alone:
            await self.flush()
        elif not self._waiting:
            self._waiting = True
            task = asyncio.get_running_loop().create_task(self._flush_soon())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FINISH_EVERY)
        self._waiting = False
        await self.flush()

    async def flush(self) -> None:
        """Mark everything finished so far (at stop: cancel the wait and mark now)."""
        answered, unchanged = self._answered, self._unchanged
        self._answered, self._unchanged = [], []
        if not answered and not unchanged:
            return
        try:
            await _finish_all(self._db, answered, unchanged)
        except UNAVAILABLE as exc:  # a restart handles them again, or tells them
            log.warning(
                "%s updates not marked done: %s", len(answered) + len(unchanged), type(exc).__name__
            )
        except Exception:  # the same; and say what went wrong
            log.exception("%s updates not marked done", len(answered) + len(unchanged))

    async def close(self) -> None:
        """At stop: the marks on their way are written, and then whatever is left."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()


@dataclass
class Handling:
    """The update this task is handling. Once ``armed`` (it was new), every write transaction
    of its handlers also marks it handled (the first one does it; the mark is idempotent, so
    a transaction that is rolled back and run again still carries it); ``finish`` marks it if
    none did. ``writes`` counts the write transactions of the task."""

    update_id: int
    now: datetime
    armed: bool = False
    marked: bool = False
    writes: int = 0

    def __call__(self, session: Session) -> None:
        self.writes += 1
        if self.armed:
            mark_handled(session, self.update_id, now=self.now, answered=False)
            self.marked = True  # a rollback after this point re-raises: the update stays pending


_current: ContextVar[Handling | None] = ContextVar("zhibu_handling", default=None)


def current_handling() -> Handling | None:
    return _current.get()


@contextmanager
def handling(update_id: int, *, now: datetime) -> Iterator[Handling]:
    """Handle one update: its write transactions carry the 'handled' mark (see Handling)."""
    work = Handling(update_id, now)
    token = _current.set(work)
    try:
        with riding(work):
            yield work
    finally:
        _current.reset(token)


async def keep(db: Database, updates: Sequence[dict[str, Any]], *, now: datetime) -> list[int]:
    """Store a batch of raw updates in one transaction; the ids to hand on, in order."""
    batch = [(int(u["update_id"]), u) for u in updates]
    return await db.unit(lambda session: store(session, batch, now=now), short=True)


async def backlog(db: Database) -> list[dict[str, Any]]:
    """Updates stored by an earlier process but never handled, oldest first."""
    async with db.read() as session:
        return await pending(session)
