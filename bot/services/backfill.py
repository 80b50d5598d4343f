"""Meetings held before the bot, entered from a workbook (issue #16): ``zhibu records
import`` and the same file sent in a private chat by a manager.

The sheet is the 会议记录 sheet of the ledger workbook (``bot/exports/ledger.py``), so a
branch's exported ledger imports as it is: 日期, 会议类型, 主题, 第一议题, 应到, 实到, 请假,
内容摘要, 计入工作要求, 提交时间; optional 组织编码 (or 支部, a branch's name, as the committee
ledger writes it), 出席人员 and 请假人员 (names, instead of counts), 主持人, 记录人, 备注.
The ledger's 学习心得与思想汇报 and 谈心谈话 sheets come along the same way (study notes,
thought reports, heart talks). Every row is checked against the same rules as a record filed
in chat (reports.py); any
problem rejects the whole file with ``row N, column X``; nothing is written twice when the
same file comes again. A branch that backfills a year is judged on that whole year: its
``tracking_since`` moves back to the 1 January of the earliest meeting imported.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import names
from bot.i18n.texts import LANGS, Lang, t
from bot.services.access import Actor, NotAllowed, admin_roots
from bot.services.assessment import branches_under
from bot.services.meetings import MEETING_KINDS, QUORUM_FOR
from bot.services.obligations import add_record, obligation_name
from bot.services.reports import (
    ATTENDANCE_MAX,
    KINDS,
    MEETING_TICKS,
    ReportError,
    check_text,
    check_topic,
    quorum,
)
from bot.services.roster import (
    MEMBER_SHEET,
    ORG_SHEET,
    Problem,
    RosterFormatError,
    Table,
    _blank,
    _Cells,
    _columns,
    parse_join_date,
    read_sheets,
    render_problems,
)
from bot.store import audit
from bot.store.db import Database
from bot.store.models import Member, Org, OrgKind, Record

SHEET = "会议记录"
HEADERS = {  # header (lower-cased) -> field; the ledger's own headers first
    "日期": "held_on",
    "date": "held_on",
    "会议类型": "obligation",
    "kind": "obligation",
    "主题": "topic",
    "topic": "topic",
    "第一议题": "first_topic",
    "first_topic": "first_topic",
    "应到": "expected",
    "expected": "expected",
    "实到": "present",
    "present": "present",
    "请假": "leave",
    "leave": "leave",
    "内容摘要": "summary",
    "summary": "summary",
    "计入工作要求": "counts",
    "counts_toward": "counts",
    "提交时间": "filed_at",
    "filed_at": "filed_at",
    "组织编码": "org_code",
    "org_code": "org_code",
    "支部": "branch",
    "branch": "branch",
    "出席人员": "present_names",
    "present_names": "present_names",
    "请假人员": "leave_names",
    "leave_names": "leave_names",
    "主持人": "host",
    "host": "host",
    "记录人": "recorder",
    "recorder": "recorder",
    "备注": "note",
    "note": "note",
    # the ledger's 学习心得与思想汇报 and 谈心谈话 sheets
    "类型": "kind",
    "report_kind": "kind",
    "姓名": "name",
    "name": "name",
    "内容": "content",
    "content": "content",
    "谈话人": "talker",
    "talker": "talker",
    "谈话对象": "partner",
    "partner": "partner",
}
REQUIRED = ("held_on", "obligation", "summary")
REPORTS_SHEET = "学习心得与思想汇报"  # study notes and thought reports, one per row
TALKS_SHEET = "谈心谈话"
PERSONAL = {  # sheet -> the record kinds it holds and its required columns
    REPORTS_SHEET: (("study_note", "thought_report"), ("held_on", "kind", "name", "content")),
    TALKS_SHEET: (("heart_talk",), ("held_on", "talker", "partner", "content")),
}
SHEETS = {SHEET: ("records", "meetings"), REPORTS_SHEET: ("reports",), TALKS_SHEET: ("talks",)}
TEMPLATE_HEADERS = [
    "组织编码",
    "日期",
    "会议类型",
    "主题",
    "第一议题",
    "应到",
    "实到",
    "请假",
    "内容摘要",
    "计入工作要求",
    "提交时间",
    "主持人",
    "记录人",
    "备注",
]
FILED_HOUR = time(18, 0)  # a backfilled record without 提交时间 counts as filed that evening
NAME_MAX = 50
NOTE_MAX = 500
SPLIT_RE = re.compile(r"[、,，;；\s]+")
YES = {"是", "yes", "y", "true", "1", "√", "✓"}
NO = {"否", "no", "n", "false", "0", ""}


def read_records_workbook(data: bytes) -> list[Table]:
    """The 会议记录, 学习心得与思想汇报 and 谈心谈话 sheets a workbook has (at least one);
    run it through ``roster.read_isolated`` to read a file from outside."""
    found = read_sheets(data, SHEETS)
    tables: list[Table] = [found[name] for name in SHEETS if name in found]
    if not tables:
        raise RosterFormatError("records.missing_sheet", found=", ".join(found[""]) or "-")
    return tables


def read_upload(data: bytes) -> tuple[str, Any]:
    """A workbook sent in chat: ("roster", (orgs, members)) when it has 组织 and 党员, else
    ("records", table) when it has 会议记录 (through ``roster.read_isolated``)."""
    found = read_sheets(data, {ORG_SHEET: ("orgs",), MEMBER_SHEET: ("members",), **SHEETS})
    if ORG_SHEET in found and MEMBER_SHEET in found:
        return "roster", (found[ORG_SHEET], found[MEMBER_SHEET])
    tables = [found[name] for name in SHEETS if name in found]
    if tables:
        return "records", tables
    raise RosterFormatError("import.unknown_workbook", found=", ".join(found[""]) or "-")


def may_send_records(actor: Actor) -> None:
    """Managers send their branch's past meetings; admins those of their branches."""
    if not (actor.is_admin or (actor.is_manager and actor.branch is not None)):
        raise NotAllowed("import.admins_only")


