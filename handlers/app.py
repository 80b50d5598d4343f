"""build_application: the one place where the Telegram Application is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.delivery import recovery
from bot.delivery.throttle import Limits, Throttle
from bot.ops.deps import Deps
from bot.rules.clock import Clock, SystemClock
from bot.store import inbox
from bot.store.db import UNAVAILABLE, Database
from bot.store.leader import Leadership, sqlite_lock
from bot.store.liveness import Backoff, Liveness
from bot.store.migrate import upgrade
from handlers import (
    ask,
    away,
    branch,
    briefing,
    calendar,
    groups,
    help,
    invite,
    meetings,
    progress,
    reports,
    start,
    tasks,
    upload,
)
from handlers import settings as obligation_settings
from handlers.kit import arrival, flow
from handlers.kit.common import (
    forget_answer,
    on_error,
    tell_not_stored,
    unknown_button,
    unknown_command,
)
from handlers.kit.intake import POLL_TIMEOUT, PollingIntake
from handlers.kit.lanes import LaneRequest
from handlers.kit.order import ChatOrder
from handlers.web.server import WebServer
from jobs import holidays, scores, tick
from jobs.sender import OutboxSender, ThrottleRateLimiter
from settings import Settings

log = logging.getLogger("zhibu.app")

# Opt in to python-telegram-bot's coming behaviour: durations (retry_after …) as timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "1")

EXIT_LOST_OFFICE = 3  # another process took over: a service manager should restart us
LIVENESS_EVERY = 10.0  # seconds between writes of the task registry for zhibu doctor


class InboxApplication(Application):  # type: ignore[type-arg]
    """Marks each update handled: with its first change (see bot/inbox.py), or at the end."""

    in_flight = 0  # updates being handled right now

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await super().process_update(update)
            return
        d: Deps = self.bot_data["deps"]
        self.in_flight += 1
        try:
            with inbox.handling(update.update_id, now=d.clock.now()) as work:
                await super().process_update(update)
        finally:
            self.in_flight -= 1
            forget_answer(update)
        if work.armed:  # the handlers are done (answered, or told the error): say so
            await finish_handling(d, work, alone=self.in_flight == 0)


async def finish_handling(d: Deps, work: inbox.Handling, *, alone: bool = True) -> None:
    """After the handlers of an update: handled (if nothing changed) and answered (in a
    batch with others finishing meanwhile, unless it is ``alone``)."""
    now = d.clock.now()
    if d.finishing is not None:
        await d.finishing.finished(work.update_id, marked=work.marked, now=now, alone=alone)
        return
    try:
        await inbox.finish(d.db, work.update_id, marked=work.marked, now=now)
    except UNAVAILABLE as exc:  # a restart handles it again, or tells them
        log.warning("update %s not marked done: %s", work.update_id, type(exc).__name__)


def lanes(settings: Settings) -> int:
    """Connections to the Bot API (``LaneRequest``): one per sender worker and per update
    handled at once, and a few for the rest (the tick's edits, the board's calls)."""
    return settings.sender_workers + settings.concurrent_updates + 8


def _requests(settings: Settings) -> tuple[LaneRequest, HTTPXRequest]:
    """The Bot API's connections: lanes for every call, and one of its own for getUpdates,
    whose long poll holds it."""
    timeout = settings.request_timeout_seconds
    calls = LaneRequest(
        lanes(settings), connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout
    )
    polls = HTTPXRequest(
        connection_pool_size=1,
        connect_timeout=timeout,
        read_timeout=timeout + 30,
        write_timeout=timeout,
    )
    return calls, polls


def _telegram_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    """PTB's Application as zhibu runs it: updates from the inbox, Telegram's limits kept by
    our throttle, HTML texts without link previews."""
    if settings.bot_token is None:
        raise ValueError("ZHIBU_BOT_TOKEN is not set")
    calls, polls = _requests(settings)
    throttle = Throttle(
        Limits(
            overall_per_second=settings.rate_overall_per_second,
            private_interval=settings.rate_private_interval_seconds,
            group_per_minute=settings.rate_group_per_minute,
        )
    )
    return (
        ApplicationBuilder()
        .application_class(InboxApplication)
        .updater(None)  # updates come in through the inbox (bot/intake.py, bot/webhook.py)
        .token(settings.bot_token.get_secret_value())
        .base_url(settings.api_base_url)
        .base_file_url(settings.file_base_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
            )
        )
        .rate_limiter(ThrottleRateLimiter(throttle))
        .request(calls)
        .get_updates_request(polls)
        .concurrent_updates(ChatOrder(settings.concurrent_updates))
        .build()
    )


def _add_handlers(app: Application) -> None:  # type: ignore[type-arg]
    """Every handler, in the order they are tried."""
    # Order matters. Group -1 runs first for every update: it drops repeated update ids.
    app.add_handler(TypeHandler(Update, arrival.record_update), group=-1)
    # Group 0: the features. The join link's /start b_… must come before the plain /start.
    for handler in [
        *start.HANDLERS,
        *help.HANDLERS,
        *invite.HANDLERS,
        *groups.HANDLERS,
        *upload.HANDLERS,
        *calendar.HANDLERS,
        *obligation_settings.HANDLERS,
        *briefing.HANDLERS,
        *meetings.HANDLERS,
        *away.HANDLERS,
        *tasks.HANDLERS,
        *reports.HANDLERS,
        *ask.HANDLERS,
        *progress.HANDLERS,
        *branch.HANDLERS,
        flow.text_handler(replies=ask.prompt_reply, stray=start.stray_text),
        CommandHandler("cancel", flow.cancel_command),
        MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, unknown_command),
    ]:
        app.add_handler(handler)
    # Last: any button nobody recognised is refused and audited.
    app.add_handler(CallbackQueryHandler(unknown_button))
    # After the features: what they changed of a conversation goes to the database.
    app.add_handler(TypeHandler(Update, flow.store), group=1)
    app.add_error_handler(on_error)


def build_application(
    settings: Settings,
    *,
    db: Database,
    clock: Clock | None = None,
    leadership: Leadership | None = None,
    liveness: Liveness | None = None,
) -> Application:  # type: ignore[type-arg]
    app = _telegram_application(settings)
    clock = clock or SystemClock()
    liveness = liveness or Liveness(clock)
    sender = OutboxSender(
        db=db,
        bot=app.bot,
        clock=clock,
        workers=settings.sender_workers,
        leader=leadership,
        epoch=leadership.epoch if leadership else None,
        predecessor_gone=leadership.predecessor_gone if leadership else True,
        liveness=liveness,
    )
    deps = Deps(
        settings=settings,
        db=db,
        clock=clock,
        sender=sender,
        liveness=liveness,
        finishing=inbox.Finishing(db),
    )
    app.bot_data["deps"] = deps

    _add_handlers(app)
    _schedule(app, deps, liveness)
    return app


def _schedule(app: Application, deps: Deps, liveness: Liveness) -> None:  # type: ignore[type-arg]
    """The minute tick and the daily jobs, when the scheduler is on."""
    if app.job_queue is None or not deps.settings.scheduler_enabled:
        return
    holidays.schedule(app.job_queue, deps)
    tick.schedule(app.job_queue, deps)
    scores.schedule(app.job_queue, deps)
    for name in ("tick", "housekeeping", "holiday check", "scores"):  # watched from the start
        liveness.register(name)


def polling_intake(app: Application, *, timeout: int = POLL_TIMEOUT) -> PollingIntake:  # type: ignore[type-arg]
    """The polling intake of this application; senders of updates that cannot be stored
    (the database is down) are told their update waits."""
    deps: Deps = app.bot_data["deps"]
    assert deps.liveness is not None

    async def not_stored(update: Update, error: BaseException) -> None:
        await tell_not_stored(update, CallbackContext(app), error)

    return PollingIntake(
        app, deps.db, deps.clock, liveness=deps.liveness, timeout=timeout, not_stored=not_stored
    )


async def start_services(app: Application) -> None:  # type: ignore[type-arg]
    """After the Application has started: the command menus and the outbox sender."""
    deps: Deps = app.bot_data["deps"]
    await help.register_menus(app.bot, deps.settings.language)
    await tell_unanswered(deps)
    if deps.sender is not None:
        await deps.sender.start()
    log.info("bot @%s ready", app.bot.username)


async def tell_unanswered(deps: Deps) -> None:
    """People whose action an earlier process saved but never answered hear it was saved."""
    try:
        told = await recovery.tell_unanswered(
            deps.db, now=deps.clock.now(), default_lang=deps.settings.language
        )
    except UNAVAILABLE as exc:  # the next start tries again
        log.warning("could not look for unanswered updates: %s", type(exc).__name__)
        return
    if told:
        log.warning("%s actions were saved but not answered before the restart; told", told)


async def stop_services(app: Application) -> None:  # type: ignore[type-arg]
    deps: Deps = app.bot_data["deps"]
    if deps.finishing is not None:  # the updates handled so far are marked done
        await deps.finishing.close()
    if deps.sender is not None:
        await deps.sender.stop()


def run(settings: Settings) -> int:
    """``zhibu run``: until SIGINT or SIGTERM (0), or until another process takes over (3)."""
    return asyncio.run(serve(settings))


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Be the one active process, migrate, then poll (or serve the webhook) and send."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    db = Database.from_url(settings.database_url)
    clock = SystemClock()
    liveness = Liveness(clock)
    leadership = Leadership(db, clock, liveness=liveness)
    try:
        with sqlite_lock(settings.database_url) if db.is_sqlite else contextlib.nullcontext():
            await _until_either(leadership.acquire(), stop)
            if stop.is_set():
                return 0
            await upgrade(db.engine)
            await leadership.take_office()
            return await _serve_app(settings, db, clock, stop, leadership, liveness)
    finally:
        await leadership.release()
        await db.dispose()


async def _serve_app(
    settings: Settings,
    db: Database,
    clock: Clock,
    stop: asyncio.Event,
    leadership: Leadership,
    liveness: Liveness,
) -> int:
    app = build_application(settings, db=db, clock=clock, leadership=leadership, liveness=liveness)
    async with app:
        await app.start()
        await start_services(app)
        intake = await _start_intake(app, settings, db, clock, liveness)
        reporter = asyncio.create_task(report_liveness(db, liveness), name="liveness")
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(leadership.lost.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        lost = leadership.lost.is_set()
        log.info("stopping%s", " (another process is active now)" if lost else "")
        # No new updates, then the ones taken finish, then the messages on the way.
        await intake.stop()
        await app.stop()
        await stop_services(app)
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    return EXIT_LOST_OFFICE if lost else 0


async def _start_intake(
    app: Application,  # type: ignore[type-arg]
    settings: Settings,
    db: Database,
    clock: Clock,
    liveness: Liveness,
) -> Intake:
    """Updates in: the web server's webhook when a webhook URL is set, else long polling;
    the web server also serves the Mini App when ZHIBU_WEB_URL is set."""
    deps: Deps = app.bot_data["deps"]
    web = None
    if settings.serves_web:
        web = WebServer(
            app,
            deps,
            listen=settings.listen,
            liveness=liveness,
            web_url=settings.web_url,
            webhook_url=settings.webhook_url,
            secret=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        )
        await web.start()
    polling = None if settings.webhook_url else polling_intake(app)
    if polling is not None:
        await polling.start()
    return Intake(polling, web)


class Intake:
    """Long polling, the web server, or both; stopped together."""

    def __init__(self, polling: PollingIntake | None, web: WebServer | None) -> None:
        self.polling = polling
        self.web = web

    async def stop(self) -> None:
        if self.polling is not None:
            await self.polling.stop()
        if self.web is not None:
            await self.web.stop()


async def report_liveness(db: Database, liveness: Liveness, every: float = LIVENESS_EVERY) -> None:
    """Write the task registry for zhibu doctor, every few seconds; survives any error."""
    liveness.register("liveness")
    pause = Backoff()
    while True:
        try:
            liveness.ok("liveness")
            await liveness.publish(db)
        except Exception as exc:  # the database is busy or gone: try again later
            liveness.failed("liveness", exc)
            wait = pause.next()
            log.warning(
                "cannot record task liveness (%s); again in %.1f s", type(exc).__name__, wait
            )
            await asyncio.sleep(wait)
            continue
        pause.reset()
        await asyncio.sleep(every)


async def _until_either(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run ``work`` unless ``stop`` is set first."""
    task = asyncio.create_task(work)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
