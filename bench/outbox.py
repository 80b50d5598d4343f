"""What the outbox benchmarks share: the fake Bot API in a process of its own, and one
outbox drained by zhibu's sender (``bench/broadcast.py``, ``bench/sender.py``)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.rules.clock import SystemClock
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import OutboxMessage
from bot.store.outbox import NewMessage, enqueue
from handlers.app import build_application
from settings import get_settings


async def start_fake(*options: str) -> tuple[asyncio.subprocess.Process, str, str]:
    """``python -m tests.fakegram`` with ``options``: the process, its Bot API base URL and
    its control URL (``/_fake/``)."""
    fake = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakegram", "--port", "0", *options,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert fake.stdout is not None
    base = (await fake.stdout.readline()).decode().strip().rsplit(" ", 1)[-1]
    return fake, base, base.rsplit("/bot", 1)[0] + "/_fake/"


async def drain(base: str, chats: list[int], *, limit: int, workers: int, run: int) -> float:
    """Seconds for zhibu's outbox sender (throttle at ``limit`` a second, ``workers``
    workers) to send one queued message to each chat and mark it sent, on a fresh database."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        db = Database.from_url(url)
        await upgrade(db.engine)
        now = SystemClock().now()
        async with db.write() as session:
            queued = [
                NewMessage(f"bench|{run}|{chat}", "reminder", chat, f"提醒 {chat}", now)
                for chat in chats
            ]
            await enqueue(session, queued, now=now)
        settings = get_settings(
            _env_file=None,
            bot_token="1:bench",
            database_url=url,
            api_base_url=base,
            rate_overall_per_second=limit,
            scheduler_enabled=False,
            sender_workers=workers,
        )
        app = build_application(settings, db=db)
        sender = app.bot_data["deps"].sender
        await app.initialize()
        query = (
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        )

        def sent(session: Session) -> int:
            return int(session.scalar(query) or 0)

        started = time.perf_counter()
        await sender.start()
        # looked at on the event loop's own thread: watching costs the sender next to nothing
        while await db.unit(sent, write=False, short=True) < len(chats):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        await sender.stop()
        await app.shutdown()
        await db.dispose()
    return elapsed
