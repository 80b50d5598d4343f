"""Sending files to the bot in a private chat: the roster, and meetings held before it."""

from __future__ import annotations

import asyncio
import io
import time

from openpyxl import Workbook
from sqlalchemy import func, select

from bot.rules.clock import FrozenClock
from bot.services.admins import add_admin
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, Member, Org, Record
from tests.conftest import ADMIN_ID
from tests.fakegram import FakeTelegram
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, big_roster, link, workbook_bytes


async def member_count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Member)) or 0)


async def test_bootstrap_admin_imports_a_workbook(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    before = len(admin.bot_messages())
    admin.upload("roster.xlsx", workbook_bytes(*big_roster()))
    answer = await admin.next_message(before)
    assert "名册已导入" in answer.content and "党员：新增 300" in answer.content
    assert await member_count(db) == 300
    before = len(admin.bot_messages())
    admin.upload("roster.xlsx", workbook_bytes(*big_roster()))
    again = await admin.next_message(before)
    assert "没有任何变化" in again.content


async def test_errors_come_back_as_a_list_and_nothing_changes(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    members = [list(r) for r in SMALL_MEMBERS] + [["ZB", "<b>坏</b>", "X", "", "老板", "", ""]]
    before = len(admin.bot_messages())
    admin.upload("roster.xlsx", workbook_bytes(SMALL_ORGS, members))
    answer = await admin.next_message(before)
    assert "名册未导入" in answer.content
    assert "第 7 行，E 列（职务）：职务“老板”无效" in answer.content
    assert await member_count(db) == 0


async def test_long_error_lists_are_split_under_the_limit(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    members = [
        ["ZB", f"人{i}" * 10, f"X{i}", "bad" * 20, "老板" * 20, "soon" * 10, ""] for i in range(80)
    ]
    before = len(admin.bot_messages())
    admin.upload("roster.xlsx", workbook_bytes(SMALL_ORGS, members))
    await admin.next_message(before)
    parts = await fake.wait_for(
        lambda: admin.bot_messages()[before:] if len(admin.bot_messages()) > before + 1 else None
    )
    text = "\n".join(m.content for m in admin.bot_messages()[before:])
    assert len(parts) >= 2 and "另有" in text
    assert all(len(m.content) <= 4096 for m in parts)


async def test_csv_pair_arrives_in_two_messages(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    orgs = "组织编码,组织名称,上级组织编码,组织类型\nZB,第一党支部,,党支部\n".encode("gbk")
    members = "组织编码,姓名\nZB,张三\n".encode()
    before = len(admin.bot_messages())
    admin.upload("members.csv", members)
    first = await admin.next_message(before)
    assert "请在 15 分钟内发送组织表" in first.content
    admin.upload("orgs.csv", orgs)
    second = await admin.next_message(before + 1)
    assert "名册已导入" in second.content
    assert await member_count(db) == 1


async def test_non_admin_upload_is_refused(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    user = fake.add_user("Someone")
    before = len(user.bot_messages())
    user.upload("roster.xlsx", workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    answer = await user.next_message(before)
    assert "只有党组织管理员" in answer.content
    assert await member_count(db) == 0
    async with db.read() as session:
        assert (
            await session.scalar(select(AuditEntry.action).where(AuditEntry.outcome == "denied"))
            == "roster.import"
        )


async def test_subtree_admin_cannot_import_outside(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    admin = fake.add_user("Sub admin")
    await add_admin(db, "DW", admin.id, "sub", now=clock.now())
    before = len(admin.bot_messages())
    admin.upload("other.xlsx", workbook_bytes([["X", "别处", "", "党委", ""]], []))
    answer = await admin.next_message(before)
    assert "不在您管理的范围内" in answer.content


async def test_wrong_type_too_large_and_corrupt_files(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    cases = [
        ("photo.jpg", b"\xff\xd8\xff", "请发送 .xlsx 工作簿"),
        ("big.xlsx", b"x" * (5 * 1024 * 1024 + 1), "不能超过 5 MB"),
        ("broken.xlsx", b"PK\x03\x04 not really", "不是有效的 Excel"),
        ("weird.csv", b"a,b\n1,2\n", "无法识别这个 CSV"),
    ]
    for name, content, expected in cases:
        before = len(admin.bot_messages())
        admin.upload(name, content)
        answer = await admin.next_message(before)
        assert expected in answer.content, name
    assert await member_count(db) == 0


async def test_a_hostile_workbook_stalls_nobody(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    """While the bot reads a hostile workbook (in a child process), another user's /help is
    answered within 2 s; the file is then refused with the reason, nothing imported."""
    from tests.bot.services.test_roster import hostile_workbook

    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    other = fake.add_user("Other")
    before = len(admin.bot_messages())
    data = hostile_workbook(rows=100_000, pad_to=5_000_000)
    assert 4_500_000 < len(data) < 5 * 1024 * 1024  # within the upload limit
    admin.upload("roster.xlsx", data)
    await asyncio.sleep(0.3)  # the upload is being read
    started = time.monotonic()
    help_answer = await other.ask("/help", timeout=10)
    waited = time.monotonic() - started
    print(f"\n/help answered in {waited:.2f}s while a hostile workbook was read")
    assert "可用命令" in help_answer.content and waited < 2
    answer = await admin.next_message(before, timeout=30)
    assert "名册未导入" in answer.content
    assert await member_count(db) == 0


async def test_a_secretary_sends_the_meetings_held_before_the_bot(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    orgs = [["DW", "机关党委", "", "党委", ""], ["ZB", "第一党支部", "DW", "党支部", ""]]
    o, m = read_workbook(workbook_bytes(orgs, SMALL_MEMBERS))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    secretary, member = fake.add_user("Wang"), fake.add_user("Zhang")
    await link(db, "S001", secretary.id, clock.now())
    await link(db, "S003", member.id, clock.now())
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "会议记录"
    ws.append(["日期", "会议类型", "应到", "实到", "请假", "内容摘要"])
    summary = "传达学习上级会议精神，结合本支部实际讨论贯彻落实措施，部署下一阶段重点工作。"
    ws.append(["2026-01-20", "主题党日", 5, 4, 1, summary])
    ws.append(["2026-02-20", "主题党日", 5, 9, 0, summary])  # more present than expected
    bad, good = io.BytesIO(), io.BytesIO()
    wb.save(bad)
    before = len(secretary.bot_messages())
    secretary.upload("past.xlsx", bad.getvalue())
    refused = await secretary.next_message(before)
    assert "会议记录未导入，发现 1 处问题" in refused.content and "第 3 行" in refused.content
    ws.delete_rows(3)
    wb.save(good)
    before = len(secretary.bot_messages())
    secretary.upload("past.xlsx", good.getvalue())
    done = await secretary.next_message(before)
    assert "会议记录已导入：新增 1，已有 0" in done.content
    assert "ZB 改为自 2026-01-01 起启用" in done.content
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Record)) == 1
        since = await session.scalar(select(Org.tracking_since).where(Org.code == "ZB"))
        assert str(since) == "2026-01-01"
    # a member may not; nor may a secretary send a roster
    before = len(member.bot_messages())
    member.upload("past.xlsx", good.getvalue())
    assert "只有党组织管理员可以导入名册" in (await member.next_message(before)).content
    before = len(secretary.bot_messages())
    secretary.upload("roster.xlsx", workbook_bytes(orgs, SMALL_MEMBERS))
    assert "只有党组织管理员可以导入名册" in (await secretary.next_message(before)).content
    before = len(secretary.bot_messages())
    secretary.upload("members.csv", "组织编码,姓名\nZB,张三\n".encode())  # CSV: rosters only
    assert "只有党组织管理员可以导入名册" in (await secretary.next_message(before)).content
