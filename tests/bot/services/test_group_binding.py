"""Binding a branch's group, called as services: only that branch's managers may, a
refusal changes nothing, and each change is audited with it."""

from __future__ import annotations

from sqlalchemy import select

from bot.services import linking
from bot.services.access import NotAllowed
from bot.store.db import Database
from bot.store.models import AuditEntry, Org
from tests.bot.services.test_meeting_actions import (
    MEMBER,
    NOW,
    OTHER_SECRETARY,
    SECRETARY,
    actor,
    world,  # noqa: F401 (a fixture)
)

GROUP = -1001


async def bound(db: Database) -> int | None:
    async with db.read() as session:
        return await session.scalar(select(Org.group_chat_id).where(Org.code == "ZB"))


async def audited(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.execute(select(AuditEntry.action))).scalars())


async def test_only_the_branchs_managers_bind_and_unbind(
    db: Database,
    world: dict[str, int],  # noqa: F811
) -> None:
    for who in (MEMBER, OTHER_SECRETARY):
        try:
            await linking.bind(db, await actor(db, who), world["branch"], GROUP, now=NOW)
        except NotAllowed as refused:
            assert refused.key == "bind.managers_only"
        else:
            raise AssertionError(f"{who} bound the group")
    assert await bound(db) is None and "group.bind" not in await audited(db)
    result = await linking.bind(db, await actor(db, SECRETARY), world["branch"], GROUP, now=NOW)
    assert result.state is linking.BindState.BOUND and await bound(db) == GROUP
    for who in (MEMBER, OTHER_SECRETARY):
        try:
            await linking.unbind(db, await actor(db, who), GROUP, now=NOW)
        except NotAllowed:
            pass
        else:
            raise AssertionError(f"{who} released the group")
    assert await bound(db) == GROUP
    await linking.bot_removed(db, GROUP, by=SECRETARY, now=NOW)
    assert await bound(db) is None
    assert await audited(db) == ["group.bind", "group.unbind"]
