"""The scheduler's minute tick, through PTB's JobQueue: due things go into the outbox."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram.ext import ContextTypes, JobQueue

from bot.delivery.scheduler import next_minute, tick
from bot.rules.catalogue import DEFAULT_POLICY
from bot.store.maintenance import prune
from handlers.kit.common import Deps, deps
from settings import Settings

log = logging.getLogger("zhibu.tick")
JOB_NAME = "SCHEDULER TICK"


PRUNE_JOB = "PRUNE"


def schedule(job_queue: JobQueue[ContextTypes.DEFAULT_TYPE], settings: Settings) -> None:
    from bot.rules.clock import SystemClock

    job_queue.run_repeating(
        run_tick, interval=60, first=next_minute(SystemClock().now()), name=JOB_NAME
    )
    job_queue.run_repeating(run_prune, interval=6 * 3600, first=300, name=PRUNE_JOB)


async def run_prune(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every few hours: old update ids and long-idle conversations go."""
    await _survive(context, "housekeeping", _prune)


async def _prune(d: Deps) -> None:
    async with d.db.write() as session:
        pruned = await prune(
            session,
            now=d.clock.now(),
            idle=timedelta(seconds=d.settings.conversation_timeout_seconds),
        )
    log.info("pruned %s update ids, %s idle conversations", pruned.update_ids, pruned.conversations)


async def run_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every minute; a failed tick is logged and the next one catches up on what it missed."""
    await _survive(context, "tick", _tick)


async def _survive(
    context: ContextTypes.DEFAULT_TYPE, name: str, work: Callable[[Deps], Awaitable[None]]
) -> None:
    """Run one loop of a scheduled task: report it, and never let an error end the job."""
    d = deps(context)
    if d.liveness is not None:
        d.liveness.register(name)
    try:
        await work(d)
    except Exception as exc:  # the database locked or gone, anything: the job runs again
        log.warning(
            "%s failed (%s); it runs again at its next time",
            name,
            f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
        )
        if d.liveness is not None:
            d.liveness.failed(name, exc)
        return
    if d.liveness is not None:
        d.liveness.ok(name)


async def _tick(d: Deps) -> None:
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
