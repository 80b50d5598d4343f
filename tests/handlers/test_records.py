"""/report for meeting records and special records; edit and withdraw; a restart mid-report."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services import meetings
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, Meeting, Org, Record, RecordObligation
from settings import Settings
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import RunningBot, link, start_bot, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
JPEG = b"\xff\xd8\xff\xe0" + b"0" * 200


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-11-23T09:00"))


@pytest.fixture
async def people(fake: FakeTelegram, db: Database, clock: FrozenClock) -> list[UserHandle]:
    """A branch of 8: secretary, deputy, organiser, three members, a probationary member and
    an activist; everyone linked."""
    orgs = [["DW", "机关党委", "", "党委", ""], ["ZB", "第一党支部", "DW", "党支部", ""]]
    roles = ["书记", "副书记", "组织委员", "", "", "", "预备党员", "入党积极分子"]
    names = ["王书记", "李副书", "赵组织", "张三", "李四", "周五", "钱预备", "孙积极"]
    members = [["ZB", names[i], f"M{i}", "", roles[i], "2010-07-01", ""] for i in range(len(names))]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = [fake.add_user(f"U{i}") for i in range(len(names))]
    for i, u in enumerate(users):
        await link(db, f"M{i}", u.id, clock.now())
    return users


async def held_general_meeting(db: Database, clock: FrozenClock, by: int, present: int) -> int:
    """A 支部党员大会 on 11-23 10:00 with ``present`` of the 8 checked in, closed at 12:00."""
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        meeting = await meetings.create(
            session,
            org_id=org.id,
            obligation="general_meeting",
            also=["theme_day"],
            starts_at=local("2026-11-23T10:00"),
            place="第一会议室",
            topic="学习全会精神",
            by=by,
            now=clock.now(),
        )
        people = await meetings.expected(session, meeting)
        for p in people[:present]:
            await session.run_sync(
                lambda s, who=p.id: meetings.check_in(
                    s, meeting, who, now=local("2026-11-23T10:05"), via="proxy", by=by
                )
            )
        await meetings.close(session, meeting, now=local("2026-11-23T12:01"))
        return meeting.id


async def test_meeting_record_for_a_held_meeting_turns_the_quarter_done(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, people: list[UserHandle]
) -> None:
    sec = people[0]
    meeting_id = await held_general_meeting(db, clock, sec.id, present=6)
    clock.set(local("2026-11-24T09:00"))
    before = (await sec.ask("/calendar")).content
    assert "支部党员大会" in before and "补交会议记录" in before
    menu = await sec.ask("/report")
    assert "会议记录" in menu.button_labels and "谈心谈话" in menu.button_labels
    await sec.click(menu, "会议记录")
    await fake.wait_for(lambda: "请选择已召开" in menu.content)
    assert any("支部党员大会" in label for label in menu.button_labels)
    await sec.click(menu, next(x for x in menu.button_labels if "支部党员大会" in x))
    await fake.wait_for(lambda: "第一议题" in menu.content)
    await sec.click(menu, "是")
    await fake.wait_for(lambda: "20–2000 字" in menu.content)
    short = await sec.ask("太短")
    assert "正文需 20–2000 字，您发送了 2 字" in short.content
    summary = "会议传达学习了全会精神，讨论了支部年度工作，并布置了下一阶段任务。"
    photos_prompt = await sec.ask(summary)
    assert "最多 9 张" in photos_prompt.content
    # a non-photo where a photo is asked: text and a file are refused; nothing is kept
    assert "只接收照片" in (await sec.ask("这是文字")).content
    before_doc = len(sec.bot_messages())
    sec.upload("记录.pdf", b"%PDF-1.4 not a photo")
    assert "只接收照片" in (await sec.next_message(before_doc)).content
    before_photo = len(sec.bot_messages())
    sec.send_photo(JPEG)
    status = await sec.next_message(before_photo)
    await fake.wait_for(lambda: "已收到 1/9 张照片" in status.content)
    for n in range(2, 10):
        sec.send_photo(JPEG)
        await fake.wait_for(lambda n=n: f"已收到 {n}/9 张照片" in status.content)
    tenth = len(sec.bot_messages())
    sec.send_photo(JPEG)
    assert "最多 9 张照片，这张未保存" in (await sec.next_message(tenth)).content
    await sec.click(status, "完成")
    await fake.wait_for(lambda: "预览 · 会议记录" in status.content)
    preview = status.content
    assert "应到 8，实到 6，请假 0，缺席 2" in preview and "第一议题：是；照片 9 张" in preview
    assert "☑️ 支部党员大会" in status.button_labels and "☑️ 主题党日" in status.button_labels
    await sec.click(status, "☑️ 主题党日")  # untick: this session is not counted as 主题党日
    await fake.wait_for(lambda: "▫️ 主题党日" in status.button_labels)
    async with db.read() as session:
        assert await session.scalar(select(Record.id)) is None
    await sec.click(status, "保存")
    await fake.wait_for(lambda: "会议记录已保存" in status.content)
    assert "已计入：支部党员大会" in status.content
    async with db.read() as session:
        record = await session.scalar(select(Record))
        assert record is not None and record.kind == "meeting_record"
        assert record.details is not None and len(record.details["photos"]) == 9
        assert record.details["first_topic"] is True
        codes = set((await session.execute(select(RecordObligation.code))).scalars())
        assert codes == {"general_meeting"}
        assert (await session.get_one(Meeting, meeting_id)).record_id == record.id
    after = (await sec.ask("/calendar")).content
    line = next(x for x in after.splitlines() if "支部党员大会" in x)
    assert "1/1" in line and "补交会议记录" not in after
    again = await sec.click_data(status, "rp:y")
    assert again.show_alert  # the draft is gone: nothing is filed twice
    menu2 = await sec.ask("/report")
    await sec.click(menu2, "会议记录")
    await fake.wait_for(lambda: "没有待记录" in menu2.content)
    forged = await sec.click_data(menu2, f"rp:m:{meeting_id}")
    assert forged.show_alert and "已经提交过" in (forged.text or "")


async def test_a_meeting_without_quorum_does_not_count(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, people: list[UserHandle]
) -> None:
    sec = people[0]
    menu = await sec.ask("/report")
    await sec.click(menu, "会议记录")
    await fake.wait_for(lambda: "手工填写" in str(menu.button_labels))
    await sec.click(menu, "✍️ 手工填写")
    await fake.wait_for(lambda: "会议类型" in menu.content)
    await sec.click(menu, "支部党员大会")
    await fake.wait_for(lambda: "请发送日期" in menu.content)
    assert "无法识别" in (await sec.ask("上个月")).content
    assert "不能晚于今天" in (await sec.ask("2026-11-30")).content
    assert "应到 实到 请假" in (await sec.ask("11月20日")).content
    assert "请发送三个数字" in (await sec.ask("8 9 0")).content
    assert "会议主题" in (await sec.ask("8 3 1")).content
    assert "1–200 字" in (await sec.ask("题" * 201)).content
    first = await sec.ask("年度工作部署")
    await sec.click(first, "否")
    await fake.wait_for(lambda: "20–2000 字" in first.content)
    photos = await sec.ask("会议部署了年度工作，因出席人数不足，决定择期重新召开。")
    await sec.click(photos, "完成")
    await fake.wait_for(lambda: "预览 · 会议记录" in photos.content)
    assert "应到 8，实到 3，请假 1，缺席 4" in photos.content
    await sec.click(photos, "保存")
    await fake.wait_for(lambda: "会议记录已保存" in photos.content)
    assert "未计入任何义务" in photos.content
    async with db.read() as session:
        record = await session.scalar(select(Record))
        assert record is not None and str(record.held_on) == "2026-11-20"
        assert record.details is not None and record.details["quorum"] is False
        assert await session.scalar(select(RecordObligation.code)) is None


async def test_heart_talk_builds_coverage(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: list[UserHandle]
) -> None:
    sec = people[0]
    line = next(x for x in (await sec.ask("/calendar")).content.splitlines() if "谈心谈话" in x)
    assert "0/" in line
    menu = await sec.ask("/report")
    await sec.click(menu, "谈心谈话")
    await fake.wait_for(lambda: "谈话双方" in menu.content)
    assert "两位不同党员" in (await sec.ask("王书记")).content
    assert "没有名为“无名氏”" in (await sec.ask("王书记 无名氏")).content
    assert "请发送日期" in (await sec.ask("王书记、张三")).content
    assert "5–500 字" in (await sec.ask("昨天")).content
    preview = await sec.ask("交流了思想和工作情况。")
    assert "谈话双方：王书记、张三" in preview.content
    await sec.click(preview, "保存")
    await fake.wait_for(lambda: "谈心谈话已保存" in preview.content)
    line = next(x for x in (await sec.ask("/calendar")).content.splitlines() if "谈心谈话" in x)
    assert "1/" in line
    # members cannot file it, nor forge the button
    member = people[3]
    assert "谈心谈话" not in (await member.ask("/report")).button_labels
    forged = await member.click_data(preview, "rp:k:heart_talk")
    assert forged.show_alert


async def test_edit_and_withdraw_within_a_day(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, people: list[UserHandle]
) -> None:
    qian, other = people[6], people[3]
    assert "钱预备 0/1" in (await qian.ask("/calendar")).content
    menu = await qian.ask("/report")
    await qian.click(menu, "思想汇报")
    await fake.wait_for(lambda: "100–4000" in menu.content)
    preview = await qian.ask("我认真学习了党章党规，" * 12)
    await qian.click(preview, "保存")
    await fake.wait_for(lambda: "已保存" in preview.content)
    tasks = await qian.ask("/tasks")
    assert "24 小时内可修改或撤回" in tasks.content
    edit_label = next(x for x in tasks.button_labels if x.startswith("✏️"))
    await qian.click(tasks, edit_label)
    await fake.wait_for(lambda: "修改后的思想汇报" in tasks.content)
    assert "您发送了 2 字" in (await qian.ask("太短")).content  # the step is kept
    assert "已修改" in (await qian.ask("修改后：我认真学习了党章党规，" * 10)).content
    async with db.read() as session:
        record = await session.scalar(select(Record))
        assert record is not None and record.summary is not None
        assert record.summary.startswith("修改后") and record.edited_at is not None
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "report.edit"))
        assert entry is not None and entry.detail["before"].startswith("我认真学习")
        record_id = record.id
    # someone else's report: refused, unchanged
    for data in (f"rp:ed:{record_id}", f"rp:wd:{record_id}", f"rp:wy:{record_id}"):
        answer = await other.click_data(tasks, data)
        assert answer.show_alert and "不是您提交的" in (answer.text or "")
    # withdraw, confirmed: it stops counting
    tasks = await qian.ask("/tasks")
    await qian.click(tasks, "↩️ 撤回")
    await fake.wait_for(lambda: "确定撤回" in tasks.content)
    await qian.click(tasks, "撤回")
    await fake.wait_for(lambda: "已撤回" in tasks.content)
    assert "钱预备 0/1" in (await qian.ask("/calendar")).content
    async with db.read() as session:
        record = await session.get_one(Record, record_id)
        assert record.withdrawn_at is not None
    # after 24 hours nothing can be changed
    menu = await qian.ask("/report")
    await qian.click(menu, "学习心得")
    await fake.wait_for(lambda: "50–2000" in menu.content)
    preview = await qian.ask("学习心得：" + "深刻领会全会精神。" * 8)
    await qian.click(preview, "保存")
    await fake.wait_for(lambda: "已保存" in preview.content)
    async with db.read() as session:
        note_id = await session.scalar(select(Record.id).where(Record.kind == "study_note"))
    clock.advance(timedelta(hours=24, minutes=1))
    assert "24 小时内可修改" not in (await qian.ask("/tasks")).content
    late = await qian.click_data(tasks, f"rp:ed:{note_id}")
    assert late.show_alert and "超过 24 小时" in (late.text or "")
    async with db.read() as session:
        assert (await session.get_one(Record, note_id)).edited_at is None
        denied = await session.scalar(
            select(AuditEntry.id).where(
                AuditEntry.action == "report.ed", AuditEntry.outcome == "denied"
            )
        )
        assert denied is not None


async def test_a_report_survives_a_restart_and_is_saved_once(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    people: list[UserHandle],
) -> None:
    member = people[3]
    running = await start_bot(fake, db, clock, settings)
    menu = await member.ask("/report")
    await member.click(menu, "学习心得")
    await fake.wait_for(lambda: "50–2000" in menu.content)
    await running.stop()  # the bot goes down between two steps
    running = await start_bot(fake, db, clock, settings)
    preview = await member.ask("重启之后继续写：" + "认真学习，学以致用。" * 6)
    assert "预览 · 学习心得" in preview.content
    await running.stop()  # and again before 保存
    running = await start_bot(fake, db, clock, settings)
    try:
        first = member.press(preview, "保存")
        second = member.press(preview, "保存")  # pressed twice
        answers = [await member.answer_of(first), await member.answer_of(second)]
        assert sorted(a.show_alert for a in answers) == [False, True]
        await fake.wait_for(lambda: "学习心得已保存" in preview.content)
        assert "已计入：学习心得" in preview.content  # its name, never the code study_note
    finally:
        await running.stop()
    async with db.read() as session:
        records = list((await session.execute(select(Record))).scalars())
        assert len(records) == 1 and records[0].summary is not None
        assert records[0].summary.startswith("重启之后继续写")
