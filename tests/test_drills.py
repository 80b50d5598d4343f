"""Fault drills (SPEC §11): Telegram failing mid-conversation, the database locked or gone
for a moment, the disk full while exporting, a corrupt upload."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Member, Record
from settings import Settings
from tests.conftest import ADMIN_ID
from tests.fakegram import FakeTelegram, UserHandle
from tests.fakegram.server import Faults
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, workbook_bytes

pytestmark = pytest.mark.xdist_group("drills")  # one worker: they time themselves

NOTE = "学习心得：认真学习全会精神，结合岗位实际抓落实，把学习成果转化为推动各项工作高质量发展的强大动力和实际成效。"


@pytest.fixture
async def member(fake: FakeTelegram, db: Database, clock: FrozenClock) -> UserHandle:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    user = fake.add_user("Zhang")
    await link(db, "S003", user.id, clock.now())
    return user


async def records(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Record)) or 0)


async def test_telegram_faults_during_a_conversation_lose_no_answer(
    bot: RunningBot, fake: FakeTelegram, db: Database, member: UserHandle
) -> None:
    """A third of the bot's messages and edits fail (502 or a dropped connection): every step
    is still answered and the report is saved exactly once."""
    fake.faults = Faults(
        error_rate=0.25, drop_rate=0.1, methods={"sendMessage", "editMessageText"}, seed=7
    )
    menu = await member.ask("/report", timeout=15)
    await member.click(menu, "学习心得", timeout=15)
    await fake.wait_for(lambda: "50–2000" in menu.content, timeout=15)
    assert "您发送了 2 字" in (await member.ask("太短", timeout=15)).content
    preview = await member.ask(NOTE, timeout=15)
    assert "预览 · 学习心得" in preview.content
    await member.click(preview, "保存", timeout=15)
    await fake.wait_for(lambda: "已保存" in preview.content, timeout=15)
    assert sum(fake.fault_counts.values()) > 0  # the faults did happen
    assert await records(db) == 1
    fake.faults = Faults()


def take_write_lock(path: str) -> sqlite3.Connection:
    """Another writer's connection, holding SQLite's write lock until it rolls back."""
    blocker = sqlite3.connect(path, timeout=30, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


async def test_a_locked_database_waits_then_answers(
    bot: RunningBot, fake: FakeTelegram, db: Database, member: UserHandle, settings: Settings
) -> None:
    """Another process holds the write lock for a moment: the update waits (busy timeout)
    and is handled when the lock is gone."""
    path = settings.database_url.split("///", 1)[1]
    blocker = await asyncio.to_thread(take_write_lock, path)  # the loop keeps running meanwhile
    before = len(member.bot_messages())
    member.send("/away 3-20")
    await asyncio.sleep(1.5)
    assert len(member.bot_messages()) == before  # waiting, not failing
    blocker.rollback()
    blocker.close()
    answer = await member.next_message(before, timeout=15)
    assert "不给您发催办" in answer.content
    async with db.read() as session:
        away = await session.scalar(select(Member.away_until).where(Member.member_code == "S003"))
    assert away is not None


async def test_an_unavailable_database_tells_the_user_and_changes_nothing(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    member: UserHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database refuses for a moment: the user is told to try again; afterwards all works."""
    original = Database.write
    state = {"failing": True}

    def broken(self: Database) -> AbstractAsyncContextManager[AsyncSession]:
        if state["failing"]:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("unable to open database"))
        return original(self)

    monkeypatch.setattr(Database, "write", broken)
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    admin.user.started = True
    for _ in range(3):
        answer = await member.ask("/away 3-20", timeout=15)
        assert "出错" in answer.content or "稍后" in answer.content
    notices = [m for m in admin.bot_messages() if "OperationalError" in m.content]
    assert len(notices) == 1  # the admins hear of it once, not once per update
    async with db.read() as session:
        away = await session.scalar(select(Member.away_until).where(Member.member_code == "S003"))
    assert away is None
    state["failing"] = False
    answer = await member.ask("/away 3-20", timeout=15)
    assert "不给您发催办" in answer.content


