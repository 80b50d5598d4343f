"""Errors, conversations that end, paging, and concurrent writes."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

import handlers.help
from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, JoinRequest
from settings import Settings
from tests.conftest import ADMIN_ID
from tests.fakegram import FakeTelegram
from tests.helpers import TOKEN, RunningBot, big_roster, link, start_bot, workbook_bytes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def big(db: Database, clock: FrozenClock) -> None:
    orgs, members = read_workbook(workbook_bytes(*big_roster()))
    assert (
        await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    ).counts


async def test_a_failing_handler_is_logged_and_the_user_told(
    bot: RunningBot,
    fake: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(handlers.help, "help_text", broken)
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    admin.send("/start")  # the admin has a chat with the bot
    await admin.next_message(0)
    user = fake.add_user("U")
    with caplog.at_level(logging.ERROR, logger="zhibu.handlers"):
        answer = await user.ask("/help")
    assert "出错了" in answer.content
    note = await admin.next_message(1)
    assert "RuntimeError" in note.content
    record = next(r for r in caplog.records if "error while handling" in r.getMessage())
    assert f"user={user.id}" in record.getMessage() and record.exc_info is not None
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


async def test_join_conversation_can_be_cancelled_and_times_out(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings, big: None
) -> None:
    quick = settings.model_copy(update={"conversation_timeout_seconds": 1})
    running = await start_bot(fake, db, clock, quick)
    try:
        secretary = fake.add_user("Sec")
        await link(db, "M0100", secretary.id, clock.now())
        page = await secretary.ask("/invite")
        before = len(secretary.bot_messages())
        await secretary.click(page, "支部入群链接")
        photo = await secretary.next_message(before)
        payload = re.search(r"start=(b_[\w-]+)", photo.content)
        assert payload
        user = fake.add_user("Joiner")
        await user.ask(f"/start {payload[1]}")
        assert "已取消" in (await user.ask("/cancel")).content
        # after /cancel a name is just text: no request is made
        await user.ask(f"/start {payload[1]}")
        before = len(user.bot_messages())
        ended = await user.next_message(before, timeout=5)
        assert "已自动结束" in ended.content
        # a name typed after the end starts nothing
        user.send("党员0101")
        await user.ask("/help")  # updates are handled in order: the name has been seen
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(JoinRequest)) == 0
    finally:
        await running.stop()


async def test_invite_and_roster_pages(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, big: None
) -> None:
    secretary = fake.add_user("Sec")
    await link(db, "M0100", secretary.id, clock.now())
    page = await secretary.ask("/invite")
    assert "未绑定成员 29 人" in page.content and "第 1/4 页" in page.content
    assert "‹" not in page.button_labels
    await secretary.click(page, "›")
    await fake.wait_for(lambda: "第 2/4 页" in page.content)
    assert "党员0109" in page.content and "党员0101" not in page.content
    assert {"‹", "›"} <= set(page.button_labels)
    roster = await secretary.ask("/roster")
    assert "在册 30 人，已绑定 1 人" in roster.content and "第 1/2 页" in roster.content
    assert all(len(m.content) <= 4096 for m in secretary.bot_messages())
    await secretary.click(roster, "›")
    await fake.wait_for(lambda: "第 2/2 页" in roster.content)
    assert "党员0129" in roster.content


async def test_admin_invites_for_a_branch_by_code(
    bot: RunningBot, fake: FakeTelegram, db: Database, big: None
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    picker = await admin.ask("/invite")  # no code: the branches to choose from
    assert "请选择支部（/invite，共 10 个）" in picker.content and len(picker.button_labels) == 10
    wrong = await admin.ask("/invite DW1")  # a committee is not a branch
    assert "没有名称或编码含“DW1”的支部" in wrong.content and len(wrong.button_labels) == 10
    page = await admin.ask("/invite ZB03")
    assert "第3党支部 · 未绑定成员 30 人" in page.content
    home = await admin.ask("/start")
    assert "全部党组织" in home.content


async def test_concurrent_writers_on_one_sqlite_file(tmp_path: Path, db: Database) -> None:
    """Two engines on one file (as two processes would be) write without 'database is locked'."""
    url = str(db.engine.url)
    other = Database.from_url(url)
    try:

        async def write(database: Database, i: int) -> None:
            async with database.write() as session:
                session.add(
                    AuditEntry(at=datetime.now(UTC), action=f"w{i}", outcome="ok", detail={})
                )

        await asyncio.gather(*(write(db if i % 2 else other, i) for i in range(60)))
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 60
    finally:
        await other.dispose()


async def test_fakegram_runs_as_its_own_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakegram", "--port", "0",
        stdout=asyncio.subprocess.PIPE, cwd=str(REPO),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        base = line.strip().rsplit(" ", 1)[-1]
        async with httpx.AsyncClient() as client:
            me = (await client.get(f"{base}1:x/getMe")).json()
        assert me["ok"] and me["result"]["is_bot"]
    finally:
        process.terminate()
        await process.wait()
