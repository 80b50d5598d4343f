"""``zhibu run`` in polling mode with ZHIBU_WEB_URL: the one web server comes up beside the
polling, serves the board and its API, sets the menu button, and stops with the bot."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from handlers.web.auth import launch_data
from tests.fakegram import FakeTelegram
from tests.helpers import TOKEN, free_port, run_env, stopped


async def test_polling_with_the_board(fake: FakeTelegram, tmp_path: Path) -> None:
    port = free_port()
    env = run_env(
        fake,
        tmp_path / "web.db",
        ZHIBU_WEB_URL="https://board.example/zhibu",
        ZHIBU_WEB_LISTEN=f"127.0.0.1:{port}",
        ZHIBU_ADMIN_IDS="4242",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.ops.cli", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake.wait_for(lambda: None in fake.menu_buttons, timeout=60)
        assert fake.menu_buttons[None]["web_app"] == {"url": "https://board.example/zhibu/app"}
        user = fake.add_user("Alice")
        assert "还没有绑定党员身份" in (await user.ask("/start", timeout=30)).content  # polling
        signed = {"Authorization": "tma " + launch_data(4242, TOKEN, at=datetime.now(UTC))}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert (await http.get("/app")).status_code == 200
            assert (await http.get("/healthz")).json()["database"] == "ok"
            assert (await http.get("/api/me")).status_code == 401
            me = await http.get("/api/me", headers=signed)
            assert me.status_code == 200 and me.json()["admin"] is True
            assert (await http.post("/telegram/hook", json={})).status_code in (404, 405)
    finally:
        log = await stopped(process)
    assert process.returncode == 0, log[-2000:]
    assert TOKEN.split(":")[1] not in log and "Traceback" not in log