@dataclass(frozen=True)
class RecordRow:
    row: int
    org_id: int
    held_on: date
    obligation: str
    topic: str | None
    first_topic: bool
    expected: int
    present: int
    leave: int
    summary: str
    codes: tuple[str, ...]
    filed_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)  # host, recorder, note, names

    def key(self) -> tuple[int, date, str, str, str]:
        """What makes two rows the same meeting record (a file imported twice)."""
        return (self.org_id, self.held_on, self.obligation, self.topic or "", self.summary)


@dataclass(frozen=True)
class PersonalRow:
    """A study note, thought report or heart talk held before the bot."""

    row: int
    org_id: int
    kind: str
    held_on: date
    member_id: int
    partner_id: int | None
    summary: str
    filed_at: datetime

    def key(self) -> tuple[int, str, date, int | None, int | None, str]:
        return (
            self.org_id, self.kind, self.held_on, self.member_id, self.partner_id, self.summary,
        )  # fmt: skip


@dataclass
class Outcome:
    problems: list[Problem]
    created: int = 0
    unchanged: int = 0
    moved: list[tuple[str, date | None, date]] = field(default_factory=list)  # tracking_since

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Branch:
    id: int
    code: str
    name: str
    timezone: str
    members: dict[str, int]  # name -> member id, active members
    twice: frozenset[str] = frozenset()  # names two active members share


def _kinds() -> dict[str, str]:
    """Every way a 会议类型 or a 计入 entry may be written -> its code."""
    found: dict[str, str] = {}
    for code in (*MEETING_KINDS, "democratic_review", "other"):
        found[code] = code
        for lang in LANGS:
            found[_norm(obligation_name(code, lang))] = code
    return found


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _plain(c: _Cells, name: str) -> str | None:
    """A text cell as written (``_Cells.text`` folds full-width punctuation, right for codes
    and dates, wrong for a summary someone wrote)."""
    value = c.raw(name)
    return None if _blank(value) else str(value).strip()


