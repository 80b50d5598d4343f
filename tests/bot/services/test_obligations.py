"""Occurrences of real orgs from the database: applicability, counting, settings, records."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.rules.calendar import DayRule, Occurrence, Status
from bot.rules.catalogue import DEFAULT_POLICY, Period
from bot.rules.clock import FrozenClock
from bot.rules.workdays import YearData
from bot.services.obligations import (
    ObligationError,
    add_custom,
    add_record,
    load_workdays,
    org_occurrences,
    set_enabled,
    set_period,
    set_theme_rule,
)
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.holidays import store_years
from bot.store.models import AuditEntry, Member, Org
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, workbook_bytes

D = date.fromisoformat
NOW = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
async def roster(db: Database, clock: FrozenClock) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    assert (
        await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    ).counts


async def occurrences(
    db: Database, code: str = "ZB", year: int = 2026, now: datetime = NOW
) -> list[Occurrence]:
    async with db.read() as session:
        org = await session.scalar(select(Org).where(Org.code == code))
        assert org is not None
        cal = await load_workdays(session)
        return await org_occurrences(session, org, year, now=now, cal=cal, policy=DEFAULT_POLICY)


def pick(
    occs: list[Occurrence], code: str, start: str | None = None, member: str | None = None
) -> Occurrence:
    return next(
        o for o in occs
        if o.obligation == code and (start is None or o.start == D(start)) and (member is None or o.member == member)
    )  # fmt: skip


async def ids(db: Database) -> dict[str, int]:
    async with db.read() as session:
        rows = await session.execute(select(Member.member_code, Member.id))
        orgs = await session.execute(select(Org.code, Org.id))
        return {c: i for c, i in rows if c} | {c: i for c, i in orgs}


async def test_what_a_small_branch_owes(db: Database, roster: None) -> None:
    occs = await occurrences(db)
    codes = {o.obligation for o in occs}
    assert {
        "general_meeting",
        "theme_day",
        "heart_talks",
        "thought_report",
        "group_meeting",
    } <= codes
    assert "ideology_study" not in codes  # a committee's, not a branch's
    # two 支委 members only: no 支委会 is owed
    assert {o.status for o in occs if o.obligation == "committee_meeting"} == {
        Status.NOT_APPLICABLE
    }
    # the 党小组 owes its own meetings
    assert {o.org for o in occs if o.obligation == "group_meeting"} == {"ZB/第一党小组"}
    # thought reports: one per quarter for the probationary member and the activist
    assert sorted({o.member for o in occs if o.obligation == "thought_report"}) == ["S004", "S005"]
    assert len([o for o in occs if o.obligation == "thought_report"]) == 8
    q1 = pick(occs, "general_meeting", "2026-01-01")
    assert q1.status is Status.MISSED  # 20 May is past the grace window of the first quarter
    q2 = pick(occs, "general_meeting", "2026-04-01")
    assert q2.status is Status.OPEN and q2.last_workday == D("2026-06-30")


async def test_committee_owes_its_own(db: Database, roster: None) -> None:
    occs = await occurrences(db, "DW")
    assert {o.obligation for o in occs} == {"ideology_study", "mass_org_report"}
    assert pick(occs, "ideology_study").required == 2


async def test_records_count_late_ones_and_one_record_fulfils_several(
    db: Database, roster: None
) -> None:
    i = await ids(db)
    async with db.write() as session:
        # a 组织生活会 held together with the democratic review (合并召开, 分别记录)
        await add_record(session, org_id=i["ZB"], kind="meeting_record", held_on=D("2026-03-20"),
                         codes=["general_meeting", "org_life_meeting", "democratic_review"],
                         filed_at=datetime(2026, 4, 2, tzinfo=UTC))  # fmt: skip
        await add_record(session, org_id=i["ZB"], kind="thought_report", held_on=D("2026-04-10"),
                         codes=["thought_report"], member_id=i["S005"], filed_at=NOW)  # fmt: skip
        await add_record(session, org_id=i["ZB/第一党小组"], kind="meeting_record", held_on=D("2026-05-08"),
                         codes=["group_meeting"], filed_at=NOW)  # fmt: skip
    occs = await occurrences(db)
    q1 = pick(occs, "general_meeting", "2026-01-01")
    assert (q1.status, q1.count, q1.late) == (Status.DONE, 1, 1)  # filed after the deadline: late
    assert pick(occs, "org_life_meeting").status is Status.DONE
    assert pick(occs, "democratic_review").status is Status.DONE
    assert pick(occs, "thought_report", "2026-04-01", member="S005").status is Status.DONE
    assert pick(occs, "thought_report", "2026-04-01", member="S004").status is Status.OPEN
    assert pick(occs, "group_meeting", "2026-05-01").status is Status.DONE
    assert pick(occs, "general_meeting", "2026-01-01").reminders == ()


async def test_heart_talk_coverage_from_records(db: Database, roster: None) -> None:
    i = await ids(db)
    occ = pick(await occurrences(db), "heart_talks")
    # 支委: 王书记, 李委员 (1 pair) + 3 other members
    assert (occ.count, occ.required) == (0, 4)
    async with db.write() as session:
        for a, b in (("S001", "S002"), ("S003", "S001"), ("S004", "S002")):
            await add_record(session, org_id=i["ZB"], kind="heart_talk", held_on=D("2026-05-01"),
                             codes=["heart_talks"], member_id=i[a], partner_id=i[b], filed_at=NOW)  # fmt: skip
    occ = pick(await occurrences(db), "heart_talks")
    assert (occ.count, occ.required, occ.status) == (3, 4, Status.OPEN)


async def test_settings_switch_off_change_period_custom_and_theme_day(
    db: Database, roster: None
) -> None:
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        with pytest.raises(ObligationError) as short:
            await set_enabled(
                session, org, "party_lecture", enabled=False, reason="x", now=NOW, by=1
            )
        assert short.value.key == "settings.reason_length"
        await set_enabled(
            session, org, "party_lecture", enabled=False, reason="与党员大会合并开展", now=NOW, by=1
        )
        await set_period(
            session, org, "theme_day", period=Period.QUARTER, min_count=2, now=NOW, by=1
        )
        code = await add_custom(session, org, title="保密教育", period=Period.ONCE, due_on=D("2026-06-15"),
                                min_count=1, attendance=False, now=NOW, by=1)  # fmt: skip
        await set_theme_rule(session, org, DayRule(day=15), now=NOW, by=1)
        with pytest.raises(ObligationError):
            await set_enabled(
                session, org, "ideology_study", enabled=False, reason="不适用本支部", now=NOW, by=1
            )
    occs = await occurrences(db)
    assert {o.status for o in occs if o.obligation == "party_lecture"} == {Status.NOT_APPLICABLE}
    theme = [o for o in occs if o.obligation == "theme_day"]
    assert len(theme) == 4 and {o.required for o in theme} == {2}
    custom = pick(occs, code)
    assert (custom.deadline, custom.status) == (D("2026-06-15"), Status.OPEN)
    async with db.read() as session:
        actions = list((await session.execute(select(AuditEntry.action))).scalars())
    assert actions.count("obligation.off") == 1 and "obligation.custom" in actions


async def test_theme_day_rule_plans_the_day(db: Database, roster: None) -> None:
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        await set_theme_rule(session, org, DayRule(nth=1, weekday=4), now=NOW, by=1)
    may = pick(await occurrences(db), "theme_day", "2026-05-01")
    assert may.planned_on == D("2026-05-06")  # 1 May, the first Friday, is Labour Day


async def test_imported_year_is_used(db: Database, roster: None) -> None:
    before = pick(await occurrences(db, year=2031, now=NOW), "general_meeting", "2031-07-01")
    assert before.last_workday == D("2031-09-30")
    async with db.write() as session:
        await store_years(session, [YearData(2031, frozenset({D("2031-09-29"), D("2031-09-30")}))],
                          source="test", now=NOW)  # fmt: skip
    after = pick(await occurrences(db, year=2031, now=NOW), "general_meeting", "2031-07-01")
    assert after.last_workday == D("2031-09-26")
