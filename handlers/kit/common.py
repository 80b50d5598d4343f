"""What every handler shares: dependencies, the acting user, replies, refusals, errors."""

from __future__ import annotations

import html
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    WebAppInfo,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.i18n.texts import Lang, normalise_lang, t
from bot.ops.deps import Deps
from bot.rules.buttons import Button, Rows, decode, stored
from bot.services import visits
from bot.services.access import (
    Actor,
    Declined,
    NotAllowed,
)
from bot.store import inbox
from bot.store.db import UNAVAILABLE
from bot.store.inbox import current_handling
from jobs.sender import ThrottleRateLimiter, inline_markup

log = logging.getLogger("zhibu.handlers")
ADMIN_NOTICE_EVERY = timedelta(minutes=10)  # one message to the admins per kind of error


def deps(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    value = context.application.bot_data["deps"]
    assert isinstance(value, Deps)
    return value


def esc(value: object) -> str:
    """Escape anything a user or the roster supplied before it goes into HTML."""
    return html.escape(str(value), quote=False)


# The actor as the update arrived (read in the arrival's unit of work), while this update's
# handlers have written nothing: after their first write (a /lang, a link) it is read again.
_arrived: ContextVar[tuple[inbox.Handling, int, Actor] | None] = ContextVar(
    "zhibu_arrived_actor", default=None
)


def arrived_as(actor: Actor) -> None:
    """The arrival read who is acting: handlers use it until they write something."""
    handling = current_handling()
    if handling is not None:
        _arrived.set((handling, handling.writes, actor))


def _still_as_arrived(telegram_id: int) -> Actor | None:
    """The actor read at arrival, if it is this update's, this person's, and nothing has been
    written since."""
    known, handling = _arrived.get(), current_handling()
    if known is None or handling is None:
        return None
    was, writes, actor = known
    fresh = was is handling and writes == handling.writes and actor.telegram_id == telegram_id
    return actor if fresh else None


async def actor_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Actor:
    user = update.effective_user
    assert user is not None
    known = _still_as_arrived(user.id)
    if known is not None:
        return known
    d = deps(context)
    return await visits.acting(
        d.db,
        user.id,
        telegram_language=user.language_code,
        default_lang=d.settings.language,
        bootstrap_ids=d.bootstrap_ids,
    )


def in_background(
    update: Update, context: ContextTypes.DEFAULT_TYPE, work: Coroutine[Any, Any, None]
) -> None:
    """Finish this update in the background so other chats are answered meanwhile (a slow
    upload). The update counts as handled only when the work makes its first change, so a
    restart before that handles it again."""
    handling = current_handling()
    if handling is not None:
        handling.armed = False  # not marked at the end of the handlers: the work marks it

    async def run() -> None:
        if handling is None:
            await work
            return
        with inbox.handling(handling.update_id, now=handling.now) as own:
            own.armed = True
            await work
        d = deps(context)
        await inbox.finish(d.db, handling.update_id, marked=own.marked, now=d.clock.now())

    context.application.create_task(run(), update=update)


# ---------------------------------------------------------------- replies


def typed(update: Update) -> str:
    """The text the user typed in this update ("" when there is none)."""
    message = update.effective_message
    return (message.text if message is not None else None) or ""


def keyboard(rows: Rows) -> InlineKeyboardMarkup:
    """Rows of (label, button), as Telegram shows them (the same way the sender does)."""
    markup = inline_markup(stored(rows))
    assert markup is not None  # a dict with its rows, even when there are none
    return markup


def with_board(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    lang: Lang,
    markup: InlineKeyboardMarkup | None,
    view: str = "me",
    code: str | None = None,
) -> InlineKeyboardMarkup | None:
    """``markup`` with 打开看板 under it, opening the Mini App's ``view`` (of branch ``code``),
    when ZHIBU_WEB_URL is set and the chat is private (Telegram takes web app buttons there
    only)."""
    base = deps(context).settings.web_url
    chat = update.effective_chat
    if base is None or chat is None or chat.type != ChatType.PRIVATE:
        return markup
    query = urlencode({"view": view} | ({"code": code} if code else {}))
    button = InlineKeyboardButton(t(lang, "web.open"), web_app=WebAppInfo(f"{base}/app?{query}"))
    rows = list(markup.inline_keyboard) if markup is not None else []
    return InlineKeyboardMarkup([*rows, [button]])


def pressed(update: Update) -> Button | None:
    """The button pressed, decoded by bot/rules/buttons.py; None for anything not declared."""
    query = update.callback_query
    return decode(query.data if query is not None else None)


async def reply(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(text, reply_markup=markup)


GROUP_RESERVE = 5  # of a group's 20 messages a minute, kept for its posts (cards, tallies)


def group_has_room(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> bool:
    """Whether a group can take one more answer now and still keep room for its posts."""
    limiter = context.bot.rate_limiter
    if not isinstance(limiter, ThrottleRateLimiter):
        return True
    return limiter.throttle.room(chat_id) > GROUP_RESERVE


async def answer_in_group(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, user_id: int
) -> None:
    """Answer a command given in a group without waiting behind the group's limit: in the
    group while it has room; past that, privately (the group sees the card's counts)."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE or group_has_room(context, chat.id):
        await reply(update, text)
        return
    await send_private(context, user_id, text)


async def edit_or_send(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Edit the message a button sits on; fall back to a new message if it cannot be edited."""
    query = update.callback_query
    if query is not None and isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
            return
        except BadRequest as exc:
            if "not modified" in str(exc):
                return
            if "can't be edited" not in str(exc) and "not found" not in str(exc):
                raise
    chat = update.effective_chat
    if chat is not None:
        await chat.send_message(text, reply_markup=markup)


ANSWERED_KEPT = 10_000  # presses being handled that were answered (a backstop bound)
_answered: OrderedDict[str, None] = OrderedDict()


def forget_answer(update: object) -> None:
    """The update's handling is over: its press need not be remembered (InboxApplication)."""
    if isinstance(update, Update) and update.callback_query is not None:
        _answered.pop(update.callback_query.id, None)


async def toast(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press, once: a press already answered (a step that answered it
    before handing on, as /meet's buttons and the branch picker do) gets what is left to
    say as a message in the chat instead of a second answer Telegram would refuse."""
    query = update.callback_query
    if query is None:
        return
    if query.id in _answered:
        if text:
            await reply(update, text)
        return
    _answered[query.id] = None
    if len(_answered) > ANSWERED_KEPT:
        _answered.popitem(last=False)
    await query.answer(text, show_alert=alert)


async def declined(update: Update, lang: Lang, exc: Declined) -> None:
    """Say why a request could not be done: a toast on a button, else a reply (user-supplied
    values escaped)."""
    if update.callback_query is not None:
        await toast(update, t(lang, exc.key, **exc.params), alert=True)
    else:
        safe = {k: esc(v) if isinstance(v, str) else v for k, v in exc.params.items()}
        await reply(update, t(lang, exc.key, **safe))


async def refuse(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    *,
    action: str,
    key: str,
    org_id: int | None = None,
    **params: Any,
) -> None:
    """Tell the user why not, and write the refusal to the audit log."""
    d = deps(context)
    detail: dict[str, Any] = {"reason": key}
    if update.callback_query is not None:
        detail["callback_data"] = (update.callback_query.data or "")[:64]
    elif update.effective_message is not None and update.effective_message.text:
        detail["command"] = update.effective_message.text.split()[0][:64]
    await visits.refused(
        d.db, actor, action=action, org_id=org_id, detail=detail, now=d.clock.now()
    )
    text = t(actor.lang, key, **params)
    if update.callback_query is not None:
        await toast(update, text, alert=True)
    else:
        await reply(update, text)


async def ensure_private(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> bool:
    """Personal things happen in private chat; in a group, offer a button that opens it."""
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE:
        return True
    username = context.bot.username
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(actor.lang, "common.open_private"), url=f"https://t.me/{username}"
                )
            ]
        ]
    )
    await reply(update, t(actor.lang, "common.private_only"), markup)
    return False


async def send_private(
    context: ContextTypes.DEFAULT_TYPE,
    telegram_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> bool:
    """Message someone other than the sender; a blocked bot is remembered, not raised."""
    try:
        await context.bot.send_message(telegram_id, text, reply_markup=markup)
        return True
    except Forbidden:
        d = deps(context)
        await visits.blocked(d.db, telegram_id, now=d.clock.now())
        log.info("user %s has blocked the bot or never started it", telegram_id)
    except TelegramError as exc:
        log.warning("could not message user %s: %s", telegram_id, exc)
    return False


# ---------------------------------------------------------------- buttons


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button no handler recognised: refused and audited."""
    actor = await actor_of(update, context)
    await refuse(update, context, actor, action="callback.unknown", key="common.button_invalid")


async def bad_button(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    await refuse(update, context, actor, action="callback.malformed", key="common.button_invalid")


# ---------------------------------------------------------------- errors


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's error handler. A refusal or a declined request a service raised that the handler
    did not catch is answered as such (audited, in the user's language); anything else is an
    error: see ``report_error``."""
    error = context.error
    if isinstance(update, Update) and isinstance(error, NotAllowed | Declined):
        actor = await actor_of(update, context)
        if isinstance(error, NotAllowed):
            await refuse(
                update,
                context,
                actor,
                action=_action_of(update),
                key=error.key,
                org_id=error.org_id,
            )
        else:
            await declined(update, actor.lang, error)
        return
    await report_error(update, context, error)


def _action_of(update: Update) -> str:
    """What was asked, for the audit log: the button's family and action, or the command."""
    if update.callback_query is not None:
        return ".".join((update.callback_query.data or "?").split(":")[:2])[:40]
    text = update.effective_message.text if update.effective_message else None
    return (text or "?").split()[0].lstrip("/").split("@")[0][:40]


async def report_error(
    update: object, context: ContextTypes.DEFAULT_TYPE, error: BaseException | None
) -> None:
    """Log with context, tell the user something useful, and tell the bootstrap admins."""
    where = ""
    lang: Lang = "zh"
    if isinstance(update, Update):
        user = update.effective_user
        chat = update.effective_chat
        where = f"update={update.update_id} user={user.id if user else '-'} chat={chat.id if chat else '-'}"
        try:
            d = deps(context)
            lang = d.settings.language
            if user is not None:
                lang = (await actor_of(update, context)).lang
        except UNAVAILABLE:  # the database may be what failed
            log.debug("could not load the actor for the error reply", exc_info=True)
    log.error("error while handling %s: %r", where or "a job", error, exc_info=error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await toast(update, t(lang, "common.error"), alert=True)
        elif update.effective_chat is not None:
            await update.effective_chat.send_message(t(lang, "common.error"))
    except TelegramError:
        log.warning("could not tell the user about the error", exc_info=True)
    await tell_admins(context, error, where)


async def tell_admins(
    context: ContextTypes.DEFAULT_TYPE, error: BaseException | None, where: str
) -> None:
    """The bootstrap admins hear of each kind of error once per ADMIN_NOTICE_EVERY."""
    d = deps(context)
    kind = type(error).__name__
    sent: dict[str, datetime] = context.application.bot_data.setdefault("error_notices", {})
    now = d.clock.now()
    if kind in sent and now - sent[kind] < ADMIN_NOTICE_EVERY:
        return  # the admins already know of this kind of error; the log has every one
    sent[kind] = now
    note = t(d.settings.language, "common.error_admin", error=esc(kind), where=esc(where))
    for admin_id in d.settings.admin_ids:
        await send_private(context, admin_id, note)


async def tell_not_stored(
    update: Update, context: ContextTypes.DEFAULT_TYPE, error: BaseException
) -> None:
    """An update that could not be stored (the database is down): it is not confirmed to
    Telegram, so it will be handled once the database is back. Say so, once."""
    user = update.effective_user  # the stored /lang cannot be read: Telegram's language
    lang = normalise_lang(user.language_code if user else None, deps(context).settings.language)
    try:
        if update.callback_query is not None:
            await toast(update, t(lang, "common.delayed"), alert=True)
        elif update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE:
            await update.effective_chat.send_message(t(lang, "common.delayed"))
    except TelegramError:
        log.warning("could not tell the user their update waits for the database")
    await tell_admins(context, error, f"update={update.update_id} (not stored)")


# ---------------------------------------------------------------- waiting for typed input


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command nobody handles, in private chat: say so and point to /help."""
    actor = await actor_of(update, context)
    await reply(update, t(actor.lang, "common.unknown_command"))
