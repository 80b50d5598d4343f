"""Admins hear once that next year's workdays are guessed; an import makes it unnecessary."""

from __future__ import annotations

from datetime import date

from bot.rules.clock import FrozenClock
from bot.rules.workdays import YearData
from bot.store.db import Database
from bot.store.holidays import store_years
from settings import Settings
from tests.conftest import ADMIN_ID
from tests.fakegram import FakeTelegram
from tests.helpers import start_bot


async def test_fallback_year_is_announced_once(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    settings = settings.model_copy(update={"scheduler_enabled": True})
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    admin.send("/start")  # the admin has a private chat with the bot
    running = await start_bot(fake, db, clock, settings)
    try:
        notice = await fake.wait_for(
            lambda: next(
                (m for m in admin.bot_messages() if "2027 年的国务院节假日安排" in m.content), None
            )
        )
        assert "zhibu holidays import" in notice.content
    finally:
        await running.stop()
    running = await start_bot(fake, db, clock, settings)
    try:
        job = running.app.job_queue.get_jobs_by_name("HOLIDAY DATA CHECK")[0]  # type: ignore[union-attr]
        await job.run(running.app)  # the check runs again after the restart
        await admin.ask("/help")
        notices = [m for m in admin.bot_messages() if "国务院节假日安排" in m.content]
        assert len(notices) == 1
    finally:
        await running.stop()


async def test_imported_year_is_not_announced(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    async with db.write() as session:
        await store_years(
            session, [YearData(2027, frozenset({date(2027, 1, 1)}))], source="t", now=clock.now()
        )
    settings = settings.model_copy(update={"scheduler_enabled": True})
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    admin.send("/start")
    running = await start_bot(fake, db, clock, settings)
    try:
        await running.app.job_queue.get_jobs_by_name("HOLIDAY DATA CHECK")[0].run(running.app)  # type: ignore[union-attr]
        await admin.ask("/help")
        assert not [m for m in admin.bot_messages() if "国务院节假日安排" in m.content]
    finally:
        await running.stop()
