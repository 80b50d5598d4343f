"""Every user-facing text, in Chinese and English, from the message catalogues beside this
module: ``zh.po`` and ``en.po`` (gettext PO files, read with polib). Code names a text by
its key (the msgid) and fills its ``{placeholders}``; no key is ever composed at run time
(see bot/i18n/names.py for the maps from codes to keys).

Why PO: the most widely supported translation format (Poedit, Weblate, Crowdin, gettext's
own msgfmt/msgcmp check it), plain text that diffs well, and read at run time by a 20 kB
pure-Python library; Fluent's Python runtime would bring Babel's 30 MB of locale data for
selectors we do not need (Chinese has no plural forms; the English texts avoid them).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polib

from bot.i18n.names import GRADE

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
CATALOGUE_DIR = Path(__file__).resolve().parent


@cache
def catalogue(lang: Lang) -> dict[str, str]:
    """Key → text for one language, read once from its PO file."""
    po = polib.pofile(str(CATALOGUE_DIR / f"{lang}.po"))
    return {entry.msgid: entry.msgstr for entry in po if not entry.obsolete}


def t(lang: Lang, key: str, /, **params: Any) -> str:
    """The text for ``key`` in ``lang`` with ``params`` filled in."""
    return catalogue(lang)[key].format(**params)


def weekday_name(lang: Lang, weekday: int, *, short: bool = False) -> str:
    """Monday is 0, as in ``date.weekday()``."""
    return t(lang, WEEKDAY_KEYS[short][weekday])


WEEKDAY_KEYS = {
    True: (
        "weekday.short.1",
        "weekday.short.2",
        "weekday.short.3",
        "weekday.short.4",
        "weekday.short.5",
        "weekday.short.6",
        "weekday.short.7",
    ),
    False: (
        "weekday.long.1",
        "weekday.long.2",
        "weekday.long.3",
        "weekday.long.4",
        "weekday.long.5",
        "weekday.long.6",
        "weekday.long.7",
    ),
}
MONTH_KEYS = (
    "month.1",
    "month.2",
    "month.3",
    "month.4",
    "month.5",
    "month.6",
    "month.7",
    "month.8",
    "month.9",
    "month.10",
    "month.11",
    "month.12",
)
QUARTER_KEYS = ("quarter.1", "quarter.2", "quarter.3", "quarter.4")
HALF_KEYS = ("half.1", "half.2")


@cache
def fmt_date(lang: Lang, day: date) -> str:
    """``9月30日（周三）`` or ``Wed 30 Sep``."""
    return t(
        lang,
        "format.date",
        month=t(lang, MONTH_KEYS[day.month - 1]),
        day=day.day,
        weekday=weekday_name(lang, day.weekday(), short=True),
    )


def fmt_moment(lang: Lang, moment: datetime, tz: str) -> str:
    """A moment in the given time zone: ``9月30日（周三） 14:30``."""
    local = moment.astimezone(ZoneInfo(tz))
    return t(lang, "format.moment", date=fmt_date(lang, local.date()), time=f"{local:%H:%M}")


@cache
def period_label(lang: Lang, start: date, end: date) -> str:
    """The period an occurrence covers, as people name it: 2026年第三季度, Q3 2026 …"""
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    whole = start.day == 1 and (end + timedelta(days=1)).day == 1
    ends = {"start": start.isoformat(), "end": end.isoformat()}
    if not whole:
        return t(lang, "period.partial", **ends)
    if months == 1:
        return t(lang, "period.month", year=start.year, month=t(lang, MONTH_KEYS[start.month - 1]))
    if months == 3:
        quarter = t(lang, QUARTER_KEYS[(start.month - 1) // 3])
        return t(lang, "period.quarter", year=start.year, quarter=quarter)
    if months == 6:
        half = t(lang, HALF_KEYS[0 if start.month == 1 else 1])
        return t(lang, "period.half", year=start.year, half=half)
    return (
        t(lang, "period.year", year=start.year) if months == 12 else t(lang, "period.range", **ends)
    )


ROLE_KEYS = {
    "secretary": "role.secretary",
    "deputy_secretary": "role.deputy_secretary",
    "organizer": "role.organizer",
    "propaganda": "role.propaganda",
    "discipline": "role.discipline",
    "group_leader": "role.group_leader",
    "member": "role.member",
    "probationary": "role.probationary",
    "activist": "role.activist",
}


def grade_name(lang: Lang, grade: str | None) -> str:
    """Grades are the Chinese terms of SPEC §8; English readers get a translation beside.
    None: not assessed (nothing in the period could be judged yet)."""
    return t(lang, GRADE[grade] if grade is not None else "grade.not_judged")


def role_name(lang: Lang, role: str) -> str:
    key = ROLE_KEYS.get(role)
    return t(lang, key) if key is not None else role


def normalise_lang(value: str | None, default: Lang) -> Lang:
    """Map a stored choice or a Telegram language code to one of ours."""
    if not value:
        return default
    value = value.lower()
    if value.startswith("en"):
        return "en"
    if value.startswith("zh"):
        return "zh"
    return default