async def test_disk_full_while_exporting_is_a_clear_error(
    db: Database, member: UserHandle, tmp_path: Path, settings: Settings
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    env["ZHIBU_DATABASE_URL"] = settings.database_url
    if not os.path.exists("/dev/full"):  # noqa: ASYNC240
        pytest.skip("no /dev/full on this system to play a full disk")
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "bot.ops.cli",
            "export",
            "--org",
            "ZB",
            "--year",
            "2026",
            "-o",
            "/dev/full",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr


async def test_disk_full_while_exporting_in_chat(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    clock: FrozenClock,
) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    from bot.exports import ledger

    async def full(*args: object, **kwargs: object) -> bytes:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ledger, "export", full)
    answer = await admin.ask("/export 2026 ZB")
    assert answer.document is None
    assert "导出失败" in answer.content and "No space left on device" in answer.content


async def test_a_corrupt_upload_is_refused_and_imports_nothing(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    valid = workbook_bytes(SMALL_ORGS, SMALL_MEMBERS)
    for name, content in (
        ("truncated.xlsx", valid[: len(valid) // 2]),
        ("flipped.xlsx", valid[:200] + bytes(b ^ 0xFF for b in valid[200:400]) + valid[400:]),
    ):
        before = len(admin.bot_messages())
        admin.upload(name, content)
        answer = await admin.next_message(before, timeout=15)
        assert "不是有效的 Excel" in answer.content or "无法读取" in answer.content, answer.content
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 0


def hold_write_lock(path: str, seconds: float) -> None:
    """Another process's writer: take SQLite's write lock, keep it, let go."""
    blocker = take_write_lock(path)
    try:
        time.sleep(seconds)
        blocker.rollback()
    finally:
        blocker.close()


async def test_drill_another_writer_holds_the_lock_then_a_50_member_ask(
    fake: FakeTelegram, db: Database, settings: Settings
) -> None:
    """Drill: the bot is idle while another process holds SQLite's write lock for 15 s (longer
    than the busy timeout: the sender's and the intake's transactions fail meanwhile). Then
    the secretary sends a /ask to 50 members: all 50 prompts are delivered within 30 s."""
    from tests.handlers.test_collections import local
    from tests.helpers import start_bot

    clock = FrozenClock(local("2026-11-23T09:00"))
    orgs = [["DW", "机关党委", "", "党委", ""], ["ZB", "第一党支部", "DW", "党支部", ""]]
    members = [["ZB", "书记", "M00", "", "书记", "2010-07-01", ""]] + [
        ["ZB", f"党员{i:02d}", f"M{i:02d}", "", "", "2010-07-01", ""] for i in range(1, 50)
    ]  # 50 in all, the secretary too
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = [fake.add_user(f"U{i}") for i in range(50)]
    for i, u in enumerate(users):
        u.user.started = True
        await link(db, f"M{i:02d}", u.id, clock.now())
    fast = settings.model_copy(update={"rate_private_interval_seconds": 0.2})
    running = await start_bot(fake, db, clock, fast)
    try:
        path = settings.database_url.split("///", 1)[1]
        # in a thread of its own: waiting for the lock must not stop the bot's event loop
        await asyncio.to_thread(hold_write_lock, path, 15.0)
        sec = users[0]
        started = time.monotonic()
        panel = await sec.ask("/ask", timeout=30)
        await sec.click(panel, "学习心得", timeout=15)
        await fake.wait_for(lambda: "要求说明" in panel.content, timeout=15)
        await sec.ask("结合工作实际，谈谈学习全会精神的体会。", timeout=15)
        audience = await sec.ask("11-27 18:00", timeout=15)
        await sec.click(audience, "全体党员 (50)", timeout=15)
        await fake.wait_for(lambda: "请确认" in audience.content, timeout=15)
        await sec.click(audience, "✅ 发出", timeout=15)

        def prompted() -> int:
            return sum(
                any("请提交学习心得" in msg.content for msg in u.bot_messages()) for u in users
            )

        await fake.wait_for(lambda: prompted() == 50, timeout=30)
        elapsed = time.monotonic() - started
        liveness = running.app.bot_data["deps"].liveness.report()
        sender = running.app.bot_data["deps"].liveness.tasks["sender"]
    finally:
        await running.stop()
    print(
        f"\nlock held 15 s, then /ask to 50: all 50 delivered {elapsed:.1f}s after the lock ended"
    )
    assert sender.error_at is not None and "locked" in (sender.last_error or "")  # it was hit
    assert liveness["sender"]["ok"] and liveness["intake"]["ok"]
