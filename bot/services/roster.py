"""Roster import (SPEC §2): read the workbook or CSVs, validate every row, apply all or nothing.

Reading and validation are pure; ``apply_roster`` writes through a session that the caller
owns, so a failed or dry run leaves the database exactly as it was.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import multiprocessing
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n.texts import Lang, t
from bot.rules.workbook import append_row
from bot.services.access import Actor, NotAllowed, admin_codes
from bot.store import audit
from bot.store.db import Database
from bot.store.models import Member, Org, OrgKind, Role

MAX_ERRORS_SHOWN = 50
ORG_SHEET = "组织"
MEMBER_SHEET = "党员"

# header (lower-cased) -> field name
ORG_HEADERS = {
    "组织编码": "code",
    "code": "code",
    "组织名称": "name",
    "name": "name",
    "上级组织编码": "parent_code",
    "parent_code": "parent_code",
    "组织类型": "kind",
    "kind": "kind",
    "时区": "timezone",
    "timezone": "timezone",
    "启用日期": "tracking_since",
    "tracking_since": "tracking_since",
}
MEMBER_HEADERS = {
    "组织编码": "org_code",
    "org_code": "org_code",
    "姓名": "name",
    "name": "name",
    "党员编号": "member_code",
    "member_code": "member_code",
    "手机号": "phone",
    "phone": "phone",
    "职务": "role",
    "role": "role",
    "入党日期": "joined_on",
    "joined_on": "joined_on",
    "党小组": "group",
    "group": "group",
}
ORG_REQUIRED = ("code", "name", "kind")
MEMBER_REQUIRED = ("org_code", "name")
TEMPLATE_ORG_HEADERS = ["组织编码", "组织名称", "上级组织编码", "组织类型", "时区", "启用日期"]
TEMPLATE_MEMBER_HEADERS = ["组织编码", "姓名", "党员编号", "手机号", "职务", "入党日期", "党小组"]

KIND_NAMES = {
    "工委": OrgKind.WORKING_COMMITTEE,
    "党工委": OrgKind.WORKING_COMMITTEE,
    "党委": OrgKind.COMMITTEE,
    "党组": OrgKind.COMMITTEE,
    "党总支": OrgKind.GENERAL_BRANCH,
    "总支": OrgKind.GENERAL_BRANCH,
    "党支部": OrgKind.BRANCH,
    "支部": OrgKind.BRANCH,
}
IMPORTABLE_KINDS = (
    OrgKind.WORKING_COMMITTEE,
    OrgKind.COMMITTEE,
    OrgKind.GENERAL_BRANCH,
    OrgKind.BRANCH,
)
ROLE_NAMES = {
    "书记": Role.SECRETARY,
    "支部书记": Role.SECRETARY,
    "副书记": Role.DEPUTY_SECRETARY,
    "组织委员": Role.ORGANIZER,
    "宣传委员": Role.PROPAGANDA,
    "纪检委员": Role.DISCIPLINE,
    "党小组长": Role.GROUP_LEADER,
    "小组长": Role.GROUP_LEADER,
    "党员": Role.MEMBER,
    "正式党员": Role.MEMBER,
    "预备党员": Role.PROBATIONARY,
    "入党积极分子": Role.ACTIVIST,
    "积极分子": Role.ACTIVIST,
}
CODE_RE = re.compile(r"^[\w.\-]{1,60}$")
PHONE_RE = re.compile(r"^\+?\d{5,15}$")
DATE_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
EXCEL_EPOCH = date(1899, 12, 30)
EARLIEST_JOIN = date(1921, 7, 1)
MAX_NAME = 50
MAX_ORG_NAME = 100
MAX_GROUP = 30
SCOPE_PROBLEMS = frozenset(
    {"roster.out_of_scope", "roster.move_out_of_scope", "roster.member_out_of_scope"}
)
MAX_COLUMNS = 40  # header cells read from a sheet, whatever width it declares
MAX_ROWS = 100_000  # data rows per sheet
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # what a workbook may unpack to
PARSE_SECONDS = 20.0  # a workbook not read by then is refused
CHILD_MEMORY = 1536 * 1024 * 1024  # address space of the process that reads a workbook


class RosterFormatError(Exception):
    """The file is not a readable workbook or CSV."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file; rendered by the caller in the user's language."""

    sheet: str
    key: str
    row: int | None = None
    column: str | None = None
    header: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Table:
    """One sheet: its header cells and data rows with spreadsheet row numbers."""

    sheet: str
    headers: list[str]
    rows: list[tuple[int, list[Any]]]


