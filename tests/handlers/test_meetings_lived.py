"""Meetings as a branch lives them (issue #14): the code reaches the room, a busy group stalls
nobody, 补签 after the window, the record closes the loop — through the fake Telegram."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.store.db import Database
from bot.store.models import Meeting, Org
from settings import Settings
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import drained, start_bot, thirty_members, tick_at

SH = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-12-01T09:00"))


@pytest.fixture
async def branch(
    fake: FakeTelegram, db: Database, clock: FrozenClock
) -> tuple[list[UserHandle], int]:
    return await thirty_members(fake, db, clock)


async def code_mode(db: Database) -> None:
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        org.checkin_mode = "code"


async def meet(sec: UserHandle, fake: FakeTelegram, when: str, kind: str = "支部党员大会") -> str:
    """The secretary schedules a meeting by chat; the text of the confirmation."""
    panel = await sec.ask("/meet")
    await sec.click(panel, kind)
    await fake.wait_for(lambda: "请选择日期" in panel.content)
    await sec.ask(when)
    await sec.ask("第一会议室")
    also = await sec.ask("学习全会精神")
    await sec.click(also, "完成")
    await fake.wait_for(lambda: "请确认" in also.content)
    await sec.click(also, "确认安排")
    await fake.wait_for(lambda: "会议已安排" in also.content)
    return also.content


async def stored_code(db: Database) -> str:
    async with db.read() as session:
        code = await session.scalar(select(Meeting.code).order_by(Meeting.id.desc()))
    assert code is not None
    return code


async def test_the_secretary_gets_the_code_to_show_in_the_room(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    branch: tuple[list[UserHandle], int],
) -> None:
    users, group_id = branch
    await code_mode(db)
    running = await start_bot(fake, db, clock, settings)
    try:
        sec = users[0]
        created = await meet(sec, fake, "12-3 9:00")
        code = await stored_code(db)
        assert f"签到码：{code}" in created  # at once, on the manage message
        await drained(db)
        # when check-in opens (30 minutes before), the managers are sent the code
        await tick_at(running, clock, local("2026-12-03T08:30"))
        notices = [m for m in sec.bot_messages() if "签到码" in m.content and code in m.content]
        assert len(notices) == 2, [m.content for m in sec.bot_messages()]
        notice = notices[-1]
        assert f"/checkin {code}" in notice.content and "支部党员大会" in notice.content
        deputy = [m for m in users[1].bot_messages() if code in m.content]
        assert deputy, "every manager of the branch is sent the code"
        assert not [m for m in users[5].bot_messages() if code in m.content]
        assert not [m for m in fake.bot_messages(group_id) if code in m.content]
        # the large print, to project in the room
        before = len(sec.bot_messages())
        await sec.click(notice, "投屏大图")
        shown = await sec.next_message(before)
        assert shown.photo and shown.photo.startswith(b"\x89PNG")
        assert code in shown.content
        # a member cannot ask for it, even with forged button data
        forged = await users[5].click_data(notice, notice.button("投屏大图")["callback_data"])
        assert forged.show_alert
        assert not [m for m in users[5].bot_messages() if code in m.content]
        # members check in with it
        clock.set(local("2026-12-03T09:02"))
        assert "签到成功" in (await users[5].ask(f"/checkin {code}")).content
        # a second tick in the window does not send the code again
        await tick_at(running, clock, local("2026-12-03T09:10"))
        again = [m for m in sec.bot_messages() if "签到码" in m.content and code in m.content]
        assert len(again) == 3  # the created message, the notice, the large print
    finally:
        await running.stop()
