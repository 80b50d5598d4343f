"""Workdays against the State Council's 2026 notice (国办发明电〔2025〕7号), checked by hand."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.workdays import (
    HolidayFileError,
    Source,
    WorkdayCalendar,
    YearData,
    parse_holiday_file,
)

D = date.fromisoformat
CAL = WorkdayCalendar()


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        # 元旦: 1月1日（周四）至3日（周日）放假，1月4日（周日）上班
        ("2026-01-01", False), ("2026-01-02", False), ("2026-01-03", False), ("2026-01-04", True),
        # 春节: 2月15日（周日）至23日（周一）放假，2月14日（周六）、2月28日（周六）上班
        ("2026-02-13", True), ("2026-02-14", True), ("2026-02-15", False), ("2026-02-20", False),
        ("2026-02-23", False), ("2026-02-24", True), ("2026-02-28", True), ("2026-03-01", False),
        # 清明节: 4月4日（周六）至6日（周一）放假
        ("2026-04-03", True), ("2026-04-06", False), ("2026-04-07", True),
        # 劳动节: 5月1日（周五）至5日（周二）放假，5月9日（周六）上班
        ("2026-04-30", True), ("2026-05-01", False), ("2026-05-05", False), ("2026-05-06", True),
        ("2026-05-09", True), ("2026-05-10", False),
        # 端午节 6月19日至21日; 中秋节 9月25日至27日
        ("2026-06-19", False), ("2026-06-22", True), ("2026-09-25", False), ("2026-09-28", True),
        # 国庆节: 10月1日（周四）至7日（周三）放假，9月20日（周日）、10月10日（周六）上班
        ("2026-09-20", True), ("2026-09-30", True), ("2026-10-01", False), ("2026-10-07", False),
        ("2026-10-08", True), ("2026-10-10", True), ("2026-10-11", False),
    ],
)  # fmt: skip
def test_2026_official_days(day: str, workday: bool) -> None:
    assert CAL.is_workday(D(day)) is workday
    assert CAL.source(2026) is Source.PACKAGE


def test_february_2026_ends_on_a_make_up_workday() -> None:
    assert CAL.on_or_before(D("2026-02-28")) == D("2026-02-28")


def test_shifting_across_the_long_holidays() -> None:
    # the third quarter's deadline is followed by the National Day week
    assert CAL.shift(D("2026-09-30"), 1) == D("2026-10-08")
    assert CAL.shift(D("2026-09-30"), 3) == D("2026-10-10")
    # ten workdays before the last workday of February, across Spring Festival
    assert CAL.shift(D("2026-02-28"), -1) == D("2026-02-27")
    assert CAL.shift(D("2026-02-28"), -5) == D("2026-02-14")
    assert CAL.shift(D("2026-02-28"), -10) == D("2026-02-09")
    assert CAL.shift(D("2026-01-03"), 0) == D("2025-12-31")


def test_fallback_for_a_year_without_data_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import bot.rules.workdays

    bot.rules.workdays._warned.discard(2031)
    caplog.set_level(logging.DEBUG, logger="zhibu.workdays")
    cal = WorkdayCalendar()
    assert cal.source(2031) is Source.FALLBACK
    assert cal.is_workday(D("2031-10-01")) is False  # National Day by rule
    assert cal.is_workday(D("2031-10-06")) is True  # no make-up schedule in the fallback
    assert cal.is_workday(D("2031-10-04")) is False  # a Saturday
    assert cal.fallback_years == {2031}
    warnings = [r for r in caplog.records if "2031" in r.getMessage()]
    # once, and quietly: a command's output is not the place (start-up and doctor say it)
    assert len(warnings) == 1 and warnings[0].levelno == logging.DEBUG


def test_an_imported_year_wins_over_package_and_fallback() -> None:
    imported = YearData(2031, frozenset({D("2031-10-06")}), frozenset({D("2031-10-11")}))
    cal = WorkdayCalendar([imported, YearData(2026, frozenset({D("2026-03-02")}))])
    assert cal.source(2031) is Source.IMPORTED and cal.source(2026) is Source.IMPORTED
    assert cal.is_workday(D("2031-10-06")) is False
    assert cal.is_workday(D("2031-10-11")) is True  # a Saturday made a workday
    assert cal.is_workday(D("2031-10-01")) is True  # the import says nothing of it
    assert cal.is_workday(D("2026-03-02")) is False
    assert cal.fallback_years == set()


def test_holiday_file_parses_ranges_names_and_comments() -> None:
    text = """
    # 2027 from the State Council notice
    2027-01-01..2027-01-03 holiday 元旦
    2027-02-06..2027-02-12 放假 春节
    2027-02-20 workday 春节调休上班
    """
    [year] = parse_holiday_file(text)
    assert year.year == 2027 and len(year.holidays) == 10 and year.workdays == {D("2027-02-20")}
    assert year.names[D("2027-02-06")] == "春节"


def test_holiday_file_problems_are_all_listed() -> None:
    text = "2027-01-01 holiday\n2027-13-01 holiday\n2027-01-04 workday\nnonsense\n2027-01-01 workday\n2027-01-02 rest"
    with pytest.raises(HolidayFileError) as caught:
        parse_holiday_file(text)
    keys = [(line, key) for line, key, _ in caught.value.problems]
    assert keys == [
        (2, "holidays.bad_date"),
        (3, "holidays.workday_on_weekday"),
        (4, "holidays.bad_line"),
        (5, "holidays.workday_on_weekday"),
        (6, "holidays.bad_kind"),
    ]


@given(st.dates(min_value=date(2004, 1, 1), max_value=date(2032, 12, 31)), st.integers(-40, 40))
def test_shift_lands_on_workdays_and_moves_the_right_way(day: date, n: int) -> None:
    target = CAL.shift(day, n)
    assert CAL.is_workday(target)
    if n > 0:
        assert target > day
        between = [day + timedelta(days=i) for i in range(1, (target - day).days + 1)]
        assert sum(CAL.is_workday(d) for d in between) == n
    elif n < 0:
        assert target < day
        between = [target + timedelta(days=i) for i in range((day - target).days)]
        assert sum(CAL.is_workday(d) for d in between) == -n
    else:
        assert target <= day


def test_the_readme_example_file_imports() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    example = readme.split("## Holiday data", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    [year] = parse_holiday_file(example)
    assert year.year == 2027 and len(year.workdays) == 4
