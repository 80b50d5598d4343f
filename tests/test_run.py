"""``zhibu run`` as a real process, polling the fake Telegram."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.fakegram import FakeTelegram
from tests.helpers import TOKEN, run_env, stopped

pytestmark = pytest.mark.xdist_group("drills")  # one worker: they time themselves


async def test_zhibu_run_polls_and_answers_start(fake: FakeTelegram, tmp_path: Path) -> None:
    env = run_env(fake, tmp_path / "run.db", ZHIBU_LOG_LEVEL="DEBUG")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.ops.cli",
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_for(lambda: "getUpdates" in fake.calls, timeout=60)
        user = fake.add_user("Alice")
        answer = await user.ask("/start", timeout=30)
        assert "还没有绑定党员身份" in answer.content
        assert (tmp_path / "run.db").exists()  # migrations ran first
    finally:
        log = await stopped(process, signal.SIGINT)
    assert "getUpdates" in log or "Application started" in log or "ready" in log
    assert TOKEN not in log
    assert TOKEN.split(":")[1] not in log
    assert "还没有绑定党员身份" not in log  # message texts are not logged, not even at DEBUG


async def test_a_rejected_token_ends_run_with_one_clear_line(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    fake.rejected_tokens.add(TOKEN)
    env = run_env(fake, tmp_path / "run.db", ZHIBU_LOG_LEVEL="DEBUG")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.ops.cli", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    log = stderr.decode()
    assert "Traceback" not in log and TOKEN.split(":")[1] not in log
    last = log.strip().splitlines()[-1]
    assert (
        last == "zhibu: bot api: refused: Telegram rejected the token (fix: check ZHIBU_BOT_TOKEN)"
    )


async def test_second_run_on_the_same_sqlite_file_refuses(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    env = run_env(fake, tmp_path / "one.db")
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.ops.cli", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake.wait_for(lambda: "getUpdates" in fake.calls, timeout=60)
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.ops.cli", "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(second.communicate(), timeout=60)
        assert second.returncode == 1
        message = err.decode().strip().splitlines()
        assert len(message) == 1 and f"(pid {first.pid})" in message[0] and "one.db" in message[0]
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.communicate(), timeout=30)
    assert first.returncode == 0
