"""/tasks and /start: what a member still has to do, read in one go."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.catalogue import DEFAULT_POLICY
from bot.services import collections, linking, meetings, reports
from bot.services.access import Actor, NotAllowed, manages_branch
from bot.services.obligations import RECORD_WORKDAYS, BranchView, branch_view, load_workdays
from bot.store.db import Database
from bot.store.models import Org


@dataclass(frozen=True)
class RecordToFile:
    """A meeting whose record a manager still has to file (SPEC §6)."""

    held: reports.HeldMeeting
    due: date  # the record's last day
    makeup: bool  # check-in is over: 补签 is possible until the record is filed


@dataclass(frozen=True)
class Todo:
    meetings: meetings.MemberTasks  # meetings to answer, 补学 owed
    view: BranchView | None  # the branch's occurrences (my thought reports among them)
    asked: list[collections.Open]  # collections waiting for my reply
    recent: list[reports.Recent]  # what I filed lately and may still edit or withdraw
    to_record: list[RecordToFile]  # managers: records of held meetings still to file
    joins: list[linking.PendingJoin] = field(default_factory=list)  # managers: to decide
    unlinked: int = 0  # managers: members of the branch not linked to Telegram yet


async def of_member(db: Database, actor: Actor, *, now: datetime) -> Todo:
    if actor.member is None or actor.branch is None:
        raise NotAllowed("calendar.unlinked")
    branch = actor.branch.id
    async with db.read() as session:
        manages = await manages_branch(session, actor, branch)
        return Todo(
            await meetings.tasks_of(session, actor.member.id, now=now),
            await branch_view(session, branch, now=now, policy=DEFAULT_POLICY),
            await collections.open_for(session, actor.member.id, now=now),
            await reports.recent_of(session, actor.telegram_id, now=now),
            await records_to_file(session, actor, branch, now=now),
            await linking.pending_joins(session, branch) if manages else [],
            len(await linking.unlinked_members(session, branch)) if manages else 0,
        )


async def records_to_file(
    session: AsyncSession, actor: Actor, branch_id: int, *, now: datetime
) -> list[RecordToFile]:
    """For a manager of the branch: its held meetings whose record is not filed yet."""
    if not await manages_branch(session, actor, branch_id):
        return []
    held = await reports.meetings_to_file(session, branch_id, now=now)
    if not held:
        return []
    cal = await load_workdays(session)
    tz = ZoneInfo((await session.get_one(Org, branch_id)).timezone)
    return [
        RecordToFile(
            h, cal.shift(h.starts_at.astimezone(tz).date(), RECORD_WORKDAYS), not h.still_on
        )
        for h in reversed(held)
    ]
