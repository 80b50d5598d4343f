"""/help, /lang and the command menu Telegram shows."""

from __future__ import annotations

import logging
from typing import Literal

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.i18n import names
from bot.i18n.texts import Lang, t
from bot.rules.buttons import LangChinese, LangEnglish, family
from bot.rules.commands import visible
from bot.services import visits
from bot.services.access import Actor
from handlers.kit.common import (
    actor_of,
    bad_button,
    deps,
    edit_or_send,
    keyboard,
    pressed,
    reply,
    toast,
)

log = logging.getLogger("zhibu.menu")


def _bot_commands(
    lang: Lang, where: Literal["private", "group"], *, member: bool, manager: bool, admin: bool
) -> list[BotCommand]:
    return [
        BotCommand(c.name, t(lang, names.COMMAND[c.name]))
        for c in visible(where=where, member=member, manager=manager, admin=admin)
    ]


async def register_menus(bot: Bot, default: Lang) -> None:
    """The menus everyone sees: private and group, in Chinese and English."""
    try:
        menus: list[tuple[str | None, Lang]] = [(None, default), ("zh", "zh"), ("en", "en")]
        for code, lang in menus:
            await bot.set_my_commands(
                _bot_commands(lang, "private", member=True, manager=False, admin=False),
                scope=BotCommandScopeAllPrivateChats(),
                language_code=code,
            )
            await bot.set_my_commands(
                _bot_commands(lang, "group", member=True, manager=True, admin=False),
                scope=BotCommandScopeAllGroupChats(),
                language_code=code,
            )
    except TelegramError:
        log.warning("could not register the command menus", exc_info=True)


async def refresh_menu(bot: Bot, actor: Actor) -> None:
    """Managers and admins get their fuller menu in their private chat with the bot."""
    if not (actor.is_manager or actor.is_admin):
        return
    commands = _bot_commands(
        actor.lang,
        "private",
        member=actor.member is not None,
        manager=actor.is_manager,
        admin=actor.is_admin,
    )
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(actor.telegram_id))
    except TelegramError:
        log.warning("could not set the menu for a manager", exc_info=True)


def help_text(actor: Actor, where: Literal["private", "group"]) -> str:
    lines = [t(actor.lang, "help.title")]
    for c in visible(
        where=where, member=actor.member is not None, manager=actor.is_manager, admin=actor.is_admin
    ):
        lines.append(f"/{c.name} — {t(actor.lang, names.COMMAND[c.name])}")
    if where == "private" and actor.is_admin:
        lines.append("")
        lines.append(t(actor.lang, "help.import_hint"))
    if actor.member is None and not actor.is_admin:
        lines.append("")
        lines.append(t(actor.lang, "help.unlinked_hint"))
    return "\n".join(lines)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    chat = update.effective_chat
    where: Literal["private", "group"] = (
        "private" if chat and chat.type == ChatType.PRIVATE else "group"
    )
    await reply(update, help_text(actor, where))


async def lang_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    choice = context.args[0].lower() if context.args else ""
    if choice in ("zh", "en"):
        lang: Lang = "zh" if choice == "zh" else "en"
        await _set(update, context, actor, lang)
        await reply(update, t(lang, "lang.set"))
        return
    await reply(
        update,
        t(actor.lang, "lang.choose"),
        keyboard([[("中文", LangChinese()), ("English", LangEnglish())]]),
    )


async def lang_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    match pressed(update):
        case LangChinese():
            lang: Lang = "zh"
        case LangEnglish():
            lang = "en"
        case _:
            await bad_button(update, context, actor)
            return
    await _set(update, context, actor, lang)
    await toast(update)
    await edit_or_send(update, t(lang, "lang.set"))


async def _set(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, lang: Lang
) -> None:
    d = deps(context)
    await visits.choose_language(d.db, actor.telegram_id, lang, now=d.clock.now())
    await refresh_menu(context.bot, await actor_of(update, context))


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    CommandHandler("help", help_command),
    CommandHandler("lang", lang_command),
    CallbackQueryHandler(lang_button, pattern=family("lang")),
]
