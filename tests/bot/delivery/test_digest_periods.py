"""The digest works out only the periods that can be overdue or due soon on its day (#15):
on every day of 2026 and January 2027 it finds exactly what working out the whole year
finds, holidays (Spring Festival, National Day) included."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.delivery.reminders import BranchDay, Directory, branch_days, day_of_orgs, planned_on
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
                session, [org], (date(2025, 1, 1), date(2027, 3, 31)), directory.persons([branch])
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


def said(d: BranchDay) -> tuple[object, ...]:
    """What a digest day says (the occurrences' statuses and counts; not their plans)."""
    items = [[(o.obligation, o.org, o.member, o.start, o.status, o.count, ob.code) for o, ob in found]
             for found in (d.overdue, d.soon)]  # fmt: skip
    return (d.org.id, d.day, d.workday, items, d.birthdays)


async def test_one_working_out_of_a_day_gives_what_the_reminders_and_the_digest_each_give(
    db: Database, clock: FrozenClock
) -> None:
    """The briefing works out each org's occurrences once for its day (``day_of_orgs``): on
    every day of 2026 it plans the same reminders, escalations and greetings as
    ``planned_on`` and finds the same digest as ``branch_days``, a branch with its own
    reminder days included."""
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    branch = await org_id(db, "ZB")
    async with db.write() as session:
        await add_record(
            session,
            org_id=branch,
            kind="meeting_record",
            held_on=date(2026, 3, 31),
            codes=["general_meeting", "party_lecture"],
            filed_at=datetime(2026, 4, 9, tzinfo=SH),
        )
        org = await session.get_one(Org, branch)
        org.reminder_rule = {"at": "14:00", "offsets": [3, 1, 0]}
    planned_seen = digest_seen = 0
    async with db.read() as session:
        cal = await load_workdays(session)
        directory = await Directory.load(session, "zh", frozenset({1}))
        branches = [o for o in directory.orgs.values() if o.kind == "branch"]
        day = date(2026, 1, 1)
        while day.year == 2026:
            now = datetime.combine(day, DEFAULT_POLICY.digest_at, tzinfo=SH)
            setting = {"now": now, "policy": DEFAULT_POLICY, "directory": directory, "cal": cal}
            planned, days = await day_of_orgs(session, day, **setting)  # type: ignore[arg-type]
            alone = await planned_on(session, day, **setting)  # type: ignore[arg-type]
            assert [p.as_json() | {"at": p.at} for p in planned] == [
                p.as_json() | {"at": p.at} for p in alone
            ], day
            digest = await branch_days(
                session,
                branches,
                {o.id: day for o in branches},
                **setting,  # type: ignore[arg-type]
            )
            assert [said(d) for d in days] == [said(d) for d in digest], day
            planned_seen += len(planned)
            digest_seen += sum(len(d.overdue) + len(d.soon) for d in days)
            day += timedelta(days=1)
    assert planned_seen > 100 and digest_seen > 1000  # not a comparison of empty lists
