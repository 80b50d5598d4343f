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


async def test_digests_escalations_reminders_and_greetings_arrive(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    world: dict[str, UserHandle],
) -> None:
    running = await start_bot(fake, db, clock, settings)
    sec, act, adm = world["secretary"], world["activist"], world["admin"]
    try:
        await at(running, clock, "2026-03-02T08:30")  # a Monday
        await fake.wait_for(lambda: any("每日提醒" in x for x in texts(sec)))
        await fake.wait_for(lambda: any("每周督办" in x for x in texts(adm)))
        assert not any("每日提醒" in x for x in texts(act))  # digests are for managers
        await at(running, clock, "2026-03-02T09:00")  # first workday after February's deadline
        await fake.wait_for(lambda: any("【逾期】" in x and "主题党日" in x for x in texts(sec)))
        await at(running, clock, "2026-03-04T09:00")  # third workday: the committee is told
        await fake.wait_for(lambda: any("【督促】" in x for x in texts(adm)))
        await at(running, clock, "2026-03-17T09:00")  # ten workdays before 31 March
        await fake.wait_for(lambda: any("【提醒】" in x and "思想汇报" in x for x in texts(act)))
        await at(running, clock, "2026-07-01T09:00")  # 王书记 joined on 1 July 2001
        await fake.wait_for(lambda: any("政治生日" in x and "25 周年" in x for x in texts(sec)))
        await drained(db)
        before = {u: len(u.bot_messages()) for u in (sec, act, adm)}
        await at(running, clock, "2026-07-01T09:00")  # the same minute again: nothing new
        await at(running, clock, "2026-07-01T23:00")  # quiet hours: nothing planned, nothing sent
        await asyncio.sleep(1.2)
        assert {u: len(u.bot_messages()) for u in (sec, act, adm)} == before
    finally:
        await running.stop()