def _int(c: _Cells, name: str, problems: list[Problem]) -> int | None:
    value = c.raw(name)
    if _blank(value):
        return None
    text = c.text(name) or ""
    if not text.isdigit() or not 0 <= int(text) <= ATTENDANCE_MAX:
        problems.append(c.problem(name, "records.bad_number", value=text, high=ATTENDANCE_MAX))
        return None
    return int(text)


def _moment(value: Any, tz: ZoneInfo) -> datetime | None:
    """A date-and-time cell or ``YYYY-MM-DD HH:MM`` text, local to ``tz``; ValueError if not."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value
    text = unicodedata.normalize("NFKC", str(value)).strip().replace("/", "-")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


class _Checker:
    """Checks the rows of one sheet, collecting every problem (nothing is written)."""

    def __init__(
        self, table: Table, cols: dict[str, int], branches: list[_Branch], default: int | None
    ) -> None:
        self.table, self.cols = table, cols
        self.by_code = {b.code.casefold(): b for b in branches}
        self.by_name = {b.name: b for b in branches}
        self.by_id = {b.id: b for b in branches}
        self.default = default
        self.kinds = _kinds()
        self.problems: list[Problem] = []

    def branch(self, c: _Cells) -> _Branch | None:
        code, name = c.text("org_code"), c.text("branch")
        if code is not None:
            found = self.by_code.get(code.casefold())
            if found is None:
                self.problems.append(c.problem("org_code", "records.unknown_branch", value=code))
            return found
        if name is not None:
            found = self.by_name.get(name)
            if found is None:
                self.problems.append(c.problem("branch", "records.unknown_branch", value=name))
            return found
        if self.default is None:
            self.problems.append(Problem(self.table.sheet, "records.no_branch", row=c.row))
            return None
        return self.by_id[self.default]

    def row(
        self, number: int, values: list[Any], *, today: date, now: datetime
    ) -> RecordRow | None:
        c = _Cells(self.table, self.cols, number, values)
        before = len(self.problems)
        branch = self.branch(c)
        held_on = self.day(c, today)
        obligation = self.kind(c)
        topic = self.topic(c)
        first = self.yes_no(c)
        counts = self.attendance(c, branch)
        summary = self.summary(c)
        extra = self.extra(c)
        # the cells that depend on others are checked whenever those are known, so that a
        # row's every problem is listed at once
        met = quorum(counts[0], counts[1]) if counts is not None else True
        codes = self.codes(c, obligation, met) if obligation is not None else None
        tz = ZoneInfo(branch.timezone) if branch is not None else None
        filed = self.filed(c, held_on, tz, now) if held_on and tz else None
        if len(self.problems) > before or None in (branch, held_on, codes, filed, counts):
            return None
        assert branch and held_on and obligation and counts and summary and codes is not None
        assert filed is not None
        expected, present, leave = counts
        return RecordRow(
            number, branch.id, held_on, obligation, topic, first, expected, present, leave,
            summary, codes, filed, extra,
        )  # fmt: skip

    def day(self, c: _Cells, today: date) -> date | None:
        if _blank(c.raw("held_on")):
            self.problems.append(c.problem("held_on", "roster.required"))
            return None
        try:
            return parse_join_date(c.raw("held_on"), today)
        except OverflowError:
            self.problems.append(
                c.problem("held_on", "records.future_day", value=c.text("held_on"))
            )
        except ValueError:
            self.problems.append(c.problem("held_on", "records.bad_date", value=c.text("held_on")))
        return None

    def kind(self, c: _Cells) -> str | None:
        text = c.text("obligation")
        code = self.kinds.get(_norm(text)) if text else None
        if code is None or code == "democratic_review":
            self.problems.append(c.problem("obligation", "records.bad_kind", value=text or ""))
            return None
        return code

    def topic(self, c: _Cells) -> str | None:
        text = _plain(c, "topic")
        if text is None:
            return None
        try:
            return check_topic(text)
        except ReportError as exc:  # the chat's words ask to send again: a file's are plain
            self.problems.append(c.problem("topic", "records.topic_length", **exc.params))
            return None

    def yes_no(self, c: _Cells) -> bool:
        text = _norm(c.text("first_topic") or "")
        if text in YES:
            return True
        if text not in NO:
            self.problems.append(c.problem("first_topic", "records.bad_yes_no", value=text))
        return False

    def names(self, c: _Cells, name: str, branch: _Branch | None) -> list[int] | None:
        text = c.text(name)
        if text is None or branch is None:
            return None
        people = [p for p in SPLIT_RE.split(text) if p]
        unknown = [p for p in people if p not in branch.members]
        if unknown:
            who = "、".join(unknown[:5])
            self.problems.append(c.problem(name, "records.unknown_names", names=who))
            return None
        return sorted({branch.members[p] for p in people})

    def attendance(self, c: _Cells, branch: _Branch | None) -> tuple[int, int, int] | None:
        before = len(self.problems)
        expected, present, leave = (
            _int(c, n, self.problems) for n in ("expected", "present", "leave")
        )
        here, away = self.names(c, "present_names", branch), self.names(c, "leave_names", branch)
        if len(self.problems) > before:
            return None
        present = len(here) if present is None and here is not None else present
        leave = len(away) if leave is None and away is not None else leave
        if expected is None and branch is not None:
            expected = len(branch.members)
        column = "expected" if "expected" in self.cols else next(iter(self.cols))
        if present is None or expected is None:
            self.problems.append(c.problem(column, "records.no_attendance"))
            return None
        leave = leave or 0
        if not 1 <= expected <= ATTENDANCE_MAX or present + leave > expected:
            self.problems.append(
                c.problem(column, "records.bad_attendance", e=expected, p=present, l=leave)
            )
            return None
        return expected, present, leave

    def summary(self, c: _Cells) -> str | None:
        try:
            return check_text("meeting_record", _plain(c, "summary") or "")
        except ReportError as exc:
            self.problems.append(c.problem("summary", "records.summary_length", **exc.params))
            return None

    def codes(self, c: _Cells, obligation: str, met: bool) -> tuple[str, ...] | None:
        text = c.text("counts")
        if text is None:  # what the meeting itself counts toward
            counted = obligation in MEETING_KINDS and (met or obligation not in QUORUM_FOR)
            return (obligation,) if counted else ()
        codes = []
        for part in (p for p in SPLIT_RE.split(text) if p):
            code = self.kinds.get(_norm(part))
            if code is None or code not in MEETING_TICKS:
                self.problems.append(c.problem("counts", "records.bad_counts", value=part))
                return None
            if code in QUORUM_FOR and not met:
                name = obligation_name(code, "zh")
                self.problems.append(c.problem("counts", "records.no_quorum", kind=name))
                return None
            codes.append(code)
        return tuple(sorted(set(codes)))

    def filed(self, c: _Cells, held_on: date, tz: ZoneInfo, now: datetime) -> datetime | None:
        value = c.raw("filed_at")
        if _blank(value):
            return datetime.combine(held_on, FILED_HOUR, tzinfo=tz)
        try:
            moment = _moment(value, tz)
        except (TypeError, ValueError):
            self.problems.append(
                c.problem("filed_at", "records.bad_moment", value=c.text("filed_at"))
            )
            return None
        if moment is None or moment.astimezone(tz).date() < held_on or moment > now:
            self.problems.append(
                c.problem("filed_at", "records.filed_range", value=c.text("filed_at"))
            )
            return None
        return moment

    def extra(self, c: _Cells) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, limit in (("host", NAME_MAX), ("recorder", NAME_MAX), ("note", NOTE_MAX)):
            text = _plain(c, name)
            if text is None:
                continue
            if len(text) > limit or any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
                self.problems.append(c.problem(name, "records.too_long", limit=limit))
                continue
            found[name] = text
        return found


class _PersonalChecker(_Checker):
    """Rows of the 学习心得与思想汇报 and 谈心谈话 sheets."""

    def person(self, c: _Cells, name: str, branch: _Branch | None) -> int | None:
        text = _plain(c, name)
        if text is None:
            self.problems.append(c.problem(name, "roster.required"))
            return None
        if branch is None:
            return None
        if text in branch.twice:
            self.problems.append(c.problem(name, "records.ambiguous_name", who=text))
            return None
        if text not in branch.members:
            self.problems.append(c.problem(name, "records.unknown_names", names=text))
            return None
        return branch.members[text]

    def report_kind(self, c: _Cells, kinds: tuple[str, ...]) -> str | None:
        if len(kinds) == 1:
            return kinds[0]
        text = _norm(c.text("kind") or "")
        for kind in kinds:
            if text == kind or any(
                _norm(t(lang, names.REPORT_KIND[kind])) == text for lang in LANGS
            ):
                return kind
        self.problems.append(c.problem("kind", "records.bad_report_kind", value=text))
        return None

    def personal(
        self, number: int, values: list[Any], kinds: tuple[str, ...], *, today: date, now: datetime
    ) -> PersonalRow | None:
        c = _Cells(self.table, self.cols, number, values)
        before = len(self.problems)
        branch = self.branch(c)
        held_on = self.day(c, today)
        kind = self.report_kind(c, kinds)
        talk = kinds == ("heart_talk",)
        member = self.person(c, "talker" if talk else "name", branch)
        partner = self.person(c, "partner", branch) if talk else None
        if talk and member is not None and member == partner:
            self.problems.append(c.problem("partner", "records.same_person"))
        summary = None
        if kind is not None:
            try:
                summary = check_text(kind, _plain(c, "content") or "")
            except ReportError as exc:
                self.problems.append(c.problem("content", "records.content_length", **exc.params))
        tz = ZoneInfo(branch.timezone) if branch is not None else None
        filed = self.filed(c, held_on, tz, now) if held_on and tz else None
        if len(self.problems) > before:
            return None
        assert branch and held_on and kind and member and summary and filed
        return PersonalRow(number, branch.id, kind, held_on, member, partner, summary, filed)


async def _branches(session: AsyncSession, actor: Actor | None) -> list[_Branch]:
    """The branches a file may name: the operator's all, an admin's in scope, a manager's own."""
    if actor is None or actor.is_admin:
        orgs = await branches_under(session, None if actor is None else admin_roots(actor))
    elif actor.is_manager and actor.branch is not None:
        orgs = [await session.get_one(Org, actor.branch.id)]
    else:
        raise NotAllowed("common.managers_only")
    people: dict[int, dict[str, int]] = defaultdict(dict)
    rows = await session.execute(
        select(Member.org_id, Member.name, Member.id).where(
            Member.org_id.in_([o.id for o in orgs]), Member.active
        )
    )
    twice: dict[int, set[str]] = defaultdict(set)
    for org_id, name, member_id in rows:
        if name in people[org_id]:
            twice[org_id].add(name)
        people[org_id][name] = member_id
    return [
        _Branch(o.id, o.code, o.name, o.timezone, people[o.id], frozenset(twice[o.id]))
        for o in orgs
    ]


