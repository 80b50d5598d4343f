"""Drains the outbox within Telegram's limits, retrying what can be retried (SPEC §11)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter, ExtBot

from bot.delivery.throttle import Throttle
from bot.rules.clock import Clock
from bot.services.access import mark_blocked
from bot.store import outbox
from bot.store.db import Database
from bot.store.liveness import Backoff, Liveness

log = logging.getLogger("zhibu.sender")


def inline_markup(markup: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """Buttons as bot/rules/buttons.stored() keeps them, as Telegram shows them. A notice
    queued by an older version may still hold Telegram's own form; it is taken as it is."""
    if not markup:
        return None
    if "buttons" in markup:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(str(label), callback_data=str(data)) for label, data in row]
                for row in markup["buttons"]
            ]
        )
    return InlineKeyboardMarkup.de_json(markup, None)


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

    def __init__(self, throttle: Throttle, max_retries: int = 3, max_throttled: int = 12) -> None:
        self.throttle = throttle
        self.max_retries = max_retries  # after a network error
        # after a 429: Telegram says when to try again; with many updates handled side by side
        # several may be refused in a row before their turn comes, so this is not given up soon
        self.max_throttled = max_throttled

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
        guard = (rate_limit_args or {}).get("guard")
        throttled = transient = 0
        while True:
            slot = await self.throttle.acquire(chat_id) if sending else None
            try:
                if guard is not None and not guard():  # fenced while waiting for a slot
                    raise Fenced
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.throttle.pause(seconds(exc.retry_after))
                throttled += 1
                if throttled > (self.max_throttled if retries else 0):
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


class Fenced(Exception):
    """This process is no longer the active one: the message must not go out."""


class SendGuard(Protocol):
    def may_send(self) -> bool: ...


class _Always:
    def may_send(self) -> bool:
        return True


RECOVER_EVERY = 15.0  # seconds between looks for rows whose claim ran out
DRAIN_SECONDS = 10.0  # a clean stop waits this long for messages on the way
RECORD_TRIES = 8  # an outcome that cannot be written is retried this often
CLAIM_AHEAD = 4  # rows claimed ahead per worker (claims are made when half of them are gone)
MARK_EVERY = 0.1  # seconds: while sending goes on, what went out is marked this often


