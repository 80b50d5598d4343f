"""Dates and times as people type them in chat (SPEC §5). Pure."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta

WEEKDAY_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_TIME = r"(\d{1,2})[:：](\d{2})"
FULL_RE = re.compile(rf"^(\d{{4}})-(\d{{1,2}})-(\d{{1,2}})\s+{_TIME}$")
SHORT_RE = re.compile(rf"^(\d{{1,2}})-(\d{{1,2}})\s+{_TIME}$")
CHINESE_RE = re.compile(rf"^(\d{{1,2}})月(\d{{1,2}})[日号]\s*{_TIME}$")
RELATIVE_RE = re.compile(rf"^(今天|明天|后天)\s*{_TIME}$")
WEEKDAY_RE = re.compile(rf"^(?:下)?(?:周|星期|礼拜)([一二三四五六日天])\s*{_TIME}$")
TIME_RE = re.compile(rf"^{_TIME}$")


def _at(day: date, hour: str, minute: str) -> datetime | None:
    h, m = int(hour), int(minute)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return datetime.combine(day, time(h, m))


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_when(text: str, today: date) -> datetime | None:
    """A local (naive) date and time from ``2026-12-03 15:00``, ``12-3 15:00``, ``12月3日 15:00``,
    ``明天 15:00``, ``后天 9:30`` or ``周五 9:30`` (the coming one); None if it is none of these.

    A month-day without a year is the next such day from ``today`` on.
    """
    value = unicodedata.normalize("NFKC", text).strip()
    value = re.sub(r"\s+", " ", value)
    if m := FULL_RE.match(value):
        day = _date(int(m[1]), int(m[2]), int(m[3]))
        return _at(day, m[4], m[5]) if day else None
    if m := SHORT_RE.match(value) or CHINESE_RE.match(value):
        month, dom = int(m[1]), int(m[2])
        day = _date(today.year, month, dom)
        if day is not None and day < today:
            day = _date(today.year + 1, month, dom)
        return _at(day, m[3], m[4]) if day else None
    if m := RELATIVE_RE.match(value):
        offset = {"今天": 0, "明天": 1, "后天": 2}[m[1]]
        return _at(today + timedelta(days=offset), m[2], m[3])
    if m := WEEKDAY_RE.match(value):
        target = WEEKDAY_ZH[m[1]]
        ahead = (target - today.weekday()) % 7 or 7
        return _at(today + timedelta(days=ahead), m[2], m[3])
    return None


def parse_time(text: str) -> time | None:
    """``15:00`` or ``9:30`` alone (after a date was picked from the calendar buttons)."""
    value = unicodedata.normalize("NFKC", text).strip()
    if m := TIME_RE.match(value):
        moment = _at(date(2000, 1, 1), m[1], m[2])
        return moment.time() if moment else None
    return None


DAY_FULL_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
DAY_SHORT_RE = re.compile(r"^(\d{1,2})-(\d{1,2})$")
DAY_CHINESE_RE = re.compile(r"^(\d{1,2})月(\d{1,2})[日号]$")
DAY_WEEKDAY_RE = re.compile(r"^(?:下)?(?:周|星期|礼拜)([一二三四五六日天])$")


def parse_day(text: str, today: date) -> date | None:
    """A day as people type it: ``2026-12-10``, ``12-10``, ``12月10日``, ``明天``, ``后天``, ``周五``."""
    value = unicodedata.normalize("NFKC", text).strip()
    if m := DAY_FULL_RE.match(value):
        return _date(int(m[1]), int(m[2]), int(m[3]))
    if m := DAY_SHORT_RE.match(value) or DAY_CHINESE_RE.match(value):
        month, dom = int(m[1]), int(m[2])
        day = _date(today.year, month, dom)
        return _date(today.year + 1, month, dom) if day is not None and day < today else day
    if value in ("今天", "明天", "后天"):
        return today + timedelta(days={"今天": 0, "明天": 1, "后天": 2}[value])
    if m := DAY_WEEKDAY_RE.match(value):
        ahead = (WEEKDAY_ZH[m[1]] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    return None


PAST_WEEKDAY_RE = re.compile(r"^(?:上)?(?:周|星期|礼拜)([一二三四五六日天])$")


def parse_past_day(text: str, today: date) -> date | None:
    """A day that has happened, as people type it: ``2026-11-20``, ``11-20``, ``11月20日``
    (the latest such day up to today), ``今天``, ``昨天``, ``前天``, ``周五`` (the last one)."""
    value = unicodedata.normalize("NFKC", text).strip()
    if m := DAY_FULL_RE.match(value):
        return _date(int(m[1]), int(m[2]), int(m[3]))
    if m := DAY_SHORT_RE.match(value) or DAY_CHINESE_RE.match(value):
        month, dom = int(m[1]), int(m[2])
        day = _date(today.year, month, dom)
        return _date(today.year - 1, month, dom) if day is not None and day > today else day
    if value in ("今天", "昨天", "前天"):
        return today - timedelta(days={"今天": 0, "昨天": 1, "前天": 2}[value])
    if m := PAST_WEEKDAY_RE.match(value):
        back = (today.weekday() - WEEKDAY_ZH[m[1]]) % 7 or 7
        return today - timedelta(days=back)
    return None
