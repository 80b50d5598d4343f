"""Before every update: handle each update id once, keep the sender current, and load their
conversation (the database is the truth, not the memory of this process)."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.i18n.texts import t
from bot.services import visits
from bot.store.db import UNAVAILABLE
from bot.store.inbox import current_handling
from handlers.kit import flow
from handlers.kit.common import actor_of, arrived_as, deps, report_error

log = logging.getLogger("zhibu.handlers")


def _sender(update: Update) -> visits.Person | None:
    """The person an update is from (None: no one, or a bot), and whether in private."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    chat = update.effective_chat
    private = chat is not None and chat.id == user.id
    return visits.Person(user.id, user.first_name, user.username, user.language_code, private)


async def record_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handle each update_id once, and keep what we know of the sender current."""
    d = deps(context)
    now = d.clock.now()
    sender = _sender(update)
    try:
        arrival = await visits.arrive(
            d.db,
            update.update_id,
            sender,
            now=now,
            idle=timedelta(seconds=d.settings.conversation_timeout_seconds),
            default_lang=d.settings.language,
            bootstrap_ids=d.bootstrap_ids,
        )
    except UNAVAILABLE as exc:  # the database is not there: say so once, stop
        await report_error(update, context, exc)
        raise ApplicationHandlerStop from None
    fresh, state, expired = arrival.fresh, arrival.state, arrival.expired
    if not fresh:
        log.info("update %s seen before; ignored", update.update_id)
        raise ApplicationHandlerStop
    handling = current_handling()
    if handling is not None:
        handling.armed = True  # from here on, the first change also marks the update handled
    if sender is None or arrival.actor is None:
        raise ApplicationHandlerStop
    arrived_as(arrival.actor)
    flow.arrived(context, state)
    if expired and update.effective_chat is not None and update.effective_chat.type == "private":
        lang = (await actor_of(update, context)).lang
        await update.effective_chat.send_message(t(lang, "common.timed_out"))
