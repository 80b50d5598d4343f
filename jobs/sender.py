"""Drains the outbox within Telegram's limits, retrying what can be retried (SPEC §11)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter, ExtBot

from bot import outbox
from bot.access import mark_blocked
from bot.clock import Clock
from bot.db import Database
from bot.throttle import Throttle

log = logging.getLogger("zhibu.sender")

SENDING_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendAnimation",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "copyMessage",
        "forwardMessage",
    }
)


TRANSIENT_WAIT = 0.3  # seconds before the first retry of a reply after a network error


def seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ThrottleRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """python-telegram-bot's hook onto our Throttle, so replies and the outbox share limits.

    Calls that create messages wait for a slot; a 429 pauses everything for ``retry_after``
    and is retried, unless the caller passes ``rate_limit_args={"no_retry": True}`` (the
    outbox retries by itself).
    """

    def __init__(self, throttle: Throttle, max_retries: int = 3) -> None:
        self.throttle = throttle
        self.max_retries = max_retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for a slot (message-creating calls), then call; a 429 pauses everything and is
        retried; a lost connection, a timeout or a 5xx is retried after a short wait, so an
        answer to a user is not lost to a moment's network trouble (it may, rarely, arrive
        twice). The outbox (``no_retry``) and getUpdates handle failures themselves."""
        if endpoint == "getUpdates":
            return await callback(*args, **kwargs)
        sending = endpoint in SENDING_ENDPOINTS
        chat = data.get("chat_id")
        chat_id = (
            int(chat) if isinstance(chat, int | str) and str(chat).lstrip("-").isdigit() else None
        )
        retries = 0 if (rate_limit_args or {}).get("no_retry") else self.max_retries
        throttled = transient = 0
        while True:
            slot = await self.throttle.acquire(chat_id) if sending else None
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.throttle.pause(seconds(exc.retry_after))
                throttled += 1
                if throttled > retries:
                    raise
                wait = 0.0
            except NetworkError as exc:  # BadRequest is a NetworkError too: never retried
                if isinstance(exc, BadRequest) or transient >= retries:
                    raise
                transient += 1
                wait = TRANSIENT_WAIT * 2 ** (transient - 1)
                log.info("%s failed (%s); trying again in %.1f s", endpoint, exc, wait)
            finally:
                if slot is not None:
                    self.throttle.done(slot)
            if wait:
                await asyncio.sleep(wait)


def backoff(tries: int) -> float:
    return float(min(30.0, 0.5 * 2 ** (tries - 1)))


class OutboxSender:
    """Claims pending rows and sends them with a few workers; one per process, the leader's."""

    def __init__(
        self,
        *,
        db: Database,
        bot: ExtBot[Any],
        clock: Clock,
        workers: int = 16,
        idle_seconds: float = 1.0,
        max_tries: int = outbox.MAX_TRIES,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.bot = bot
        self.clock = clock
        self.workers = workers
        self.idle_seconds = idle_seconds
        self.max_tries = max_tries
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something was enqueued: look now rather than at the next idle check."""
        self._wake.set()

    async def start(self) -> None:
        async with self.db.write() as session:
            recovered = await outbox.recover(session)
        if recovered:
            log.warning(
                "%s outbox rows were mid-send when the last process stopped; resending", recovered
            )
        self._task = asyncio.create_task(self._run(), name="outbox sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        queue: asyncio.Queue[outbox.Claimed] = asyncio.Queue(maxsize=self.workers)
        workers = [asyncio.create_task(self._work(queue)) for _ in range(self.workers)]
        try:
            while True:
                free = queue.maxsize - queue.qsize()
                rows: list[outbox.Claimed] = []
                if free > 0:
                    async with self.db.write() as session:
                        rows = await outbox.claim(session, now=self.clock.now(), limit=free)
                if not rows:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._wake.wait(), self.idle_seconds if free > 0 else 0.05
                        )
                    self._wake.clear()
                    continue
                for row in rows:
                    await queue.put(row)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, queue: asyncio.Queue[outbox.Claimed]) -> None:
        while True:
            row = await queue.get()
            try:
                await self.deliver(row)
            except (
                Exception
            ):  # one bad row must not stop the sender; it stays 'sending' until restart
                log.exception("outbox row %s could not be handled", row.id)
            finally:
                queue.task_done()

    async def deliver(self, row: outbox.Claimed) -> None:
        tries = row.tries
        markup = (
            InlineKeyboardMarkup.de_json(row.reply_markup, self.bot) if row.reply_markup else None
        )
        while True:
            try:
                message = await self.bot.send_message(
                    row.chat_id, row.text, reply_markup=markup, rate_limit_args={"no_retry": True}
                )
            except RetryAfter:
                continue  # the throttle is paused for retry_after; wait for it and go again
            except Forbidden as exc:
                await self._give_up(row, tries + 1, exc.message, blocked=True)
                return
            except BadRequest as exc:
                await self._give_up(row, tries + 1, exc.message)
                return
            except NetworkError as exc:  # 5xx, timeouts, dropped connections: worth another try
                tries += 1
                if tries >= self.max_tries:
                    await self._give_up(row, tries, f"gave up after {tries} tries: {exc.message}")
                    return
                async with self.db.write() as session:
                    await outbox.mark_try(session, row.id, tries=tries, error=exc.message)
                await self._sleep(backoff(tries))
                continue
            except TelegramError as exc:  # anything else will not get better by trying again
                await self._give_up(row, tries + 1, f"{type(exc).__name__}: {exc.message}")
                return
            async with self.db.write() as session:
                await outbox.mark_sent(
                    session, row.id, now=self.clock.now(), message_id=message.message_id
                )
            return

    async def _give_up(
        self, row: outbox.Claimed, tries: int, error: str, *, blocked: bool = False
    ) -> None:
        log.warning("outbox row %s failed: %s", row.id, error)
        async with self.db.write() as session:
            await outbox.mark_failed(session, row.id, tries=tries, error=error)
            if blocked and row.chat_id > 0:
                await mark_blocked(session, row.chat_id, now=self.clock.now())
