"""What the Mini App's API answers, as JSON: the services' results in the reader's language
(names, periods and dates from the same catalogue as the chat)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, fmt_moment, grade_name, period_label, role_name, t
from bot.rules.calendar import Occurrence
from bot.services.access import Actor
from bot.services.assessment import Result
from bot.services.board import BranchBoard, CommitteeRow, MeBoard
from bot.services.collections import Progress
from bot.services.meetings import REASON_MAX, REASON_MIN
from bot.services.obligations import BranchView, due_items, obligation_name
from bot.services.progress import STATE_OF

# the page's own words (the rest comes with the data, already in the reader's language)
PAGE_TEXTS = (
    "web.title",
    "web.tab_me",
    "web.tab_branch",
    "web.tab_committee",
    "web.owe",
    "web.nothing_owed",
    "web.meetings",
    "web.no_meetings",
    "web.checkin",
    "web.answered",
    "web.asked",
    "web.submissions",
    "web.no_submissions",
    "web.records_due",
    "web.year_grid",
    "web.deadline",
    "web.last_workday",
    "web.reminders",
    "web.count",
    "web.attendance",
    "web.present",
    "web.leave",
    "web.signed_by",
    "web.collections",
    "web.no_collections",
    "web.remind",
    "web.submitted",
    "web.missing",
    "web.assessment",
    "web.part_obligations",
    "web.part_attendance",
    "web.part_records",
    "web.part_collections",
    "web.rescaled",
    "web.not_judged",
    "web.filter",
    "web.all_committees",
    "web.branch_col",
    "web.committee_col",
    "web.score",
    "web.grade",
    "web.rank",
    "web.missed",
    "web.interview",
    "web.ledger",
    "web.ics",
    "web.grades_chart",
    "web.unauthorized",
    "web.failed",
    "web.close",
    "web.pick_branch",
    "web.leave",
    "chart.done",
    "chart.open",
    "chart.overdue",
    "chart.not_tracked",
)


def texts(lang: Lang) -> dict[str, str]:
    return {key: t(lang, key) for key in PAGE_TEXTS}


def _occ_title(lang: Lang, o: Occurrence, view: BranchView) -> str:
    title = view.name(o.obligation, lang)
    if o.member is not None:
        title += " · " + view.member_names.get(o.member, o.member)
    elif o.org != view.org_code:
        title += " · " + view.group_names.get(o.org, o.org)
    return title


def occurrence(lang: Lang, o: Occurrence, view: BranchView) -> dict[str, Any]:
    """One cell of the year: its period, state and what opening it shows."""
    return {
        "title": _occ_title(lang, o, view),
        "period": period_label(lang, o.start, o.end),
        "state": STATE_OF.get(o.status, "na"),
        "status": t(lang, names.STATUS[o.status.value]),
        "deadline": fmt_date(lang, o.deadline),
        "last_workday": fmt_date(lang, o.last_workday),
        "count": o.count,
        "required": o.required,
        "late": o.late,
        "reminders": [fmt_date(lang, r.date()) for r in (*o.reminders, *o.escalations)],
        "start": o.start.isoformat(),
        "end": o.end.isoformat(),
    }


def me(actor: Actor, board: MeBoard, *, tz: str, admin_scope: list[str]) -> dict[str, Any]:
    lang = actor.lang
    found: dict[str, Any] = {
        "lang": lang,
        "t": texts(lang),
        "admin": actor.is_admin,
        "manager": actor.is_manager,
        "scope": admin_scope,
        "member": None,
        "owe": [],
        "meetings": [],
        "asked": [],
        "recent": [],
        "records": [],
        "leave_prompt": t(lang, "web.leave_reason", min=REASON_MIN, max=REASON_MAX),
    }
    if actor.member is None or actor.branch is None or board.todo is None:
        return found
    found["member"] = {
        "name": actor.member.name,
        "role": role_name(lang, actor.member.role),
        "branch": {"code": actor.branch.code, "name": actor.branch.name},
    }
    return found | _owed(actor, board, tz)


def _owed(actor: Actor, board: MeBoard, tz: str) -> dict[str, Any]:
    """What /tasks and /due list for this person: /due's occurrences (overdue, then due
    within 30 days), meetings, collections, filings, records to file."""
    lang, todo = actor.lang, board.todo
    assert todo is not None and actor.member is not None
    view = todo.view
    owe = [occurrence(lang, o, view) for o in due_items(view, actor)] if view is not None else []
    return {
        "owe": owe,
        "meetings": [
            {"id": m.id, "title": obligation_name(m.obligation, lang),
             "when": fmt_moment(lang, m.starts_at, tz), "place": m.place,
             "answered": m.id in board.answered}
            for m in board.meetings
        ],
        "asked": [
            {"id": c.id, "kind": t(lang, names.REPORT_KIND[c.kind]), "prompt": c.prompt,
             "deadline": fmt_moment(lang, c.deadline, tz)}
            for c in todo.asked
        ],
        "recent": [
            {"kind": t(lang, names.REPORT_KIND[r.kind]), "when": fmt_moment(lang, r.filed_at, tz),
             "summary": r.summary}
            for r in todo.recent
        ],
        "records": [
            {"title": obligation_name(r.held.obligation, lang), "due": fmt_date(lang, r.due)}
            for r in todo.to_record
        ],
    }  # fmt: skip


def _rows_of(view: BranchView) -> list[list[Occurrence]]:
    rows: dict[tuple[str, str, str | None], list[Occurrence]] = defaultdict(list)
    for o in view.occurrences:
        rows[(o.obligation, o.org, o.member)].append(o)
    return list(rows.values())


def grid(lang: Lang, view: BranchView) -> list[dict[str, Any]]:
    """The year as rows (an obligation, or one member's or group's) of cells (periods)."""
    return [
        {"title": _occ_title(lang, found[0], view), "cells": [occurrence(lang, o, view) for o in found]}
        for found in _rows_of(view)
    ]  # fmt: skip


def _with_meetings(
    lang: Lang, rows: list[dict[str, Any]], b: BranchBoard, tz: str
) -> list[dict[str, Any]]:
    """Each cell of a meeting obligation with the meetings held for it in its period, and
    how many were present and on leave (what opening the cell shows)."""
    held: dict[str, list[tuple[date, dict[str, Any]]]] = defaultdict(list)
    for h in b.meetings:
        day = h.meeting.starts_at.astimezone(ZoneInfo(tz)).date()
        held[h.meeting.obligation].append((day, {
            "when": fmt_moment(lang, h.meeting.starts_at, tz),
            "present": sum(1 for a in h.answers if a.status == "present"),
            "leave": sum(1 for a in h.answers if a.status == "leave"),
        }))  # fmt: skip
    for row, found in zip(rows, _rows_of(b.view), strict=True):
        for cell, o in zip(row["cells"], found, strict=True):
            cell["meetings"] = [m for day, m in held[o.obligation] if o.start <= day <= o.end]
    return rows


def _assessment(lang: Lang, r: Result | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "score": r.score,
        "grade": grade_name(lang, r.grade),
        "parts": r.parts.as_json() if r.judged else None,
        "maximums": r.parts.maximums_json() if r.judged else None,
        "rescaled": r.parts.rescaled if r.judged else False,
    }


def _collection(lang: Lang, p: Progress, tz: str, now_open: bool) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": t(lang, names.REPORT_KIND[p.kind]),
        "prompt": p.prompt,
        "deadline": fmt_moment(lang, p.deadline, tz),
        "open": now_open,
        "on_time": p.on_time,
        "late": p.late,
        "missing": [name for name, _ in p.missing],
    }


def branch(lang: Lang, b: BranchBoard, *, tz: str, now_ts: float) -> dict[str, Any]:
    return {
        "org": {"code": b.org.code, "name": b.org.name},
        "year": b.year,
        "grid": _with_meetings(lang, grid(lang, b.view), b, tz),
        "meetings": [
            {
                "id": h.meeting.id,
                "title": obligation_name(h.meeting.obligation, lang),
                "when": fmt_moment(lang, h.meeting.starts_at, tz),
                "place": h.meeting.place,
                "status": h.meeting.status,
                "answers": [
                    {"name": a.name, "status": a.status, "via": a.via, "by": a.by}
                    for a in h.answers
                ],
            }
            for h in b.meetings
        ],
        "collections": [
            _collection(lang, p, tz, p.deadline.timestamp() > now_ts) for p in b.collections
        ],
        "assessment": _assessment(lang, b.assessment),
    }


def committee(lang: Lang, year: int, rows: list[CommitteeRow]) -> dict[str, Any]:
    return {
        "year": year,
        "rows": [
            {
                "code": r.result.org,
                "name": r.result.name,
                "parent": r.parent,
                "score": r.result.score,
                "grade": grade_name(lang, r.result.grade),
                "grade_key": names.GRADE.get(r.result.grade or "", "grade.not_judged"),
                "rank": r.result.rank,
                "missed": r.result.missed,
                "attendance": None
                if r.result.attendance is None
                else round(r.result.attendance, 3),
                "interview": r.result.interview,
            }
            for r in rows
        ],
    }
