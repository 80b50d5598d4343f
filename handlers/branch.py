"""Which branch a manager's command or button acts on, checked at the moment of use."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.i18n.texts import t
from bot.rules.buttons import BranchPage, BranchPick, family, pager, rows_of
from bot.services import branches
from bot.services.access import Actor, OrgInfo
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

PICK_PAGE = 20  # branches offered at once: two taps reach any of a committee's 20
PICKABLE = frozenset(
    {"calendar", "due", "status", "invite", "roster", "settings", "meet", "ask", "export"}
)


async def allowed_branch(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    org: OrgInfo | None,
    *,
    action: str,
    key: str,
) -> OrgInfo | None:
    """``org`` when it is a branch the actor manages right now; otherwise refuse and audit."""
    if await branches.managed(deps(context).db, actor, org) is not None:
        return org
    await refuse(update, context, actor, action=action, key=key, org_id=org.id if org else None)
    return None


async def target_branch(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, action: str
) -> OrgInfo | None:
    """The branch a manager command acts on: the caller's own, or ``/cmd CODE`` for admins."""
    code = context.args[0][:120] if context.args else None
    org: OrgInfo | None = None
    if code is None:
        if actor.is_manager and actor.branch is not None:
            org = actor.branch
        elif actor.is_admin:
            await offer_branches(update, context, actor, action)
            return None
    else:
        org = await branches.by_code(deps(context).db, code)
        if actor.is_admin and not branches.is_branch(org):
            org = await picked_or_offered(update, context, actor, action, code)
            if org is None:
                return None
    return await allowed_branch(
        update, context, actor, org, action=action, key="common.managers_only"
    )


async def button_branch(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    org_id: int | None,
    action: str,
) -> OrgInfo | None:
    """The branch a button names, if it exists and the presser manages it now."""
    org = await branches.by_id(deps(context).db, org_id) if org_id is not None else None
    return await allowed_branch(
        update, context, actor, org, action=action, key="common.not_allowed"
    )


# ---------------------------------------------------------------- the branch picker


async def picked_or_offered(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, command: str, text: str
) -> OrgInfo | None:
    """An admin typed something that is not a branch's code: the one branch whose name or
    code contains it, else the branches to choose from (None: the choice was offered)."""
    found = await branches.choices(deps(context).db, actor, text)
    if len(found) == 1:
        return found[0]
    await offer_branches(update, context, actor, command, text)
    return None


async def offer_branches(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    command: str,
    text: str | None = None,
    page: int = 0,
) -> None:
    """The branches in the admin's scope as buttons (those matching ``text``); pressing one
    runs ``/command`` for it."""
    db, lang = deps(context).db, actor.lang
    found = await branches.choices(db, actor, text)
    lines = []
    if text and not found:
        lines.append(t(lang, "pick.none", text=esc(text)))
        found, text = await branches.choices(db, actor), None
    if not found:
        await reply(update, t(lang, "pick.empty"))
        return
    pages = max(1, -(-len(found) // PICK_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = found[page * PICK_PAGE : (page + 1) * PICK_PAGE]
    lines.append(t(lang, "pick.title", command=command, count=len(found)))
    if text and len(found) > PICK_PAGE:  # a search is not paged: narrow it down instead
        lines.append(t(lang, "pick.more", n=len(found) - PICK_PAGE))
    rows = rows_of([(o.name[:30], BranchPick(command, o.id)) for o in shown], 2)
    turn = pager(page, pages, lambda p: BranchPage(command, p)) if not text else []
    markup = keyboard([*rows, turn] if turn else rows)
    if update.callback_query is not None:
        await edit_or_send(update, "\n".join(lines), markup)
    else:
        await reply(update, "\n".join(lines), markup)


def _command(context: ContextTypes.DEFAULT_TYPE, name: str) -> CommandHandler | None:  # type: ignore[type-arg]
    for handlers in context.application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler) and name in handler.commands:
                return handler
    return None


async def pick_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A branch pressed in the picker: the command runs for it, checked as if typed with
    its code; a page turned: the next branches."""
    actor = await actor_of(update, context)
    match pressed(update):
        case BranchPick(command=command, org_id=org_id) if command in PICKABLE:
            org = await branches.by_id(deps(context).db, org_id)
            handler = _command(context, command)
            if org is None or handler is None:
                await bad_button(update, context, actor)
                return
            context.args = [org.code]
            await handler.callback(update, context)
            await toast(update)  # unless the command answered it (a refusal, a page)
        case BranchPage(command=command, page=page) if command in PICKABLE:
            await toast(update)
            await offer_branches(update, context, actor, command, None, page)
        case _:
            await bad_button(update, context, actor)


HANDLERS: list[BaseHandler] = [  # type: ignore[type-arg]
    CallbackQueryHandler(pick_button, pattern=family("br")),
]