class OutboxSender:
    """Claims pending rows and sends them with a few workers; one per process, the leader's.

    It survives any error (logged, then a backoff up to 30 s) and reports each good loop to
    ``liveness``. ``stop`` stops claiming, lets the messages on the way finish (at most
    ``drain`` seconds) and gives the claimed-but-untried rows back at once.
    """

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
        leader: SendGuard | None = None,
        epoch: int | None = None,
        predecessor_gone: bool = True,
        liveness: Liveness | None = None,
        drain: float = DRAIN_SECONDS,
    ) -> None:
        self.db = db
        self.bot = bot
        self.clock = clock
        self.workers = workers
        self.idle_seconds = idle_seconds
        self.max_tries = max_tries
        self._sleep = sleep
        self.leader: SendGuard = leader or _Always()
        self.epoch = epoch
        self.predecessor_gone = predecessor_gone
        self.liveness = liveness or Liveness(clock)
        self.drain = drain
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._held: set[int] = set()  # claimed by this process and not yet settled
        self._busy: set[int] = set()  # being tried right now
        self._idle = asyncio.Event()  # set when nothing is being tried
        self._untried: set[int] = set()  # claimed, then set aside by a stop
        self._fenced_logged = False
        self._sent: list[outbox.Sent] = []  # went out, not yet marked sent in the database
        self._marked = asyncio.Event()  # set when something is waiting to be marked
        self._room = asyncio.Event()  # set when the queue of claimed rows has room
        self._closing = False  # the workers are done: the marker marks what is left and ends

    def wake(self) -> None:
        """Something was enqueued: look now rather than at the next idle check."""
        self._wake.set()

    async def start(self) -> None:
        self.liveness.register("sender")
        self._task = asyncio.create_task(self._run(), name="outbox sender")

    async def stop(self) -> None:
        """Stop claiming; let what is on the way finish (bounded); give back the rest."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _recover(self, *, everything: bool) -> None:
        """At start, every row an earlier process left mid-send (``everything``); later, the
        rows whose claim ran out."""
        async with self.db.write() as session:
            if everything:
                recovered = await outbox.recover(session, before_epoch=self.epoch, keep=self._held)
            else:
                recovered = await outbox.recover(session, now=self.clock.now(), keep=self._held)
        if recovered:
            log.warning(
                "%s outbox rows were left mid-send (%s); sending them again",
                recovered,
                "by the last process" if everything else "their claim ran out",
            )

    async def _run(self) -> None:
        # claimed rows wait here for a worker; claims are made in batches of half of it
        queue: asyncio.Queue[outbox.Claimed] = asyncio.Queue(maxsize=CLAIM_AHEAD * self.workers)
        workers = [asyncio.create_task(self._work(queue)) for _ in range(self.workers)]
        marker = asyncio.create_task(self._mark_sent())
        pause = Backoff()
        recovered_all = not self.predecessor_gone
        last_recovery = -RECOVER_EVERY
        try:
            while not self._stopping:
                rows: list[outbox.Claimed] = []
                free = queue.maxsize - queue.qsize()
                try:
                    if not recovered_all:
                        await self._recover(everything=True)
                        recovered_all = True
                    if asyncio.get_running_loop().time() - last_recovery >= RECOVER_EVERY:
                        await self._recover(everything=False)
                        last_recovery = asyncio.get_running_loop().time()
                    if free > 0 and self.leader.may_send():
                        claim = partial(
                            outbox.claim_now, now=self.clock.now(), limit=free, epoch=self.epoch
                        )
                        rows = await self.db.unit(claim, short=True)
                except Exception as exc:  # the database locked or gone, anything: wait, go on
                    wait = pause.next()
                    self.liveness.failed("sender", exc)
                    log.warning("outbox sender: %s; trying again in %.1f s", _one_line(exc), wait)
                    await self._pause(wait)
                    continue
                pause.reset()
                self.liveness.ok("sender")
                if not rows and free > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
                    self._wake.clear()
                    continue
                for row in rows:
                    self._held.add(row.id)
                    queue.put_nowait(row)  # claimed no more than there was room for
                if queue.qsize() > queue.maxsize // 2:
                    # the next claim waits until the workers have taken half of what is queued
                    self._room.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._room.wait(), self.idle_seconds)
        finally:
            await self._wind_down(queue, workers, marker)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _wind_down(
        self,
        queue: asyncio.Queue[outbox.Claimed],
        workers: list[asyncio.Task[None]],
        marker: asyncio.Task[None],
    ) -> None:
        while not queue.empty():
            self._untried.add(queue.get_nowait().id)
            queue.task_done()
        if self._busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.drain)
        if self._busy:
            log.warning("stopping with %s messages still on the way", len(self._busy))
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        # what went out is marked before the stop (a write under way is not cut short)
        self._closing = True
        self._marked.set()
        await asyncio.gather(marker, return_exceptions=True)
        untried = self._untried - self._busy
        if untried:
            try:
                await self._record(lambda session: outbox.release(session, untried), tries=3)
            except Exception as exc:  # they stay claimed: the next start or their lease frees them
                log.warning(
                    "could not give back %s claimed messages at the stop (%s); they are sent "
                    "after the restart or when their claim runs out",
                    len(untried),
                    _one_line(exc),
                )
            self._held -= untried
            self._untried.clear()

    async def _work(self, queue: asyncio.Queue[outbox.Claimed]) -> None:
        while True:
            row = await queue.get()
            if queue.qsize() <= queue.maxsize // 2:
                self._room.set()
            try:
                if self._stopping:
                    self._untried.add(row.id)
                    continue
                self._busy.add(row.id)
                self._idle.clear()
                await self.deliver(row)
            except Exception:  # one bad row must not stop the sender; its claim runs out
                log.exception("outbox row %s could not be handled", row.id)
                self._held.discard(row.id)
            finally:
                self._busy.discard(row.id)
                if not self._busy:
                    self._idle.set()
                queue.task_done()

    async def _record(
        self, write: Callable[[AsyncSession], Awaitable[object]], *, tries: int = RECORD_TRIES
    ) -> None:
        """Write an outcome; a database error is retried with a backoff (bounded)."""

        async def once() -> None:
            async with self.db.write() as session:
                await write(session)

        await self._retrying(once, tries)

    async def _retrying(self, attempt: Callable[[], Awaitable[object]], tries: int) -> None:
        pause = Backoff(cap=10.0)
        for n in range(1, tries + 1):
            try:
                await attempt()
                return
            except (SQLAlchemyError, OSError) as exc:
                if n == tries:
                    raise
                wait = pause.next()
                log.warning("outbox: cannot record (%s); again in %.1f s", _one_line(exc), wait)
                await self._sleep(wait)

    async def deliver(self, row: outbox.Claimed) -> None:
        tries = row.tries
        markup = inline_markup(row.reply_markup)
        while True:
            if self._stopping and tries > row.tries:  # tried and failed: the next process retries
                self._untried.add(row.id)
                return
            try:
                if not self.leader.may_send():
                    raise Fenced
                message_id = await self._send_or_edit(row, markup)
            except Fenced:
                if not self._fenced_logged:
                    log.error("no longer the active process: messages on the way are left")
                    self._fenced_logged = True
                self._held.discard(row.id)  # its claim runs out; the active process sends it
                return
            except RetryAfter:
                continue  # the throttle is paused for retry_after; wait for it and go again
            except Forbidden as exc:
                await self._give_up(row, tries + 1, exc.message, blocked=True)
                return
            except BadRequest as exc:
                if row.edits is not None and "not modified" in exc.message:
                    message_id = row.edits  # the message already reads so: done
                else:
                    await self._give_up(row, tries + 1, exc.message)
                    return
            except NetworkError as exc:  # 5xx, timeouts, dropped connections: worth another try
                tries += 1
                if tries >= self.max_tries:
                    await self._give_up(row, tries, f"gave up after {tries} tries: {exc.message}")
                    return
                await self._record(
                    partial(
                        outbox.mark_try,
                        row_id=row.id,
                        tries=tries,
                        error=exc.message,
                        now=self.clock.now(),
                    )
                )
                await self._sleep(backoff(tries))
                continue
            except TelegramError as exc:  # anything else will not get better by trying again
                await self._give_up(row, tries + 1, f"{type(exc).__name__}: {exc.message}")
                return
            # marked sent with others in one write (see _mark_sent); held until then
            self._sent.append(outbox.Sent(row.id, self.clock.now(), message_id))
            self._marked.set()
            return

    async def _mark_sent(self) -> None:
        """Marks what went out, in batches: whatever was sent while the last write ran goes
        into the next. A message sent but not yet marked is still claimed: after a crash its
        lease runs out and it is sent again (twice, never lost) — as for any claimed row."""
        while not (self._closing and not self._sent):
            await self._marked.wait()
            if self._busy and not self._closing:  # more are going out: one write for all
                await asyncio.sleep(MARK_EVERY)
            self._marked.clear()
            try:
                await self._flush_sent()
            except Exception as exc:  # unexpected: log; those rows' claims run out (resent)
                self.liveness.failed("sender", exc)
                log.exception("outbox: could not mark sent messages")

    async def _flush_sent(self) -> None:
        batch, self._sent = self._sent, []
        if not batch:
            return
        try:
            await self._retrying(
                partial(self.db.unit, partial(outbox.mark_sent, sent=batch), short=True),
                RECORD_TRIES,
            )
        finally:
            self._held.difference_update(s.row_id for s in batch)

    async def _send_or_edit(self, row: outbox.Claimed, markup: InlineKeyboardMarkup | None) -> int:
        """Send the row's message, or edit the one it replaces; the message's id."""
        limits = {"no_retry": True, "guard": self.leader.may_send}
        if row.edits is None:
            sent = await self.bot.send_message(
                row.chat_id, row.text, reply_markup=markup, rate_limit_args=limits
            )
            return sent.message_id
        await self.bot.edit_message_text(
            row.text,
            chat_id=row.chat_id,
            message_id=row.edits,
            reply_markup=markup,
            rate_limit_args=limits,
        )
        return row.edits

    async def _give_up(
        self, row: outbox.Claimed, tries: int, error: str, *, blocked: bool = False
    ) -> None:
        log.warning("outbox row %s failed: %s", row.id, error)
        now = self.clock.now()

        async def write(session: AsyncSession) -> None:
            await outbox.mark_failed(session, row.id, tries=tries, error=error)
            if blocked and row.chat_id > 0:
                await mark_blocked(session, row.chat_id, now=now)

        await self._record(write)
        self._held.discard(row.id)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