def check(
    tables: list[Table], branches: list[_Branch], *, default: int | None, now: datetime
) -> tuple[list[RecordRow | PersonalRow], list[Problem]]:
    """Every row of every sheet checked; the rows to write, or the problems."""
    rows: list[RecordRow | PersonalRow] = []
    problems: list[Problem] = []
    today = now.astimezone(ZoneInfo(branches[0].timezone if branches else "UTC")).date()
    for table in tables:
        kinds, required = PERSONAL.get(table.sheet, ((), REQUIRED))
        cols, missing = _columns(table, HEADERS, required)
        if missing:
            problems += missing
            continue
        checker = _PersonalChecker(table, cols, branches, default)
        for number, values in table.rows:
            found: RecordRow | PersonalRow | None = (
                checker.personal(number, values, kinds, today=today, now=now)
                if kinds
                else checker.row(number, values, today=today, now=now)
            )
            if found is not None:
                rows.append(found)
        problems += checker.problems
    if not any(table.rows for table in tables):
        problems.append(Problem(tables[0].sheet if tables else SHEET, "records.empty"))
    return rows, problems


def render_outcome(lang: Lang, outcome: Outcome, *, dry_run: bool = False) -> list[str]:
    """What an import says, in the chat and in the terminal alike: the problems, or what
    was stored and whose tracking moved back."""
    if not outcome.ok:
        return [
            t(lang, "records.problems", count=len(outcome.problems)),
            *render_problems(lang, outcome.problems),
        ]
    key = "records.dry_run" if dry_run else "records.done"
    lines = [t(lang, key, created=outcome.created, unchanged=outcome.unchanged)]
    lines += [
        t(lang, "records.moved", code=code, day=day.isoformat(), before=before or "-")
        for code, before, day in outcome.moved
    ]
    return lines


