"""The Mini App's views (issue #17): a member's own page, a branch's year and a committee's
branches. Made of the chat's own use-cases and checks (``require_manager``, ``require_admin``,
``assess``, ``view_of``, ``collections.progress``): nothing here decides a rule or a right
of its own."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import collections, meetings, todo
from bot.services.access import (
    Actor,
    Declined,
    OrgInfo,
    admin_roots,
    org_by_code,
    require_admin,
    require_manager,
)
from bot.services.assessment import Result, assess, branches_under
from bot.services.collections import Progress
from bot.services.meetings import MeetingInfo, info_of
from bot.services.obligations import BranchView, view_of
from bot.store.db import Database
from bot.store.models import Attendance, Meeting, Member, Org, OrgAdmin, OrgKind, TelegramLink


@dataclass(frozen=True)
class MeBoard:
    todo: todo.Todo | None  # None: not linked to a member (an admin only)
    meetings: list[MeetingInfo]  # scheduled meetings I am expected at
    answered: frozenset[int]  # of those, the ones I have already answered


async def me_board(db: Database, actor: Actor, *, now: datetime) -> MeBoard:
    """What /tasks and /due say to this person, and their meetings."""
    if actor.member is None:
        return MeBoard(None, [], frozenset())
    mine = await todo.of_member(db, actor, now=now)
    scheduled = await meetings.mine(db, actor)
    waiting = {m.id for m in mine.meetings.to_answer}
    return MeBoard(mine, scheduled, frozenset(m.id for m in scheduled if m.id not in waiting))


@dataclass(frozen=True)
class Signed:
    """One answer at a meeting: who, present or on leave, how, and who signed for them."""

    name: str
    status: str  # present | leave
    via: str  # button | code | proxy
    by: str | None  # the one who signed for them (代签), by name


@dataclass(frozen=True)
class HeldMeeting:
    meeting: MeetingInfo
    answers: list[Signed]


@dataclass(frozen=True)
class BranchBoard:
    org: OrgInfo
    year: int
    view: BranchView
    meetings: list[HeldMeeting]
    collections: list[Progress]
    assessment: Result | None


async def branch_board(
    db: Database, actor: Actor, code: str, year: int, *, now: datetime, tz: str
) -> BranchBoard:
    """A branch's year for those who manage it (its managers, the admins above it)."""
    async with db.read() as session:
        org = await org_by_code(session, code)
        if org is None or org.kind != OrgKind.BRANCH.value:
            raise Declined("export.no_such_org", code=code)
        await require_manager(session, actor, org.id)
        held = await _meetings_of(session, org.id, year)
        ids = await collections.recent_of_branch(session, org.id, now=now)
        asked = [await collections.progress(session, cid, tz) for cid in ids]
        results = await assess(session, year=year, roots=[org.id], now=now)
    view = await view_of(db, org.id, now=now, years=(year,))
    return BranchBoard(org, year, view, held, asked, results[0] if results else None)


async def _meetings_of(session: AsyncSession, org_id: int, year: int) -> list[HeldMeeting]:
    """The year's meetings of the branch and its 党小组 (not the cancelled), with answers."""
    groups = select(Org.id).where(Org.parent_id == org_id, Org.kind == OrgKind.GROUP.value)
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=1)
    found = (
        await session.execute(
            select(Meeting)
            .where(
                (Meeting.org_id == org_id) | Meeting.org_id.in_(groups),
                Meeting.status != "cancelled",
                Meeting.starts_at >= start,
                Meeting.starts_at < start + timedelta(days=368),
            )
            .order_by(Meeting.starts_at.desc(), Meeting.id)
        )
    ).scalars()
    infos = [info_of(m) for m in found]
    answers: dict[int, list[Signed]] = defaultdict(list)
    if infos:
        signer = await _signers(session, org_id)
        rows = await session.execute(
            select(
                Attendance.meeting_id,
                Member.name,
                Attendance.status,
                Attendance.via,
                Attendance.by_telegram_id,
            )
            .join(Member, Member.id == Attendance.member_id)
            .where(Attendance.meeting_id.in_([m.id for m in infos]))
            .order_by(Attendance.at, Attendance.id)
        )
        for meeting_id, name, status, via, by in rows:
            who = signer.get(by, str(by)) if via == "proxy" and by is not None else None
            answers[meeting_id].append(Signed(name, status, via, who))
    return [HeldMeeting(m, answers[m.id]) for m in infos]


async def _signers(session: AsyncSession, org_id: int) -> dict[int, str]:
    """Telegram id → name of those who may sign for others here: the branch's linked
    members, and committee admins by the name they were added with."""
    found = {
        tg: str(name)
        for tg, name in await session.execute(
            select(OrgAdmin.telegram_user_id, OrgAdmin.name).where(OrgAdmin.name.is_not(None))
        )
    }
    rows = await session.execute(
        select(TelegramLink.telegram_user_id, Member.name)
        .join(Member, Member.id == TelegramLink.member_id)
        .where(Member.org_id == org_id)
    )
    return found | {tg: name for tg, name in rows}


@dataclass(frozen=True)
class CommitteeRow:
    result: Result
    parent: str  # the committee the branch sits under, by name


async def committee_board(
    db: Database, actor: Actor, year: int, *, now: datetime
) -> list[CommitteeRow]:
    """Every branch an admin oversees with its year's assessment (as /assess ranks them)."""
    require_admin(actor)
    async with db.read() as session:
        results = await assess(session, year=year, roots=admin_roots(actor), now=now)
        branches = {b.code: b for b in await branches_under(session, admin_roots(actor))}
        names = {i: n for i, n in await session.execute(select(Org.id, Org.name))}
    return [CommitteeRow(r, names.get(branches[r.org].parent_id or 0, "")) for r in results]
