"""The tick job, the outbox and the fake Telegram together, with the clock set."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.rules.clock import FrozenClock
from bot.services.admins import add_admin
from bot.services.roster import import_roster, read_workbook
from bot.store import outbox
from bot.store.db import Database
from bot.store.models import TickState
from jobs.tick import tick_once
from settings import Settings
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, start_bot, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def world(fake: FakeTelegram, db: Database, clock: FrozenClock) -> dict[str, UserHandle]:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    people = {
        "secretary": fake.add_user("Sec"),
        "activist": fake.add_user("Act"),
        "admin": fake.add_user("Adm"),
    }
    for u in people.values():
        u.user.started = True
    await link(db, "S001", people["secretary"].id, clock.now())
    await link(db, "S004", people["activist"].id, clock.now())
    await add_admin(db, "DW", people["admin"].id, None, now=clock.now())
    return people


async def at(running: RunningBot, clock: FrozenClock, moment: str) -> None:
    """Set the clock, as if the bot had run until a minute ago, and let the tick job run."""
    when = datetime.fromisoformat(moment).replace(tzinfo=SH)
    clock.set(when)
    async with running.db.write() as session:
        state = await session.get(TickState, 1)
        previous = when - timedelta(minutes=1)
        if state is None:
            session.add(TickState(id=1, last_minute=previous))
        else:
            state.last_minute = previous
    await tick_once(running.app.bot_data["deps"])


async def drained(db: Database) -> None:
    """Wait until the outbox has nothing left to send."""
    for _ in range(200):
        async with db.read() as session:
            counts = await outbox.counts(session)
        if counts["pending"] + counts["sending"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox not drained: {counts}")


def texts(user: UserHandle) -> list[str]:
    return [m.content for m in user.bot_messages()]


def briefings(user: UserHandle) -> list[str]:
    return [x for x in texts(user) if "今日简报" in x]


async def test_one_briefing_a_day_with_digests_escalations_reminders_and_greetings(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    world: dict[str, UserHandle],
) -> None:
    running = await start_bot(fake, db, clock, settings)
    sec, act, adm = world["secretary"], world["activist"], world["admin"]
    try:
        await at(running, clock, "2026-03-02T08:30")  # a Monday, after February's deadline
        await fake.wait_for(lambda: any("已逾期" in x and "主题党日" in x for x in briefings(sec)))
        await fake.wait_for(lambda: any("督办：1 个支部有逾期事项" in x for x in briefings(adm)))
        await drained(db)
        assert not texts(act)  # nothing of theirs is due
        await at(running, clock, "2026-03-02T09:00")  # the old reminder time: nothing more
        await at(running, clock, "2026-03-04T08:30")  # third workday: the committee is told
        await fake.wait_for(lambda: len(briefings(adm)) == 2)
        assert "第一党支部" in briefings(adm)[-1] and "主题党日" in briefings(adm)[-1]
        await at(running, clock, "2026-03-17T08:30")  # ten workdays before 31 March
        await fake.wait_for(lambda: any("思想汇报" in x for x in briefings(act)))
        # 提交 under the briefing opens the thought report, as /report would
        briefing = next(m for m in act.bot_messages() if "今日简报" in m.content)
        count = len(act.bot_messages())
        await act.click(briefing, "提交")
        asked = await act.next_message(count)
        assert "思想汇报" in asked.content
        await act.ask("/cancel")
        await at(running, clock, "2026-07-01T08:30")  # 王书记 joined on 1 July 2001
        await fake.wait_for(lambda: any("政治生日" in x and "25 周年" in x for x in briefings(sec)))
        await drained(db)
        before = {u: len(u.bot_messages()) for u in (sec, act, adm)}
        await at(running, clock, "2026-07-01T08:30")  # the same minute again: nothing new
        await at(running, clock, "2026-07-01T09:00")
        await at(running, clock, "2026-07-01T23:00")  # quiet hours: nothing planned, nothing sent
        await asyncio.sleep(1.2)
        assert {u: len(u.bot_messages()) for u in (sec, act, adm)} == before
        # one scheduled message a day each, all along
        for u in (sec, act, adm):
            days = [x.splitlines()[0] for x in briefings(u)]  # the title holds the day
            assert len(days) == len(set(days))
    finally:
        await running.stop()
