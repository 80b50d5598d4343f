"""The outbox (SPEC §11): every scheduled message is a row first, with a unique key.

Rows are written in the transaction that decided to send them; the sender claims pending
rows, sends them and records the outcome. A row caught mid-send by a crash goes back to
pending when the sender starts again: it may then be sent twice, never lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import OutboxMessage, OutboxStatus

KEY_MAX = 200
MAX_TRIES = 10


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


async def enqueue(session: AsyncSession, messages: list[NewMessage], *, now: datetime) -> int:
    """Add the messages; a key already in the outbox is left as it is (exactly once).

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
        }
        for m in messages
    }
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert_ = sqlite_insert if dialect == "sqlite" else postgresql_insert
    # one executemany that skips keys already there, not thousands of ORM objects
    await session.execute(
        insert_(OutboxMessage).on_conflict_do_nothing(index_elements=["key"]), list(rows.values())
    )
    return len(rows)


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    tries: int


async def recover(session: AsyncSession) -> int:
    """Rows left mid-send by a process that died go back to pending."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENDING.value)
        .values(status=OutboxStatus.PENDING.value)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def claim(session: AsyncSession, *, now: datetime, limit: int) -> list[Claimed]:
    rows = list(
        (
            await session.execute(
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                    OutboxMessage.not_before <= now,
                )
                .order_by(OutboxMessage.not_before, OutboxMessage.id)
                .limit(limit)
            )
        ).scalars()
    )
    for row in rows:
        row.status = OutboxStatus.SENDING.value
    await session.flush()
    return [Claimed(r.id, r.chat_id or 0, r.text, r.reply_markup, r.tries) for r in rows]


async def mark_sent(
    session: AsyncSession, row_id: int, *, now: datetime, message_id: int | None
) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(status=OutboxStatus.SENT.value, sent_at=now, message_id=message_id)
    )


async def mark_try(session: AsyncSession, row_id: int, *, tries: int, error: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(tries=tries, last_error=error[:500])
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
