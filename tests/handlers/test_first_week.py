"""A new branch's first week (issue #16): judged only from the day the bot began to keep its
calendar, and only on collections that could reach people and have closed."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.assessment import assess
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, CollectionTarget, Org, OrgAdmin
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import RunningBot, big_roster, drained, link, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
IMPORTED = datetime(2026, 11, 2, 10, 0, tzinfo=SH)  # a Monday in November
NOTE = "学习心得：通过学习，我深刻认识到坚持理论武装的重要意义，要把学习成果转化为推动工作的实际成效，做到学思用贯通。"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 10, 10, 0, tzinfo=SH))


async def import_new(db: Database) -> None:
    """The test roster (1 工委, 3 党委, 10 支部) imported on 2 November, no 启用日期."""
    orgs, members = big_roster()
    orgs[0][5] = ""  # tracked from the day of the import
    o, m = read_workbook(workbook_bytes(orgs, members))
    assert (await import_roster(db, o, m, now=IMPORTED, default_timezone="Asia/Shanghai")).counts


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    env["ZHIBU_DATABASE_URL"] = url
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )


async def cli_json(url: str, *args: str) -> Any:
    done = await asyncio.to_thread(cli, url, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_a_branch_imported_in_november_is_not_judged_on_the_months_before(
    db: Database, tmp_path: Path
) -> None:
    await import_new(db)
    url = f"sqlite:///{tmp_path / 'test.db'}"
    early = await cli_json(url, "assess", "--year", "2026", "--json", "--at", "2026-11-10")
    assert len(early) == 10
    assert all(r["grade"] is None and r["score"] is None and r["rank"] is None for r in early)
    assert not any(r["interview"] for r in early)
    assert {r["tracking_since"] for r in early} == {"2026-11-02"}
    # the third quarter ended before the import: nobody is judged on it, even a year later
    q3 = await cli_json(
        url, "assess", "--year", "2026", "--quarter", "3", "--json", "--at", "2027-01-20"
    )
    assert not any(r["grade"] or r["interview"] for r in q3)
    # November and December are tracked: after the year, what was not done counts
    year = await cli_json(url, "assess", "--year", "2026", "--json", "--at", "2027-01-20")
    assert all(r["score"] is not None and r["parts"]["obligations"] == 0 for r in year)
    assert all(r["maximums"]["obligations"] == 66.7 and r["rescaled"] for r in year)
    # the calendar: periods that ended before the import are not tracked, and never reminded
    occs = await cli_json(
        url, "calendar", "--org", "ZB01", "--year", "2026", "--json", "--at", "2026-11-10"
    )
    by_period = {
        (o["obligation"], o["period_end"]): o for o in occs if o["obligation"] == "theme_day"
    }
    october = by_period[("theme_day", "2026-10-31")]
    assert october["status"] == "not_tracked" and october["escalations"] == []
    november = by_period[("theme_day", "2026-11-30")]
    assert november["status"] == "open" and november["reminders"]
    text = await asyncio.to_thread(cli, url, "assess", "--year", "2026", "--at", "2026-11-10")
    assert "未评定" in text.stdout and "较差" not in text.stdout


async def test_moving_the_day_tracking_begins(db: Database, tmp_path: Path) -> None:
    await import_new(db)
    url = f"sqlite:///{tmp_path / 'test.db'}"
    moved = await asyncio.to_thread(cli, url, "orgs", "since", "--org", "dw1", "2026-01-01")
    assert moved.returncode == 0, moved.stderr
    assert "DW1：自 2026-01-01 起启用" in moved.stdout  # the code as stored, not as typed
    rows = await cli_json(url, "assess", "--year", "2026", "--json", "--at", "2027-01-20")
    since = {r["org"]: r["tracking_since"] for r in rows}
    assert {o for o, d in since.items() if d == "2026-01-01"} == {"ZB01", "ZB04", "ZB07", "ZB10"}
    assert {o for o, d in since.items() if d == "2026-11-02"} == {
        "ZB02",
        "ZB03",
        "ZB05",
        "ZB06",
        "ZB08",
        "ZB09",
    }
    async with db.read() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "org.tracking_since")
        )
        assert entry is not None and entry.detail is not None
        assert entry.detail["to"] == "2026-01-01" and "ZB01/第一党小组" in entry.detail["orgs"]
    unknown = await asyncio.to_thread(cli, url, "orgs", "since", "--org", "NOPE", "2026-01-01")
    assert unknown.returncode == 2 and "没有编码为 NOPE 的组织" in unknown.stderr
    too_early = await asyncio.to_thread(cli, url, "orgs", "since", "--org", "DW1", "1999-12-31")
    assert too_early.returncode == 2 and "启用日期应在" in too_early.stderr
    listed = await asyncio.to_thread(cli, url, "orgs", "list")
    assert "ZB02\t第2党支部\tbranch\tDW2\t2026-11-02" in listed.stdout


async def test_the_roster_names_the_day_and_children_inherit_it(db: Database) -> None:
    orgs = [
        ["DW", "机关党委", "", "党委", "", "2026-03-01"],
        ["ZB", "第一党支部", "DW", "党支部", ""],
        ["ZB2", "第二党支部", "DW", "党支部", "", "2026-06-01"],
    ]
    members = [["ZB", "张三", "M1", "", "书记", "", "第一党小组"]]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=IMPORTED, default_timezone="Asia/Shanghai")

    async def days() -> dict[str, date | None]:
        async with db.read() as session:
            return dict((await session.execute(select(Org.code, Org.tracking_since))).all())

    assert await days() == {
        "DW": date(2026, 3, 1),
        "ZB": date(2026, 3, 1),
        "ZB/第一党小组": date(2026, 3, 1),
        "ZB2": date(2026, 6, 1),
    }
    # a re-import with the column blank keeps the days stored
    blank = [[*row[:5], ""] for row in orgs]
    o, m = read_workbook(workbook_bytes(blank, members))
    result = await import_roster(db, o, m, now=IMPORTED, default_timezone="Asia/Shanghai")
    assert result.counts is not None and not result.counts.changed
    assert (await days())["ZB2"] == date(2026, 6, 1)
    # a bad day rejects the whole file, naming the row and the column
    bad = [[*orgs[0][:5], "2026-02-30"], orgs[1], [*orgs[2][:5], "2030-01-01"]]
    o, m = read_workbook(workbook_bytes(bad, members))
    result = await import_roster(db, o, m, now=IMPORTED, default_timezone="Asia/Shanghai")
    found = {(p.row, p.column, p.key) for p in result.problems}
    assert found == {(2, "F", "roster.bad_date"), (4, "F", "roster.date_range")}
    assert (await days())["DW"] == date(2026, 3, 1)


async def test_chat_assessment_and_ledger_of_a_new_branch(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    await import_new(db)
    admin, secretary = fake.add_user("Admin"), fake.add_user("Secretary")
    await link(db, "M0100", secretary.id, clock.now())
    async with db.write() as session:
        gw = await session.scalar(select(Org).where(Org.code == "GW"))
        assert gw is not None
        session.add(OrgAdmin(org_id=gw.id, telegram_user_id=admin.id, added_at=clock.now()))
    assessed = await admin.ask("/assess 2026")
    assert "（10 个支部）" in assessed.content and "未评定 10" in assessed.content
    assert "第1党支部 未评定：11月2日（周一）起启用，尚无到期事项" in assessed.content
    assert "双约谈：—" in assessed.content and "🔔" not in assessed.content
    overview = await admin.ask("/overview")
    assert "第1党支部 未评定" in overview.content
    doc = await secretary.ask("/export 2026")
    assert doc.document is not None
    wb = load_workbook(io.BytesIO(doc.document[1]))
    rows = {(r[0], r[1]): r for r in wb["概览"].iter_rows(min_row=2, values_only=True)}
    theme = rows[("主题党日", "第1党支部")]
    assert theme[2:12] == ("未启用",) * 10  # January to October
    assert theme[12] != "未启用"  # November is tracked
    graded = list(wb["考核"].iter_rows(min_row=2, values_only=True))
    assert graded[0][4] == "未评定"
    # her home screen says what falls due, as /due does, not "nothing to do"
    home = await secretary.ask("/start")
    assert "当前没有待办事项" not in home.content and "近期截止（共 4 项" in home.content
    assert "支部委员会会议（2026年11月）" in home.content


async def test_a_collection_counts_after_its_deadline_and_only_for_those_it_reached(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=SH))  # a Monday
    orgs = [
        ["DW", "机关党委", "", "党委", "", "2026-10-01"],
        ["ZB", "第一党支部", "DW", "党支部", ""],
    ]
    roles = ["书记", "副书记", "组织委员"] + [""] * 27
    members = [
        ["ZB", f"党员{i:02d}", f"M{i:02d}", "", roles[i], "2010-07-01", ""] for i in range(30)
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users: list[UserHandle] = [fake.add_user(f"U{i}") for i in range(3)]
    for i, u in enumerate(users):  # only the three managers are linked
        u.user.started = True
        await link(db, f"M{i:02d}", u.id, clock.now())
    sec = users[0]

    async def quarter(at: datetime) -> tuple[float | None, float | None]:
        async with db.read() as session:
            (r,) = await assess(session, year=2026, quarter=4, now=at)
        return r.score, r.parts.collections

    before = await quarter(datetime(2026, 11, 26, 12, 0, tzinfo=SH))
    panel = await sec.ask("/ask")
    await sec.click(panel, "学习心得")
    await fake.wait_for(lambda: "要求说明" in panel.content)
    await sec.ask("结合工作实际，谈谈学习全会精神的体会。")
    audience = await sec.ask("11-27 18:00")
    await sec.click(audience, "全体党员 (30)")
    await fake.wait_for(lambda: "请确认" in audience.content)
    await sec.click(audience, "✅ 发出")
    await fake.wait_for(lambda: "已发给 3 人" in audience.content)
    assert "27 人未绑定 Telegram，没有收到" in audience.content
    await drained(db)
    for u in users[1:]:  # two of the three answer in time
        prompt = next(m for m in u.bot_messages() if "请提交学习心得" in m.content)
        await u.click(prompt, "📝 提交")
        await fake.wait_for(lambda u=u: "请发送学习心得正文" in u.bot_messages()[-1].content)
        assert "已提交" in (await u.ask(NOTE)).content
    async with db.read() as session:
        reached = (await session.execute(select(CollectionTarget.reached))).scalars().all()
    assert sorted(reached) == [False] * 27 + [True] * 3
    # before its deadline the collection changes nothing
    assert await quarter(datetime(2026, 11, 26, 12, 0, tzinfo=SH)) == before
    assert before[1] is None
    # after it, 2 of the 3 it reached: 10 × 2/3, not 10 × 2/30
    after = await quarter(datetime(2026, 11, 28, 12, 0, tzinfo=SH))
    assert after[1] == 6.7


async def test_an_admin_reaches_any_branch_in_two_taps(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    orgs, members = big_roster()
    orgs.append(["ZB11", "第11党支部", "DW1", "党支部", ""])
    members.append(["ZB11", "孙书记", "M1100", "", "书记", "2010-07-01", ""])
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=IMPORTED, default_timezone="Asia/Shanghai")
    admin = fake.add_user("Admin")
    async with db.write() as session:
        gw = await session.scalar(select(Org).where(Org.code == "GW"))
        assert gw is not None
        session.add(OrgAdmin(org_id=gw.id, telegram_user_id=admin.id, added_at=clock.now()))
    picker = await admin.ask("/calendar")  # tap 1
    assert "请选择支部（/calendar，共 11 个）" in picker.content
    assert len(picker.button_labels) == 11 and "第11党支部" in picker.button_labels
    before = len(admin.bot_messages())
    await admin.click(picker, "第7党支部")  # tap 2
    shown = await admin.next_message(before)
    assert "第7党支部" in shown.content and "主题党日" in shown.content
    # codes in any case, and part of a name
    assert "第3党支部" in (await admin.ask("/calendar zb03")).content
    assert "第11党支部" in (await admin.ask("/calendar 第11")).content
    several = await admin.ask("/status 第1")  # 第1, 第10, 第11
    assert "共 3 个" in several.content
    assert sorted(several.button_labels) == ["第10党支部", "第11党支部", "第1党支部"]
    before = len(admin.bot_messages())
    await admin.click(several, "第10党支部")
    assert "第10党支部 · 工作进度" in (await admin.next_message(before)).content
    assert (await admin.next_message(before + 1)).photo is not None  # and its chart
    none = await admin.ask("/invite 不存在")
    assert "没有名称或编码含“不存在”的支部" in none.content and len(none.button_labels) == 11
    assert "没有编码为“abc”的组织" in (await admin.ask("/export 2026 abc")).content
    files = await admin.ask("/export")  # the ledger too, two taps away
    assert "请选择支部（/export，共 11 个）" in files.content
    before = len(admin.bot_messages())
    await admin.click(files, "第5党支部")
    ledger = await admin.next_message(before)
    assert ledger.document is not None and ledger.document[0] == "台账-ZB05-2026.xlsx"
    # a forged pick for a command not offered, or a branch out of scope, changes nothing
    holder = fake.new_message(fake.chats[admin.id], int(fake.bot["id"]), from_bot=True, text="·")
    assert (await admin.click_data(holder, "br:p:assess:1")).show_alert


async def test_whoami_and_the_id_on_the_home_screen(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock
) -> None:
    await import_new(db)
    stranger, member = fake.add_user("Stranger"), fake.add_user("Member")
    await link(db, "M0105", member.id, clock.now())
    me = await stranger.ask("/whoami")
    assert f"Telegram ID：{stranger.id}" in me.content and "党员身份：未绑定" in me.content
    assert f"zhibu admins add --org 组织编码 --user {stranger.id}" in me.content
    linked = await member.ask("/whoami")
    assert "党员身份：党员0105，第1党支部" in linked.content
    home = await member.ask("/start")
    assert f"您的 Telegram ID：{member.id}" in home.content
    await stranger.ask("/lang en")
    assert f"Telegram id: {stranger.id}" in (await stranger.ask("/whoami")).content