@dataclass(frozen=True)
class OrgRow:
    row: int
    code: str
    name: str
    parent_code: str | None
    kind: OrgKind
    timezone: str | None
    tracking_since: date | None = None  # blank: the parent's, else the day of the import


@dataclass(frozen=True)
class MemberRow:
    row: int
    org_code: str
    name: str
    member_code: str | None
    phone: str | None
    role: Role
    joined_on: date | None
    group: str | None


@dataclass
class Roster:
    orgs: list[OrgRow]
    members: list[MemberRow]


@dataclass
class ImportCounts:
    orgs_created: int = 0
    orgs_updated: int = 0
    orgs_unchanged: int = 0
    groups_created: int = 0
    members_created: int = 0
    members_updated: int = 0
    members_unchanged: int = 0
    members_deactivated: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.orgs_created
            + self.orgs_updated
            + self.groups_created
            + self.members_created
            + self.members_updated
            + self.members_deactivated
        )


# ---------------------------------------------------------------- reading


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the column as a spreadsheet shows it."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def read_workbook(data: bytes) -> tuple[Table, Table]:
    """The 组织 and 党员 sheets of an .xlsx workbook (English sheet names also work)."""
    found = read_sheets(data, {ORG_SHEET: ("orgs",), MEMBER_SHEET: ("members",)})
    if ORG_SHEET not in found or MEMBER_SHEET not in found:
        raise RosterFormatError("roster.missing_sheets", found=", ".join(found.pop("", [])) or "-")
    return found[ORG_SHEET], found[MEMBER_SHEET]


