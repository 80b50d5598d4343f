"""Updates in: stored in the inbox before Telegram is told we have them (SPEC §11).

Polling: ``getUpdates`` → store the batch in one transaction → only then ask for the next
offset (which confirms the batch to Telegram) and hand the new updates to the application.
Webhook mode stores each update before answering 200 (bot/webhook.py). At start, updates
stored but never handled (the last process died first) are handed over before new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken
from telegram.ext import Application

from bot.rules.clock import Clock
from bot.store import inbox
from bot.store.db import UNAVAILABLE, Database
from bot.store.liveness import Backoff, Liveness

log = logging.getLogger("zhibu.intake")
POLL_TIMEOUT = 30  # seconds Telegram holds a getUpdates open
MAX_TOLD = 10_000
NotStored = Callable[[Update, BaseException], Awaitable[None]]


async def store_updates(db: Database, clock: Clock, updates: list[dict[str, Any]]) -> list[int]:
    """Store what is new; the ids to hand to the application, in order."""
    return await inbox.keep(db, updates, now=clock.now())


def parse_update(body: bytes, app: Application) -> tuple[Update, dict[str, Any]] | None:  # type: ignore[type-arg]
    """The update in a request body, or None when the body is not one (whatever it is)."""
    try:
        data = json.loads(body or b"")
    except (ValueError, RecursionError):
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    try:
        update = Update.de_json(data, app.bot)
    except Exception:  # PTB's parsers raise all sorts on a malformed field: it is not an update
        return None
    return (update, data) if update is not None else None


async def hand_over_backlog(app: Application, db: Database) -> int:  # type: ignore[type-arg]
    """Updates stored by an earlier process but not handled: to the application first."""
    backlog = await inbox.backlog(db)
    for payload in backlog:
        update = Update.de_json(payload, app.bot)
        if update is not None:
            await app.update_queue.put(update)
    if backlog:
        log.warning(
            "%s updates were stored but not handled before the restart; handling them", len(backlog)
        )
    return len(backlog)


class PollingIntake:
    """Long-polls Telegram and stores each batch before confirming it."""

    def __init__(
        self,
        app: Application,  # type: ignore[type-arg]
        db: Database,
        clock: Clock,
        *,
        liveness: Liveness,
        timeout: int = POLL_TIMEOUT,
        poll_interval: float = 0.0,
        not_stored: NotStored | None = None,
    ) -> None:
        self.app = app
        self.db = db
        self.clock = clock
        self.liveness = liveness
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.not_stored = not_stored
        self._told: set[int] = set()  # update ids whose senders know they wait

    async def start(self) -> None:
        await self.app.bot.delete_webhook()
        await hand_over_backlog(self.app, self.db)
        self.liveness.register("intake")
        self._task = asyncio.create_task(self._run(), name="update intake")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _tell(self, batch: Sequence[Update], exc: BaseException) -> None:
        """Updates that cannot be stored are left unconfirmed; their senders hear so once."""
        if self.not_stored is None:
            return
        for update in batch:
            if update.update_id not in self._told and len(self._told) < MAX_TOLD:
                self._told.add(update.update_id)
                try:
                    await self.not_stored(update, exc)
                except Exception:  # telling is a courtesy; it must not stop the intake
                    log.warning("could not tell the sender of update %s", update.update_id)

    async def _run(self) -> None:
        offset: int | None = None
        pause = Backoff(cap=5.0)
        while not self._stopping.is_set():
            try:
                offset = await self._take_batch(offset)
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("Telegram rejected the bot token; polling stops")
                self.liveness.failed("intake", RuntimeError("token rejected"))
                return
            except Exception as exc:  # network, Telegram, the database: wait and go on
                await self._wait_after(exc, pause.next())
                continue
            pause.reset()
            self._told.clear()
            self.liveness.ok("intake")
            if self.poll_interval:
                await asyncio.sleep(self.poll_interval)

    async def _take_batch(self, offset: int | None) -> int | None:
        """One getUpdates: the batch stored, then handed on; the next offset (which confirms
        this batch to Telegram only once it is stored)."""
        batch = await self.app.bot.get_updates(
            offset=offset,
            timeout=self.timeout,
            allowed_updates=Update.ALL_TYPES,
            read_timeout=self.timeout + 10,
        )
        if not batch:
            return offset
        raw = [u.to_dict() for u in batch]
        try:
            fresh = set(await store_updates(self.db, self.clock, raw))
        except UNAVAILABLE as exc:
            await self._tell(batch, exc)
            raise
        for update in batch:
            if update.update_id in fresh:
                await self.app.update_queue.put(update)
        return int(batch[-1].update_id) + 1

    async def _wait_after(self, exc: Exception, wait: float) -> None:
        self.liveness.failed("intake", exc)
        level = logging.WARNING if not isinstance(exc, Conflict) else logging.ERROR
        log.log(
            level,
            "getting updates failed (%s); trying again in %.1f s",
            f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
            wait,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), wait)
