"""How close the outbox comes to Telegram's limit: 10,000 recipients, limits scaled fivefold.

The fake Bot API runs in its own process with every flood limit ×5 (150 messages/s overall)
and judges strictly: no more than the limit in any sliding one-second window. The bot's
throttle is set to the same limit. Prints the achieved rate as a ratio of the limit
(target ≥ 0.95, median of 3 runs) and the number of 429 answers (target 0 in all runs).
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

from bench.report import RUNS, figure, median, spread
from bot.rules.clock import SystemClock
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import OutboxMessage
from bot.store.outbox import NewMessage, enqueue
from handlers.app import build_application
from settings import get_settings

SCALE = 5
LIMIT = 30 * SCALE


async def one_run(base: str, ids: list[int], run: int) -> float:
    """Seconds for the outbox to send one queued message to each of ``ids``."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        db = Database.from_url(url)
        await upgrade(db.engine)
        now = SystemClock().now()
        async with db.write() as session:
            await enqueue(
                session,
                [
                    NewMessage(f"bench|{run}|{i}", "reminder", chat, f"提醒 {i}", now)
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
            if done == len(ids):
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        await sender.stop()
        await app.shutdown()
        await db.dispose()
    return elapsed


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
            ratios, refused = [], []
            for run in range(RUNS):
                before = (await client.post("stats")).json()["result"]["flood_429"]
                ratios.append(recipients / await one_run(base, ids, run) / LIMIT)
                refused.append((await client.post("stats")).json()["result"]["flood_429"] - before)
                await asyncio.sleep(1.1)  # the next run starts with an empty one-second window
            stats = (await client.post("stats")).json()["result"]
    finally:
        fake.terminate()
        await fake.wait()
    print(
        f"inputs: {recipients} recipients, limit {LIMIT}/s (30/s × {SCALE}), fake in its own "
        f"process, {RUNS} runs"
    )
    print(f"messages the fake received: {stats['messages']} (expected {RUNS * recipients})")
    print(f"rate / limit per run: {', '.join(f'{r:.3f}' for r in ratios)}; 429s: {refused}")
    ok = median(ratios) >= 0.95 and stats["messages"] == RUNS * recipients
    figure(
        f"broadcast: {recipients} messages, rate / limit",
        spread(ratios, "of the limit", 3),
        "≥ 0.95",
        "ok" if ok else "MISSED",
    )
    figure(
        "broadcast: 429 answers", str(sum(refused)), "0", "ok" if sum(refused) == 0 else "MISSED"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().recipients))