class _DryRun(Exception):
    pass


async def import_records(
    db: Database,
    tables: Table | list[Table],
    *,
    now: datetime,
    actor: Actor | None = None,
    default_branch: str | None = None,
    dry_run: bool = False,
    source: tuple[str, bytes] | None = None,
) -> Outcome:
    """Check the sheet and, when every row is right, write it in one transaction.

    ``actor``: who sent it in chat (None: the operator's CLI, every branch); a row without a
    branch goes to ``default_branch`` (a code), else the manager's own branch. ``source``:
    the file's name and bytes, audited by name and SHA-256."""
    tables = tables if isinstance(tables, list) else [tables]
    sheet = tables[0].sheet if tables else SHEET
    outcome = Outcome([])
    try:
        async with db.write() as session:
            branches = await _branches(session, actor)
            default = _default(branches, actor, default_branch)
            if default_branch is not None and default is None:
                outcome.problems.append(
                    Problem(sheet, "records.unknown_branch", params={"value": default_branch})
                )
                raise _DryRun
            rows, outcome.problems = check(tables, branches, default=default, now=now)
            if outcome.problems:
                raise _DryRun
            await _write(session, rows, outcome, now=now, by=actor)
            if dry_run:
                raise _DryRun
            await _audit(session, outcome, now=now, by=actor, source=source)
    except _DryRun:
        pass
    return outcome


