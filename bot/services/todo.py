"""/tasks and /start: what a member still has to do, read in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.rules.catalogue import DEFAULT_POLICY
from bot.services import collections, meetings, reports
from bot.services.access import Actor, NotAllowed
from bot.services.obligations import BranchView, branch_view
from bot.store.db import Database


@dataclass(frozen=True)
class Todo:
    meetings: meetings.MemberTasks  # meetings to answer, 补学 owed
    view: BranchView | None  # the branch's occurrences (my thought reports among them)
    asked: list[collections.Open]  # collections waiting for my reply
    recent: list[reports.Recent]  # what I filed lately and may still edit or withdraw


async def of_member(db: Database, actor: Actor, *, now: datetime) -> Todo:
    if actor.member is None or actor.branch is None:
        raise NotAllowed("calendar.unlinked")
    async with db.read() as session:
        return Todo(
            await meetings.tasks_of(session, actor.member.id, now=now),
            await branch_view(session, actor.branch.id, now=now, policy=DEFAULT_POLICY),
            await collections.open_for(session, actor.member.id, now=now),
            await reports.recent_of(session, actor.telegram_id, now=now),
        )
