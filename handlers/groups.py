"""/bind and /unbind: which Telegram group is the branch's group."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
)

from bot.i18n import names
from bot.i18n.texts import t
from bot.rules.buttons import BindNo, BindYes, family
from bot.services import linking
from bot.services.access import NotAllowed
from handlers.kit.common import (
    actor_of,
    bad_button,
    deps,
    edit_or_send,
    esc,
    keyboard,
    pressed,
    refuse,
    reply,
    toast,
)


def _in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


async def bind_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not _in_group(update):
        await reply(update, t(actor.lang, "bind.group_only"))
        return
    try:
        branch = linking.branch_to_bind(actor)
    except NotAllowed as exc:
        await refuse(update, context, actor, action="group.bind", key=exc.key)
        return
    uid = actor.telegram_id
    await reply(
        update,
        t(actor.lang, "bind.confirm", org=esc(branch.name)),
        keyboard(
            [
                [
                    (t(actor.lang, "bind.yes"), BindYes(branch.id, uid)),
                    (t(actor.lang, "bind.no"), BindNo(0, uid)),
                ]
            ]
        ),
    )


async def bind_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if not isinstance(button, BindYes | BindNo) or not _in_group(update):
        await bad_button(update, context, actor)
        return
    org_id = button.org_id
    if button.owner != actor.telegram_id:
        await refuse(update, context, actor, action="group.bind", key="common.not_your_button")
        return
    if isinstance(button, BindNo):
        await toast(update)
        await edit_or_send(update, t(actor.lang, "bind.cancelled"))
        return
    chat = update.effective_chat
    assert chat is not None
    d = deps(context)
    try:
        result = await linking.bind(d.db, actor, org_id, chat.id, now=d.clock.now())
    except NotAllowed as exc:
        await refuse(update, context, actor, action="group.bind", key=exc.key, org_id=org_id)
        return
    assert actor.branch is not None
    await toast(update)
    key = names.BIND_RESULT[result.state.value]
    other = esc(result.other.name) if result.other else ""
    await edit_or_send(update, t(actor.lang, key, org=esc(actor.branch.name), other=other))


async def unbind_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    chat = update.effective_chat
    if not _in_group(update) or chat is None:
        await reply(update, t(actor.lang, "bind.group_only"))
        return
    d = deps(context)
    try:
        org = await linking.unbind(d.db, actor, chat.id, now=d.clock.now())
    except NotAllowed as exc:
        await refuse(update, context, actor, action="group.unbind", key=exc.key, org_id=exc.org_id)
        return
    if org is None:
        await reply(update, t(actor.lang, "unbind.not_bound"))
    else:
        await reply(update, t(actor.lang, "unbind.done", org=esc(org.name)))


async def bot_membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was removed from a group: that group stops being a branch group."""
    change = update.my_chat_member
    if change is None or change.new_chat_member.status not in (
        ChatMemberStatus.LEFT,
        ChatMemberStatus.BANNED,
    ):
        return
    d = deps(context)
    await linking.bot_removed(d.db, change.chat.id, by=change.from_user.id, now=d.clock.now())


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    ChatMemberHandler(bot_membership, ChatMemberHandler.MY_CHAT_MEMBER),
    CommandHandler("bind", bind_command),
    CommandHandler("unbind", unbind_command),
    CallbackQueryHandler(bind_button, pattern=family("bd")),
]