def _default(branches: list[_Branch], actor: Actor | None, code: str | None) -> int | None:
    if code is not None:
        return next((b.id for b in branches if b.code.casefold() == code.casefold()), None)
    if actor is not None and actor.is_manager and actor.branch is not None:
        return actor.branch.id
    return branches[0].id if len(branches) == 1 else None


async def _write(
    session: AsyncSession,
    found: list[RecordRow | PersonalRow],
    outcome: Outcome,
    *,
    now: datetime,
    by: Actor | None,
) -> None:
    """The rows not stored yet, as records; tracking moved back where needed."""
    rows = [r for r in found if isinstance(r, RecordRow)]
    stored = await session.execute(
        select(Record.org_id, Record.held_on, Record.details, Record.summary).where(
            Record.org_id.in_({r.org_id for r in rows}),
            Record.kind == "meeting_record",
            Record.withdrawn_at.is_(None),
        )
    )
    seen = {
        (org_id, held_on, str((d or {}).get("obligation")), (d or {}).get("topic") or "", summary)
        for org_id, held_on, d, summary in stored
    }
    earliest: dict[int, date] = {}
    await _write_personal(
        session, [r for r in found if isinstance(r, PersonalRow)], outcome, earliest, by=by
    )
    for r in rows:
        if r.key() in seen:
            outcome.unchanged += 1
            continue
        seen.add(r.key())
        record_id = await add_record(
            session,
            org_id=r.org_id,
            kind="meeting_record",
            held_on=r.held_on,
            codes=list(r.codes),
            filed_at=r.filed_at,
            filed_by=by.telegram_id if by is not None else None,
            summary=r.summary,
            allow_none=True,
        )
        record = await session.get_one(Record, record_id)
        record.details = {
            "obligation": r.obligation,
            "topic": r.topic,
            "first_topic": r.first_topic,
            "expected": r.expected,
            "present": r.present,
            "leave": r.leave,
            "quorum": quorum(r.expected, r.present),
            "photos": [],
            "backfilled": True,
            **r.extra,
        }
        outcome.created += 1
        earliest[r.org_id] = min(r.held_on, earliest.get(r.org_id, r.held_on))
    await _track_back(session, earliest, outcome, now=now)


