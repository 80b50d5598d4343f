"""Every few minutes: the branches' scores of this year and quarter, and their /overview
rows, kept up to date.

An assessment works out only the branches changed since the one before (``kept.Kept``); this
job makes sure there was one before: after a start, and soon after deadlines pass (every
branch that had not done what fell due is worked out again), so that /assess and /overview
seldom work 10,000 branches out while someone waits.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram.ext import ContextTypes, JobQueue

from bot.ops.deps import Deps
from bot.services.progress import keep_ready
from jobs.tick import job_deps, survive

log = logging.getLogger("zhibu.jobs.scores")
JOB_NAME = "KEEP SCORES"
EVERY = timedelta(minutes=10)
FIRST = timedelta(seconds=90)  # after the first ticks of a start


def schedule(job_queue: JobQueue[ContextTypes.DEFAULT_TYPE], d: Deps) -> None:
    job_queue.run_repeating(keep_up, interval=EVERY, first=FIRST, name=JOB_NAME, data=d)


async def keep_up(context: ContextTypes.DEFAULT_TYPE) -> None:
    await survive(job_deps(context), "scores", keep_once)


async def keep_once(d: Deps) -> None:
    branches = await keep_ready(d.db, now=d.clock.now())
    log.debug("scores of %s branches up to date", branches)
