"""The digest works out only the periods that can be overdue or due soon on its day (#15):
on every day of 2026 and January 2027 it finds exactly what working out the whole year
finds, holidays (Spring Festival, National Day) included."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.delivery.reminders import Directory
from bot.rules.calendar import Occurrence, Status
from bot.rules.catalogue import DEFAULT_POLICY
from bot.rules.clock import FrozenClock
from bot.services.obligations import (
    GRACE_AFTER_DAYS,
    Effective,
    add_record,
    compute_occurrences,
    load_facts,
    load_workdays,
    periods_near,
    periods_of,
)
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Org
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, org_id, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")


def digest_view(occs: list[Occurrence], day: date, horizon: date) -> list[tuple[object, ...]]:
    return sorted(
        (o.obligation, o.org, o.member, o.start, o.status.value, o.count)
        for o in occs
        if o.status is Status.OVERDUE
        or (o.status is Status.OPEN and o.last_workday <= horizon and o.start <= day)
    )


async def test_near_periods_find_what_the_whole_year_finds(
    db: Database, clock: FrozenClock
) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    branch = await org_id(db, "ZB")
    async with db.write() as session:  # some done, some late, most not: every status occurs
        for held, codes in (
            (date(2026, 1, 20), ["committee_meeting", "theme_day"]),
            (date(2026, 3, 31), ["general_meeting", "party_lecture"]),
            (date(2026, 5, 6), ["committee_meeting"]),
            (date(2026, 10, 9), ["committee_meeting", "theme_day"]),
        ):
            await add_record(
                session,
                org_id=branch,
                kind="meeting_record",
                held_on=held,
                codes=codes,
                filed_at=datetime.combine(held, datetime.min.time(), tzinfo=SH),
            )
    async with db.read() as session:
        cal = await load_workdays(session)
        directory = await Directory.load(session, "zh", frozenset())
        org = await session.scalar(select(Org).where(Org.id == branch))
        assert org is not None
        facts = (
            await load_facts(
                session, [org], (date(2025, 1, 1), date(2027, 3, 31)), directory.persons()
            )
        )[branch]
    day, checked, found = date(2026, 1, 1), 0, 0
    while day <= date(2027, 1, 31):
        now = datetime.combine(day, DEFAULT_POLICY.digest_at, tzinfo=SH)

        def this_year(eff: Effective, day: date = day) -> list[tuple[date, date]]:
            periods = periods_of(eff, day.year)
            if day.month == 1:
                periods = [*periods_of(eff, day.year - 1), *periods]
            return periods

        horizon = cal.shift(day, DEFAULT_POLICY.digest_horizon_workdays)
        whole = compute_occurrences(
            facts, this_year, now=now, cal=cal, policy=DEFAULT_POLICY, plans=False
        )
        near = compute_occurrences(
            facts,
            periods_near(day, GRACE_AFTER_DAYS),
            now=now,
            cal=cal,
            policy=DEFAULT_POLICY,
            plans=False,
        )
        expected = digest_view(whole, day, horizon)
        assert digest_view(near, day, horizon) == expected, day
        checked, found = checked + 1, found + len(expected)
        day += timedelta(days=1)
    assert checked == 396 and found > 1000  # not a comparison of empty lists
