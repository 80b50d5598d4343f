"""The bot process dies (SIGKILL) mid-broadcast, or hands over to another: nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from bot.clock import SystemClock
from bot.db import Database
from bot.migrate import upgrade
from bot.models import OutboxMessage
from bot.outbox import NewMessage, enqueue
from tests.fakegram import FakeTelegram, Limits, UserHandle
from tests.helpers import TOKEN


def bot_env(fake: FakeTelegram, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    env |= {
        "ZHIBU_BOT_TOKEN": TOKEN,
        "ZHIBU_API_BASE_URL": fake.base_url,
        "ZHIBU_DATABASE_URL": database_url,
        "ZHIBU_RATE_OVERALL_PER_SECOND": "300",
        "ZHIBU_LOG_LEVEL": "INFO",
    }
    return env | extra


async def spawn(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def broadcast(db: Database, users: list[UserHandle], batch: str) -> None:
    now = SystemClock().now()
    async with db.write() as session:
        await enqueue(
            session,
            [NewMessage(f"{batch}|{u.id}", "reminder", u.id, f"{batch} 提醒", now) for u in users],
            now=now,
        )


async def count(db: Database, status: str) -> int:
    async with db.read() as session:
        query = (
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == status)
        )
        return int(await session.scalar(query) or 0)


async def until(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s")
        await asyncio.sleep(0.1)


def started_users(fake: FakeTelegram, n: int) -> list[UserHandle]:
    users = [fake.add_user(f"U{i}") for i in range(n)]
    for u in users:
        u.user.started = True
    return users


async def test_sigkill_mid_broadcast_loses_nothing(fake: FakeTelegram, tmp_path: Path) -> None:
    fake.limits = Limits(overall_per_second=300, private_per_second=5, group_per_minute=200)
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    db = Database.from_url(url)
    await upgrade(db.engine)
    users = started_users(fake, 2000)
    await broadcast(db, users, "crash")
    env = bot_env(fake, url)
    first = await spawn(env, tmp_path)

    async def some_delivered() -> bool:
        return sum(len(fake.bot_messages(u.id)) for u in users) >= 600

    try:
        await until(some_delivered, 60)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    in_flight = await count(db, "sending")
    delivered_at_kill = sum(1 for u in users if fake.bot_messages(u.id))
    second = await spawn(env, tmp_path)

    async def all_sent() -> bool:
        return await count(db, "sent") == 2000

    try:
        await until(all_sent, 120)
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    await db.dispose()
    received = [len(fake.bot_messages(u.id)) for u in users]
    lost = sum(1 for n in received if n == 0)
    duplicates = sum(n - 1 for n in received if n > 1)
    print(
        f"\nSIGKILL after {delivered_at_kill} of 2000 delivered: {in_flight} in flight at the kill; "
        f"after restart lost {lost}, duplicates {duplicates}"
    )
    assert lost == 0
    assert duplicates <= in_flight


async def test_failover_on_postgres(fake: FakeTelegram, tmp_path: Path, pg_url: str) -> None:
    fake.limits = Limits(overall_per_second=300, private_per_second=5, group_per_minute=200)
    db = Database.from_url(pg_url)
    await upgrade(db.engine)
    users = started_users(fake, 400)
    env = bot_env(fake, pg_url)
    active = await spawn(env, tmp_path)
    standby: asyncio.subprocess.Process | None = None
    try:
        await fake.wait_for(lambda: "getUpdates" in fake.calls, timeout=60)
        standby = await spawn(env, tmp_path)
        await broadcast(db, users[:200], "one")

        async def first_done() -> bool:
            return await count(db, "sent") == 200

        await until(first_done, 60)
        active.send_signal(signal.SIGKILL)
        await active.wait()
        killed_at = time.monotonic()
        await broadcast(db, users[200:], "two")

        async def second_started() -> bool:
            return any(fake.bot_messages(u.id) for u in users[200:])

        await until(second_started, 60)
        takeover = time.monotonic() - killed_at

        async def all_done() -> bool:
            return await count(db, "sent") == 400

        await until(all_done, 60)
    finally:
        for process in (active, standby):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
        await db.dispose()
    received = [len(fake.bot_messages(u.id)) for u in users]
    print(f"\nfailover: the standby took over and sent within {takeover:.1f}s of the kill")
    assert received == [1] * 400  # every message once: none lost, none twice
    assert takeover < 30
