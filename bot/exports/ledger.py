"""The ledger workbook (台账, SPEC §9): what an inspector asks for, one sheet per subject.

Sheets: 概览 (obligation × month status matrix for a branch; one row per branch for a
committee), 会议记录, 签到明细, 学习心得与思想汇报, 谈心谈话, 考核. Chinese headers, frozen
header rows, column widths that fit, real date cells.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.exports.tables import width
from bot.i18n import names
from bot.i18n.texts import MONTH_KEYS, Lang, t
from bot.rules.calendar import Occurrence, Status
from bot.rules.catalogue import DEFAULT_POLICY
from bot.rules.workbook import append_row
from bot.services import meetings
from bot.services.access import Actor, Declined, NotAllowed, OrgInfo, manages_branch, org_by_code
from bot.services.assessment import Result, assess, branches_under
from bot.services.obligations import load_workdays, member_key, obligation_name, org_occurrences
from bot.store.db import Database
from bot.store.models import Attendance, Meeting, Member, Org, OrgKind, Record, RecordObligation

# The ledger is the inspector's workbook and reads in Chinese (SPEC §9); every word in it
# comes from the catalogue.
LANG: Lang = "zh"
STATUS = {
    "done": "ledger.status.done",
    "to_file": "ledger.status.to_file",
    "overdue": "ledger.status.overdue",
    "missed": "ledger.status.missed",
    "open": "ledger.status.missed",
    "not_applicable": "ledger.status.not_applicable",
    "not_tracked": "ledger.status.not_tracked",
}
FILLS = {
    "ledger.status.done": "C8E6C9",
    "ledger.status.to_file": "FFF59D",
    "ledger.status.overdue": "FFCC80",
    "ledger.status.missed": "EF9A9A",
    "ledger.status.not_applicable": "EEEEEE",
    "ledger.status.not_tracked": "F5F5F5",
}
VIA = {
    "button": "ledger.via.button",
    "code": "ledger.via.code",
    "proxy": "ledger.via.proxy",
    "makeup": "ledger.via.makeup",
}
ATTENDANCE = {"present": "ledger.attendance.present", "leave": "ledger.attendance.leave"}
HEADERS = {  # the detail sheets, by their code
    "meetings": (
        "ledger.col.date",
        "ledger.col.meeting_kind",
        "ledger.col.topic",
        "ledger.col.first_topic",
        "ledger.col.expected",
        "ledger.col.present",
        "ledger.col.leave",
        "ledger.col.absent",
        "ledger.col.summary",
        "ledger.col.photos",
        "ledger.col.counts_toward",
        "ledger.col.filed_at",
    ),
    "attendance": (
        "ledger.col.meeting_time",
        "ledger.col.meeting_kind",
        "ledger.col.place",
        "ledger.col.name",
        "ledger.col.status",
        "ledger.col.via",
        "ledger.col.checked_in_at",
        "ledger.col.leave_reason",
    ),
    "reports": (
        "ledger.col.date",
        "ledger.col.kind",
        "ledger.col.name",
        "ledger.col.length",
        "ledger.col.content",
        "ledger.col.filed_at",
    ),
    "talks": ("ledger.col.date", "ledger.col.talker", "ledger.col.partner", "ledger.col.content"),
}
SHEET_TITLES = {
    "meetings": "ledger.sheet.meetings",
    "attendance": "ledger.sheet.attendance",
    "reports": "ledger.sheet.reports",
    "talks": "ledger.sheet.talks",
}
ASSESS_HEADERS = (
    "ledger.col.rank",
    "ledger.col.branch",
    "ledger.col.code",
    "ledger.col.score",
    "ledger.col.grade",
    "ledger.col.interview",
    "ledger.col.part_obligations",
    "ledger.col.part_attendance",
    "ledger.col.part_records",
    "ledger.col.part_collections",
)
COMMITTEE_OVERVIEW_HEADERS = (
    "ledger.col.branch",
    "ledger.col.code",
    "ledger.status.done",
    "ledger.status.to_file",
    "ledger.status.overdue",
    "ledger.status.missed",
    "ledger.status.not_applicable",
    "ledger.col.completion",
    "ledger.col.score",
    "ledger.col.grade",
    "ledger.col.rank",
    "ledger.col.interview",
)
MAX_WIDTH = 60


def w(key: str) -> str:
    """A word of the ledger."""
    return t(LANG, key)


def words(keys: tuple[str, ...]) -> list[str]:
    return [w(k) for k in keys]


def yes_no(value: object) -> str:
    return w("ledger.yes" if value else "ledger.no")


def status_key(occ: Occurrence) -> str:
    if occ.status is Status.DONE:
        return STATUS["done"]
    if occ.to_file is not None:
        return STATUS["to_file"]
    return STATUS[occ.status.value]


def status_label(occ: Occurrence) -> str:
    return w(status_key(occ))


@dataclass
class Sheet:
    title: str
    headers: list[str]
    rows: list[list[Any]]


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    return None if moment is None else moment.astimezone(tz).replace(tzinfo=None)


def _write(wb: Workbook, sheet: Sheet) -> Worksheet:
    fills = {w(key): colour for key, colour in FILLS.items()}
    ws = wb.create_sheet(sheet.title)
    append_row(ws, sheet.headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for row in sheet.rows:
        append_row(ws, row)
    ws.freeze_panes = "A2"
    for index, header in enumerate(sheet.headers, start=1):
        letter = get_column_letter(index)
        cells = [r[index - 1] for r in sheet.rows]
        longest = max([width(header), *(_shown_width(v) for v in cells)])
        ws.column_dimensions[letter].width = min(MAX_WIDTH, max(6, longest + 2))
        for row_cells in ws.iter_rows(min_row=2, min_col=index, max_col=index):
            for cell in row_cells:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
                elif isinstance(cell.value, str):
                    if cell.value in fills:
                        cell.fill = PatternFill("solid", fgColor=fills[cell.value])
                    if width(cell.value) > MAX_WIDTH:
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
    return ws


def _shown_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    return width(str(value))


# ---------------------------------------------------------------- sheets


def overview_matrix(occurrences: list[Occurrence], names: dict[str, str], year: int) -> Sheet:
    """One row per obligation and owner; its status in the column of its period's last month."""
    rows: dict[tuple[str, str], list[Any]] = {}
    order: list[tuple[str, str]] = []
    for occ in occurrences:
        if occ.end.year != year:
            continue
        owner = names.get(occ.member, occ.member) if occ.member else names.get(occ.org, occ.org)
        key = (occ.obligation, owner or "")
        if key not in rows:
            rows[key] = [obligation_name(occ.obligation, "zh"), owner, *[""] * 12]
            order.append(key)
        rows[key][1 + occ.end.month] = status_label(occ)
    headers = [w("ledger.col.obligation"), w("ledger.col.owner"), *words(MONTH_KEYS)]
    return Sheet(w("ledger.sheet.overview"), headers, [rows[k] for k in order])


