"""``zhibu run`` in webhook mode: the fake Telegram posts updates to it; the secret is checked;
the health endpoint answers."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

from aiohttp import ClientSession

from tests.fakegram import FakeTelegram
from tests.helpers import TOKEN, free_port, run_env, stopped

SECRET = "webhook-secret-0123456789"


async def test_webhook_mode_end_to_end(fake: FakeTelegram, tmp_path: Path) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    env = run_env(
        fake,
        tmp_path / "hook.db",
        ZHIBU_WEBHOOK_URL=hook,
        ZHIBU_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        ZHIBU_WEBHOOK_SECRET=SECRET,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.ops.cli", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake.wait_for(lambda: fake.webhook is not None, timeout=60)
        assert fake.webhook == {"url": hook, "secret_token": SECRET}
        user = fake.add_user("Alice")
        answer = await user.ask("/start", timeout=30)
        assert "还没有绑定党员身份" in answer.content
        assert "getUpdates" not in fake.calls
        assert fake.webhook_attempts and {s for _, s in fake.webhook_attempts} == {200}
        before = len(user.bot_messages())
        forged = {
            "update_id": 999_999,
            "message": {
                "message_id": 99,
                "date": 0,
                "chat": {"id": user.id, "type": "private"},
                "from": {"id": user.id, "is_bot": False, "first_name": "Alice"},
                "text": "/help",
            },
        }
        async with ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(hook, json=forged, headers=headers) as r:
                    assert r.status == 403
            for junk in (b"not json", b"null", b"[1]", b"5", b'{"update_id": 7, "message": 5}'):
                async with http.post(
                    hook, data=junk, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                ) as r:
                    assert r.status == 400, junk
            huge = b'{"update_id": 8, "message": "' + b"x" * (1024 * 1024) + b'"}'
            async with http.post(
                hook, data=io.BytesIO(huge), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as r:
                assert r.status == 413  # not read past 1 MB (uvicorn has no limit of its own)
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
                body = await r.json()
                assert body["status"] == "ok" and body["database"] == "ok"
                assert body["tasks"]["sender"]["ok"] and body["tasks"]["sender"]["last_ok"]
        await asyncio.sleep(0.5)
        assert len(user.bot_messages()) == before  # the refused requests changed nothing
        second = await user.ask("/help", timeout=30)  # and real updates still flow
        assert "可用命令" in second.content
    finally:
        log = await stopped(process)
    assert process.returncode == 0, log[-2000:]
    assert SECRET not in log and TOKEN.split(":")[1] not in log
    assert "Traceback" not in log
