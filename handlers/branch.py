"""Which branch a manager's command or button acts on, checked at the moment of use."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n.texts import t
from bot.services import branches
from bot.services.access import Actor, OrgInfo
from handlers.kit.common import deps, esc, refuse, reply


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
            await reply(update, t(actor.lang, "invite.need_code", command=action))
            return None
    else:
        org = await branches.by_code(deps(context).db, code)
        if actor.is_admin and not branches.is_branch(org):
            await reply(update, t(actor.lang, "invite.no_such_branch", code=esc(code)))
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
