"""Past meetings from a workbook (issue #16): checked like a record filed in chat, all or
nothing, never twice; and a branch's exported ledger imports into a fresh database to give
the same ledger and the same assessment."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bot.exports import ledger
from bot.services.assessment import assess
from bot.services.backfill import import_records, read_records_workbook
from bot.services.obligations import add_record
from bot.services.roster import import_roster, read_workbook, render_problems
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Attendance, AuditEntry, Meeting, Member, Org, Record
from tests.helpers import SMALL_MEMBERS, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 1, 20, 12, 0, tzinfo=SH)
SUMMARY = "传达学习上级会议精神，结合本支部实际讨论贯彻落实措施，部署下一阶段重点工作。"


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=SH)


OPENED: list[Database] = []


@pytest.fixture(autouse=True)
async def _closed() -> AsyncIterator[None]:
    yield
    while OPENED:
        await OPENED.pop().dispose()


async def fresh(tmp_path: Path, name: str, since: str) -> Database:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / name}")
    OPENED.append(db)
    await upgrade(db.engine)
    orgs = [["DW", "机关党委", "", "党委", "", since], ["ZB", "第一党支部", "DW", "党支部", ""]]
    o, m = read_workbook(workbook_bytes(orgs, SMALL_MEMBERS))
    assert (
        await import_roster(db, o, m, now=at("2026-11-02"), default_timezone="Asia/Shanghai")
    ).counts
    return db


async def by_hand(
    db: Database, day: str, kind: str, counts: tuple[int, int, int], filed: str, codes: list[str]
) -> None:
    """A meeting recorded by hand in chat, as reports.file stores it."""
    async with db.write() as session:
        zb = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert zb is not None
        record_id = await add_record(
            session,
            org_id=zb.id,
            kind="meeting_record",
            held_on=date.fromisoformat(day),
            codes=codes,
            filed_at=at(filed, 17),
            summary=SUMMARY,
            allow_none=True,
        )
        record = await session.get_one(Record, record_id)
        expected, present, leave = counts
        record.details = {
            "first_topic": True,
            "photos": [],
            "ticked": codes,
            "obligation": kind,
            "topic": f"{day} 学习",
            "expected": expected,
            "present": present,
            "leave": leave,
            "quorum": present * 2 > expected,
        }


async def personal(
    db: Database, kind: str, day: str, filed: str, who: str, partner: str | None, text: str
) -> None:
    """A study note, thought report or heart talk, as the chat stores it."""
    async with db.write() as session:
        zb = await session.scalar(select(Org).where(Org.code == "ZB"))
        ids = dict((await session.execute(select(Member.name, Member.id))).all())
        assert zb is not None
        codes = {"heart_talk": ["heart_talks"]}.get(kind, [kind])
        await add_record(
            session,
            org_id=zb.id,
            kind=kind,
            held_on=date.fromisoformat(day),
            codes=codes,
            filed_at=at(filed, 17),
            member_id=ids[who],
            partner_id=ids[partner] if partner else None,
            summary=text,
        )


async def held_in_chat(db: Database, day: str) -> None:
    """A general meeting held with check-ins (4 present, 1 on leave) and its record."""
    async with db.write() as session:
        zb = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert zb is not None
        meeting = Meeting(
            org_id=zb.id,
            obligation="general_meeting",
            also=[],
            starts_at=at(day, 9),
            place="第一会议室",
            topic="学习全会精神",
            status="closed",
            checkin_mode="button",
            quorum_met=True,
            created_by=1,
            created_at=at(day, 8),
        )
        session.add(meeting)
        await session.flush()
        people = list((await session.execute(select(Member.id).order_by(Member.id))).scalars())
        for i, member_id in enumerate(people):
            status = "leave" if i == 4 else "present"
            session.add(
                Attendance(
                    meeting_id=meeting.id,
                    member_id=member_id,
                    status=status,
                    via="button",
                    at=at(day, 9),
                )
            )
        meeting.record_id = await add_record(
            session,
            org_id=zb.id,
            kind="meeting_record",
            held_on=date.fromisoformat(day),
            codes=["general_meeting"],
            filed_at=at(day, 16),
            summary=SUMMARY,
        )
        record = await session.get_one(Record, meeting.record_id)
        record.details = {"first_topic": True, "photos": [], "meeting_id": meeting.id}


def sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    wb = load_workbook(io.BytesIO(data))
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


async def export(db: Database) -> bytes:
    async with db.read() as session:
        zb = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert zb is not None
        return await ledger.export(session, zb.id, 2026, now=NOW)


async def scores(db: Database) -> list[dict[str, object]]:
    async with db.read() as session:
        return [r.as_json() for r in await assess(session, year=2026, now=NOW)]


async def test_a_ledger_round_trips_into_a_fresh_database(tmp_path: Path) -> None:
    kept = await fresh(tmp_path, "kept.db", "2026-01-01")  # the bot kept it all year
    for month in range(1, 11):  # 主题党日, January to October (one month missed)
        if month != 7:
            day = f"2026-{month:02d}-15"
            filed = day if month != 5 else "2026-06-10"  # May's record filed late
            await by_hand(kept, day, "theme_day", (5, 4, 0), filed, ["theme_day"])
    await by_hand(
        kept, "2026-03-10", "general_meeting", (5, 4, 1), "2026-03-11", ["general_meeting"]
    )
    await by_hand(kept, "2026-06-09", "general_meeting", (5, 2, 0), "2026-06-09", [])  # no quorum
    await by_hand(
        kept, "2026-09-15", "committee_meeting", (3, 3, 0), "2026-09-15", ["committee_meeting"]
    )
    await held_in_chat(kept, "2026-11-10")
    report = (
        "思想汇报："
        + "我认真学习党的创新理论，对照党员标准查找差距，今后要在工作中发挥积极作用。" * 3
    )
    await personal(kept, "thought_report", "2026-03-20", "2026-03-20", "钱预备", None, report)
    await personal(kept, "thought_report", "2026-06-25", "2026-07-03", "钱预备", None, report)
    await personal(kept, "thought_report", "2026-04-02", "2026-04-02", "赵积极", None, report)
    note = "学习心得：" + "通过学习，我深刻认识到坚持理论武装的重要意义。" * 3
    await personal(kept, "study_note", "2026-05-08", "2026-05-08", "张三", None, note)
    for partner in ("李委员", "张三", "赵积极"):
        await personal(
            kept, "heart_talk", "2026-08-12", "2026-08-12", "王书记", partner, "谈工作和思想。"
        )
    first = await export(kept)

    backfilled = await fresh(tmp_path, "new.db", "")  # tracked from the import, 2 November
    async with backfilled.read() as session:
        assert await session.scalar(select(Org.tracking_since).where(Org.code == "ZB")) == date(
            2026, 11, 2
        )
    table = read_records_workbook(first)
    done = await import_records(backfilled, table, now=NOW, default_branch="zb")
    assert done.ok, render_problems("zh", done.problems)
    assert (done.created, done.unchanged) == (20, 0)
    assert done.moved == [("ZB", date(2026, 11, 2), date(2026, 1, 1))]
    second = await export(backfilled)
    got, want = sheets(second), sheets(first)
    for title in ("概览", "会议记录", "学习心得与思想汇报", "谈心谈话", "考核"):
        assert got[title] == want[title], title
    assert await scores(backfilled) == await scores(kept)
    # the same file again adds nothing
    again = await import_records(backfilled, table, now=NOW, default_branch="ZB")
    assert (again.created, again.unchanged) == (0, 20)
    async with backfilled.read() as session:
        assert await session.scalar(select(func.count()).select_from(Record)) == 20
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "records.import")
        )
        assert entry is not None and entry.detail is not None and entry.detail["created"] == 20


def records_sheet(rows: list[list[Any]], headers: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "会议记录"
    ws.append(
        headers
        or [
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
        ]
    )
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def test_every_bad_cell_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    db = await fresh(tmp_path, "t.db", "")
    good = ["ZB", "2026-03-10", "支部党员大会", "学习", "是", 5, 4, 1, SUMMARY, "", ""]
    rows = [
        good,
        ["NOPE", "2026-03-10", "支部党员大会", "", "", 5, 4, 1, SUMMARY, "", ""],  # row 3
        ["ZB", "2027-03-10", "支部党员大会", "", "", 5, 4, 1, SUMMARY, "", ""],  # future
        ["ZB", "2026-03-10", "茶话会", "", "", 5, 4, 1, SUMMARY, "", ""],  # kind
        ["ZB", "2026-03-10", "主题党日", "", "也许", 5, 4, 1, SUMMARY, "", ""],  # yes/no
        ["ZB", "2026-03-10", "主题党日", "", "", 5, 4, 3, SUMMARY, "", ""],  # 4 + 3 > 5
        ["ZB", "2026-03-10", "主题党日", "", "", 5, 4, 1, "太短", "", ""],  # summary
        [
            "ZB",
            "2026-03-10",
            "支部党员大会",
            "",
            "",
            5,
            2,
            0,
            SUMMARY,
            "支部党员大会",
            "",
        ],  # quorum
        [
            "ZB",
            "2026-03-10",
            "主题党日",
            "",
            "",
            5,
            4,
            1,
            SUMMARY,
            "",
            "2026-03-01 10:00",
        ],  # before
        [
            "ZB",
            "2026-03-10",
            "主题党日",
            "",
            "",
            5,
            4,
            1,
            "太短",
            "茶话会",
            "昨天",
        ],  # three at once
    ]
    done = await import_records(db, read_records_workbook(records_sheet(rows)), now=NOW)
    found = {(p.row, p.column, p.key) for p in done.problems}
    assert found == {
        (3, "A", "records.unknown_branch"),
        (4, "B", "records.future_day"),
        (5, "C", "records.bad_kind"),
        (6, "E", "records.bad_yes_no"),
        (7, "F", "records.bad_attendance"),
        (8, "I", "records.summary_length"),
        (9, "J", "records.no_quorum"),
        (10, "K", "records.filed_range"),
        (11, "I", "records.summary_length"),
        (11, "J", "records.bad_counts"),
        (11, "K", "records.bad_moment"),
    }
    lines = render_problems("zh", done.problems)
    assert any("第 5 行" in line and "茶话会" in line for line in lines), lines
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Record)) == 0
    # names instead of counts; a dry run writes nothing
    named = records_sheet(
        [["2026-04-20", "主题党日", "王书记、李委员、张三", "赵积极", SUMMARY]],
        ["日期", "会议类型", "出席人员", "请假人员", "内容摘要"],
    )
    dry = await import_records(
        db, read_records_workbook(named), now=NOW, default_branch="ZB", dry_run=True
    )
    assert dry.ok and dry.created == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Record)) == 0
    real = await import_records(db, read_records_workbook(named), now=NOW, default_branch="ZB")
    assert real.ok and real.created == 1
    async with db.read() as session:
        record = await session.scalar(select(Record))
        assert record is not None and record.details is not None
        assert (record.details["expected"], record.details["present"], record.details["leave"]) == (
            5,
            3,
            1,
        )
    unknown = records_sheet(
        [["2026-04-21", "主题党日", "王书记、孙悟空", SUMMARY]],
        ["日期", "会议类型", "出席人员", "内容摘要"],
    )
    bad = await import_records(db, read_records_workbook(unknown), now=NOW, default_branch="ZB")
    assert [(p.row, p.column, p.key) for p in bad.problems] == [(2, "C", "records.unknown_names")]


async def test_reports_and_talks_are_checked_too(tmp_path: Path) -> None:
    db = await fresh(tmp_path, "p.db", "")
    wb = Workbook()
    reports = wb.active
    assert reports is not None
    reports.title = "学习心得与思想汇报"
    reports.append(["日期", "类型", "姓名", "内容"])
    reports.append(["2026-05-08", "学习心得", "张三", "学习心得：" + "坚持理论武装。" * 10])
    reports.append(["2026-05-09", "读书笔记", "张三", "学习心得：" + "坚持理论武装。" * 10])  # kind
    reports.append(["2026-05-10", "思想汇报", "孙悟空", "太短"])  # name and length
    talks = wb.create_sheet("谈心谈话")
    talks.append(["日期", "谈话人", "谈话对象", "内容"])
    talks.append(["2026-08-12", "王书记", "王书记", "谈工作和思想。"])  # the same person
    buffer = io.BytesIO()
    wb.save(buffer)
    tables = read_records_workbook(buffer.getvalue())
    done = await import_records(db, tables, now=NOW, default_branch="ZB")
    assert {(p.sheet, p.row, p.column, p.key) for p in done.problems} == {
        ("学习心得与思想汇报", 3, "B", "records.bad_report_kind"),
        ("学习心得与思想汇报", 4, "C", "records.unknown_names"),
        ("学习心得与思想汇报", 4, "D", "records.content_length"),
        ("谈心谈话", 2, "C", "records.same_person"),
    }
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Record)) == 0
    del wb["谈心谈话"]
    reports.delete_rows(3, 2)
    buffer = io.BytesIO()
    wb.save(buffer)
    good = await import_records(
        db, read_records_workbook(buffer.getvalue()), now=NOW, default_branch="ZB"
    )
    assert good.ok and good.created == 1
    async with db.read() as session:
        record = await session.scalar(select(Record))
        assert record is not None and record.kind == "study_note" and record.member_id is not None
