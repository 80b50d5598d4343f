"""How close the outbox comes to Telegram's limit: 10,000 recipients, limits scaled fivefold.

The fake Bot API runs in its own process with every flood limit ×5 (150 messages/s overall)
and judges strictly: no more than the limit in any sliding one-second window. The bot's
throttle is set to the same limit. Prints the achieved rate as a ratio of the limit
(target ≥ 0.95) and the number of 429 answers (target 0).
Run: ``.venv/bin/python -m bench.broadcast [--recipients N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.report import figure
from bot.rules.clock import SystemClock
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import OutboxMessage
from bot.store.outbox import NewMessage, enqueue
from handlers.app import build_application
from settings import get_settings

SCALE = 5
LIMIT = 30 * SCALE


async def main(recipients: int) -> None:
    fake = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakegram",
        "--port",
        "0",
        "--scale",
        str(SCALE),
        stdout=asyncio.subprocess.PIPE,
    )
    assert fake.stdout is not None
    base = (await fake.stdout.readline()).decode().strip().rsplit(" ", 1)[-1]
    control = base.rsplit("/bot", 1)[0] + "/_fake/"
    try:
        async with httpx.AsyncClient(base_url=control, timeout=60) as client:
            ids = (await client.post("users", json={"count": recipients, "started": True})).json()[
                "result"
            ]
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                db = Database.from_url(url)
                await upgrade(db.engine)
                now = SystemClock().now()
                async with db.write() as session:
                    await enqueue(
                        session,
                        [
                            NewMessage(f"bench|{i}", "reminder", chat, f"提醒 {i}", now)
                            for i, chat in enumerate(ids)
                        ],
                        now=now,
                    )
                settings = get_settings(
                    _env_file=None,
                    bot_token="1:bench",
                    database_url=url,
                    api_base_url=base,
                    rate_overall_per_second=LIMIT,
                    scheduler_enabled=False,
                    sender_workers=32,
                )
                app = build_application(settings, db=db)
                sender = app.bot_data["deps"].sender
                await app.initialize()
                started = time.perf_counter()
                await sender.start()
                while True:
                    async with db.read() as session:
                        done = await session.scalar(
                            select(func.count())
                            .select_from(OutboxMessage)
                            .where(OutboxMessage.status == "sent")
                        )
                    if done == recipients:
                        break
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                await sender.stop()
                await app.shutdown()
                await db.dispose()
            stats = (await client.post("stats")).json()["result"]
    finally:
        fake.terminate()
        await fake.wait()
    rate = recipients / elapsed
    print(
        f"inputs: {recipients} recipients, limit {LIMIT}/s (30/s × {SCALE}), fake in its own process"
    )
    print(f"{'measure':<28}{'value':>12}{'target':>12}")
    print(f"{'messages sent':<28}{stats['messages']:>12}{recipients:>12}")
    print(f"{'seconds':<28}{elapsed:>12.2f}")
    print(f"{'rate (messages/s)':<28}{rate:>12.1f}")
    print(
        f"{'rate / limit':<28}{rate / LIMIT:>12.3f}{'≥ 0.95':>12}  {'ok' if rate / LIMIT >= 0.95 else 'MISSED'}"
    )
    print(
        f"{'429 answers':<28}{stats['flood_429']:>12}{0:>12}  {'ok' if stats['flood_429'] == 0 else 'MISSED'}"
    )
    figure(
        f"broadcast: {recipients} messages, rate / limit",
        f"{rate / LIMIT:.3f}",
        "≥ 0.95",
        "ok" if rate / LIMIT >= 0.95 else "MISSED",
    )
    figure(
        "broadcast: 429 answers",
        str(stats["flood_429"]),
        "0",
        "ok" if stats["flood_429"] == 0 else "MISSED",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().recipients))
