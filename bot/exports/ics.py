"""The branch calendar as an iCalendar file (RFC 5545, SPEC §9): meetings as events and
deadlines as all-day events, with UIDs that stay the same from one export to the next."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n.texts import Lang, period_label, t
from bot.rules.catalogue import DEFAULT_POLICY
from bot.services.access import Actor, Declined, OrgInfo
from bot.services.obligations import load_workdays, obligation_name, org_occurrences
from bot.store.db import Database
from bot.store.models import Meeting, Org, OrgKind

MEETING_LENGTH = timedelta(hours=2)
DOMAIN = "zhibu"


def _uid(*parts: object) -> str:
    return "-".join(str(p) for p in parts if p is not None) + f"@{DOMAIN}"


async def export(
    session: AsyncSession,
    org_id: int,
    *,
    now: datetime,
    lang: Lang = "zh",
    member: str | None = None,
    years: tuple[int, ...] | None = None,
) -> bytes:
    """This branch's meetings and deadlines; ``member`` (a member key) adds their own items
    (thought reports) and leaves out other members'."""
    org = await session.get_one(Org, org_id)
    cal = Calendar()
    cal.add("prodid", "-//zhibu//branch calendar//ZH")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", t(lang, "ics.name", org=org.name))
    groups = (
        await session.execute(
            select(Org.id).where(Org.parent_id == org.id, Org.kind == OrgKind.GROUP.value)
        )
    ).scalars()
    rows = await session.execute(
        select(Meeting)
        .where(Meeting.org_id.in_([org.id, *groups]), Meeting.status != "cancelled")
        .order_by(Meeting.starts_at)
    )
    for m in rows.scalars():
        event = Event()
        event.add("uid", _uid("meeting", m.id))
        event.add("dtstamp", m.created_at)
        event.add("dtstart", m.starts_at)
        event.add("dtend", m.starts_at + MEETING_LENGTH)
        title = obligation_name(m.obligation, lang)
        event.add(
            "summary", t(lang, "ics.meeting", name=title, topic=m.topic) if m.topic else title
        )
        event.add("location", m.place)
        cal.add_component(event)
    workdays = await load_workdays(session)
    year = now.year
    for y in years or (year, year + 1):
        for occ in await org_occurrences(
            session, org, y, now=now, cal=workdays, policy=DEFAULT_POLICY
        ):
            if occ.end.year != y or occ.status.value == "not_applicable":
                continue
            if occ.member is not None and occ.member != member:
                continue
            event = Event()
            event.add(
                "uid", _uid("due", occ.obligation, occ.org, occ.member, occ.start.isoformat())
            )
            event.add("dtstamp", datetime(occ.start.year, occ.start.month, occ.start.day))
            event.add("dtstart", occ.last_workday)
            event.add("dtend", occ.last_workday + timedelta(days=1))
            event.add("summary", t(lang, "ics.due", name=obligation_name(occ.obligation, lang)))
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
    async with db.read() as session:
        data = await export(
            session,
            actor.branch.id,
            now=now,
            lang=actor.lang,
            member=actor.member.member_code or actor.member.name,
        )
    return actor.branch, data
