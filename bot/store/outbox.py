"""The outbox (SPEC §11): every scheduled message is a row first, with a unique key.

Rows are written in the transaction that decided to send them; the sender claims pending
rows, sends them and records the outcome. A claim carries the claimer's leader epoch and a
lease: a claim is made only by the current epoch (fencing, see bot/leader.py), and a row
whose lease has run out while still ``sending`` goes back to pending (the claimer died, or
hit an error it could not record). A row caught mid-send by a crash may so be sent twice,
never lost.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.store.db import Database
from bot.store.models import LeaderState, OutboxMessage, OutboxStatus

KEY_MAX = 200
MAX_TRIES = 10
# A claim holds this long (renewed on each try); longer than a fenced leader may still send.
LEASE = timedelta(seconds=30)


def outbox_key(*parts: object) -> str:
    """A stable unique key from its parts; long keys keep a readable head and a hash."""
    key = "|".join("-" if p is None else str(p) for p in parts)
    if len(key) <= KEY_MAX:
        return key
    return key[:150] + "#" + hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class NewMessage:
    key: str
    kind: str
    chat_id: int | None
    text: str
    not_before: datetime
    org_id: int | None = None
    reply_markup: dict[str, Any] | None = None
    status: OutboxStatus = OutboxStatus.PENDING
    note: str | None = None
    edits: int | None = None  # a message of the bot's in ``chat_id`` that this one replaces
    held_for: datetime | None = None  # HELD until the tick releases it at this moment

    def __post_init__(self) -> None:
        if self.edits is not None and self.kind != EDIT:
            raise ValueError("an edit is queued with kind EDIT")


OUTBOX = cast(Table, OutboxMessage.__table__)  # the table, for statements without the ORM
EDIT = "edit"  # the kind of a row that edits a message the bot sent earlier (no notification)


async def enqueue(session: AsyncSession, messages: list[NewMessage], *, now: datetime) -> int:
    """Add the messages; a key already in the outbox is left as it is (exactly once), but
    for a briefing held for its moment, which the message replaces.

    Returns how many were offered (keys within one call are unique).
    """
    rows = {
        m.key: {
            "key": m.key,
            "kind": m.kind,
            "chat_id": m.chat_id,
            "text": m.text,
            "reply_markup": m.reply_markup,
            "org_id": m.org_id,
            "status": m.status.value,
            "not_before": m.not_before,
            "tries": 0,
            "last_error": m.note,
            "created_at": now,
            "message_id": m.edits,
            "held_for": m.held_for,
        }
        for m in messages
    }
    if not rows:
        return 0
    # one executemany on the table that skips keys already there: no ORM objects, no ORM
    # bulk machinery (at 09:00 a large deployment queues 100,000 rows)
    await session.execute(
        _insert_or_replace_held(session.get_bind().dialect.name), list(rows.values())
    )
    return len(rows)


@functools.cache
def _insert_or_replace_held(dialect: str) -> Insert:
    """``INSERT`` that leaves a key already queued as it is (exactly once), unless that row
    is a briefing still held for its moment: a message worked out since takes its place
    (whatever worked the moment out ahead and was overtaken never leaves it held)."""
    insert_ = sqlite_insert if dialect == "sqlite" else postgresql_insert
    statement = insert_(OUTBOX)
    replaced = ("kind", "chat_id", "text", "reply_markup", "org_id", "status", "not_before",
                "tries", "last_error", "created_at", "message_id", "held_for")  # fmt: skip
    return statement.on_conflict_do_update(
        index_elements=["key"],
        set_={name: statement.excluded[name] for name in replaced},
        where=OUTBOX.c.status == OutboxStatus.HELD.value,
    )


async def retext_pending(session: AsyncSession, key: str, text: str) -> bool:
    """A message still waiting to go says ``text`` instead (the news changed before it left);
    whether there was such a message."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.key == key, OutboxMessage.status == OutboxStatus.PENDING.value)
        .values(text=text)
    )
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    tries: int
    edits: int | None = None  # the message this row edits, if it is an edit