async def _write_personal(
    session: AsyncSession,
    rows: list[PersonalRow],
    outcome: Outcome,
    earliest: dict[int, date],
    *,
    by: Actor | None,
) -> None:
    """Study notes, thought reports and heart talks not stored yet, as the chat stores them."""
    if not rows:
        return
    stored = await session.execute(
        select(
            Record.org_id,
            Record.kind,
            Record.held_on,
            Record.member_id,
            Record.partner_id,
            Record.summary,
        ).where(
            Record.org_id.in_({r.org_id for r in rows}),
            Record.kind.in_({r.kind for r in rows}),
            Record.withdrawn_at.is_(None),
        )
    )
    seen = {tuple(row) for row in stored}
    for r in rows:
        if r.key() in seen:
            outcome.unchanged += 1
            continue
        seen.add(r.key())
        await add_record(
            session,
            org_id=r.org_id,
            kind=r.kind,
            held_on=r.held_on,
            codes=list(KINDS[r.kind].obligations),
            filed_at=r.filed_at,
            filed_by=by.telegram_id if by is not None else None,
            member_id=r.member_id,
            partner_id=r.partner_id,
            summary=r.summary,
        )
        outcome.created += 1
        earliest[r.org_id] = min(r.held_on, earliest.get(r.org_id, r.held_on))


async def _track_back(
    session: AsyncSession, earliest: dict[int, date], outcome: Outcome, *, now: datetime
) -> None:
    """A branch that backfills a year is judged on the whole of it (and its 党小组 with it)."""
    if not earliest:
        return
    orgs = (
        await session.execute(
            select(Org).where(
                Org.id.in_(earliest)
                | (Org.parent_id.in_(earliest) & (Org.kind == OrgKind.GROUP.value))
            )
        )
    ).scalars()
    for org in orgs:
        branch = org.id if org.id in earliest else org.parent_id
        assert branch is not None
        start = date(earliest[branch].year, 1, 1)
        if org.tracking_since is None or org.tracking_since > start:
            if org.id in earliest:
                outcome.moved.append((org.code, org.tracking_since, start))
            org.tracking_since, org.updated_at = start, now


async def _audit(
    session: AsyncSession,
    outcome: Outcome,
    *,
    now: datetime,
    by: Actor | None,
    source: tuple[str, bytes] | None,
) -> None:
    detail: dict[str, Any] = {
        "created": outcome.created,
        "unchanged": outcome.unchanged,
        "tracking_since": {c: str(new) for c, _, new in outcome.moved},
    }
    if source is not None:
        detail |= {"file": source[0][:200], "sha256": hashlib.sha256(source[1]).hexdigest()}
    await audit.record(
        session,
        at=now,
        action="records.import",
        actor_telegram_id=by.telegram_id if by is not None else None,
        actor_member_id=by.member.id if by is not None and by.member is not None else None,
        detail=detail,
    )