def read_sheets(data: bytes, wanted: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The sheets named in ``wanted`` (by their name or an alias, any case) of an .xlsx
    workbook, as Tables; those missing are left out, and "" lists every sheet's title.

    Nothing in the file is trusted: not the sheet's declared dimension (only the header's
    columns are read, at most MAX_COLUMNS), not its row count (more than MAX_ROWS is
    refused), not the sizes its zip entries claim (unpacked size is capped). Run it in
    ``read_workbook_isolated`` when the caller must stay responsive.
    """
    from openpyxl import load_workbook  # slow import; only when a workbook is read
    from openpyxl.utils.exceptions import InvalidFileException

    _check_unpacked_size(data)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise RosterFormatError("roster.not_xlsx") from exc
    try:
        sheets = {ws.title.strip().lower(): ws for ws in wb.worksheets}
        found: dict[str, Any] = {"": list(sheets)}
        for name, aliases in wanted.items():
            ws = next((sheets[n] for n in (name, *aliases) if n in sheets), None)
            if ws is not None:
                found[name] = _sheet_table(name, _bounded_rows(name, ws))
        return found
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise RosterFormatError("roster.not_xlsx") from exc
    finally:
        wb.close()


def _check_unpacked_size(data: bytes) -> None:
    """Refuse a zip that unpacks too large, counting what it really unpacks to (the sizes in
    its directory are the file's own claim)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = 0
            for info in archive.infolist():
                with archive.open(info) as member:
                    while chunk := member.read(1 << 20):
                        total += len(chunk)
                        if total > MAX_UNPACKED_BYTES:
                            raise RosterFormatError(
                                "roster.too_big", mb=MAX_UNPACKED_BYTES // (1 << 20)
                            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise RosterFormatError("roster.not_xlsx") from exc


def _bounded_rows(sheet: str, ws: Any) -> Iterable[Sequence[Any]]:
    """The header row, then the data rows cut to the header's width; at most MAX_ROWS."""
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # ignore the dimension the file declares
    header = next(ws.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS, values_only=True), ())
    named = [i for i, value in enumerate(header) if not _blank(value)]
    width = named[-1] + 1 if named else 1
    yield tuple(header)[:width]
    for count, row in enumerate(ws.iter_rows(min_row=2, max_col=width, values_only=True), 1):
        if count > MAX_ROWS:
            raise RosterFormatError("roster.too_many_rows", sheet=sheet, limit=MAX_ROWS)
        yield row


def _read_in_child(
    data: bytes, memory_limit: int, reader: Callable[[bytes], Any]
) -> tuple[str, Any]:
    """The child process's work: read the workbook within a memory limit."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    try:
        return "ok", reader(data)
    except RosterFormatError as exc:
        return "refused", (exc.key, exc.params)
    except MemoryError:
        return "refused", ("roster.too_big", {"mb": MAX_UNPACKED_BYTES // (1 << 20)})


def read_workbook_isolated(
    data: bytes, *, timeout: float = PARSE_SECONDS, memory_limit: int = CHILD_MEMORY
) -> tuple[Table, Table]:
    """``read_workbook`` in a child process that is killed after ``timeout`` seconds and may
    not use more than ``memory_limit`` bytes: a hostile file costs the bot nothing. Blocks
    the calling thread: from async code, run it with ``asyncio.to_thread``."""
    orgs, members = read_isolated(data, read_workbook, timeout=timeout, memory_limit=memory_limit)
    return orgs, members


def read_isolated(
    data: bytes,
    reader: Callable[[bytes], Any],
    *,
    timeout: float = PARSE_SECONDS,
    memory_limit: int = CHILD_MEMORY,
) -> Any:
    """``reader(data)`` (a module-level function) in a child process, as above."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
    try:
        outcome, value = pool.submit(_read_in_child, data, memory_limit, reader).result(timeout)
    except FutureTimeout:
        raise RosterFormatError("roster.too_slow", seconds=int(timeout)) from None
    except BrokenProcessPool:
        raise RosterFormatError("roster.too_big", mb=MAX_UNPACKED_BYTES // (1 << 20)) from None
    finally:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()  # a child still at work after the timeout is ended here
        pool.shutdown(wait=False, cancel_futures=True)
    if outcome == "refused":
        key, params = value
        raise RosterFormatError(key, **params)
    return value


def read_csv(data: bytes, sheet: str) -> Table:
    """A CSV file, UTF-8 (with or without BOM) or GB18030 as Chinese Excel writes it."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterFormatError("roster.bad_encoding")
    if "\x00" in text:
        raise RosterFormatError("roster.not_csv")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise RosterFormatError("roster.not_csv") from exc
    return _sheet_table(sheet, iter(rows))


def csv_kind(table_headers: Sequence[Any]) -> str | None:
    """Tell an orgs CSV from a members CSV by its headers."""
    names = {_norm_header(h) for h in table_headers}
    if {"姓名", "name"} & names:
        return "members"
    if {"组织类型", "kind"} & names:
        return "orgs"
    return None


def _sheet_table(sheet: str, rows: Iterable[Sequence[Any]]) -> Table:
    iterator = iter(rows)
    try:
        header_row = next(iterator)
    except StopIteration:
        return Table(sheet, [], [])
    headers = [_norm_header(h) for h in header_row]
    data: list[tuple[int, list[Any]]] = []
    for number, row in enumerate(iterator, start=2):
        values = list(row)
        if all(_blank(v) for v in values):
            continue
        data.append((number, values))
    return Table(sheet, headers, data)


def _norm_header(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# ---------------------------------------------------------------- validation


@dataclass
class _Cells:
    """Cell access for one row by field name, remembering column positions."""

    table: Table
    columns: dict[str, int]
    row: int
    values: list[Any]

    def raw(self, name: str) -> Any:
        idx = self.columns.get(name)
        if idx is None or idx >= len(self.values):
            return None
        return self.values[idx]

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if _blank(value):
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return unicodedata.normalize("NFKC", str(value)).strip()

    def problem(self, name: str, key: str, **params: Any) -> Problem:
        idx = self.columns[name]
        return Problem(
            sheet=self.table.sheet,
            key=key,
            row=self.row,
            column=column_letter(idx),
            header=self.table.headers[idx],
            params=params,
        )


def _columns(
    table: Table, mapping: dict[str, str], required: Sequence[str]
) -> tuple[dict[str, int], list[Problem]]:
    columns: dict[str, int] = {}
    for idx, header in enumerate(table.headers):
        name = mapping.get(header)
        if name and name not in columns:
            columns[name] = idx
    problems = [
        Problem(
            sheet=table.sheet,
            key="roster.missing_column",
            params={"column": _zh_header(n, mapping)},
        )
        for n in required
        if n not in columns
    ]
    return columns, problems


def _zh_header(name: str, mapping: dict[str, str]) -> str:
    zh = next(h for h, n in mapping.items() if n == name and not h.isascii())
    return f"{zh} / {name}"


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def validate(
    orgs: Table, members: Table, existing: dict[str, str], *, today: date
) -> tuple[Roster, list[Problem]]:
    """Check every row. ``existing`` maps org codes already stored to their kinds."""
    problems: list[Problem] = []
    org_cols, missing = _columns(orgs, ORG_HEADERS, ORG_REQUIRED)
    problems += missing
    member_cols, missing = _columns(members, MEMBER_HEADERS, MEMBER_REQUIRED)
    problems += missing
    if problems:
        return Roster([], []), problems

    org_rows = _validate_orgs(orgs, org_cols, existing, problems, today=today)
    kinds = dict(existing) | {o.code: o.kind.value for o in org_rows}
    member_rows = _validate_members(members, member_cols, kinds, problems, today=today)
    return Roster(org_rows, member_rows), problems


def _validate_orgs(
    table: Table,
    cols: dict[str, int],
    existing: dict[str, str],
    problems: list[Problem],
    *,
    today: date,
) -> list[OrgRow]:
    result: list[OrgRow] = []
    seen: dict[str, int] = {}
    parents: dict[str, tuple[str | None, _Cells]] = {}
    for number, values in table.rows:
        c = _Cells(table, cols, number, values)
        ok = True
        code = c.text("code")
        if code is None:
            problems.append(c.problem("code", "roster.required"))
            ok = False
        elif not CODE_RE.match(code):
            problems.append(c.problem("code", "roster.bad_code", value=code))
            ok = False
        elif code in seen:
            problems.append(
                c.problem("code", "roster.duplicate_code", value=code, first=seen[code])
            )
            ok = False
        else:
            seen[code] = number
        name = c.text("name")
        if name is None:
            problems.append(c.problem("name", "roster.required"))
            ok = False
        elif len(name) > MAX_ORG_NAME or _has_control(name):
            problems.append(c.problem("name", "roster.too_long", limit=MAX_ORG_NAME))
            ok = False
        kind_text = c.text("kind")
        kind = _parse_kind(kind_text)
        if kind is None:
            problems.append(
                c.problem(
                    "kind", "roster.bad_kind" if kind_text else "roster.required", value=kind_text
                )
            )
            ok = False
        tz = c.text("timezone") if "timezone" in cols else None
        if tz is not None:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(c.problem("timezone", "roster.bad_timezone", value=tz))
                ok = False
        parent = c.text("parent_code") if "parent_code" in cols else None
        since, fine = _date_cell(c, "tracking_since", today, problems)
        if ok and fine and code and name and kind:
            parents[code] = (parent, c)
            result.append(OrgRow(number, code, name, parent, kind, tz, since))

    kinds = dict(existing) | {o.code: o.kind.value for o in result}
    for row in result:
        if row.parent_code is None:
            continue
        _, c = parents[row.code]
        parent_kind = kinds.get(row.parent_code)
        if parent_kind is None:
            problems.append(
                c.problem("parent_code", "roster.unknown_parent", value=row.parent_code)
            )
        elif parent_kind in (OrgKind.BRANCH.value, OrgKind.GROUP.value):
            problems.append(
                c.problem("parent_code", "roster.parent_is_branch", value=row.parent_code)
            )
        elif _has_cycle(row.code, {o.code: o.parent_code for o in result}):
            problems.append(c.problem("parent_code", "roster.parent_cycle", value=row.parent_code))
    return result


def _has_cycle(start: str, parents: dict[str, str | None]) -> bool:
    seen = {start}
    current = parents.get(start)
    while current is not None and current in parents:
        if current in seen:
            return True
        seen.add(current)
        current = parents[current]
    return False


def _parse_kind(text: str | None) -> OrgKind | None:
    if text is None:
        return None
    if text in KIND_NAMES:
        return KIND_NAMES[text]
    try:
        kind = OrgKind(text.lower())
    except ValueError:
        return None
    return kind if kind in IMPORTABLE_KINDS else None


def parse_role(text: str | None) -> Role | None:
    if text is None:
        return Role.MEMBER
    if text in ROLE_NAMES:
        return ROLE_NAMES[text]
    try:
        return Role(text.lower())
    except ValueError:
        return None


def parse_join_date(value: Any, today: date) -> date | None:
    """A date cell, an Excel serial number, or YYYY-MM-DD / YYYY/M/D text; ValueError if not."""
    if isinstance(value, datetime):
        parsed = value.date()
    elif isinstance(value, date):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not 1 <= value < 2_958_466:
            raise ValueError("serial out of range")
        parsed = EXCEL_EPOCH + timedelta(days=int(value))
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if text.isdigit() and len(text) <= 6:
            return parse_join_date(int(text), today)
        match = DATE_RE.match(text.split(" ")[0])
        if not match:
            raise ValueError("not a date")
        parsed = date(int(match[1]), int(match[2]), int(match[3]))
    if parsed > today or parsed < EARLIEST_JOIN:
        raise OverflowError("date out of range")
    return parsed


def _date_cell(
    c: _Cells, name: str, today: date, problems: list[Problem]
) -> tuple[date | None, bool]:
    """An optional date column: (the date or None, whether the cell was acceptable)."""
    raw = c.raw(name)
    if _blank(raw):
        return None, True
    try:
        return parse_join_date(raw, today), True
    except OverflowError:
        problems.append(c.problem(name, "roster.date_range", value=c.text(name)))
    except ValueError:
        problems.append(c.problem(name, "roster.bad_date", value=c.text(name)))
    return None, False


def _validate_members(
    table: Table,
    cols: dict[str, int],
    kinds: dict[str, str],
    problems: list[Problem],
    *,
    today: date,
) -> list[MemberRow]:
    result: list[MemberRow] = []
    codes: dict[str, int] = {}
    uncoded_names: dict[tuple[str, str], int] = {}
    for number, values in table.rows:
        c = _Cells(table, cols, number, values)
        ok = True
        org_code = c.text("org_code")
        if org_code is None:
            problems.append(c.problem("org_code", "roster.required"))
            ok = False
        elif org_code not in kinds:
            problems.append(c.problem("org_code", "roster.unknown_org", value=org_code))
            ok = False
        elif kinds[org_code] != OrgKind.BRANCH.value:
            problems.append(c.problem("org_code", "roster.not_branch", value=org_code))
            ok = False
        name = c.text("name")
        if name is None:
            problems.append(c.problem("name", "roster.required"))
            ok = False
        elif len(name) > MAX_NAME or _has_control(name):
            problems.append(c.problem("name", "roster.too_long", limit=MAX_NAME))
            ok = False
        member_code = c.text("member_code") if "member_code" in cols else None
        if member_code is not None:
            if not CODE_RE.match(member_code):
                problems.append(c.problem("member_code", "roster.bad_code", value=member_code))
                ok = False
            elif member_code in codes:
                problems.append(
                    c.problem(
                        "member_code",
                        "roster.duplicate_member_code",
                        value=member_code,
                        first=codes[member_code],
                    )
                )
                ok = False
            else:
                codes[member_code] = number
        elif org_code and name:
            key = (org_code, name)
            if key in uncoded_names:
                problems.append(
                    c.problem("name", "roster.duplicate_name", value=name, first=uncoded_names[key])
                )
                ok = False
            else:
                uncoded_names[key] = number
        phone = c.text("phone") if "phone" in cols else None
        if phone is not None:
            phone = re.sub(r"[\s\-()]", "", phone)
            if not PHONE_RE.match(phone):
                problems.append(c.problem("phone", "roster.bad_phone", value=c.text("phone")))
                ok = False
        role_text = c.text("role") if "role" in cols else None
        role = parse_role(role_text)
        if role is None:
            problems.append(c.problem("role", "roster.bad_role", value=role_text))
            ok = False
        joined_on, fine = _date_cell(c, "joined_on", today, problems)
        ok = ok and fine
        group = c.text("group") if "group" in cols else None
        if group is not None and (len(group) > MAX_GROUP or "/" in group or _has_control(group)):
            problems.append(c.problem("group", "roster.bad_group", limit=MAX_GROUP))
            ok = False
        if role is Role.GROUP_LEADER and group is None and ok:
            problems.append(c.problem("role", "roster.leader_needs_group"))
            ok = False
        if ok and org_code and name and role:
            result.append(
                MemberRow(number, org_code, name, member_code, phone, role, joined_on, group)
            )
    return result


def check_scope(
    roster: Roster,
    parents: dict[str, str | None],
    allowed_roots: set[str],
    member_orgs: dict[str, str] | None = None,
) -> list[Problem]:
    """Problems for everything in the file the importing admin may not touch.

    Scope is judged by the stored tree: an org already stored is inside only by its stored
    ancestors, whatever parent the file gives it; a new org is inside when its parent is.
    A file may not move an org out of scope, and may not move a member (by member code)
    out of an org outside the scope. ``parents`` maps stored org codes to their parents;
    ``member_orgs`` maps the stored member codes of the file to their orgs.
    """
    file_parents = {o.code: o.parent_code for o in roster.orgs}
    known: dict[str, bool] = {}

    def inside(code: str | None, seen: frozenset[str] = frozenset()) -> bool:
        if code is None or code in seen:
            return False
        if code in known:
            return known[code]
        if code in parents:  # stored: only the stored chain counts
            result = False
            current: str | None = code
            chain: set[str] = set()
            while current is not None and current not in chain:
                if current in allowed_roots:
                    result = True
                    break
                chain.add(current)
                current = parents.get(current)
        else:
            result = inside(file_parents.get(code), seen | {code})
        known[code] = result
        return result

    problems: list[Problem] = []
    for o in roster.orgs:
        if not inside(o.code):
            problems.append(
                Problem(ORG_SHEET, "roster.out_of_scope", row=o.row, params={"value": o.code})
            )
        elif o.code in parents and o.parent_code != parents[o.code] and not inside(o.parent_code):
            problems.append(
                Problem(ORG_SHEET, "roster.move_out_of_scope", row=o.row, params={"value": o.code})
            )
    stored_orgs = member_orgs or {}
    for m in roster.members:
        if not inside(m.org_code):
            problems.append(
                Problem(
                    MEMBER_SHEET, "roster.out_of_scope", row=m.row, params={"value": m.org_code}
                )
            )
        elif m.member_code in stored_orgs and not inside(stored_orgs[m.member_code]):
            problems.append(
                Problem(
                    MEMBER_SHEET,
                    "roster.member_out_of_scope",
                    row=m.row,
                    params={"value": m.member_code},
                )
            )
    return problems


async def stored_member_orgs(session: AsyncSession, codes: list[str]) -> dict[str, str]:
    """The org code of each stored member with one of these member codes."""
    if not codes:
        return {}
    rows = await session.execute(
        select(Member.member_code, Org.code)
        .join(Org, Org.id == Member.org_id)
        .where(Member.member_code.in_(codes))
    )
    return {code: org for code, org in rows if code is not None}


# ---------------------------------------------------------------- applying


async def stored_org_kinds(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(select(Org.code, Org.kind))
    return {code: kind for code, kind in rows}


async def stored_org_parents(session: AsyncSession) -> dict[str, str | None]:
    orgs = (await session.execute(select(Org.id, Org.code, Org.parent_id))).all()
    by_id = {oid: code for oid, code, _ in orgs}
    return {code: by_id.get(parent) if parent else None for _, code, parent in orgs}


def _ordered(orgs: list[OrgRow]) -> list[OrgRow]:
    """Parents before children, so every parent exists when its child is written."""
    in_file = {o.code for o in orgs}
    done: set[str] = set()
    result: list[OrgRow] = []
    pending = list(orgs)
    while pending:
        rest = []
        for o in pending:
            if o.parent_code is None or o.parent_code not in in_file or o.parent_code in done:
                result.append(o)
                done.add(o.code)
            else:
                rest.append(o)
        if len(rest) == len(pending):  # a cycle; validation refuses these first
            raise ValueError("org parent cycle")
        pending = rest
    return result


async def apply_roster(
    session: AsyncSession, roster: Roster, *, now: datetime, default_timezone: str
) -> ImportCounts:
    """Write a validated roster. Idempotent: the same roster twice changes nothing."""
    counts = ImportCounts()
    orgs = {o.code: o for o in (await session.execute(select(Org))).scalars()}

    for row in _ordered(roster.orgs):
        parent = orgs[row.parent_code] if row.parent_code else None
        tz = row.timezone or (orgs[row.code].timezone if row.code in orgs else default_timezone)
        wanted: dict[str, Any] = {
            "name": row.name,
            "kind": row.kind.value,
            "parent_id": parent.id if parent else None,
            "timezone": tz,
        }
        if row.tracking_since is not None:  # blank keeps what is stored
            wanted["tracking_since"] = row.tracking_since
        org = orgs.get(row.code)
        if org is None:
            # tracking begins on the day given, else the parent's day, else today
            first = now.astimezone(ZoneInfo(tz)).date()
            wanted.setdefault(
                "tracking_since", (parent.tracking_since if parent else None) or first
            )
            org = Org(code=row.code, created_at=now, updated_at=now, **wanted)
            session.add(org)
            await session.flush()
            orgs[row.code] = org
            counts.orgs_created += 1
        elif _update(org, wanted):
            org.updated_at = now
            counts.orgs_updated += 1
        else:
            counts.orgs_unchanged += 1

    for mrow in roster.members:
        if mrow.group:
            code = f"{mrow.org_code}/{mrow.group}"
            if code not in orgs:
                branch = orgs[mrow.org_code]
                group = Org(
                    code=code,
                    name=mrow.group,
                    kind=OrgKind.GROUP.value,
                    parent_id=branch.id,
                    timezone=branch.timezone,
                    tracking_since=branch.tracking_since,
                    created_at=now,
                    updated_at=now,
                )
                session.add(group)
                await session.flush()
                orgs[code] = group
                counts.groups_created += 1

    branch_ids = {orgs[m.org_code].id for m in roster.members} | {
        orgs[o.code].id for o in roster.orgs if o.kind is OrgKind.BRANCH
    }
    stored = list(
        (await session.execute(select(Member).where(Member.org_id.in_(branch_ids)))).scalars()
    )
    codes_wanted = [m.member_code for m in roster.members if m.member_code]
    if codes_wanted:
        movers = await session.execute(
            select(Member).where(
                Member.member_code.in_(codes_wanted), Member.org_id.not_in(branch_ids)
            )
        )
        stored += list(movers.scalars())
    by_code = {m.member_code: m for m in stored if m.member_code}
    matched: set[int] = set()

    for mrow in roster.members:
        member = by_code.get(mrow.member_code) if mrow.member_code else None
        if member is None:
            member = _match_by_name(stored, mrow, orgs[mrow.org_code].id, matched)
        wanted_member: dict[str, Any] = {
            "org_id": orgs[mrow.org_code].id,
            "group_id": orgs[f"{mrow.org_code}/{mrow.group}"].id if mrow.group else None,
            "name": mrow.name,
            "phone": mrow.phone,
            "role": mrow.role.value,
            "joined_on": mrow.joined_on,
            "active": True,
        }
        if mrow.member_code or member is None:
            wanted_member["member_code"] = mrow.member_code
        if member is None:
            member = Member(created_at=now, updated_at=now, **wanted_member)
            session.add(member)
            await session.flush()
            counts.members_created += 1
        elif _update(member, wanted_member):
            member.updated_at = now
            counts.members_updated += 1
        else:
            counts.members_unchanged += 1
        matched.add(member.id)

    for member in stored:
        if member.id not in matched and member.active and member.org_id in branch_ids:
            member.active = False
            member.updated_at = now
            counts.members_deactivated += 1
    await session.flush()
    return counts


def _match_by_name(
    stored: list[Member], row: MemberRow, org_id: int, matched: set[int]
) -> Member | None:
    candidates = [
        m for m in stored if m.org_id == org_id and m.name == row.name and m.id not in matched
    ]
    candidates.sort(key=lambda m: (m.member_code is not None, m.id))
    return candidates[0] if candidates else None


def _update(obj: Any, wanted: dict[str, Any]) -> bool:
    changed = False
    for key, value in wanted.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def write_template(path: str) -> None:
    """An empty roster workbook with the headers and one example row per sheet."""
    from openpyxl import Workbook

    wb = Workbook()
    orgs = wb.active
    orgs.title = ORG_SHEET
    append_row(orgs, TEMPLATE_ORG_HEADERS)
    append_row(orgs, ["JG01", "示例机关第一党支部", "", "党支部", "Asia/Shanghai", ""])
    members = wb.create_sheet(MEMBER_SHEET)
    append_row(members, TEMPLATE_MEMBER_HEADERS)
    append_row(
        members, ["JG01", "张三", "M0001", "13800000000", "书记", "2001-07-01", "第一党小组"]
    )
    from bot.services.backfill import SHEET, TEMPLATE_HEADERS  # (imports this module)

    records = wb.create_sheet(SHEET)  # meetings held before the bot: zhibu records import
    append_row(records, TEMPLATE_HEADERS)
    append_row(
        records,
        [
            "JG01",
            "2026-03-10",
            "支部党员大会",
            "传达学习全国两会精神",
            "是",
            30,
            27,
            2,
            "传达学习全国两会精神，讨论本支部贯彻落实措施，部署第二季度工作。",
            "支部党员大会",
            "2026-03-11 17:00",
            "张三",
            "李四",
            "",
        ],
    )
    for ws in (orgs, members, records):
        ws.freeze_panes = "A2"
        for idx in range(ws.max_column):
            ws.column_dimensions[column_letter(idx)].width = 16
    wb.save(path)


# ---------------------------------------------------------------- the whole import


@dataclass
class ImportResult:
    problems: list[Problem]
    counts: ImportCounts | None


class _DryRun(Exception):
    """Raised inside the write transaction to roll a dry run back."""


async def import_roster(
    db: Database,
    orgs: Table,
    members: Table,
    *,
    now: datetime,
    default_timezone: str,
    dry_run: bool = False,
    allowed_roots: set[str] | None = None,
    by: Importer | None = None,
) -> ImportResult:
    """Validate and, when everything is right, apply in one transaction.

    ``allowed_roots``: org codes whose subtrees the importer administers; None means all
    (the operator's CLI). ``by``: who imported which file; every import that is not a dry
    run is audited in its own transaction, and so is a file refused for reaching outside the
    importer's scope (a file refused for bad rows is only bad input: it changes nothing).
    """
    today = now.astimezone(ZoneInfo(default_timezone)).date()
    counts = ImportCounts()
    problems: list[Problem] = []
    try:
        async with db.write() as session:
            roster, problems = validate(orgs, members, await stored_org_kinds(session), today=today)
            if not problems and allowed_roots is not None:
                codes = [m.member_code for m in roster.members if m.member_code]
                problems = check_scope(
                    roster,
                    await stored_org_parents(session),
                    allowed_roots,
                    await stored_member_orgs(session, codes),
                )
            if problems:
                raise _DryRun
            counts = await apply_roster(session, roster, now=now, default_timezone=default_timezone)
            if dry_run:
                raise _DryRun
            if by is not None:
                await by.audit(session, now=now, outcome="ok", detail=vars(counts))
    except _DryRun:
        pass
    denied = [p for p in problems if p.key in SCOPE_PROBLEMS]
    if denied and not dry_run and by is not None:  # a refusal, audited like every other
        async with db.write() as session:
            await by.audit(session, now=now, outcome="denied", detail={"problems": len(denied)})
    return ImportResult(problems, None if problems else counts)


def require_importer(actor: Actor) -> None:
    """Only admins import rosters (each within the orgs they administer)."""
    if not actor.is_admin:
        raise NotAllowed("import.admins_only")


async def import_as(
    db: Database,
    actor: Actor,
    orgs: Table,
    members: Table,
    *,
    now: datetime,
    default_timezone: str,
    importer: Importer,
) -> ImportResult:
    """An admin's roster file from chat: only the subtrees they administer may change."""
    require_importer(actor)
    async with db.read() as session:
        roots = await admin_codes(session, actor)
    return await import_roster(
        db,
        orgs,
        members,
        now=now,
        default_timezone=default_timezone,
        allowed_roots=roots,
        by=importer,
    )


@dataclass(frozen=True)
class Importer:
    """Who imports which file, for the audit log."""

    via: str  # "cli" or "chat"
    file_name: str
    file_hash: str
    telegram_id: int | None = None

    @classmethod
    def of(
        cls, via: str, file_name: str, *contents: bytes, telegram_id: int | None = None
    ) -> Importer:
        digest = hashlib.sha256()
        for data in contents:
            digest.update(data)
        return cls(via, file_name[:200], digest.hexdigest(), telegram_id)

    async def audit(
        self, session: AsyncSession, *, now: datetime, outcome: str, detail: dict[str, Any]
    ) -> None:
        await audit.record(
            session,
            at=now,
            action="roster.import",
            outcome=outcome,
            actor_telegram_id=self.telegram_id,
            detail={"via": self.via, "file": self.file_name, "sha256": self.file_hash} | detail,
        )


def render_problems(lang: Lang, problems: Sequence[Problem]) -> list[str]:
    """Lines for the error list: at most MAX_ERRORS_SHOWN, then a count."""
    lines = []
    for p in problems[:MAX_ERRORS_SHOWN]:
        message = t(lang, p.key, **p.params)
        if p.column is not None:
            line = t(
                lang,
                "roster.problem_cell",
                sheet=p.sheet,
                row=p.row,
                column=p.column,
                header=p.header,
                message=message,
            )
        elif p.row is not None:
            line = t(lang, "roster.problem_row", sheet=p.sheet, row=p.row, message=message)
        else:
            line = t(lang, "roster.problem_sheet", sheet=p.sheet, message=message)
        lines.append(line)
    if len(problems) > MAX_ERRORS_SHOWN:
        lines.append(t(lang, "roster.more", count=len(problems) - MAX_ERRORS_SHOWN))
    return lines


def render_result(lang: Lang, result: ImportResult, *, dry_run: bool) -> list[str]:
    if result.counts is None:
        return [
            t(lang, "roster.rejected", count=len(result.problems)),
            *render_problems(lang, result.problems),
        ]
    headline = "roster.dry_run" if dry_run else "roster.imported"
    lines = [t(lang, headline), t(lang, "roster.summary", **vars(result.counts))]
    if not result.counts.changed:
        lines.append(t(lang, "roster.nothing_changed"))
    return lines
