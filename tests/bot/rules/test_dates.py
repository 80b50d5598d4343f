"""Typed dates and times (SPEC §5)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.dates import parse_time, parse_when

TODAY = date(2026, 11, 27)  # a Friday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03 15:00", datetime(2026, 12, 3, 15, 0)),
        ("12-3 15:00", datetime(2026, 12, 3, 15, 0)),
        ("12月3日 15:00", datetime(2026, 12, 3, 15, 0)),
        ("12月3号15:00", datetime(2026, 12, 3, 15, 0)),
        ("明天 15:00", datetime(2026, 11, 28, 15, 0)),
        ("后天 9:30", datetime(2026, 11, 29, 9, 30)),
        ("今天 18:00", datetime(2026, 11, 27, 18, 0)),
        ("周五 9:30", datetime(2026, 12, 4, 9, 30)),  # the coming Friday, not today
        ("星期一 14:30", datetime(2026, 11, 30, 14, 30)),
        ("１２月３日　１５：００", datetime(2026, 12, 3, 15, 0)),  # full-width
        ("1-5 9:00", datetime(2027, 1, 5, 9, 0)),  # a past month-day means next year
        ("2026-02-30 10:00", None),
        ("12-3 25:00", None),
        ("next friday", None),
        ("12月3日", None),
        ("", None),
    ],
)
def test_accepted_forms(text: str, expected: datetime | None) -> None:
    assert parse_when(text, TODAY) == expected


def test_time_alone() -> None:
    assert parse_time("9:05") == time(9, 5)
    assert parse_time("24:00") is None and parse_time("noon") is None


@given(
    st.datetimes(min_value=datetime(2026, 11, 27), max_value=datetime(2027, 11, 26)).map(
        lambda d: d.replace(second=0, microsecond=0)
    )
)
def test_every_form_round_trips(moment: datetime) -> None:
    hm = f"{moment.hour}:{moment.minute:02d}"
    assert parse_when(f"{moment:%Y-%m-%d} {hm}", TODAY) == moment
    assert parse_when(f"{moment.month}-{moment.day} {hm}", TODAY) == moment
    assert parse_when(f"{moment.month}月{moment.day}日 {hm}", TODAY) == moment
    if moment.date() - TODAY <= timedelta(days=2):
        word = {0: "今天", 1: "明天", 2: "后天"}[(moment.date() - TODAY).days]
        assert parse_when(f"{word} {hm}", TODAY) == moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-10", date(2026, 12, 10)),
        ("12-10", date(2026, 12, 10)),
        ("12月10日", date(2026, 12, 10)),
        ("明天", date(2026, 11, 28)),
        ("后天", date(2026, 11, 29)),
        ("周五", date(2026, 12, 4)),
        ("1-2", date(2027, 1, 2)),
        ("2026-02-30", None),
        ("someday", None),
        ("12-10 9:00", None),
    ],
)
def test_days(text: str, expected: date | None) -> None:
    from bot.rules.dates import parse_day

    assert parse_day(text, TODAY) == expected
