"""Database.unit: a whole transaction as plain SQLAlchemy code, in one go (issue #15)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store import outbox
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import OutboxMessage, OutboxStatus

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def add(session: Session, key: str) -> None:
    session.add(
        OutboxMessage(
            key=key,
            kind="reminder",
            chat_id=1,
            text="t",
            status=OutboxStatus.PENDING.value,
            not_before=NOW,
            tries=0,
            created_at=NOW,
        )
    )


def keys(session: Session) -> list[str]:
    return list(session.scalars(select(OutboxMessage.key).order_by(OutboxMessage.key)))


@pytest.mark.parametrize("short", [False, True])
async def test_a_unit_commits_what_it_wrote_and_returns_its_result(
    db: Database, short: bool
) -> None:
    def work(session: Session) -> int:
        add(session, "a")
        add(session, "b")
        session.flush()
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)

    assert await db.unit(work, short=short) == 2
    async with db.read() as session:  # seen by the async side: the same file
        assert sorted((await session.scalars(select(OutboxMessage.key))).all()) == ["a", "b"]


@pytest.mark.parametrize("short", [False, True])
async def test_a_failing_unit_leaves_nothing_behind(db: Database, short: bool) -> None:
    def work(session: Session) -> None:
        add(session, "a")
        session.flush()
        raise ValueError("half-way")

    with pytest.raises(ValueError, match="half-way"):
        await db.unit(work, short=short)
    assert await db.unit(keys, write=False) == []


async def test_a_read_unit_writes_nothing(db: Database) -> None:
    def sneaky(session: Session) -> None:
        add(session, "a")
        session.flush()

    await db.unit(sneaky, write=False)
    assert await db.unit(keys, write=False) == []


async def test_a_short_unit_runs_on_the_event_loop_thread_and_a_long_one_does_not(
    db: Database,
) -> None:
    def where(session: Session) -> str:
        return threading.current_thread().name

    assert await db.unit(where, short=True) == threading.current_thread().name
    assert (await db.unit(where)).startswith("zhibu-db")


async def test_a_short_unit_waits_in_the_database_thread_while_another_process_writes(
    db: Database, tmp_path: Path
) -> None:
    """Another program holds SQLite's write lock: the short unit does not block the event
    loop for long; it goes on in the database thread and finishes once the lock is free."""
    other = sqlite3.connect(tmp_path / "test.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    threads: list[str] = []

    def work(session: Session) -> None:
        threads.append(threading.current_thread().name)
        add(session, "a")

    task = asyncio.create_task(db.unit(work, short=True))
    await asyncio.sleep(0.3)
    assert not task.done()  # waiting for the lock, but not on the event loop: we run
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(task, 10)
    assert threads[-1].startswith("zhibu-db")
    assert await db.unit(keys, write=False) == ["a"]


async def test_an_in_memory_database_runs_units_through_its_async_session() -> None:
    db = Database.from_url("sqlite+aiosqlite:///:memory:")
    await upgrade(db.engine)
    try:
        assert await db.unit(keys, write=False, short=True) == []
    finally:
        await db.dispose()


async def claim_and_mark(db: Database) -> None:
    """Claim a row, mark it sent with Telegram's message id: what the sender does."""

    def work(session: Session) -> list[str]:
        add(session, "a")
        session.flush()
        return keys(session)

    assert await db.unit(work, short=True) == ["a"]
    claimed = await db.unit(lambda s: outbox.claim_now(s, now=NOW, limit=10), short=True)
    assert [c.text for c in claimed] == ["t"]
    assert await db.unit(lambda s: outbox.claim_now(s, now=NOW, limit=10)) == []  # held
    await db.unit(lambda s: outbox.mark_sent(s, [outbox.Sent(claimed[0].id, NOW, 77)]))
    async with db.read() as session:
        row = await session.get_one(OutboxMessage, claimed[0].id)
    assert (row.status, row.message_id, row.sent_at) == ("sent", 77, NOW)


async def test_claim_and_mark_sent_on_sqlite(db: Database) -> None:
    await claim_and_mark(db)


async def test_units_on_postgresql(pg_url: str) -> None:
    db = Database.from_url(pg_url)
    await upgrade(db.engine)
    try:
        await claim_and_mark(db)
    finally:
        await db.dispose()
