"""/status, /overview, /assess, /export and /ics through the fake Telegram, with refusals."""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from openpyxl import load_workbook
from sqlalchemy import select

from bot.exports import charts
from bot.rules.clock import FrozenClock
from bot.services.obligations import add_record
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Instance, Meeting, Member, Org, OrgAdmin
from jobs.scores import keep_once
from jobs.tick import survive
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import RunningBot, link, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 24, 10, 0, tzinfo=SH))


@pytest.fixture
async def people(fake: FakeTelegram, db: Database, clock: FrozenClock) -> dict[str, UserHandle]:
    orgs = [
        ["DW", "机关党委", "", "党委", "", "2026-01-01"],  # tracked all year
        ["ZB1", "第一党支部", "DW", "党支部", ""],
        ["ZB2", "第二党支部", "DW", "党支部", ""],
        ["DW2", "另一党委", "", "党委", "", "2026-01-01"],
        ["ZC", "外单位支部", "DW2", "党支部", ""],
    ]
    members = [
        ["ZB1", "王书记", "A1", "", "书记", "2010-07-01", ""],
        ["ZB1", "李组织", "A2", "", "组织委员", "2012-07-01", ""],
        ["ZB1", "张党员", "A3", "", "", "2015-07-01", ""],
        ["ZB1", "钱积极", "A4", "", "入党积极分子", "", ""],
        ["ZB2", "赵书记", "B1", "", "书记", "2010-07-01", ""],
        ["ZC", "孙书记", "C1", "", "书记", "2010-07-01", ""],
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = {
        "secretary": fake.add_user("Wang"),
        "member": fake.add_user("Zhang"),
        "activist": fake.add_user("Qian"),
        "other_secretary": fake.add_user("Zhao"),
        "admin": fake.add_user("Admin"),
        "other_admin": fake.add_user("Other"),
        "stranger": fake.add_user("Nobody"),
    }
    await link(db, "A1", users["secretary"].id, clock.now())
    await link(db, "A3", users["member"].id, clock.now())
    await link(db, "A4", users["activist"].id, clock.now())
    await link(db, "B1", users["other_secretary"].id, clock.now())
    async with db.write() as session:
        for code, user in (("DW", "admin"), ("DW2", "other_admin")):
            org = await session.scalar(select(Org).where(Org.code == code))
            assert org is not None
            session.add(
                OrgAdmin(org_id=org.id, telegram_user_id=users[user].id, added_at=clock.now())
            )
        zb1 = await session.scalar(select(Org).where(Org.code == "ZB1"))
        assert zb1 is not None
        day = date(2026, 11, 10)
        meeting = Meeting(
            org_id=zb1.id,
            obligation="general_meeting",
            also=[],
            starts_at=datetime(2026, 11, 10, 9, 0, tzinfo=SH),
            place="第一会议室",
            topic="学习全会精神",
            status="closed",
            checkin_mode="button",
            quorum_met=True,
            created_by=users["secretary"].id,
            created_at=clock.now(),
        )
        session.add(meeting)
        await session.flush()
        meeting.record_id = await add_record(
            session,
            org_id=zb1.id,
            kind="meeting_record",
            held_on=day,
            codes=["general_meeting"],
            filed_at=datetime(2026, 11, 11, 9, 0, tzinfo=SH),
            summary="传达学习全会精神，部署年度工作。",
        )
        ids = dict((await session.execute(select(Member.name, Member.id))).all())
        await add_record(
            session,
            org_id=zb1.id,
            kind="heart_talk",
            held_on=date(2026, 11, 12),
            codes=["heart_talks"],
            filed_at=clock.now(),
            member_id=ids["王书记"],
            partner_id=ids["张党员"],
            summary="交流思想",
        )
        await add_record(
            session,
            org_id=zb1.id,
            kind="study_note",
            held_on=date(2026, 11, 13),
            codes=["study_note"],
            filed_at=clock.now(),
            member_id=ids["张党员"],
            summary="学习心得" * 20,
        )
    return users


async def test_status_is_text_and_a_chart(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    before = len(sec.bot_messages())
    sec.send("/status")
    text = await sec.next_message(before)
    assert "第一党支部 · 工作进度" in text.content
    assert "✅ 支部党员大会：1/1" in text.content
    assert "本季度已召开会议 1 次" in text.content
    photo = await sec.next_message(before + 1)
    assert photo.photo is not None and photo.photo.startswith(b"\x89PNG")
    assert photo.caption is not None and photo.caption.startswith("下一步：")  # what to do


def test_chart_text_is_covered_by_the_cjk_font() -> None:
    labels = ["支部党员大会", "主题党日", "谈心谈话", "意识形态工作专题汇报", "书记抓党建述职评议"]
    legend = {
        "done": "已完成",
        "open": "进行中（未到期）",
        "overdue": "逾期",
        "not_tracked": "未启用",
    }
    states = ["done", "open", "overdue", "done", "not_tracked"]
    notes = ["1/1 · 截止 11月30日（周一）"] * 5
    chart = charts.bars(
        "第一党支部 2026 年当前周期完成情况",
        labels,
        [1, 0.5, 0, 1, 0],
        notes,
        states,
        legend,
        "要求",
    )
    assert "进行中（未到期）" in chart.text and "未启用" in chart.text  # the legend is drawn
    assert chart.png.startswith(b"\x89PNG")
    assert chart.font.name == "NotoSansCJK-Regular.ttc" and charts.font_name() == "Noto Sans CJK SC"
    assert charts.missing_glyphs(chart.text) == set()
    assert charts.missing_glyphs("支部𠀀") == {"𠀀"}  # the check can fail
    cells = [[(1.0, "done"), (0.5, "open"), None, (0.0, "overdue"), (0.0, "not_tracked")]]
    heat = charts.heatmap("2026年第四季度", ["第一党支部"], labels, cells, legend)
    assert heat.png.startswith(b"\x89PNG") and charts.missing_glyphs(heat.text) == set()
    assert "逾期" in heat.text and "50%" in heat.text


async def test_overview_and_assess_for_admins(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    admin = people["admin"]
    before = len(admin.bot_messages())
    admin.send("/overview")
    text = await admin.next_message(before)
    assert "2 个支部" in text.content and "第一党支部" in text.content
    assert "外单位支部" not in text.content
    heat = await admin.next_message(before + 1)
    assert heat.photo is not None and heat.photo.startswith(b"\x89PNG")
    assessed = await admin.ask("/assess 2026")
    assert "2026 年度考核" in assessed.content and "（2 个支部）" in assessed.content
    assert "双约谈" in assessed.content
    assert "年份应为" in (await admin.ask("/assess 26")).content
    other = await people["other_admin"].ask("/assess 2026")
    assert "外单位支部" in other.content and "第一党支部" not in other.content
    await admin.ask("/lang en")
    english = await admin.ask("/assess 2026")
    graded = [line for line in english.content.splitlines() if "第一党支部" in line]
    assert graded and any(f"({g})" in graded[0] for g in ("excellent", "good", "fair", "poor"))


async def test_scores_kept_by_the_job_are_only_ranked_for_assess(
    bot: RunningBot,
    db: Database,
    clock: FrozenClock,
    people: dict[str, UserHandle],
    worked: list[list[str]],
) -> None:
    """The job keeps this year's and quarter's scores: /assess then works out only the
    branches changed since (#15)."""
    deps = bot.app.bot_data["deps"]
    await survive(deps, "scores", keep_once)
    assert worked == [["ZB1", "ZB2", "ZC"], ["ZB1", "ZB2", "ZC"]]  # the year, the quarter
    assert deps.liveness.report()["scores"]["ok"]
    admin = people["admin"]
    first = await admin.ask("/assess 2026")
    assert "（2 个支部）" in first.content and worked[2:] == []  # only ranked
    async with db.write() as session:
        zb2 = await session.scalar(select(Org.id).where(Org.code == "ZB2"))
        assert zb2 is not None
        await add_record(session, org_id=zb2, kind="theme_day", held_on=date(2026, 11, 20),
                         codes=["theme_day"], filed_at=clock.now())  # fmt: skip
    again = await admin.ask("/assess 2026")
    assert worked[2:] == [["ZB2"]] and again.content != first.content


async def test_export_workbook_and_calendar_file(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    doc = await sec.ask("/export 2026")
    assert doc.document is not None and doc.document[0] == "台账-ZB1-2026.xlsx"
    wb = load_workbook(io.BytesIO(doc.document[1]))
    assert wb.sheetnames == [
        "概览",
        "会议记录",
        "签到明细",
        "学习心得与思想汇报",
        "谈心谈话",
        "考核",
    ]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.column_dimensions["A"].width >= 6
    overview = wb["概览"]
    header = [c.value for c in overview[1]]
    assert header[:3] == ["工作要求", "组织/成员", "1月"] and header[-1] == "12月"
    rows = {(r[0], r[1]): r for r in overview.iter_rows(min_row=2, values_only=True)}
    assert rows[("支部党员大会", "第一党支部")][2 + 11 - 1 + 1] == "完整"  # Q4 in the 12月 column
    assert rows[("支部党员大会", "第一党支部")][2 + 2] == "未开展"  # Q1 (3月): none held
    assert rows[("思想汇报", "钱积极")][2 + 11] in ("未开展", "逾期")
    records = list(wb["会议记录"].iter_rows(values_only=True))
    assert records[0][:4] == ("日期", "会议类型", "主题", "第一议题")
    assert isinstance(records[1][0], datetime) and records[1][0].date() == date(2026, 11, 10)
    assert records[1][1] == "支部党员大会" and records[1][8] == "传达学习全会精神，部署年度工作。"
    assert wb["会议记录"]["A2"].number_format == "yyyy-mm-dd"
    talks = list(wb["谈心谈话"].iter_rows(values_only=True))
    assert talks[1][1:] == ("王书记", "张党员", "交流思想")
    notes = list(wb["学习心得与思想汇报"].iter_rows(values_only=True))
    assert notes[1][1:4] == ("学习心得", "张党员", 80)
    attendance = list(wb["签到明细"].iter_rows(values_only=True))
    assert len(attendance) == 1 + 4 and {r[4] for r in attendance[1:]} == {"缺席"}
    assessment = list(wb["考核"].iter_rows(values_only=True))
    assert assessment[0][:5] == ("排名", "支部", "代码", "得分", "等级")
    assert [r[2] for r in assessment[1:]] == ["ZB1"]
    # a committee export: one 概览 row per branch
    admin = people["admin"]
    committee = await admin.ask("/export 2026 DW")
    assert committee.document is not None
    cwb = load_workbook(io.BytesIO(committee.document[1]))
    names = [r[0] for r in cwb["概览"].iter_rows(min_row=2, values_only=True)]
    assert names == ["第一党支部", "第二党支部"]
    assert [c.value for c in cwb["会议记录"][1]][:2] == ["支部", "日期"]
    # the calendar file parses and keeps its UIDs
    member = people["member"]
    first = await member.ask("/ics")
    second = await member.ask("/ics")
    assert first.document is not None and second.document is not None
    cal = Calendar.from_ical(first.document[1])
    events = [e for e in cal.walk("VEVENT")]
    uids = [str(e["UID"]) for e in events]
    async with db.read() as session:  # UIDs are scoped by this deployment's random id
        deployment = await session.scalar(select(Instance.uid))
    assert deployment and f"meeting-1@{deployment}.zhibu" in uids and len(uids) == len(set(uids))
    meeting = next(e for e in events if str(e["UID"]).startswith("meeting-1@"))
    alarms = sorted(str(a["TRIGGER"].dt) for a in meeting.walk("VALARM"))
    assert alarms == ["-1 day, 0:00:00", "-1 day, 23:00:00"]  # a day and an hour before
    # a member's file holds what they take part in: not the branch's deadlines
    assert not any(str(e["SUMMARY"]).startswith("截止") for e in events)
    again = [str(e["UID"]) for e in Calendar.from_ical(second.document[1]).walk("VEVENT")]
    assert again == uids
    mine = await people["activist"].ask("/ics")  # an activist's own thought reports
    assert mine.document is not None
    own = [str(e["SUMMARY"]) for e in Calendar.from_ical(mine.document[1]).walk("VEVENT")]
    assert any(x.startswith("截止：思想汇报") for x in own)
    assert not any(x.startswith("截止：主题党日") for x in own)
    managed = await people["secretary"].ask("/ics")  # the secretary's: the branch's deadlines
    assert managed.document is not None
    theirs = Calendar.from_ical(managed.document[1]).walk("VEVENT")
    due = next(e for e in theirs if str(e["SUMMARY"]).startswith("截止：主题党日"))
    assert [str(a["TRIGGER"].dt) for a in due.walk("VALARM")] == ["-1 day, 9:00:00"]


@pytest.mark.parametrize(
    ("who", "command"),
    [
        ("member", "/status"),
        ("activist", "/status"),
        ("stranger", "/status"),
        ("other_secretary", "/status ZB1"),
        ("other_admin", "/status ZB1"),
        ("member", "/overview"),
        ("secretary", "/overview"),
        ("stranger", "/overview"),
        ("member", "/assess"),
        ("secretary", "/assess 2026"),
        ("member", "/export"),
        ("activist", "/export 2026"),
        ("stranger", "/export 2026"),
        ("other_secretary", "/export 2026 ZB1"),
        ("secretary", "/export 2026 DW"),
        ("other_admin", "/export 2026 DW"),
        ("other_admin", "/export 2026 ZB1"),
    ],
)
async def test_refusals(
    bot: RunningBot,
    fake: FakeTelegram,
    people: dict[str, UserHandle],
    who: str,
    command: str,
) -> None:
    user = people[who]
    answer = await user.ask(command)
    assert answer.document is None and answer.photo is None
    assert "只有" in answer.content or "没有权限" in answer.content, answer.content


async def test_calendar_file_needs_a_linked_member_and_pages_need_an_admin(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    stranger = people["stranger"]
    answer = await stranger.ask("/ics")
    assert answer.document is None and "还没有绑定党员身份" in answer.content
    member = people["member"]
    panel = await member.ask("/help")
    for data in ("pg:a:2026:0", "pg:o:0", "pg:a:1999x:0", "pg:zz"):
        pressed = await member.click_data(panel, data)
        assert pressed.show_alert, data
