"""Periods, statuses, day rules and the reminder plan, against the real 2026 calendar."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules.calendar import (
    DayRule,
    Status,
    birthday_in,
    build_occurrence,
    heart_talk_coverage,
    parse_day_rule,
    period_containing,
    periods_of_year,
    planned_day,
)
from bot.rules.catalogue import BY_CODE, CATALOGUE, DEFAULT_POLICY, Period, ReminderPolicy
from bot.rules.workdays import WorkdayCalendar

D = date.fromisoformat
TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkdayCalendar()


def occ(
    code: str, start: str, end: str, *, today: str = "2026-01-01", count: int = 0, **kw: object
):  # type: ignore[no-untyped-def]
    ob = BY_CODE[code]
    return build_occurrence(
        ob, org="ZB", member=None, start=D(start), end=D(end), required=ob.min_count, count=count,
        late=0, applicable=True, today=D(today), tz=TZ, cal=CAL, policy=DEFAULT_POLICY, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_periods() -> None:
    assert period_containing(Period.QUARTER, D("2026-08-15")) == (D("2026-07-01"), D("2026-09-30"))
    assert period_containing(Period.HALF, D("2026-08-15")) == (D("2026-07-01"), D("2026-12-31"))
    assert period_containing(Period.MONTH, D("2028-02-10")) == (D("2028-02-01"), D("2028-02-29"))
    assert len(periods_of_year(Period.MONTH, 2026)) == 12
    assert periods_of_year(Period.YEAR, 2026) == [(D("2026-01-01"), D("2026-12-31"))]


def test_february_2026_last_workday_is_the_make_up_saturday() -> None:
    o = occ("theme_day", "2026-02-01", "2026-02-28")
    assert o.deadline == D("2026-02-28") and o.last_workday == D("2026-02-28")
    local = [r.astimezone(TZ) for r in o.reminders]
    # 10, 5, 2 and 0 workdays before 28 Feb, across the Spring Festival holiday
    assert [r.date() for r in local] == [
        D("2026-02-09"),
        D("2026-02-14"),
        D("2026-02-26"),
        D("2026-02-28"),
    ]
    assert all(r.time() == time(9, 0) for r in local)
    assert o.reminders[0].isoformat() == "2026-02-09T09:00:00+08:00"


def test_third_quarter_deadline_followed_by_national_day() -> None:
    o = occ("general_meeting", "2026-07-01", "2026-09-30", today="2026-10-09")
    assert o.last_workday == D("2026-09-30")
    assert o.status is Status.OVERDUE
    # escalations: 1st and 3rd workday after the deadline, past the week-long holiday
    assert [e.date() for e in o.escalations] == [D("2026-10-08"), D("2026-10-10")]
    # workdays after 30 Sep: 8, 9, 10 (a make-up Saturday), 12–16, 19, 20 Oct: the 10th is 20 Oct
    grace_over = occ("general_meeting", "2026-07-01", "2026-09-30", today="2026-10-20")
    assert grace_over.status is Status.OVERDUE
    assert (
        occ("general_meeting", "2026-07-01", "2026-09-30", today="2026-10-21").status
        is Status.MISSED
    )


def test_january_2026_ends_on_a_saturday_so_the_last_workday_is_friday() -> None:
    o = occ("committee_meeting", "2026-01-01", "2026-01-31")
    assert o.last_workday == D("2026-01-30")


def test_statuses() -> None:
    assert (
        occ("general_meeting", "2026-04-01", "2026-06-30", today="2026-05-01").status is Status.OPEN
    )
    done = occ("general_meeting", "2026-04-01", "2026-06-30", today="2026-05-01", count=1)
    assert done.status is Status.DONE and done.reminders == () and done.escalations == ()
    ob = BY_CODE["general_meeting"]
    off = build_occurrence(
        ob, org="ZB", member=None, start=D("2026-04-01"), end=D("2026-06-30"), required=1, count=0,
        late=0, applicable=False, today=D("2026-05-01"), tz=TZ, cal=CAL, policy=DEFAULT_POLICY,
    )  # fmt: skip
    assert off.status is Status.NOT_APPLICABLE and off.reminders == ()


def test_org_life_meeting_reminders_start_in_october() -> None:
    o = occ("org_life_meeting", "2026-01-01", "2026-12-31")
    assert o.last_workday == D("2026-12-31")
    assert all(r.date() >= D("2026-10-01") for r in o.reminders)
    assert len(o.reminders) == 4


def test_theme_day_rule_moves_to_the_next_workday() -> None:
    rule = DayRule(day=15)
    # 15 Feb 2026 is the first day of the Spring Festival holiday: 顺延 to 24 Feb
    assert planned_day(rule, D("2026-02-01"), D("2026-02-28"), CAL) == D("2026-02-24")
    first_friday = DayRule(nth=1, weekday=4)
    assert planned_day(first_friday, D("2026-05-01"), D("2026-05-31"), CAL) == D("2026-05-06")
    o = occ("theme_day", "2026-03-01", "2026-03-31", rule=rule)
    assert o.planned_on == D("2026-03-16")  # 15 March is a Sunday
    assert o.reminders[-1].date() == D("2026-03-16") and o.deadline == D("2026-03-31")
    # a rule day past the month's last workday stays inside the month
    assert planned_day(DayRule(day=31), D("2026-01-01"), D("2026-01-31"), CAL) == D("2026-01-30")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("15", DayRule(day=15)), ("每月15日", DayRule(day=15)), ("１５号", DayRule(day=15)),
        ("第一个周五", DayRule(nth=1, weekday=4)), ("最后一个星期五", DayRule(nth=-1, weekday=4)),
        ("第2个周一", DayRule(nth=2, weekday=0)), ("first friday", DayRule(nth=1, weekday=4)),
        ("last Monday", DayRule(nth=-1, weekday=0)), ("32", None), ("0", None), ("周五", None),
        ("sometime", None), ("", None),
    ],
)  # fmt: skip
def test_parse_day_rule(text: str, rule: DayRule | None) -> None:
    assert parse_day_rule(text) == rule
    if rule is not None:
        assert DayRule.decode(rule.encode()) == rule
        assert rule.describe("zh") and rule.describe("en")


def test_heart_talk_coverage() -> None:
    committee, others = [1, 2, 3], [4, 5]
    assert heart_talk_coverage(committee, others, []) == (0, 5)
    talks = [(1, 2), (2, 3), (3, 1), (4, 1), (5, 4)]
    assert heart_talk_coverage(committee, others, talks) == (4, 5)  # 5 only talked to 4
    assert heart_talk_coverage(committee, others, [*talks, (2, 5), (2, 5)]) == (5, 5)


def test_birthdays() -> None:
    assert birthday_in(D("2004-02-29"), 2026) == D("2026-02-28")
    assert birthday_in(D("2004-02-29"), 2028) == D("2028-02-29")
    assert birthday_in(D("1999-07-01"), 2026) == D("2026-07-01")


def test_reminders_at_quiet_hours_move_to_their_end_on_a_workday() -> None:
    late = ReminderPolicy(at=time(23, 0))
    ob = BY_CODE["theme_day"]
    o = build_occurrence(
        ob, org="ZB", member=None, start=D("2026-09-01"), end=D("2026-09-30"), required=1, count=0,
        late=0, applicable=True, today=D("2026-09-01"), tz=TZ, cal=CAL, policy=late,
    )  # fmt: skip
    assert all(r.time() == time(8, 0) and CAL.is_workday(r.date()) for r in o.reminders)


# ---------------------------------------------------------------- properties

PERIODIC = [o for o in CATALOGUE if o.period is not Period.ONCE]
policies = st.builds(
    ReminderPolicy,
    at=st.times(),
    offsets=st.lists(st.integers(0, 20), min_size=1, max_size=5).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(PERIODIC),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 6, 30)),
    policies,
)
def test_plan_properties(ob, day, today, policy) -> None:  # type: ignore[no-untyped-def]
    start, end = period_containing(ob.period, day)
    o = build_occurrence(
        ob, org="ZB", member=None, start=start, end=end, required=1, count=0, late=0,
        applicable=True, today=today, tz=TZ, cal=CAL, policy=policy,
    )  # fmt: skip
    assert CAL.is_workday(o.last_workday) and o.last_workday <= o.deadline
    moments = [*o.reminders, *o.escalations]
    assert moments == sorted(moments)
    assert all(not policy.in_quiet_hours(m.timetz().replace(tzinfo=None)) for m in moments)
    assert all(CAL.is_workday(m.date()) for m in moments)
    if o.reminders and o.escalations:
        assert max(o.reminders) < min(o.escalations)
    assert all(r.date() >= start for r in o.reminders)


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_the_order_of_computation(rnd: random.Random) -> None:
    jobs = [(ob, s, e) for ob in PERIODIC for s, e in periods_of_year(ob.period, 2026)]

    def compute(
        order: list[tuple[object, date, date]],
    ) -> dict[tuple[str, date], tuple[datetime, ...]]:
        cal = WorkdayCalendar()
        out = {}
        for ob, s, e in order:
            o = build_occurrence(
                ob, org="ZB", member=None, start=s, end=e, required=1, count=0, late=0,  # type: ignore[arg-type]
                applicable=True, today=D("2026-01-01"), tz=TZ, cal=cal, policy=DEFAULT_POLICY,
            )  # fmt: skip
            out[(o.obligation, s)] = o.reminders + o.escalations
        return out

    shuffled = list(jobs)
    rnd.shuffle(shuffled)
    assert compute(jobs) == compute(shuffled)


def _coverage_by_definition(
    committee: list[int], others: list[int], talks: list[tuple[int, int]]
) -> tuple[int, int]:
    """Every 支委 pair that talked, and every other member who talked with a 支委 member."""
    members = set(committee)
    rest = set(others) - members
    talked = {frozenset(t) for t in talks if t[0] != t[1]}
    pairs = {frozenset(p) for p in itertools.combinations(sorted(members), 2)}
    covered = len(pairs & talked)
    covered += sum(1 for m in rest if any(frozenset((m, c)) in talked for c in members))
    return covered, len(pairs) + len(rest)


@given(
    st.lists(st.integers(1, 12), max_size=7),
    st.lists(st.integers(1, 30), max_size=30),
    st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30)), max_size=40),
)
def test_heart_talk_coverage_counts_as_defined(
    committee: list[int], others: list[int], talks: list[tuple[int, int]]
) -> None:
    assert heart_talk_coverage(committee, others, talks) == _coverage_by_definition(
        committee, others, talks
    )
