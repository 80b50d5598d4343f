"""/away DATE: no nudges until then (出差/休假); /away off ends it."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.i18n.texts import fmt_date, t
from bot.rules.dates import parse_day
from bot.services.access import NotAllowed
from bot.services.meetings import MeetingError, go_away, require_member
from handlers.kit.common import actor_of, declined, deps, ensure_private, esc, reply


async def away_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    try:
        require_member(actor)  # said before anything about the date
    except NotAllowed as exc:
        await reply(update, t(actor.lang, exc.key))
        return
    d = deps(context)
    today = d.today()
    text = " ".join(context.args or []).strip()
    if not text:
        await reply(update, t(actor.lang, "away.usage"))
        return
    until = None if text.lower() in ("off", "关闭", "取消") else parse_day(text, today)
    if until is None and text.lower() not in ("off", "关闭", "取消"):
        await reply(update, t(actor.lang, "away.bad_date", value=esc(text[:50])))
        return
    try:
        await go_away(d.db, actor, until, today=today)
    except MeetingError as exc:
        await declined(update, actor.lang, exc)
        return
    if until is None:
        await reply(update, t(actor.lang, "away.off"))
    else:
        await reply(update, t(actor.lang, "away.on", day=fmt_date(actor.lang, until)))


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    CommandHandler("away", away_command),
]
