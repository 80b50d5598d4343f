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
from bot.services.access import manages_branch
from bot.store import audit
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
    if not actor.is_manager or actor.branch is None:
        await refuse(update, context, actor, action="group.bind", key="bind.managers_only")
        return
    uid = actor.telegram_id
    await reply(
        update,
        t(actor.lang, "bind.confirm", org=esc(actor.branch.name)),
        keyboard(
            [
                [
                    (t(actor.lang, "bind.yes"), BindYes(actor.branch.id, uid)),
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
    now = d.clock.now()
    async with d.db.write() as session:
        allowed = actor.is_manager and actor.branch is not None and actor.branch.id == org_id
        allowed = allowed and await manages_branch(session, actor, org_id)
        if allowed:
            result = await linking.bind_group(session, org_id=org_id, chat_id=chat.id, now=now)
            if result.state in (linking.BindState.BOUND, linking.BindState.MOVED):
                await audit.record(
                    session,
                    at=now,
                    action="group.bind",
                    actor_telegram_id=actor.telegram_id,
                    org_id=org_id,
                    detail={"chat_id": chat.id, "moved": result.state is linking.BindState.MOVED},
                )
    if not allowed or actor.branch is None:
        await refuse(
            update, context, actor, action="group.bind", key="bind.managers_only", org_id=org_id
        )
        return
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
    now = d.clock.now()
    async with d.db.write() as session:
        org = await linking.bound_org(session, chat.id)
        allowed = org is not None and await manages_branch(session, actor, org.id)
        if org is not None and allowed:
            await linking.unbind_group(session, chat_id=chat.id, now=now)
            await audit.record(
                session,
                at=now,
                action="group.unbind",
                actor_telegram_id=actor.telegram_id,
                org_id=org.id,
                detail={"chat_id": chat.id},
            )
    if org is None:
        await reply(update, t(actor.lang, "unbind.not_bound"))
    elif not allowed:
        await refuse(
            update, context, actor, action="group.unbind", key="bind.managers_only", org_id=org.id
        )
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
    now = d.clock.now()
    async with d.db.write() as session:
        org = await linking.unbind_group(session, chat_id=change.chat.id, now=now)
        if org is not None:
            await audit.record(
                session,
                at=now,
                action="group.unbind",
                actor_telegram_id=change.from_user.id,
                org_id=org.id,
                detail={"chat_id": change.chat.id, "reason": "bot removed from the group"},
            )


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    ChatMemberHandler(bot_membership, ChatMemberHandler.MY_CHAT_MEMBER),
    CommandHandler("bind", bind_command),
    CommandHandler("unbind", unbind_command),
    CallbackQueryHandler(bind_button, pattern=family("bd")),
]