async def _branch_records(
    session: AsyncSession, org_ids: list[int], kinds: Sequence[str], year: int
) -> list[Record]:
    rows = await session.execute(
        select(Record)
        .where(
            Record.org_id.in_(org_ids),
            Record.kind.in_(list(kinds)),
            Record.withdrawn_at.is_(None),
            Record.held_on >= date(year, 1, 1),
            Record.held_on <= date(year, 12, 31),
        )
        .order_by(Record.held_on, Record.id)
    )
    return list(rows.scalars())


async def branch_sheets(
    session: AsyncSession, branch: Org, year: int, *, now: datetime
) -> dict[str, list[list[Any]]]:
    """Rows of every detail sheet for one branch (without the branch column)."""
    tz = ZoneInfo(branch.timezone)
    groups = list(
        (
            await session.execute(
                select(Org).where(Org.parent_id == branch.id, Org.kind == OrgKind.GROUP.value)
            )
        ).scalars()
    )
    org_ids = [branch.id, *(g.id for g in groups)]
    members = {
        m.id: m
        for m in (await session.execute(select(Member).where(Member.org_id == branch.id))).scalars()
    }
    out: dict[str, list[list[Any]]] = {}
    records = await _branch_records(session, org_ids, ["meeting_record"], year)
    codes: dict[int, list[str]] = {}
    if records:
        for rid, code in await session.execute(
            select(RecordObligation.record_id, RecordObligation.code).where(
                RecordObligation.record_id.in_([r.id for r in records])
            )
        ):
            codes.setdefault(rid, []).append(obligation_name(code, "zh"))
    linked: dict[int, Meeting] = {}
    if records:
        linked = {
            m.record_id: m
            for m in (
                await session.execute(
                    select(Meeting).where(Meeting.record_id.in_([r.id for r in records]))
                )
            ).scalars()
            if m.record_id is not None
        }
    out["meetings"] = []
    for r in records:
        d = dict(r.details or {})
        meeting = linked.get(r.id)
        if meeting is not None:  # the meeting itself is the truth for kind, topic, attendance
            counted = await meetings.tally(session, meeting)
            d |= {
                "obligation": meeting.obligation,
                "topic": meeting.topic,
                "expected": len(counted.expected),
                "present": len(counted.present),
                "leave": len(counted.leave),
            }
        e, p, lv = int(d.get("expected", 0)), int(d.get("present", 0)), int(d.get("leave", 0))
        out["meetings"].append(
            [
                r.held_on,
                obligation_name(str(d.get("obligation", "other")), "zh"),
                d.get("topic") or "",
                yes_no(d.get("first_topic")),
                e,
                p,
                lv,
                max(0, e - p - lv),
                r.summary or "",
                len(d.get("photos") or []),
                "、".join(sorted(codes.get(r.id, []))),
                _local(r.filed_at, tz),
            ]
        )
    held = list(
        (
            await session.execute(
                select(Meeting)
                .where(Meeting.org_id.in_(org_ids), Meeting.status == "closed")
                .order_by(Meeting.starts_at)
            )
        ).scalars()
    )
    out["attendance"] = []
    for m in held:
        start = _local(m.starts_at, tz)
        assert start is not None
        if start.year != year:
            continue
        answers = {
            a.member_id: a
            for a in (
                await session.execute(select(Attendance).where(Attendance.meeting_id == m.id))
            ).scalars()
        }
        for person in await meetings.expected(session, m):
            a = answers.get(person.id)
            status = w("ledger.attendance.absent" if a is None else ATTENDANCE[a.status])
            out["attendance"].append(
                [
                    start,
                    obligation_name(m.obligation, "zh"),
                    m.place,
                    person.name,
                    status,
                    w(VIA[a.via]) if a is not None and a.status == "present" else "",
                    _local(a.at, tz) if a is not None else None,
                    (a.reason or "") if a is not None and a.status == "leave" else "",
                ]
            )
    out["reports"] = [
        [
            r.held_on,
            t("zh", names.REPORT_KIND[r.kind]),
            members[r.member_id].name if r.member_id in members else "",
            len(r.summary or ""),
            r.summary or "",
            _local(r.filed_at, tz),
        ]
        for r in await _branch_records(session, org_ids, ["study_note", "thought_report"], year)
    ]
    out["talks"] = [
        [
            r.held_on,
            members[r.member_id].name if r.member_id in members else "",
            members[r.partner_id].name if r.partner_id in members else "",
            r.summary or "",
        ]
        for r in await _branch_records(session, org_ids, ["heart_talk"], year)
    ]
    return out


