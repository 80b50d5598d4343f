"""Which branch a manager's command or button acts on, looked up and checked at the moment
of use (each call one short read)."""

from __future__ import annotations

from bot.services.access import (
    Actor,
    OrgInfo,
    admin_codes,
    manages_branch,
    org_by_code,
    org_by_id,
)
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


async def managed(db: Database, actor: Actor, org: OrgInfo | None) -> OrgInfo | None:
    """``org`` when it is a branch the actor manages right now, else None."""
    if org is None or not is_branch(org):
        return None
    async with db.read() as session:
        return org if await manages_branch(session, actor, org.id) else None


async def admin_scope(db: Database, actor: Actor) -> set[str] | None:
    """The org codes an admin's roster files may touch (None: everything, the operator)."""
    async with db.read() as session:
        return await admin_codes(session, actor)
