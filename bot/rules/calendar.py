"""Occurrences, statuses and the reminder plan (SPEC §4). Pure date logic, no I/O."""

from __future__ import annotations

import calendar as _stdlib_calendar
import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from bot.i18n.texts import Lang, t, weekday_name
from bot.rules.catalogue import Obligation, Period, ReminderPolicy
from bot.rules.workdays import WorkdayCalendar


class Status(enum.StrEnum):
    DONE = "done"
    OPEN = "open"
    OVERDUE = "overdue"
    MISSED = "missed"
    NOT_APPLICABLE = "not_applicable"
    NOT_TRACKED = "not_tracked"  # its deadline came before the bot kept this org's calendar


# ---------------------------------------------------------------- periods


def _month_end(year: int, month: int) -> date:
    return date(year, month, _stdlib_calendar.monthrange(year, month)[1])


def period_containing(period: Period, day: date) -> tuple[date, date]:
    """The period of this kind that holds ``day`` (start and end, both inclusive)."""
    if period is Period.MONTH:
        return day.replace(day=1), _month_end(day.year, day.month)
    if period is Period.QUARTER:
        first = 3 * ((day.month - 1) // 3) + 1
        return date(day.year, first, 1), _month_end(day.year, first + 2)
    if period is Period.HALF:
        first = 1 if day.month <= 6 else 7
        return date(day.year, first, 1), _month_end(day.year, first + 5)
    if period is Period.YEAR:
        return date(day.year, 1, 1), date(day.year, 12, 31)
    raise ValueError("a one-off obligation has no repeating period")


@cache
def periods_of_year(period: Period, year: int) -> list[tuple[date, date]]:
    months = {Period.MONTH: 1, Period.QUARTER: 3, Period.HALF: 6, Period.YEAR: 12}[period]
    return [period_containing(period, date(year, m, 1)) for m in range(1, 13, months)]


# ---------------------------------------------------------------- day rules (主题党日)

WEEKDAYS_ZH = "一二三四五六日"
WEEKDAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ORDINALS_ZH = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4, "最后一": -1}
ORDINALS_EN = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


@dataclass(frozen=True)
class DayRule:
    """``day`` of every month, or the ``nth`` (1–4, or -1 for last) ``weekday`` (0 = Monday)."""

    day: int | None = None
    nth: int | None = None
    weekday: int | None = None

    def encode(self) -> str:
        if self.day is not None:
            return f"day:{self.day}"
        return f"weekday:{self.nth}:{self.weekday}"

    @classmethod
    def decode(cls, text: str) -> DayRule:
        parts = text.split(":")
        if parts[0] == "day" and len(parts) == 2:
            return cls(day=int(parts[1]))
        if parts[0] == "weekday" and len(parts) == 3:
            return cls(nth=int(parts[1]), weekday=int(parts[2]))
        raise ValueError(f"bad day rule {text!r}")

    def date_in(self, year: int, month: int) -> date:
        """The rule's day in that month, before any move to a workday."""
        last = _month_end(year, month)
        if self.day is not None:
            return last.replace(day=min(self.day, last.day))
        assert self.nth is not None and self.weekday is not None
        if self.nth == -1:
            back = (last.weekday() - self.weekday) % 7
            return last - timedelta(days=back)
        first = date(year, month, 1)
        ahead = (self.weekday - first.weekday()) % 7
        return first + timedelta(days=ahead + 7 * (self.nth - 1))

    def describe(self, lang: Lang) -> str:
        if self.day is not None:
            return t(lang, "rule.day", day=self.day)
        assert self.nth is not None and self.weekday is not None
        weekday = weekday_name(lang, self.weekday)
        if self.nth == -1:
            return t(lang, "rule.last", weekday=weekday)
        return t(
            lang, "rule.nth", nth=t(lang, "rule.ordinals").split(",")[self.nth - 1], weekday=weekday
        )