def _assessment_rows(results: list[Result], only: str | None = None) -> list[list[Any]]:
    return [
        [
            r.rank,
            r.name,
            r.org,
            r.score,
            r.grade or w("grade.not_judged"),
            yes_no(r.interview),
            *(
                (
                    r.parts.obligations,
                    r.parts.attendance,
                    r.parts.records,
                    r.parts.collections
                    if r.parts.collections is not None
                    else w("ledger.status.not_applicable"),
                )
                if r.judged
                else (None, None, None, None)
            ),
        ]
        for r in results
        if only is None or r.org == only
    ]


async def export(session: AsyncSession, org_id: int, year: int, *, now: datetime) -> bytes:
    """The ledger workbook of a branch, or of every branch below a committee."""
    org = await session.get_one(Org, org_id)
    wb = Workbook()
    default = wb.active
    if default is not None:
        wb.remove(default)
    cal = await load_workdays(session)
    if org.kind == OrgKind.BRANCH.value:
        occurrences = await org_occurrences(
            session, org, year, now=now, cal=cal, policy=DEFAULT_POLICY
        )
        names = {org.code: org.name}
        for m in (await session.execute(select(Member).where(Member.org_id == org.id))).scalars():
            names[member_key(m)] = m.name
        for g in (await session.execute(select(Org).where(Org.parent_id == org.id))).scalars():
            names[g.code] = g.name
        _write(wb, overview_matrix(occurrences, names, year))
        details = await branch_sheets(session, org, year, now=now)
        for code, headers in HEADERS.items():
            _write(wb, Sheet(w(SHEET_TITLES[code]), words(headers), details[code]))
        roots = [org.parent_id] if org.parent_id is not None else [org.id]
        results = await assess(session, year=year, roots=roots, now=now)
        assessed = _assessment_rows(results, only=org.code)
        _write(wb, Sheet(w("ledger.sheet.assessment"), words(ASSESS_HEADERS), assessed))
    else:
        branches = await branches_under(session, [org.id])
        ranked = {r.org: r for r in await assess(session, year=year, roots=[org.id], now=now)}
        overview: list[list[Any]] = []
        merged: dict[str, list[list[Any]]] = {code: [] for code in HEADERS}
        for b in branches:
            occurrences = await org_occurrences(
                session, b, year, now=now, cal=cal, policy=DEFAULT_POLICY
            )
            tally = Counter(status_key(o) for o in occurrences if o.end.year == year)
            r = ranked[b.code]
            uncounted = ("ledger.status.not_applicable", "ledger.status.not_tracked")
            counted = sum(v for k, v in tally.items() if k not in uncounted)
            done = tally["ledger.status.done"]
            overview.append(
                [
                    b.name,
                    b.code,
                    done,
                    tally["ledger.status.to_file"],
                    tally["ledger.status.overdue"],
                    tally["ledger.status.missed"],
                    tally["ledger.status.not_applicable"],
                    round(done / counted, 3) if counted else None,
                    r.score,
                    r.grade or w("grade.not_judged"),
                    r.rank,
                    yes_no(r.interview),
                ]
            )
            details = await branch_sheets(session, b, year, now=now)
            for code in HEADERS:
                merged[code] += [[b.name, *row] for row in details[code]]
        overview_sheet = Sheet(
            w("ledger.sheet.overview"), words(COMMITTEE_OVERVIEW_HEADERS), overview
        )
        _write(wb, overview_sheet)
        branch_column = w("ledger.col.branch")
        for code, headers in HEADERS.items():
            sheet = Sheet(w(SHEET_TITLES[code]), [branch_column, *words(headers)], merged[code])
            _write(wb, sheet)
        all_assessed = _assessment_rows(list(ranked.values()))
        _write(wb, Sheet(w("ledger.sheet.assessment"), words(ASSESS_HEADERS), all_assessed))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def workbook_for(
    db: Database, actor: Actor, code: str | None, year: int, *, now: datetime
) -> tuple[OrgInfo, bytes]:
    """/export: the ledger of the caller's own branch (managers) or of ``code`` (a branch or
    committee the caller manages or administers). Raises NotAllowed or Declined."""
    async with db.read() as session:
        if code is not None:
            info = await org_by_code(session, code)
            if info is None:  # say so, rather than that only managers may
                raise Declined("export.no_such_org", code=code)
            allowed = info is not None and await manages_branch(session, actor, info.id)
        elif actor.is_manager and actor.branch is not None:
            info, allowed = actor.branch, True
        else:
            info, allowed = None, False
        if info is None or not allowed:
            key = "export.need_code" if code is None and actor.is_admin else "common.managers_only"
            raise NotAllowed(key, org_id=info.id if info else None)
        if info.kind == OrgKind.GROUP.value:  # a 党小组's records are in its branch's ledger
            raise Declined("export.usage")
        return info, await export(session, info.id, year, now=now)
