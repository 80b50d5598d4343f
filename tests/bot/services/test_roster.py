"""Roster import: validation, all-or-nothing, idempotence, deactivation (SPEC §2)."""

from __future__ import annotations

import hashlib
import io
import random
import string
import time
import zipfile
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.roster import (
    Importer,
    ImportResult,
    RosterFormatError,
    column_letter,
    import_roster,
    parse_join_date,
    read_csv,
    read_workbook,
    read_workbook_isolated,
    render_result,
)
from bot.store.db import Database
from bot.store.models import AuditEntry, Member, Org
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, big_roster, workbook_bytes

TODAY = date(2026, 3, 2)


async def run_import(
    db: Database,
    clock: FrozenClock,
    orgs: list[list[object]],
    members: list[list[object]],
    **kw: object,
) -> ImportResult:
    o, m = read_workbook(workbook_bytes(orgs, members))
    return await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai", **kw)  # type: ignore[arg-type]


async def snapshot(db: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    async with db.read() as session:
        orgs = [
            (o.code, o.name, o.kind, o.parent_id, o.timezone, o.updated_at)
            for o in (await session.execute(select(Org).order_by(Org.id))).scalars()
        ]
        members = [
            (
                m.org_id,
                m.group_id,
                m.name,
                m.member_code,
                m.phone,
                m.role,
                m.joined_on,
                m.active,
                m.updated_at,
            )
            for m in (await session.execute(select(Member).order_by(Member.id))).scalars()
        ]
    return orgs, members


async def test_big_roster_counts_and_reimport_changes_nothing(
    db: Database, clock: FrozenClock
) -> None:
    orgs, members = big_roster()
    result = await run_import(db, clock, orgs, members)
    assert result.problems == []
    counts = result.counts
    assert counts is not None
    assert (counts.orgs_created, counts.groups_created, counts.members_created) == (14, 20, 300)
    before = await snapshot(db)
    again = await run_import(db, clock, orgs, members)
    assert again.counts is not None and not again.counts.changed
    assert again.counts.members_unchanged == 300 and again.counts.orgs_unchanged == 14
    assert await snapshot(db) == before
    assert "没有任何变化" in "\n".join(render_result("zh", again, dry_run=False))


async def test_three_bad_rows_are_all_listed_and_nothing_is_written(
    db: Database, clock: FrozenClock
) -> None:
    await run_import(db, clock, SMALL_ORGS, SMALL_MEMBERS)
    before = await snapshot(db)
    members = [list(r) for r in SMALL_MEMBERS] + [
        ["ZB", "新人甲", "N1", "", "书计", "", ""],  # row 7: bad role (column E)
        ["ZB", "新人乙", "N2", "12ab", "", "", ""],  # row 8: bad phone (column D)
        ["ZB", "新人丙", "N3", "", "", "2031-01-01", ""],  # row 9: joined in the future (column F)
    ]
    result = await run_import(db, clock, SMALL_ORGS, members)
    assert result.counts is None
    assert [(p.row, p.column) for p in result.problems] == [(7, "E"), (8, "D"), (9, "F")]
    lines = render_result("zh", result, dry_run=False)
    assert "3 处错误" in lines[0]
    assert lines[1].startswith("[党员] 第 7 行，E 列（职务）：职务“书计”无效")
    assert await snapshot(db) == before


async def test_errors_are_capped_at_fifty_with_a_count(db: Database, clock: FrozenClock) -> None:
    members = [["ZB", f"人{i}", f"X{i}", "bad", "", "", ""] for i in range(60)]
    result = await run_import(db, clock, SMALL_ORGS, members)
    lines = render_result("en", result, dry_run=False)
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "… and 10 more problems not listed"
    assert lines[1].startswith("[党员] row 2, column D (手机号): phone “bad” is invalid")


async def test_changed_file_updates_in_place_and_deactivates_missing(
    db: Database, clock: FrozenClock
) -> None:
    await run_import(db, clock, SMALL_ORGS, SMALL_MEMBERS)
    async with db.read() as session:
        zhang_id = await session.scalar(select(Member.id).where(Member.member_code == "S003"))
    changed = [list(r) for r in SMALL_MEMBERS if r[2] != "S005"]
    changed[2][4] = "宣传委员"  # 张三 becomes propaganda officer
    result = await run_import(db, clock, SMALL_ORGS, changed)
    assert result.counts is not None
    assert (result.counts.members_updated, result.counts.members_deactivated) == (1, 1)
    async with db.read() as session:
        zhang = await session.get_one(Member, zhang_id)
        gone = await session.scalar(select(Member).where(Member.member_code == "S005"))
    assert zhang.role == "propaganda"
    assert gone is not None and gone.active is False  # kept, with its history
    back = await run_import(db, clock, SMALL_ORGS, SMALL_MEMBERS)
    assert back.counts is not None and back.counts.members_updated == 2  # role back, reactivated


async def test_members_without_code_are_keyed_by_branch_and_name(
    db: Database, clock: FrozenClock
) -> None:
    members = [["ZB", "甲", "", "", "书记", "", ""], ["ZB", "乙", "", "", "", "", ""]]
    await run_import(db, clock, SMALL_ORGS, members)
    members[1][3] = "13900000000"
    result = await run_import(db, clock, SMALL_ORGS, members)
    assert result.counts is not None
    assert (result.counts.members_created, result.counts.members_updated) == (0, 1)


async def test_duplicate_names_without_code_are_an_error(db: Database, clock: FrozenClock) -> None:
    members = [["ZB", "甲", "", "", "", "", ""], ["ZB", "甲", "", "", "", "", ""]]
    result = await run_import(db, clock, SMALL_ORGS, members)
    assert [(p.row, p.column, p.key) for p in result.problems] == [
        (3, "B", "roster.duplicate_name")
    ]


@pytest.mark.parametrize(
    ("orgs", "members", "expected"),
    [
        ([["A", "x", "NOPE", "党支部", ""]], [], [(2, "C", "roster.unknown_parent")]),
        ([["A", "x", "", "党小组", ""]], [], [(2, "D", "roster.bad_kind")]),
        (
            [["A", "x", "", "党支部", ""], ["A", "y", "", "党支部", ""]],
            [],
            [(3, "A", "roster.duplicate_code")],
        ),
        (
            [["A", "x", "", "党支部", ""], ["B", "y", "A", "党支部", ""]],
            [],
            [(3, "C", "roster.parent_is_branch")],
        ),
        (
            [["A", "x", "B", "党委", ""], ["B", "y", "A", "党委", ""]],
            [],
            [(2, "C", "roster.parent_cycle"), (3, "C", "roster.parent_cycle")],
        ),
        ([["A/1", "x", "", "党支部", ""]], [], [(2, "A", "roster.bad_code")]),
        ([["A", "x", "", "党支部", "Mars/Base"]], [], [(2, "E", "roster.bad_timezone")]),
        (
            [["A", "x", "", "党委", ""]],
            [["A", "甲", "", "", "", "", ""]],
            [(2, "A", "roster.not_branch")],
        ),
        (
            [["A", "x", "", "党支部", ""]],
            [["Q", "甲", "", "", "", "", ""]],
            [(2, "A", "roster.unknown_org")],
        ),
        (
            [["A", "x", "", "党支部", ""]],
            [["A", "甲", "", "", "党小组长", "", ""]],
            [(2, "E", "roster.leader_needs_group")],
        ),
        (
            [["A", "x", "", "党支部", ""]],
            [["A", "甲", "", "", "", "1900-01-01", ""]],
            [(2, "F", "roster.date_range")],
        ),
        (
            [["A", "x", "", "党支部", ""]],
            [["A", "甲", "", "", "", "next week", ""]],
            [(2, "F", "roster.bad_date")],
        ),
        (
            [["A", "x", "", "党支部", ""]],
            [["A", "甲", "", "", "", "", "a/b"]],
            [(2, "G", "roster.bad_group")],
        ),
        (
            [["A", "x", "", "党支部", ""]],
            [["A", "", "", "", "", "", ""]],
            [(2, "B", "roster.required")],
        ),
        (
            [["A", "x", "", "党支部", ""]],
            [["A", "甲", "K", "", "", "", ""], ["A", "乙", "K", "", "", "", ""]],
            [(3, "C", "roster.duplicate_member_code")],
        ),
    ],
)
async def test_row_problems(
    db: Database,
    clock: FrozenClock,
    orgs: list[list[object]],
    members: list[list[object]],
    expected: list[tuple[int, str, str]],
) -> None:
    result = await run_import(db, clock, orgs, members)
    assert [(p.row, p.column, p.key) for p in result.problems] == expected
    assert await snapshot(db) == ([], [])


async def test_accepted_forms(db: Database, clock: FrozenClock) -> None:
    orgs = [["W", "工委", "", "working_committee", ""], ["Z", "支部", "W", "branch", "Asia/Urumqi"]]
    members = [
        ["Z", "甲", "1", 13800000000, "secretary", datetime(2001, 7, 1), ""],
        ["Z", "乙", "2", "138-0000-0001", "预备党员", "2020/7/1", "一组"],
        ["Z", "丙", "3", "", "入党积极分子", 40000, "一组"],  # an Excel serial number
        ["Z", "丁", "4", "", "", "２０１９－０７－０１", ""],  # full-width digits
    ]
    result = await run_import(db, clock, orgs, members)
    assert result.problems == []
    async with db.read() as session:
        rows = {m.name: m for m in (await session.execute(select(Member))).scalars()}
        branch = await session.scalar(select(Org).where(Org.code == "Z"))
        group = await session.scalar(select(Org).where(Org.code == "Z/一组"))
    assert rows["甲"].phone == "13800000000" and rows["甲"].member_code == "1"
    assert rows["乙"].phone == "13800000001" and rows["乙"].joined_on == date(2020, 7, 1)
    assert rows["丙"].joined_on == date(2009, 7, 6)
    assert rows["丁"].joined_on == date(2019, 7, 1)
    assert branch is not None and branch.timezone == "Asia/Urumqi"
    assert group is not None and group.kind == "group" and group.parent_id == branch.id
    assert rows["乙"].group_id == group.id


async def test_dry_run_writes_nothing(db: Database, clock: FrozenClock) -> None:
    result = await run_import(db, clock, SMALL_ORGS, SMALL_MEMBERS, dry_run=True)
    assert result.counts is not None and result.counts.members_created == 5
    assert await snapshot(db) == ([], [])


async def test_csv_pair_in_utf8_and_gbk(db: Database, clock: FrozenClock) -> None:
    orgs_csv = (
        "组织编码,组织名称,上级组织编码,组织类型\nDW,机关党委,,党委\nZB,第一党支部,DW,党支部\n"
    )
    members_csv = "组织编码,姓名,党员编号,职务\nZB,王书记,S1,书记\nZB,张三,S2,\n"
    orgs = read_csv(orgs_csv.encode("utf-8-sig"), "组织")
    members = read_csv(members_csv.encode("gbk"), "党员")
    result = await import_roster(
        db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai"
    )
    assert result.counts is not None and result.counts.members_created == 2


async def test_out_of_scope_orgs_are_refused(db: Database, clock: FrozenClock) -> None:
    await run_import(db, clock, SMALL_ORGS, SMALL_MEMBERS)
    o, m = read_workbook(workbook_bytes([["OTHER", "别的党委", "", "党委", ""]], []))
    result = await import_roster(
        db, o, m, now=clock.now(), default_timezone="Asia/Shanghai", allowed_roots={"DW"}
    )
    assert [p.key for p in result.problems] == ["roster.out_of_scope"]
    o, m = read_workbook(workbook_bytes([["ZB2", "第二党支部", "DW", "党支部", ""]], []))
    inside = await import_roster(
        db, o, m, now=clock.now(), default_timezone="Asia/Shanghai", allowed_roots={"DW"}
    )
    assert inside.counts is not None and inside.counts.orgs_created == 1


def test_missing_sheets_and_columns() -> None:
    from bot.services.roster import RosterFormatError, validate

    with pytest.raises(RosterFormatError):
        read_workbook(b"not a zip")
    orgs, members = read_workbook(workbook_bytes([], []))
    members.headers = ["组织编码"]
    _, problems = validate(orgs, members, {}, today=TODAY)
    assert [p.params["column"] for p in problems] == ["姓名 / name"]


@given(st.integers(min_value=0, max_value=18_277))
def test_column_letters_are_bijective_base26(index: int) -> None:
    letters = column_letter(index)
    value = 0
    for ch in letters:
        value = value * 26 + (ord(ch) - 64)
    assert value - 1 == index


@given(st.dates(min_value=date(1921, 7, 1), max_value=TODAY))
def test_every_accepted_date_form_round_trips(day: date) -> None:
    assert parse_join_date(day.isoformat(), TODAY) == day
    assert parse_join_date(f"{day.year}/{day.month}/{day.day}", TODAY) == day
    assert parse_join_date(datetime(day.year, day.month, day.day), TODAY) == day
    assert parse_join_date((day - date(1899, 12, 30)).days, TODAY) == day


TWO_COMMITTEES = [
    ["DW", "机关党委", "", "党委", ""],
    ["DW2", "第二党委", "", "党委", ""],
    ["ZB", "第一党支部", "DW", "党支部", ""],
    ["ZB2", "第二党委第一支部", "DW2", "党支部", ""],
]
TWO_MEMBERS = [
    ["ZB", "王书记", "S001", "", "书记", "2001-07-01", ""],
    ["ZB2", "赵书记", "T001", "", "书记", "2003-07-01", ""],
    ["ZB2", "孙党员", "T002", "", "", "2010-07-01", ""],
]


async def scoped_import(
    db: Database, clock: FrozenClock, orgs: list[list[str]], members: list[list[str]]
) -> ImportResult:
    o, m = read_workbook(workbook_bytes(orgs, members))
    return await import_roster(
        db,
        o,
        m,
        now=clock.now(),
        default_timezone="Asia/Shanghai",
        allowed_roots={"DW"},
        by=Importer.of("chat", "roster.xlsx", b"file", telegram_id=42),
    )


async def test_a_file_cannot_take_over_another_committees_branch(
    db: Database, clock: FrozenClock
) -> None:
    """An admin of DW re-parents DW2's branch under DW in the file, renames it, replaces its
    secretary: refused, because the stored tree says ZB2 is DW2's; nothing changes."""
    await run_import(db, clock, TWO_COMMITTEES, TWO_MEMBERS)
    before = await snapshot(db)
    result = await scoped_import(
        db,
        clock,
        [["ZB2", "已被接管的支部", "DW", "党支部", ""]],
        [["ZB2", "新书记", "X001", "", "书记", "", ""]],
    )
    assert result.counts is None
    assert {p.key for p in result.problems} == {"roster.out_of_scope"}
    assert await snapshot(db) == before


async def test_a_member_cannot_be_moved_in_from_outside_the_scope(
    db: Database, clock: FrozenClock
) -> None:
    await run_import(db, clock, TWO_COMMITTEES, TWO_MEMBERS)
    before = await snapshot(db)
    result = await scoped_import(
        db, clock, [], [["ZB", "孙党员", "T002", "", "", "2010-07-01", ""]]
    )
    assert [p.key for p in result.problems] == ["roster.member_out_of_scope"]
    assert await snapshot(db) == before


async def test_an_org_cannot_be_moved_out_of_the_scope(db: Database, clock: FrozenClock) -> None:
    await run_import(db, clock, TWO_COMMITTEES, TWO_MEMBERS)
    result = await scoped_import(db, clock, [["ZB", "第一党支部", "DW2", "党支部", ""]], [])
    assert [p.key for p in result.problems] == ["roster.move_out_of_scope"]
    # inside the scope, moves and new orgs under stored parents are fine
    ok = await scoped_import(
        db,
        clock,
        [["ZZ", "机关总支", "DW", "党总支", ""], ["ZB", "第一党支部", "ZZ", "党支部", ""]],
        [],
    )
    assert ok.counts is not None and ok.counts.orgs_created == 1 and ok.counts.orgs_updated == 1


async def test_every_import_is_audited_with_who_the_file_and_counts(
    db: Database, clock: FrozenClock
) -> None:
    await run_import(db, clock, TWO_COMMITTEES, TWO_MEMBERS)
    await scoped_import(db, clock, [["ZB3", "第三支部", "DW", "党支部", ""]], [])
    await scoped_import(db, clock, [["ZB2", "改名", "DW", "党支部", ""]], [])
    await scoped_import(db, clock, [["ZB4", "第四支部", "DW", "不知道", ""]], [])  # bad input
    async with db.read() as session:
        entries = list(
            (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.action == "roster.import")
                    .order_by(AuditEntry.id)
                )
            ).scalars()
        )
    assert [(e.outcome, e.actor_telegram_id) for e in entries] == [("ok", 42), ("denied", 42)]
    assert entries[0].detail["orgs_created"] == 1
    assert entries[0].detail["sha256"] == hashlib.sha256(b"file").hexdigest()
    assert entries[1].detail["problems"] == 1


