"""The scheduler's minute tick, through PTB's JobQueue: due things go into the outbox."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram.ext import ContextTypes, JobQueue

from bot.delivery.scheduler import next_minute, tick
from bot.ops.deps import Deps
from bot.rules.catalogue import DEFAULT_POLICY
from bot.store.maintenance import prune

log = logging.getLogger("zhibu.tick")
JOB_NAME = "SCHEDULER TICK"


PRUNE_JOB = "PRUNE"


def schedule(job_queue: JobQueue[ContextTypes.DEFAULT_TYPE], d: Deps) -> None:
    """The minute tick (on the minute, by the one clock) and housekeeping; both get ``d``."""
    first = next_minute(d.clock.now())
    job_queue.run_repeating(run_tick, interval=60, first=first, name=JOB_NAME, data=d)
    job_queue.run_repeating(run_prune, interval=6 * 3600, first=300, name=PRUNE_JOB, data=d)


def job_deps(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    """The services a scheduled job was given when it was scheduled."""
    job = context.job
    assert job is not None and isinstance(job.data, Deps)
    return job.data


async def run_prune(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every few hours: old update ids and long-idle conversations go."""
    await survive(job_deps(context), "housekeeping", prune_once)


async def prune_once(d: Deps) -> None:
    async with d.db.write() as session:
        pruned = await prune(
            session,
            now=d.clock.now(),
            idle=timedelta(seconds=d.settings.conversation_timeout_seconds),
        )
    log.info("pruned %s update ids, %s idle conversations", pruned.update_ids, pruned.conversations)


async def run_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every minute; a failed tick is logged and the next one catches up on what it missed."""
    await survive(job_deps(context), "tick", tick_once)


async def survive(d: Deps, name: str, work: Callable[[Deps], Awaitable[None]]) -> None:
    """Run one loop of a scheduled task: report it, and never let an error end the job."""
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


async def tick_once(d: Deps) -> None:
    result = await tick(
        d.db,
        now=d.clock.now(),
        policy=DEFAULT_POLICY,
        bootstrap_ids=d.bootstrap_ids,
        default_lang=d.settings.language,
        default_tz=d.settings.timezone,
        ahead=d.ahead,
    )
    if result.enqueued:
        log.info(
            "tick %s: %s messages queued, %s skipped",
            result.until.isoformat(),
            result.enqueued,
            result.skipped,
        )
        d.wake_sender()
