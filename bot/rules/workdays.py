"""China's official working calendar: is a day a workday, and the Nth workday before/after.

Where a year's answer comes from, in order: a year the operator imported (from the State
Council notice), the ``chinese-calendar`` package for the years it covers, and otherwise
a rule-based fallback (Monday–Friday minus the statutory holidays of the ``holidays``
package's China calendar, with no make-up workdays). Pure: no I/O beyond those packages.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any, TypeVar, cast

import chinese_calendar
import holidays

T = TypeVar("T")

log = logging.getLogger("zhibu.workdays")

MAX_SCAN_DAYS = 60  # no run of days off in China is anywhere near this long
_warned: set[int] = set()  # years already logged as falling back, once per process


class Source(enum.StrEnum):
    IMPORTED = "imported"
    PACKAGE = "package"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class YearData:
    """An operator-imported year: its days off and its make-up workdays."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date] = field(default_factory=frozenset)
    names: Mapping[date, str] = field(default_factory=dict)


@cache
def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@cache
def _rule_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("CN", years=year).keys())


class WorkdayCalendar:
    """Answers workday questions for any year, remembering which years fell back to rules."""

    def __init__(self, imported: Iterable[YearData] = ()) -> None:
        self._imported = {y.year: y for y in imported}
        self._known: dict[date, bool] = {}  # answers already worked out; days do not change
        self._shifts: dict[tuple[date, int], date] = {}
        self.fallback_years: set[int] = set()
        self._remembered: dict[Hashable, Any] = {}

    def remember(self, key: Hashable, work: Callable[[], T]) -> T:
        """``work()``, worked out once per ``key`` for as long as this calendar lives: for
        answers that depend only on the workdays and the key (a reminder schedule is the same
        for every branch with the same rules, so a tick over 10,000 branches asks it once)."""
        if key not in self._remembered:
            self._remembered[key] = work()
        return cast(T, self._remembered[key])

    def source(self, year: int) -> Source:
        if year in self._imported:
            return Source.IMPORTED
        if _package_covers(year):
            return Source.PACKAGE
        return Source.FALLBACK

    def is_workday(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._work_out(day)
        return known

    def _work_out(self, day: date) -> bool:
        data = self._imported.get(day.year)
        if data is not None:
            if day in data.workdays:
                return True
            if day in data.holidays:
                return False
            return day.weekday() < 5
        if _package_covers(day.year):
            return bool(chinese_calendar.is_workday(day))
        self.fallback_years.add(day.year)
        if day.year not in _warned:
            _warned.add(day.year)
            log.debug(  # said at start-up (jobs/holidays.py) and by `zhibu doctor`, not here
                "no holiday data for %s: using Monday–Friday minus statutory holidays; "
                "import the State Council notice with `zhibu holidays import`",
                day.year,
            )
        return day.weekday() < 5 and day not in _rule_holidays(day.year)

    def on_or_before(self, day: date) -> date:
        """The last workday on or before ``day``."""
        return self.shift(day, 0)  # remembered there

    def _on_or_before(self, day: date) -> date:
        for _ in range(MAX_SCAN_DAYS):
            if self.is_workday(day):
                return day
            day -= timedelta(days=1)
        raise ValueError(f"no workday within {MAX_SCAN_DAYS} days before {day}")

    def on_or_after(self, day: date) -> date:
        """The first workday on or after ``day``."""
        for _ in range(MAX_SCAN_DAYS):
            if self.is_workday(day):
                return day
            day += timedelta(days=1)
        raise ValueError(f"no workday within {MAX_SCAN_DAYS} days after {day}")

    def shift(self, day: date, n: int) -> date:
        """The Nth workday after ``day`` (n > 0) or before it (n < 0); ``day`` itself not counted.

        ``shift(d, 0)`` is ``d`` when it is a workday, else the workday before it.
        """
        known = self._shifts.get((day, n))
        if known is not None:
            return known
        found = self._shift(day, n)
        self._shifts[(day, n)] = found
        return found

    def _shift(self, day: date, n: int) -> date:
        if n == 0:
            return self._on_or_before(day)
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_workday(day):
                remaining -= 1
        return day

    def holiday_name(self, day: date, lang: str = "zh") -> str | None:
        """The holiday a day off or make-up workday belongs to, in Chinese or English."""
        data = self._imported.get(day.year)
        if data is not None:
            return data.names.get(day)
        if _package_covers(day.year):
            _, name = chinese_calendar.get_holiday_detail(day)
            if not name:
                return None
            if lang == "en":
                return str(name)
            return next((h.chinese for h in chinese_calendar.Holiday if h.value == name), str(name))
        language = "en_US" if lang == "en" else "zh_CN"
        return holidays.country_holidays("CN", years=day.year, language=language).get(day)


# ---------------------------------------------------------------- the import file


MAX_HOLIDAY_NAME = 50  # holiday_days.name


class HolidayFileError(ValueError):
    def __init__(self, problems: list[tuple[int, str, dict[str, object]]]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems  # (line number, text key, params)


def parse_holiday_file(text: str) -> list[YearData]:
    """Read the operator's holiday file (format in the README); all or nothing.

    Each line: ``DATE KIND [NAME]`` or ``DATE..DATE KIND [NAME]``, where KIND is
    ``holiday`` (放假) or ``workday`` (调休上班); ``#`` starts a comment.
    """
    kinds = {"holiday": "holiday", "放假": "holiday", "workday": "workday", "上班": "workday"}
    problems: list[tuple[int, str, dict[str, object]]] = []
    days: dict[date, tuple[str, str, int]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            problems.append((number, "holidays.bad_line", {}))
            continue
        span, kind_text = parts[0], parts[1].lower()
        name = parts[2].strip() if len(parts) > 2 else ""
        if len(name) > MAX_HOLIDAY_NAME:  # checked here, not left to the database's column
            problems.append((number, "holidays.name_too_long", {"limit": MAX_HOLIDAY_NAME}))
            continue
        kind = kinds.get(kind_text)
        if kind is None:
            problems.append((number, "holidays.bad_kind", {"value": parts[1]}))
            continue
        try:
            first_text, _, last_text = span.partition("..")
            first = date.fromisoformat(first_text)
            last = date.fromisoformat(last_text) if last_text else first
        except ValueError:
            problems.append((number, "holidays.bad_date", {"value": span}))
            continue
        if last < first or (last - first).days > 31:
            problems.append((number, "holidays.bad_range", {"value": span}))
            continue
        current = first
        while current <= last:
            if kind == "workday" and current.weekday() < 5:
                problems.append(
                    (number, "holidays.workday_on_weekday", {"value": current.isoformat()})
                )
            elif current in days and days[current][0] != kind:
                problems.append(
                    (
                        number,
                        "holidays.conflict",
                        {"value": current.isoformat(), "line": days[current][2]},
                    )
                )
            else:
                days[current] = (kind, name, number)
            current += timedelta(days=1)
    if not days and not problems:
        problems.append((0, "holidays.empty", {}))
    if problems:
        raise HolidayFileError(problems)
    years: dict[int, YearData] = {}
    for year in sorted({d.year for d in days}):
        in_year = {d: v for d, v in days.items() if d.year == year}
        years[year] = YearData(
            year,
            frozenset(d for d, v in in_year.items() if v[0] == "holiday"),
            frozenset(d for d, v in in_year.items() if v[0] == "workday"),
            {d: v[1] for d, v in in_year.items() if v[1]},
        )
    return list(years.values())