def hostile_workbook(rows: int = 100_000, bomb_mb: int = 0, pad_to: int = 0) -> bytes:
    """A workbook written by hand: a declared dimension of A1:XFD1048576, ``rows`` member
    rows with formulas, optionally a shared-strings table that unpacks to ``bomb_mb``, and
    random (incompressible) strings until the file is about ``pad_to`` bytes."""
    sheet_head = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<dimension ref="A1:XFD1048576"/><sheetData>'
    )
    orgs = (
        sheet_head + '<row r="1"><c r="A1" t="inlineStr"><is><t>组织编码</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>组织名称</t></is></c>'
        '<c r="D1" t="inlineStr"><is><t>组织类型</t></is></c></row></sheetData></worksheet>'
    )
    parts = [
        sheet_head,
        '<row r="1"><c r="A1" t="inlineStr"><is><t>组织编码</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>姓名</t></is></c></row>',
    ]
    parts += [
        f'<row r="{r}"><c r="A{r}"><f>1+1</f><v>2</v></c><c r="B{r}" t="s"><v>0</v></c>'
        f'<c r="XFD{r}"><v>1</v></c></row>'
        for r in range(2, rows + 2)
    ]
    parts.append("</sheetData></worksheet>")
    strings = ["甲"]
    if bomb_mb:
        strings += ["A" * 1_000_000] * bomb_mb
    if pad_to:
        noise = random.Random(7)
        filler = max(0, pad_to - len(hostile_workbook(rows, bomb_mb)) - 64 * 1024)
        strings += [
            "".join(noise.choices(string.ascii_letters + string.digits, k=1000))
            for _ in range(filler * 4 // 3 // 1000)
        ]
    shared = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + "".join(f"<si><t>{s}</t></si>" for s in strings)
        + "</sst>"
    )
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="组织" sheetId="1" r:id="rId1"/>'
            '<sheet name="党员" sheetId="2" r:id="rId2"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/>'
            '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": orgs,
        "xl/worksheets/sheet2.xml": "".join(parts),
        "xl/sharedStrings.xml": shared,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_a_hostile_workbook_is_read_within_bounds() -> None:
    """Declared dimension XFD1048576 and 100,000 rows of formulas: read in seconds, only the
    header's columns; one row more is refused; a shared-strings bomb is refused unread."""
    data = hostile_workbook()
    assert len(data) < 5 * 1024 * 1024
    started = time.monotonic()
    _, members = read_workbook_isolated(data)
    elapsed = time.monotonic() - started
    print(f"\nhostile workbook ({len(data) // 1024} KB, 100,000 rows) read in {elapsed:.1f}s")
    assert elapsed < 10
    assert len(members.rows) == 100_000 and all(len(v) == 2 for _, v in members.rows[:50])
    with pytest.raises(RosterFormatError) as too_many:
        read_workbook_isolated(hostile_workbook(rows=100_001))
    assert too_many.value.key == "roster.too_many_rows"
    bomb = hostile_workbook(rows=10, bomb_mb=250)
    assert len(bomb) < 5 * 1024 * 1024
    started = time.monotonic()
    with pytest.raises(RosterFormatError) as too_big:
        read_workbook_isolated(bomb)
    assert too_big.value.key == "roster.too_big" and time.monotonic() - started < 10


def test_a_workbook_that_reads_too_long_is_refused() -> None:
    with pytest.raises(RosterFormatError) as slow:
        read_workbook_isolated(hostile_workbook(rows=100_000), timeout=0.5)
    assert slow.value.key == "roster.too_slow"
