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
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.clock import Clock, SystemClock
from bot.db import Database
from bot.leader import Leadership, sqlite_lock
from bot.migrate import upgrade
from bot.throttle import Limits, Throttle
from bot.webhook import WebhookServer
from handlers import (
    ask,
    away,
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
from handlers.common import (
    Deps,
    cancel_command,
    on_error,
    record_update,
    store_state,
    typed_text_handler,
    unknown_button,
    unknown_command,
)
from jobs import holidays, tick
from jobs.sender import OutboxSender, ThrottleRateLimiter
from settings import Settings

log = logging.getLogger("zhibu.app")

# Opt in to python-telegram-bot's coming behaviour: durations (retry_after …) as timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "1")


def build_application(
    settings: Settings, *, db: Database, clock: Clock | None = None
) -> Application:  # type: ignore[type-arg]
    if settings.bot_token is None:
        raise ValueError("ZHIBU_BOT_TOKEN is not set")
    timeout = settings.request_timeout_seconds
    throttle = Throttle(
        Limits(
            overall_per_second=settings.rate_overall_per_second,
            private_interval=settings.rate_private_interval_seconds,
            group_per_minute=settings.rate_group_per_minute,
        )
    )
    app = (
        ApplicationBuilder()
        .token(settings.bot_token.get_secret_value())
        .base_url(settings.api_base_url)
        .base_file_url(settings.file_base_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
            )
        )
        .rate_limiter(ThrottleRateLimiter(throttle))
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .get_updates_read_timeout(timeout + 30)
        .concurrent_updates(settings.concurrent_updates)
        .build()
    )
    clock = clock or SystemClock()
    sender = OutboxSender(db=db, bot=app.bot, clock=clock, workers=settings.sender_workers)
    app.bot_data["deps"] = Deps(settings=settings, db=db, clock=clock, sender=sender)

    # Order matters. Group -1 runs first for every update: it drops repeated update ids.
    app.add_handler(TypeHandler(Update, record_update), group=-1)
    # Group 0: the features. The join conversation must come before the plain /start.
    for handler in [
        *start.build_handlers(settings.conversation_timeout_seconds),
        *help.HANDLERS,
        *invite.HANDLERS,
        *groups.HANDLERS,
        *upload.HANDLERS,
        *calendar.HANDLERS,
        *obligation_settings.HANDLERS,
        *meetings.HANDLERS,
        *away.HANDLERS,
        *tasks.HANDLERS,
        *reports.HANDLERS,
        *ask.HANDLERS,
        *progress.HANDLERS,
        typed_text_handler(
            {
                **obligation_settings.TEXT_STEPS,
                **meetings.TEXT_STEPS,
                **reports.TEXT_STEPS,
                **ask.TEXT_STEPS,
            },
            replies=ask.prompt_reply,
        ),
        CommandHandler("cancel", cancel_command),
        MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, unknown_command),
    ]:
        app.add_handler(handler)
    # Last: any button nobody recognised is refused and audited.
    app.add_handler(CallbackQueryHandler(unknown_button))
    # After the features: what they changed of a conversation goes to the database.
    app.add_handler(TypeHandler(Update, store_state), group=1)
    app.add_error_handler(on_error)
    if app.job_queue is not None and settings.scheduler_enabled:
        holidays.schedule(app.job_queue, settings)
        tick.schedule(app.job_queue, settings)
    return app


async def start_services(app: Application) -> None:  # type: ignore[type-arg]
    """After the Application has started: the command menus and the outbox sender."""
    deps: Deps = app.bot_data["deps"]
    await help.register_menus(app.bot, deps.settings.language)
    if deps.sender is not None:
        await deps.sender.start()
    log.info("bot @%s ready", app.bot.username)


async def stop_services(app: Application) -> None:  # type: ignore[type-arg]
    deps: Deps = app.bot_data["deps"]
    if deps.sender is not None:
        await deps.sender.stop()


def run(settings: Settings) -> None:
    """``zhibu run``: until SIGINT or SIGTERM."""
    asyncio.run(serve(settings))


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Be the one active process, migrate, then poll (or serve the webhook) and send."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    db = Database.from_url(settings.database_url)
    leadership = None if db.is_sqlite else Leadership(db.engine)
    try:
        with sqlite_lock(settings.database_url) if db.is_sqlite else contextlib.nullcontext():
            if leadership is not None:
                await _until_either(leadership.acquire(), stop)
                if stop.is_set():
                    return
            await upgrade(db.engine)
            await _serve_app(settings, db, stop, leadership.lost if leadership else None)
    finally:
        if leadership is not None:
            await leadership.release()
        await db.dispose()


async def _serve_app(
    settings: Settings, db: Database, stop: asyncio.Event, lost: asyncio.Event | None
) -> None:
    app = build_application(settings, db=db)
    async with app:
        await app.start()
        await start_services(app)
        assert app.updater is not None
        webhook: WebhookServer | None = None
        if settings.webhook_url:
            assert settings.webhook_secret is not None
            webhook = WebhookServer(
                app,
                db,
                url=settings.webhook_url,
                listen=settings.webhook_listen,
                secret=settings.webhook_secret.get_secret_value(),
            )
            await webhook.start()
        else:
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        waits = [asyncio.create_task(stop.wait())]
        if lost is not None:
            waits.append(asyncio.create_task(lost.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        log.info("stopping")
        if webhook is not None:
            await webhook.stop()
        else:
            await app.updater.stop()
        await stop_services(app)
        await app.stop()


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
