"""The scheduler's minute tick, through PTB's JobQueue: due things go into the outbox."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram.ext import ContextTypes, JobQueue

from bot.catalogue import DEFAULT_POLICY
from bot.maintenance import prune
from bot.scheduler import next_minute, tick
from handlers.common import deps
from settings import Settings

log = logging.getLogger("zhibu.tick")
JOB_NAME = "SCHEDULER TICK"


PRUNE_JOB = "PRUNE"


def schedule(job_queue: JobQueue[ContextTypes.DEFAULT_TYPE], settings: Settings) -> None:
    from bot.clock import SystemClock

    job_queue.run_repeating(
        run_tick, interval=60, first=next_minute(SystemClock().now()), name=JOB_NAME
    )
    job_queue.run_repeating(run_prune, interval=6 * 3600, first=300, name=PRUNE_JOB)


async def run_prune(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every few hours: old update ids and long-idle conversations go."""
    d = deps(context)
    async with d.db.write() as session:
        pruned = await prune(
            session,
            now=d.clock.now(),
            idle=timedelta(seconds=d.settings.conversation_timeout_seconds),
        )
    log.info("pruned %s update ids, %s idle conversations", pruned.update_ids, pruned.conversations)


async def run_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    result = await tick(
        d.db,
        now=d.clock.now(),
        policy=DEFAULT_POLICY,
        bootstrap_ids=d.bootstrap_ids,
        default_lang=d.settings.language,
    )
    if result.enqueued:
        log.info(
            "tick %s: %s messages queued, %s skipped",
            result.until.isoformat(),
            result.enqueued,
            result.skipped,
        )
        if d.sender is not None:
            d.sender.wake()
