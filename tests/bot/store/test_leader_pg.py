"""PostgreSQL election: a standby ends only the session of its own database's lock holder,
never that of another deployment sharing the server (advisory locks are per database)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.rules.clock import FrozenClock
from bot.store.db import Database
from bot.store.leader import ADVISORY_KEY, Leadership
from bot.store.migrate import upgrade
from bot.store.models import LeaderState

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def holding(db: Database) -> AsyncConnection:
    """A session that holds this database's active-process lock, its lease run out."""
    async with db.write() as session:
        session.add(
            LeaderState(id=1, epoch=1, holder="hung", lease_until=NOW - timedelta(minutes=1))
        )
    conn = await (await db.engine.connect()).execution_options(isolation_level="AUTOCOMMIT")
    got = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})
    assert got.scalar() is True
    return conn


async def alive(conn: AsyncConnection) -> bool:
    try:
        return (await conn.execute(text("SELECT 1"))).scalar() == 1
    except Exception:
        return False


async def test_a_standby_ends_only_its_own_databases_holder(pg_url: str, other_pg_url: str) -> None:
    ours, theirs = Database.from_url(pg_url), Database.from_url(other_pg_url)
    for db in (ours, theirs):
        await upgrade(db.engine)
    their_holder = await holding(theirs)  # another deployment's hung process
    our_holder = await holding(ours)
    standby = Leadership(ours, FrozenClock(NOW))
    try:
        async with ours.engine.connect() as conn:
            ended = await standby._holder_expired(
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            )
        assert ended
        assert not await alive(our_holder)
        assert await alive(their_holder)  # the other deployment's process keeps its office
    finally:
        for conn in (their_holder, our_holder):
            with contextlib.suppress(Exception):
                await conn.close()
        await ours.dispose()
        await theirs.dispose()
