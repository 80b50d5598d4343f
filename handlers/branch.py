"""Which branch a manager's command or button acts on, checked at the moment of use."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n.texts import t
from bot.services.access import Actor, OrgInfo, manages_branch, org_by_code, org_by_id
from bot.store.models import OrgKind
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
    if org is not None and org.kind == OrgKind.BRANCH.value:
        async with deps(context).db.read() as session:
            if await manages_branch(session, actor, org.id):
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
        async with deps(context).db.read() as session:
            org = await org_by_code(session, code)
        if actor.is_admin and (org is None or org.kind != OrgKind.BRANCH.value):
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
    org = None
    if org_id is not None:
        async with deps(context).db.read() as session:
            org = await org_by_id(session, org_id)
    return await allowed_branch(
        update, context, actor, org, action=action, key="common.not_allowed"
    )
