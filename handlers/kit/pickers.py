"""Inline date and time pickers (SPEC §5: a picker wherever a date is asked). Each picker
takes the button a day or a time makes, so every conversation keeps its own buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from bot.i18n.texts import Lang, t, weekday_name
from bot.rules.buttons import Button, Rows, rows_of

DAYS = 14  # days a picker offers
TIMES = ("08:30", "09:00", "10:00", "14:00", "14:30", "15:00", "16:00")


def day_label(lang: Lang, day: date, today: date) -> str:
    """``今天``, ``明天``, ``昨天``, else ``12/3 周四``."""
    offset = (day - today).days
    named = {0: "picker.today", 1: "picker.tomorrow", -1: "picker.yesterday"}
    if offset in named:
        return t(lang, named[offset])
    return f"{day.month}/{day.day} {weekday_name(lang, day.weekday(), short=True)}"


def days_ahead(lang: Lang, today: date, make: Callable[[date], Button]) -> Rows:
    """Today and the next days, for a meeting."""
    days = [today + timedelta(days=i) for i in range(DAYS)]
    return rows_of([(day_label(lang, d, today), make(d)) for d in days], 4)


def days_back(lang: Lang, today: date, make: Callable[[date], Button]) -> Rows:
    """Today and the days before it, for something that was held."""
    days = [today - timedelta(days=i) for i in range(DAYS)]
    return rows_of([(day_label(lang, d, today), make(d)) for d in days], 4)


def times_of_day(make: Callable[[str], Button]) -> Rows:
    """The usual meeting times; another is typed (``14:45``)."""
    return rows_of([(x, make(x.replace(":", ""))) for x in TIMES], 4)