async def recover(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    before_epoch: int | None = None,
    keep: Collection[int] = (),
) -> int:
    """Rows left ``sending`` go back to pending: those whose lease ran out by ``now``, or
    those claimed before ``before_epoch`` (their claimer has stopped sending for sure), or
    all of them (neither given: no other process can hold any), except the ones this
    process still holds."""
    query = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING.value)
    if now is not None:
        query = query.where(
            (OutboxMessage.lease_until.is_(None)) | (OutboxMessage.lease_until < now)
        )
    elif before_epoch is not None:
        query = query.where((OutboxMessage.epoch.is_(None)) | (OutboxMessage.epoch < before_epoch))
    if keep:
        query = query.where(OutboxMessage.id.not_in(list(keep)))
    result = await session.execute(
        query.values(status=OutboxStatus.PENDING.value, epoch=None, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _epoch_query(session: Session | AsyncSession, lock: bool) -> Select[Any]:
    query = select(LeaderState.epoch).where(LeaderState.id == 1)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    return query


async def current_epoch(session: AsyncSession, *, lock: bool = False) -> int | None:
    """The active process's epoch; ``lock`` holds the row (PostgreSQL) so a takeover waits
    for this transaction to end."""
    epoch = await session.scalar(_epoch_query(session, lock))
    return int(epoch) if epoch is not None else None


def claim_now(
    session: Session, *, now: datetime, limit: int, epoch: int | None = None
) -> list[Claimed]:
    """Claim due rows for sending, as the process of ``epoch``: none if that is no longer
    the current one. Rows another claimer holds are skipped (PostgreSQL).

    Plain SQLAlchemy (see ``Database.unit``); two statements whatever the number of rows:
    one read, one update of them all."""
    if epoch is not None and session.scalar(_epoch_query(session, True)) != epoch:
        return []
    table = OUTBOX
    query = (
        select(
            table.c.id,
            table.c.chat_id,
            table.c.text,
            table.c.reply_markup,
            table.c.tries,
            table.c.kind,
            table.c.message_id,
        )
        .where(
            table.c.status == OutboxStatus.PENDING.value,
            table.c.not_before <= now,
        )
        .order_by(table.c.not_before, table.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.execute(query))
    if not rows:
        return []
    session.execute(
        update(table)
        .where(table.c.id.in_([r.id for r in rows]))
        .values(status=OutboxStatus.SENDING.value, epoch=epoch, lease_until=now + LEASE)
    )
    return [
        Claimed(
            r.id,
            r.chat_id or 0,
            r.text,
            r.reply_markup,
            r.tries,
            r.message_id if r.kind == EDIT else None,
        )
        for r in rows
    ]


async def claim(
    session: AsyncSession, *, now: datetime, limit: int, epoch: int | None = None
) -> list[Claimed]:
    """``claim_now`` in an async session."""
    return await session.run_sync(partial(claim_now, now=now, limit=limit, epoch=epoch))


async def release(session: AsyncSession, ids: Collection[int]) -> int:
    """Claimed rows that were never tried go back to pending at once (a clean stop)."""
    if not ids:
        return 0
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.status == OutboxStatus.SENDING.value)
        .values(status=OutboxStatus.PENDING.value, epoch=None, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Sent:
    """A row that went out: when, and the id Telegram gave its message."""

    row_id: int
    at: datetime
    message_id: int | None


def mark_sent(session: Session, sent: Collection[Sent]) -> None:
    """Mark rows sent, all in one statement (executed for each row). Plain SQLAlchemy."""
    if not sent:
        return
    table = OUTBOX
    session.execute(
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            status=OutboxStatus.SENT.value,
            sent_at=bindparam("at"),
            message_id=bindparam("message_id"),
        ),
        [{"row_id": s.row_id, "at": s.at, "message_id": s.message_id} for s in sent],
    )


async def mark_try(
    session: AsyncSession, row_id: int, *, tries: int, error: str, now: datetime
) -> None:
    """A failed try; the claim's lease is renewed for the wait before the next."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(tries=tries, last_error=error[:500], lease_until=now + LEASE)
    )


async def mark_failed(session: AsyncSession, row_id: int, *, tries: int, error: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(status=OutboxStatus.FAILED.value, tries=tries, last_error=error[:500])
    )


async def counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    found = {status: int(n) for status, n in rows}
    return {s.value: found.get(s.value, 0) for s in OutboxStatus}


async def last_failures(session: AsyncSession, limit: int = 10) -> list[OutboxMessage]:
    return list(
        (
            await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.FAILED.value)
                .order_by(OutboxMessage.id.desc())
                .limit(limit)
            )
        ).scalars()
    )


async def waiting(db: Database) -> int:
    """How many messages wait to be sent (a health check: it also proves the database answers)."""
    async with db.read() as session:
        return (
            await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING.value)
            )
            or 0
        )
