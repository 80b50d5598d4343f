"""The Mini App's committee view of 1,000 branches (issue #17): served in < 1 s and weighing
< 300 KB as the phone receives it (the page, its script and style, and the API's answer, all
gzip-compressed as the server sends them to a client that accepts it).

1,000 branches of 30 members (seeded as ``bench/tick.py`` seeds them) under 10 committees;
the bootstrap admin opens the committee view: ``GET /api/committee`` through the real web
server (uvicorn, Starlette, the launch data checked) on the loopback. Three runs, each a fresh
request after one warm-up; verdicts from the medians.
Run: ``.venv/bin/python -m bench.webapp [--branches 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from telegram.ext import Application

from bench.report import RUNS, figure, median, spread
from bench.tick import AT, seed
from bot.ops.deps import Deps
from bot.rules.clock import FrozenClock
from bot.store.db import Database
from bot.store.liveness import Liveness
from bot.store.migrate import upgrade
from handlers.web.auth import launch_data
from handlers.web.server import WebServer
from settings import get_settings

TOKEN = "123456789:AAE-bench-token-0123456789abcdefghijk"
ADMIN = 42


async def main(branches: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / 'web.db'}")
        await upgrade(db.engine)
        await seed(db, branches)
        settings = get_settings(_env_file=None, bot_token=TOKEN, admin_ids=str(ADMIN))
        clock = FrozenClock(AT)
        app = Application.builder().token(TOKEN).updater(None).build()
        server = WebServer(
            app,
            Deps(settings, db, clock),
            listen="127.0.0.1:0",
            liveness=Liveness(clock),
            web_url=None,
        )
        await server.start()
        try:
            await measure(f"http://127.0.0.1:{server.port}", clock, branches)
        finally:
            await server.stop()
            await db.dispose()


async def measure(base: str, clock: FrozenClock, branches: int) -> None:
    auth = {"Authorization": "tma " + launch_data(ADMIN, TOKEN, at=clock.now())}
    gzip = {"Accept-Encoding": "gzip"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        page = 0
        for path in ("/app", "/app/static/app.js", "/app/static/app.css"):
            async with http.stream("GET", path, headers=gzip) as r:
                page += len(b"".join([part async for part in r.aiter_raw()]))
        await http.get("/api/committee", headers=auth)  # warm-up: imports, caches
        took, sent, rows = [], 0, 0
        for _ in range(RUNS):
            started = time.perf_counter()
            async with http.stream("GET", "/api/committee", headers=auth | gzip) as r:
                raw = b"".join([part async for part in r.aiter_raw()])
                assert r.status_code == 200, r.status_code
                sent = len(raw)
            took.append(time.perf_counter() - started)
        plain = await http.get("/api/committee", headers=auth | {"Accept-Encoding": "identity"})
        rows = len(plain.json()["rows"])
    weight = (page + sent) / 1024
    print(
        f"inputs: {branches:,} branches of 30 members under 10 committees; the bootstrap admin's "
        f"committee view ({rows:,} rows); {RUNS} runs after a warm-up; page {page / 1024:.1f} KB "
        f"+ data {sent / 1024:.1f} KB gzip-compressed ({len(plain.content) / 1024:.0f} KB plain)"
    )
    figure(f"webapp: committee view of {branches:,} branches", spread(took), "< 1 s",
           "ok" if median(took) < 1.0 else "MISSED")  # fmt: skip
    figure("webapp: committee view weight", f"{weight:.0f} KB", "< 300 KB",
           "ok" if weight < 300 else "MISSED")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--branches", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.branches))
