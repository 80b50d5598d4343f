"""Twice a day: tell committee admins, once, when this or next year's workdays are guessed."""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram.ext import ContextTypes, JobQueue

from bot.delivery.holidays import announce_guessed_years
from bot.ops.deps import Deps
from jobs.tick import job_deps, survive

log = logging.getLogger("zhibu.jobs.holidays")
JOB_NAME = "HOLIDAY DATA CHECK"


def schedule(job_queue: JobQueue[ContextTypes.DEFAULT_TYPE], d: Deps) -> None:
    job_queue.run_repeating(
        check_holiday_data, interval=timedelta(hours=12), first=1, name=JOB_NAME, data=d
    )


async def check_holiday_data(context: ContextTypes.DEFAULT_TYPE) -> None:
    await survive(job_deps(context), "holiday check", check_once)


async def check_once(d: Deps) -> None:
    year = d.clock.now().astimezone(ZoneInfo(d.settings.timezone)).year
    async with d.db.write() as session:
        missing = await announce_guessed_years(
            session,
            now=d.clock.now(),
            year=year,
            bootstrap_ids=d.bootstrap_ids,
            lang=d.settings.language,
        )
    for y in missing:
        log.warning("no official holiday data for %s; admins told", y)
    if missing:
        d.wake_sender()
