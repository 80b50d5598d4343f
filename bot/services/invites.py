"""Inviting a branch's members: personal links for the unlinked, the branch join link, the
member list. Each use-case checks that the actor manages the branch, in its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import linking
from bot.services.access import Actor, MemberInfo, NotAllowed, member_info, require_manager
from bot.store.db import Database
from bot.store.models import InviteKind, Member

REFUSED = "common.not_allowed"


@dataclass(frozen=True)
class Terms:
    """How links are made: the bot they open, when they were issued and how long they last."""

    bot_username: str
    now: datetime
    ttl_days: int


@dataclass(frozen=True)
class InvitePage:
    total: int  # unlinked active members of the branch
    page: int  # 0-based, clamped
    pages: int
    shown: list[tuple[MemberInfo, str]]  # member and their fresh personal link


def pages_of(total: int, size: int) -> int:
    return max(1, (total + size - 1) // size)


async def _link(
    session: AsyncSession,
    actor: Actor,
    terms: Terms,
    kind: InviteKind,
    org_id: int,
    member_id: int | None,
) -> str:
    raw = await linking.issue_token(
        session,
        kind=kind,
        org_id=org_id,
        member_id=member_id,
        created_by=actor.telegram_id,
        now=terms.now,
        ttl_days=terms.ttl_days,
    )
    return linking.deep_link(terms.bot_username, "m" if kind is InviteKind.MEMBER else "b", raw)


async def invite_page(
    db: Database, actor: Actor, org_id: int, page: int, *, size: int, terms: Terms
) -> InvitePage:
    """One page of the unlinked members, each with a freshly issued personal link."""
    async with db.write() as session:
        await require_manager(session, actor, org_id, key=REFUSED)
        members = await linking.unlinked_members(session, org_id)
        pages = pages_of(len(members), size)
        page = min(max(page, 0), pages - 1)
        shown = [
            (m, await _link(session, actor, terms, InviteKind.MEMBER, org_id, m.id))
            for m in members[page * size : (page + 1) * size]
        ]
    return InvitePage(len(members), page, pages, shown)


async def member_link(
    db: Database, actor: Actor, member_id: int, *, terms: Terms
) -> tuple[MemberInfo, str | None]:
    """A fresh personal link for one member of a branch the actor manages; None for the link
    when the member has linked meanwhile."""
    async with db.write() as session:
        member = await session.get(Member, member_id)
        if member is None:
            raise NotAllowed(REFUSED)
        await require_manager(session, actor, member.org_id, key=REFUSED)
        info = member_info(member)
        unlinked = {m.id for m in await linking.unlinked_members(session, member.org_id)}
        if member.id not in unlinked:
            return info, None
        return info, await _link(session, actor, terms, InviteKind.MEMBER, info.org_id, info.id)


async def join_link(db: Database, actor: Actor, org_id: int, *, terms: Terms) -> str:
    """A fresh link anyone in the branch can use to ask to join (the managers confirm)."""
    async with db.write() as session:
        await require_manager(session, actor, org_id, key=REFUSED)
        return await _link(session, actor, terms, InviteKind.BRANCH, org_id, None)


async def roster(db: Database, actor: Actor, org_id: int) -> list[linking.RosterLine]:
    """The branch's members with their group and whether they are linked or blocked."""
    async with db.read() as session:
        await require_manager(session, actor, org_id, key=REFUSED)
        return await linking.roster_lines(session, org_id)
