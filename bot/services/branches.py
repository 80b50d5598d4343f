"""Which branch a manager's command or button acts on, looked up and checked at the moment
of use (each call one short read)."""

from __future__ import annotations

from bot.services.access import (
    Actor,
    Declined,
    NotAllowed,
    OrgInfo,
    admin_roots,
    administers,
    manages_branch,
    org_by_code,
    org_by_id,
    org_info,
    org_names,
)
from bot.services.assessment import branches_under
from bot.services.linking import bound_org
from bot.store.db import Database
from bot.store.models import OrgKind


def is_branch(org: OrgInfo | None) -> bool:
    return org is not None and org.kind == OrgKind.BRANCH.value


async def by_code(db: Database, code: str) -> OrgInfo | None:
    async with db.read() as session:
        return await org_by_code(session, code)


async def by_id(db: Database, org_id: int) -> OrgInfo | None:
    async with db.read() as session:
        return await org_by_id(session, org_id)


async def choices(db: Database, actor: Actor, text: str | None = None) -> list[OrgInfo]:
    """The branches a command may be given for: an admin's, in their scope (a manager's own
    branch otherwise); with ``text``, the one whose code it is (any case), else those whose
    name or code contains it."""
    if actor.is_admin:
        async with db.read() as session:
            found = [org_info(o) for o in await branches_under(session, admin_roots(actor))]
    else:
        found = [actor.branch] if actor.is_manager and actor.branch is not None else []
    if not text or not text.strip():
        return found
    wanted = text.strip().casefold()
    exact = [o for o in found if o.code.casefold() == wanted]
    return exact or [o for o in found if wanted in o.name.casefold() or wanted in o.code.casefold()]


async def managed(db: Database, actor: Actor, org: OrgInfo | None) -> OrgInfo | None:
    """``org`` when it is a branch the actor manages right now, else None."""
    if org is None or not is_branch(org):
        return None
    async with db.read() as session:
        return org if await manages_branch(session, actor, org.id) else None


async def calendar_of(
    db: Database, actor: Actor, *, group_chat_id: int | None, code: str | None, command: str
) -> OrgInfo:
    """Whose calendar a command shows: the group's bound branch (``group_chat_id`` when sent
    in a group), ``code`` for admins, else the caller's own branch. Raises Declined or
    NotAllowed with the answer to give."""
    async with db.read() as session:
        if group_chat_id is not None:
            org = await bound_org(session, group_chat_id)
            if org is None:
                raise Declined("calendar.group_not_bound")
        elif code is not None and actor.is_admin:
            org = await org_by_code(session, code)
            if org is None or org.kind not in (OrgKind.BRANCH.value, OrgKind.COMMITTEE.value):
                raise Declined("invite.no_such_branch", code=code)
        elif actor.branch is not None:
            org = actor.branch
        elif actor.is_admin:
            raise Declined("invite.need_code", command=command)
        else:
            raise Declined("calendar.unlinked")
        own = actor.branch is not None and actor.branch.id == org.id
        if own or await administers(session, actor, org.id):
            return org
    raise NotAllowed("common.not_allowed", org_id=org.id)


async def admin_org_names(db: Database, actor: Actor) -> list[str]:
    """The names of the orgs an admin administers, for their home screen."""
    async with db.read() as session:
        return await org_names(session, sorted(actor.admin_org_ids))
