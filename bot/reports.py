"""Short reports filed in chat (SPEC §7): 学习心得, 思想汇报, 工作汇报."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.models import MANAGER_ROLES, NON_FULL_ROLES, MakeupTask, Member, Role
from bot.obligations import add_record


@dataclass(frozen=True)
class ReportKind:
    code: str
    low: int
    high: int
    obligations: tuple[str, ...]  # what a report of this kind counts toward


KINDS: dict[str, ReportKind] = {
    "study_note": ReportKind("study_note", 50, 2000, ("study_note",)),
    "thought_report": ReportKind("thought_report", 100, 4000, ("thought_report",)),
    "work_report": ReportKind("work_report", 20, 4000, ("work_report",)),
}


class ReportError(ValueError):
    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def kinds_for(role: str) -> list[str]:
    """The kinds a member may file: study notes anyone; thought reports those on the path to
    membership; work reports the branch managers."""
    found = ["study_note"]
    if Role(role) in NON_FULL_ROLES:
        found.append("thought_report")
    if Role(role) in MANAGER_ROLES:
        found.append("work_report")
    return found


def check_text(kind: str, text: str) -> str:
    spec = KINDS[kind]
    value = text.strip()
    if not spec.low <= len(value) <= spec.high:
        raise ReportError("report.length", low=spec.low, high=spec.high, count=len(value))
    return value


@dataclass(frozen=True)
class Saved:
    record_id: int
    makeup_closed: bool


async def file_report(
    session: AsyncSession,
    member_id: int,
    kind: str,
    text: str,
    *,
    today: date,
    now: datetime,
    by: int,
) -> Saved:
    """Save a report for its author; it counts toward what its kind fulfils, dated today.
    A study note also settles the author's oldest open 补学 task."""
    member = await session.get_one(Member, member_id)
    if kind not in kinds_for(member.role):
        raise ReportError("report.not_allowed")
    value = check_text(kind, text)
    record_id = await add_record(
        session,
        org_id=member.org_id,
        kind=kind,
        held_on=today,
        codes=list(KINDS[kind].obligations),
        filed_at=now,
        filed_by=by,
        member_id=member.id,
        summary=value,
    )
    closed = False
    if kind == "study_note":
        task = await session.scalar(
            select(MakeupTask)
            .where(MakeupTask.member_id == member.id, MakeupTask.done_at.is_(None))
            .order_by(MakeupTask.due_on)
        )
        if task is not None:
            task.done_at, closed = now, True
    await audit.record(
        session,
        at=now,
        action=f"report.{kind}",
        actor_telegram_id=by,
        actor_member_id=member.id,
        org_id=member.org_id,
        detail={"record": record_id, "makeup": closed},
    )
    return Saved(record_id, closed)
