"""Plain-text tables for the command line, aligned for Chinese (wide) characters."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, grade_name, period_label, t
from bot.services.assessment import Parts, Result
from bot.services.obligations import BranchView


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, size: int) -> str:
    return text + " " * max(0, size - width(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(width(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(pad(str(c), w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def calendar_table(lang: Lang, view: BranchView, year: int) -> str:
    headers = [
        t(lang, key)
        for key in (
            "table.obligation",
            "table.owner",
            "table.period",
            "table.last_workday",
            "table.status",
            "table.progress",
        )
    ]
    rows = []
    for o in view.occurrences:
        owner = view.member_names.get(o.member, o.member) if o.member else o.org
        late = t(lang, "status.late", n=o.late) if o.late else ""
        rows.append(
            [
                view.name(o.obligation, lang),
                owner,
                period_label(lang, o.start, o.end),
                fmt_date(lang, o.last_workday),
                t(lang, names.STATUS[o.status.value]) + late,
                f"{o.count}/{o.required}",
            ]
        )
    title = t(lang, "table.calendar_title", org=view.org_name, code=view.org_code, year=year)
    return title + "\n\n" + table(headers, rows)


def part(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def part_values(lang: Lang, parts: Parts) -> list[str]:
    """Each part as points/maximum (a maximum above its weight: no collection counted and
    the other three were scaled up to 100); a collection part that did not run says so."""

    def one(value: float | None, most: float | None) -> str:
        if value is None or most is None:
            return t(lang, "assess.no_collection")
        return t(lang, "assess.part_value", value=f"{value:.1f}", max=f"{most:g}")

    return [
        one(parts.obligations, parts.obligations_max),
        one(parts.attendance, parts.attendance_max),
        one(parts.records, parts.records_max),
        one(parts.collections, parts.collections_max),
    ]


def assessment_table(lang: Lang, results: Sequence[Result]) -> str:
    headers = [
        t(lang, key)
        for key in (
            "table.rank",
            "table.org",
            "table.name",
            "table.score",
            "table.grade",
            "table.interview",
            "table.part_obligations",
            "table.part_attendance",
            "table.part_records",
            "table.part_collections",
        )
    ]
    rows = [
        [
            "—" if r.rank is None else str(r.rank),
            r.org,
            r.name,
            part(r.score),
            grade_name(lang, r.grade),
            t(lang, "table.yes") if r.interview else "",
            *(part_values(lang, r.parts) if r.judged else ["—"] * 4),
        ]
        for r in results
    ]
    return table(headers, rows)
