"""The branch calendar as an iCalendar file (RFC 5545, SPEC §9): meetings as events and
deadlines as all-day events, with UIDs that stay the same from one export to the next and
differ between deployments; a member's file holds only what they take part in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n.texts import Lang, period_label, t
from bot.rules.catalogue import DEFAULT_POLICY
from bot.services.access import Actor, Declined, OrgInfo
from bot.services.obligations import load_workdays, obligation_name, org_occurrences
from bot.store.db import Database
from bot.store.models import COMMITTEE_ROLES, Instance, Meeting, Org, OrgKind

MEETING_LENGTH = timedelta(hours=2)
DOMAIN = "zhibu"
MEETING_ALARMS = (timedelta(days=1), timedelta(hours=1))  # before the start
DEADLINE_ALARM = timedelta(hours=15)  # before the all-day deadline: 09:00 the day before


@dataclass(frozen=True)
class Reader:
    """Whose file it is: only what they take part in — meetings they are expected at, their
    own items, and (managers) the branch's deadlines."""

    key: str  # member_code or name, as occurrences name members
    role: str
    group_id: int | None
    manager: bool


def _uid(domain: str, *parts: object) -> str:
    return "-".join(str(p) for p in parts if p is not None) + f"@{domain}"


def _alarm(before: timedelta, text: str) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", text)
    alarm.add("trigger", -before)
    return alarm


def _expects(reader: Reader | None, meeting: Meeting, org_kind: str) -> bool:
    """As meetings.expects decides it: a 党小组's meeting its members, 支委会 the 支委."""
    if reader is None:
        return True
    if org_kind == OrgKind.GROUP.value and reader.group_id != meeting.org_id:
        return False
    return meeting.obligation != "committee_meeting" or reader.role in COMMITTEE_ROLES


async def export(
    session: AsyncSession,
    org_id: int,
    *,
    now: datetime,
    lang: Lang = "zh",
    reader: Reader | None = None,
    years: tuple[int, ...] | None = None,
) -> bytes:
    """This branch's meetings and deadlines (the operator's file: all of them), or what
    ``reader`` takes part in; alarms a day and an hour before meetings, the day before a
    deadline; UIDs scoped by this deployment's id."""
    org = await session.get_one(Org, org_id)
    domain = f"{await session.scalar(select(Instance.uid).where(Instance.id == 1))}.{DOMAIN}"
    cal = Calendar()
    cal.add("prodid", "-//zhibu//branch calendar//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", t(lang, "ics.name", org=org.name))
    kinds = dict(
        (
            await session.execute(
                select(Org.id, Org.kind).where(
                    (Org.id == org.id)
                    | ((Org.parent_id == org.id) & (Org.kind == OrgKind.GROUP.value))
                )
            )
        ).all()
    )
    rows = await session.execute(
        select(Meeting)
        .where(Meeting.org_id.in_(list(kinds)), Meeting.status != "cancelled")
        .order_by(Meeting.starts_at)
    )
    for m in rows.scalars():
        if not _expects(reader, m, kinds[m.org_id]):
            continue
        event = Event()
        event.add("uid", _uid(domain, "meeting", m.id))
        event.add("dtstamp", m.created_at)
        event.add("dtstart", m.starts_at)
        event.add("dtend", m.starts_at + MEETING_LENGTH)
        title = obligation_name(m.obligation, lang)
        summary = t(lang, "ics.meeting", name=title, topic=m.topic) if m.topic else title
        event.add("summary", summary)
        event.add("location", m.place)
        for before in MEETING_ALARMS:
            event.add_component(_alarm(before, summary))
        cal.add_component(event)
    workdays = await load_workdays(session)
    year = now.year
    for y in years or (year, year + 1):
        for occ in await org_occurrences(
            session, org, y, now=now, cal=workdays, policy=DEFAULT_POLICY
        ):
            if occ.end.year != y or occ.status.value in ("not_applicable", "not_tracked"):
                continue
            if (
                reader is not None
                and occ.member != reader.key
                and not (occ.member is None and reader.manager)
            ):
                continue  # another member's item, or the branch's (its managers' business)
            event = Event()
            event.add(
                "uid",
                _uid(domain, "due", occ.obligation, occ.org, occ.member, occ.start.isoformat()),
            )
            event.add("dtstamp", datetime(occ.start.year, occ.start.month, occ.start.day))
            event.add("dtstart", occ.last_workday)
            event.add("dtend", occ.last_workday + timedelta(days=1))
            due = t(lang, "ics.due", name=obligation_name(occ.obligation, lang))
            event.add("summary", due)
            event.add_component(_alarm(DEADLINE_ALARM, due))
            event.add(
                "description",
                t(
                    lang,
                    "ics.period",
                    period=period_label(lang, occ.start, occ.end),
                    required=occ.required,
                ),
            )
            cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


async def of_member(db: Database, actor: Actor, *, now: datetime) -> tuple[OrgInfo, bytes]:
    """/ics: a linked member's branch calendar with their own items."""
    if actor.member is None or actor.branch is None:
        raise Declined("calendar.unlinked")
    m = actor.member
    reader = Reader(m.member_code or m.name, m.role, m.group_id, actor.is_manager)
    async with db.read() as session:
        data = await export(session, actor.branch.id, now=now, lang=actor.lang, reader=reader)
    return actor.branch, data
