"""Tell committee admins, once, when this or next year's workdays are guessed by rule."""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram.ext import ContextTypes, JobQueue

from bot.i18n.texts import t
from bot.rules.workdays import Source
from bot.services.obligations import load_workdays
from bot.store.models import Notice, OrgAdmin
from handlers.kit.common import deps, send_private
from settings import Settings

log = logging.getLogger("zhibu.jobs.holidays")
JOB_NAME = "HOLIDAY DATA CHECK"


def schedule(job_queue: JobQueue[ContextTypes.DEFAULT_TYPE], settings: Settings) -> None:
    job_queue.run_repeating(
        check_holiday_data, interval=timedelta(hours=12), first=1, name=JOB_NAME
    )


async def check_holiday_data(context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    year = d.clock.now().astimezone(ZoneInfo(d.settings.timezone)).year
    async with d.db.write() as session:
        cal = await load_workdays(session)
        missing = []
        for y in (year, year + 1):
            key = f"holidays.fallback.{y}"
            if cal.source(y) is Source.FALLBACK and await session.get(Notice, key) is None:
                session.add(Notice(key=key, sent_at=d.clock.now()))
                missing.append(y)
        admins = set((await session.execute(select(OrgAdmin.telegram_user_id))).scalars())
    admins |= set(d.settings.admin_ids)
    for y in missing:
        log.warning("no official holiday data for %s; admins told", y)
        for admin in sorted(admins):
            await send_private(
                context, admin, t(d.settings.language, "holidays.fallback_notice", year=y)
            )