_DAY_RE = re.compile(r"^(?:每月)?(\d{1,2})(?:日|号)?$")
_NTH_ZH_RE = re.compile(
    r"^(?:每月)?(?:第)?(一|二|三|四|1|2|3|4|最后一)个?(?:周|星期|礼拜)([一二三四五六日天])$"
)
_NTH_EN_RE = re.compile(
    r"^(?:the\s+)?(first|second|third|fourth|last)\s+([a-z]+?)s?(?:\s+of every month)?$"
)


def parse_day_rule(text: str) -> DayRule | None:
    """What a manager types: ``15``, ``15日``, ``第一个周五``, ``最后一个周五``, ``first friday``."""
    value = unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "") or ""
    match = _DAY_RE.match(value)
    if match:
        day = int(match[1])
        return DayRule(day=day) if 1 <= day <= 31 else None
    match = _NTH_ZH_RE.match(value)
    if match:
        weekday = WEEKDAYS_ZH.index(match[2]) if match[2] != "天" else 6
        return DayRule(nth=ORDINALS_ZH[match[1]], weekday=weekday)
    match = _NTH_EN_RE.match(unicodedata.normalize("NFKC", text).strip().lower())
    if match:
        names = [w for w in WEEKDAYS_EN if w.startswith(match[2][:3])]
        if len(names) == 1 and len(match[2]) >= 3:
            return DayRule(nth=ORDINALS_EN[match[1]], weekday=WEEKDAYS_EN.index(names[0]))
    return None


def planned_day(rule: DayRule, start: date, end: date, cal: WorkdayCalendar) -> date:
    """The rule's day in the month starting at ``start``, moved to the next workday (顺延)."""
    day = cal.on_or_after(rule.date_in(start.year, start.month))
    return day if day <= end else cal.on_or_before(end)


# ---------------------------------------------------------------- occurrences


@dataclass(unsafe_hash=True, slots=True)
class Occurrence:
    """One period of one obligation for an org (or a 党小组, or a member), with its status.

    Treated as immutable (``dataclasses.replace`` makes a changed copy) but not declared
    ``frozen``: a frozen dataclass sets each field through ``object.__setattr__``, 6 µs an
    occurrence here, and the assessment of 10,000 branches makes 460,000 of them. Hashing and
    equality are by value, as a frozen one's."""

    obligation: str
    org: str
    member: str | None
    start: date
    end: date
    deadline: date
    last_workday: date
    status: Status
    required: int
    count: int
    late: int
    planned_on: date | None
    reminders: tuple[datetime, ...]
    escalations: tuple[datetime, ...]
    to_file: date | None = None  # a meeting was held; its record is due by this day

    def as_json(self) -> dict[str, object]:
        """The keys of SPEC §9 for ``zhibu calendar --json``."""
        return {
            "obligation": self.obligation,
            "org": self.org,
            "member": self.member,
            "period_start": self.start.isoformat(),
            "period_end": self.end.isoformat(),
            "deadline": self.deadline.isoformat(),
            "last_workday": self.last_workday.isoformat(),
            "status": self.status.value,
            "required": self.required,
            "count": self.count,
            "reminders": [r.isoformat() for r in self.reminders],
            "escalations": [e.isoformat() for e in self.escalations],
        }


def status_of(
    *, applicable: bool, required: int, count: int, today: date, deadline: date, grace_end: date
) -> Status:
    if not applicable:
        return Status.NOT_APPLICABLE
    if count >= required:
        return Status.DONE
    if today <= deadline:
        return Status.OPEN
    if today <= grace_end:
        return Status.OVERDUE
    return Status.MISSED


def at_local(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz)


def send_time(
    day: date, moment: time, tz: ZoneInfo, cal: WorkdayCalendar, policy: ReminderPolicy
) -> datetime:
    """``moment`` on ``day``, moved out of quiet hours: to their end, on a workday."""
    if not policy.in_quiet_hours(moment):
        return at_local(day, moment, tz)
    if moment >= policy.quiet_start and policy.quiet_start > policy.quiet_end:
        day = cal.shift(day, 1)
    return at_local(day, policy.quiet_end, tz)


def reminder_days(
    ob: Obligation,
    *,
    start: date,
    anchor: date,
    cal: WorkdayCalendar,
    policy: ReminderPolicy,
) -> list[date]:
    """Workdays 10, 5, 2 and 0 workdays before ``anchor``, inside the period."""
    earliest = start
    if ob.code == "org_life_meeting":
        month, day = policy.org_life_from
        earliest = max(earliest, date(anchor.year, month, day))
    days = {cal.shift(anchor, -k) for k in policy.offsets}
    return sorted(d for d in days if d >= earliest and d <= anchor)


def build_occurrence(
    ob: Obligation,
    *,
    org: str,
    member: str | None,
    start: date,
    end: date,
    required: int,
    count: int,
    late: int,
    applicable: bool,
    today: date,
    tz: ZoneInfo,
    cal: WorkdayCalendar,
    policy: ReminderPolicy,
    rule: DayRule | None = None,
    plans: bool = True,
    tracked_from: date | None = None,
) -> Occurrence:
    """One occurrence with its status; ``plans``: with its reminder and escalation times (the
    scheduler's and the calendar's business; a score or a progress view needs none).
    ``tracked_from``: the org's tracking_since; an occurrence whose deadline is before it is
    not tracked (a period straddling it counts: its deadline is after it)."""
    deadline = end
    last_workday = cal.on_or_before(deadline)
    grace_end = cal.shift(deadline, policy.grace_workdays)
    if applicable and tracked_from is not None and deadline < tracked_from:
        status = Status.NOT_TRACKED
    else:
        status = status_of(
            applicable=applicable,
            required=required,
            count=count,
            today=today,
            deadline=deadline,
            grace_end=grace_end,
        )
    planned = planned_day(rule, start, end, cal) if rule is not None else None
    reminders: tuple[datetime, ...] = ()
    escalations: tuple[datetime, ...] = ()
    if plans and status not in (Status.DONE, Status.NOT_APPLICABLE, Status.NOT_TRACKED):

        def schedule() -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
            days = reminder_days(
                ob, start=start, anchor=planned or last_workday, cal=cal, policy=policy
            )
            return (
                tuple(send_time(d, policy.at, tz, cal, policy) for d in days),
                tuple(
                    send_time(cal.shift(deadline, k), policy.at, tz, cal, policy)
                    for k in policy.escalation_offsets
                ),
            )

        # the same for every org with these rules: worked out once per calendar
        key = ("schedule", ob.code, start, deadline, planned, tz, policy)
        reminders, escalations = cal.remember(key, schedule)
    return Occurrence(
        ob.code, org, member, start, end, deadline, last_workday, status, required, count, late,
        planned, reminders, escalations,
    )  # fmt: skip


# ---------------------------------------------------------------- heart talks and birthdays


def heart_talk_coverage(
    committee: Iterable[int], others: Iterable[int], talks: Iterable[tuple[int, int]]
) -> tuple[int, int]:
    """(covered, required): every 支委 pair, and every other member with some 支委 member."""
    committee_set, others_set = set(committee), set(others) - set(committee)
    required = len(committee_set) * (len(committee_set) - 1) // 2 + len(others_set)
    partners: dict[int, set[int]] = {}
    for a, b in talks:
        if a != b:
            partners.setdefault(a, set()).add(b)
            partners.setdefault(b, set()).add(a)
    if not partners:
        return 0, required
    pairs = sum(len(partners.get(c, set()) & committee_set) for c in committee_set) // 2
    others_covered = sum(
        1 for m in others_set if not partners.get(m, set()).isdisjoint(committee_set)
    )
    return pairs + others_covered, required


def birthday_in(joined_on: date, year: int) -> date:
    """The political birthday in ``year``; 29 February is kept on 28 February otherwise."""
    if joined_on.month == 2 and joined_on.day == 29 and not _stdlib_calendar.isleap(year):
        return date(year, 2, 28)
    return joined_on.replace(year=year)
