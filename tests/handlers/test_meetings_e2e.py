"""A 支部党员大会 for a branch of 30, played through the fake Telegram (SPEC §6)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Org
from settings import Settings
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import (
    drained,
    link,
    start_bot,
    thirty_members,
    tick_at,
    workbook_bytes,
)

SH = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-12-01T09:00"))


@pytest.fixture
async def branch(
    fake: FakeTelegram, db: Database, clock: FrozenClock
) -> tuple[list[UserHandle], int]:
    return await thirty_members(fake, db, clock)


async def schedule(sec: UserHandle, fake: FakeTelegram, when: str) -> int:
    """The secretary schedules a 支部党员大会 by chat; returns the message with the manager buttons."""
    panel = await sec.ask("/meet")
    await sec.click(panel, "支部党员大会")
    await fake.wait_for(lambda: "请选择日期" in panel.content)
    assert "无法识别" in (await sec.ask("下个月某天")).content
    assert "已过" in (await sec.ask("2026-11-30 9:00")).content
    place_prompt = await sec.ask(when)
    assert "请输入地点" in place_prompt.content
    assert "地点应为 1–100 个字（您输入了 101 个字）" in (await sec.ask("长" * 101)).content
    topic_prompt = await sec.ask("第一会议室")
    assert "请输入议题" in topic_prompt.content
    also = await sec.ask("学习贯彻全会精神")
    await sec.click(also, "主题党日")
    await fake.wait_for(lambda: "☑️ 主题党日" in also.button_labels)
    await sec.click(also, "完成")
    await fake.wait_for(lambda: "请确认" in also.content)
    assert "同时完成：主题党日" in also.content and "第一会议室" in also.content
    await sec.click(also, "确认安排")
    await fake.wait_for(lambda: "会议已安排" in also.content)
    assert "已通知 30 名应到人员，并发到支部群" in also.content
    return also.message_id


async def test_general_meeting_of_thirty(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    branch: tuple[list[UserHandle], int],
) -> None:
    users, group_id = branch
    running = await start_bot(fake, db, clock, settings)
    try:
        sec = users[0]
        manager_msg = await schedule(sec, fake, "12-3 9:00")
        await drained(db)
        cards = {
            u.id: next(m for m in u.bot_messages() if "签到" in " ".join(m.button_labels))
            for u in users
        }
        group_card = next(m for m in fake.bot_messages(group_id) if "支部党员大会" in m.content)
        assert "应到 30 · 已签到 0 · 请假 0" in group_card.content
        # three ask for leave the day before
        clock.set(local("2026-12-02T10:00"))
        for u in users[20:23]:
            before = len(u.bot_messages())
            await u.click(cards[u.id], "请假")
            await u.next_message(before)
            assert "已请假" in (await u.ask("出差在外地")).content
        # too early to check in
        answer = await users[5].click(cards[users[5].id], "签到")
        assert answer.show_alert and "还没到签到时间" in (answer.text or "")
        # twenty check in by button at the start
        clock.set(local("2026-12-03T09:05"))
        for u in users[:20]:
            answer = await u.click(cards[u.id], "签到")
            assert answer.text == "签到成功"
        assert "您已签到" in cards[users[0].id].content and not cards[users[0].id].buttons
        again = await users[0].click(group_card, "签到")  # once more, from the group's card
        assert again.text == "您已经签到过了"
        late_leave = await users[25].click(cards[users[25].id], "请假")
        assert late_leave.show_alert and "已经开始" in (late_leave.text or "")
        # one is signed in by the secretary
        msg = next(m for m in sec.bot_messages() if m.message_id == manager_msg)
        await sec.click(msg, "代签")
        await fake.wait_for(lambda: "点姓名为其代签" in msg.content)
        proxied = await sec.click(msg, "党员23")
        assert proxied.text == "已为 党员23 代签"
        # a member cannot sign in for others, even with forged data
        forged = await users[7].click_data(
            cards[users[7].id], f"mt:q:{msg.button('党员24')['callback_data'].split(':')[2]}:1"
        )
        assert forged.show_alert
        await fake.wait_for(lambda: "应到 30 · 已签到 21 · 请假 3" in group_card.content, timeout=6)
        # the window closes two hours after the start: the tally goes to managers and the group
        await tick_at(running, clock, local("2026-12-03T11:00"))
        tally = next(m for m in fake.bot_messages(group_id) if "签到统计" in m.content)
        assert "应到 30 人，实到 21 人，请假 3 人，缺席 6 人" in tally.content
        assert "党员23（代签）" in tally.content
        assert (
            "请假：党员20（出差在外地）、党员21（出差在外地）、党员22（出差在外地）"
            in tally.content
        )
        assert "缺席：党员24、党员25、党员26、党员27、党员28、党员29" in tally.content
        assert "超过半数，会议有效" in tally.content
        assert any("签到统计" in m.content for m in sec.bot_messages())
        # the quarter's meeting was held: its record is to be filed within 3 workdays
        held = (await users[3].ask("/calendar")).content
        assert "会议已召开，需在 12月8日（周二） 前补交会议记录" in held
        await tick_at(running, clock, local("2026-12-08T08:30"))  # in that day's briefing
        due = next(m for m in sec.bot_messages() if "今天到期的会议记录" in m.content)
        assert "提交记录" in due.button_labels
        # a second meeting where only 14 come: no quorum, and the quarter's meeting stays open
        clock.set(local("2026-12-07T09:00"))
        await schedule(sec, fake, "12-9 9:00")
        await drained(db)
        clock.set(local("2026-12-09T09:00"))
        for u in users[:14]:
            card = [m for m in u.bot_messages() if "签到" in " ".join(m.button_labels)][-1]
            assert (await u.click(card, "签到")).text == "签到成功"
        await tick_at(running, clock, local("2026-12-09T11:00"))
        failed = [m for m in fake.bot_messages(group_id) if "签到统计" in m.content][-1]
        assert "只到会 14 人，未超过半数" in failed.content
        calendar = (await users[3].ask("/calendar")).content
        assert "⏳ 支部党员大会 0/1" in calendar
    finally:
        await running.stop()


async def test_refusals_and_code_check_in(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    branch: tuple[list[UserHandle], int],
) -> None:
    users, group_id = branch
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        org.checkin_mode = "code"
    running = await start_bot(fake, db, clock, settings)
    try:
        member = users[10]
        assert "只有本支部的书记" in (await member.ask("/meet")).content
        outsider = fake.add_user("Outsider")
        outsider.user.started = True
        assert "还没有绑定党员身份" in (await outsider.ask("/checkin 123456")).content
        await schedule(users[0], fake, "12-3 9:00")
        await drained(db)
        group_card = next(m for m in fake.bot_messages(group_id) if "支部党员大会" in m.content)
        clock.set(local("2026-12-03T09:00"))
        answer = await outsider.click(group_card, "签到")  # pressed by someone not invited
        assert answer.show_alert and "不在这次会议的应到名单" in (answer.text or "")
        async with db.read() as session:
            from bot.store.models import Meeting

            code = await session.scalar(select(Meeting.code))
        assert code is not None
        wrong = "000000" if code != "000000" else "111111"
        assert "签到码不对" in (await member.ask(f"/checkin {wrong}")).content
        need = await member.click(group_card, "签到")
        assert "签到码" in (need.text or "")
        assert "签到成功" in (await member.ask(code)).content  # the button, followed by the code
        assert "您已经签到过了" in (await member.ask(f"/checkin {code}")).content
        for _ in range(5):
            await users[11].ask(f"/checkin {wrong}")
        assert "10 分钟后再试" in (await users[11].ask(f"/checkin {code}")).content
        junk = await member.click_data(group_card, "mt:c:99999")
        assert junk.show_alert
    finally:
        await running.stop()


async def test_five_hundred_press_at_once(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    orgs = [["ZB", "大支部", "", "党支部", ""]]
    members = [
        ["ZB", f"党员{i:03d}", f"B{i:03d}", "", "书记" if i == 0 else "", "", ""]
        for i in range(500)
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = [fake.add_user(f"P{i}") for i in range(500)]
    for i, u in enumerate(users):
        await link(db, f"B{i:03d}", u.id, clock.now())
    group = fake.add_group("大支部群", users)
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        org.group_chat_id = group.id
    running = await start_bot(fake, db, clock, settings)
    try:
        from bot.services import meetings

        async with db.write() as session:
            meeting = await meetings.create(
                session,
                org_id=org.id,
                obligation="theme_day",
                also=[],
                starts_at=local("2026-12-01T10:00"),
                place="礼堂",
                topic=None,
                by=users[0].id,
                now=clock.now(),
            )
            meeting_id = meeting.id
        card = fake.new_message(
            group,
            fake.bot["id"],
            from_bot=True,
            text="card",
            reply_markup={
                "inline_keyboard": [[{"text": "签到", "callback_data": f"mt:c:{meeting_id}"}]]
            },
        )
        clock.set(local("2026-12-01T09:45"))
        queries = [u.press(card, "签到") for u in users]  # all within the same instant
        doubles = [u.press(card, "签到") for u in users[:50]]  # and some press twice
        answers = [
            await fake.wait_for(lambda q=q: fake.callback_answers.get(q), timeout=60)
            for q in queries
        ]
        again = [
            await fake.wait_for(lambda q=q: fake.callback_answers.get(q), timeout=60)
            for q in doubles
        ]
        async with db.read() as session:
            stored = await session.get_one(meetings.Meeting, meeting_id)
            tally = await meetings.tally(session, stored)
        assert [a.text for a in answers].count("签到成功") == 500
        assert {a.text for a in again} == {"您已经签到过了"}
        assert len(tally.present) == 500
    finally:
        await running.stop()


async def test_moving_and_cancelling_a_meeting_tells_the_attendees(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    branch: tuple[list[UserHandle], int],
) -> None:
    users, group_id = branch
    running = await start_bot(fake, db, clock, settings)
    try:
        sec = users[0]
        manager_msg = await schedule(sec, fake, "12-3 9:00")
        await drained(db)
        msg = next(m for m in sec.bot_messages() if m.message_id == manager_msg)
        forged = await users[4].click_data(
            await users[4].ask("/help"), msg.button("改时间")["callback_data"]
        )
        assert forged.show_alert
        before = len(sec.bot_messages())
        await sec.click(msg, "改时间")
        await sec.next_message(before)
        assert "无法识别" in (await sec.ask("某天")).content
        assert "已修改" in (await sec.ask("12-4 10:00")).content
        await drained(db)
        assert all(
            any(
                "会议变更" in m.content and "12月4日（周五） 10:00" in m.content
                for m in u.bot_messages()
            )
            for u in users
        )
        group_card = next(m for m in fake.bot_messages(group_id) if "支部党员大会" in m.content)
        await fake.wait_for(lambda: "12月4日（周五） 10:00" in group_card.content, timeout=6)
        await sec.click(msg, "取消会议")
        await fake.wait_for(lambda: "会议已取消" in msg.content)
        await drained(db)
        assert all(any("会议取消" in m.content for m in u.bot_messages()) for u in users)
        await fake.wait_for(
            lambda: "会议已取消" in group_card.content and not group_card.buttons, timeout=6
        )
        clock.set(local("2026-12-04T10:00"))
        answer = await users[3].ask("/checkin")
        assert "现在没有您可以签到的会议" in answer.content
    finally:
        await running.stop()


async def test_away_members_are_not_reminded(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    branch: tuple[list[UserHandle], int],
) -> None:
    users, _ = branch
    running = await start_bot(fake, db, clock, settings)
    try:
        away, back = users[5], users[6]
        assert "用法" in (await away.ask("/away")).content
        assert "无法识别日期“某天”" in (await away.ask("/away 某天")).content
        assert "180 天以内" in (await away.ask("/away 2027-12-31")).content
        assert "12月5日（周六）（含）前不给您发催办" in (await away.ask("/away 12-5")).content
        assert "12月5日" in (await back.ask("/away 12-5")).content
        assert "已结束外出状态" in (await back.ask("/away off")).content
        await schedule(users[0], fake, "12-3 9:00")
        await drained(db)
        await tick_at(running, clock, local("2026-12-02T08:30"))  # the day before's briefing
        reminded = {u.id for u in users if any("明天的会议" in m.content for m in u.bot_messages())}
        assert away.id not in reminded and back.id in reminded and len(reminded) == 29
        stranger = fake.add_user("Stranger")
        assert "还没有绑定党员身份" in (await stranger.ask("/away 12-5")).content
    finally:
        await running.stop()


async def test_tasks_lists_meetings_to_answer_and_makeup_study(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    branch: tuple[list[UserHandle], int],
) -> None:
    users, _ = branch
    running = await start_bot(fake, db, clock, settings)
    try:
        await schedule(users[0], fake, "12-3 9:00")
        await drained(db)
        member = users[8]
        tasks = await member.ask("/tasks")
        assert "支部党员大会（12月3日（周四） 09:00）：请签到或请假" in tasks.content
        assert {"✅ 签到", "📝 请假"} <= set(tasks.button_labels)
        before = len(member.bot_messages())
        await member.click(tasks, "请假")
        await member.next_message(before)
        assert "已请假" in (await member.ask("到外地调研")).content
        after = (await member.ask("/tasks")).content
        assert "请签到或请假" not in after
        assert (
            "补学：支部党员大会（12月3日（周四） 09:00）的学习心得，12月10日（周四） 前提交"
            in after
        )
        empty = (await users[9].ask("/tasks")).content
        assert "请签到或请假" in empty  # users[9] has not answered yet
        # a study note settles the 补学
        menu = await member.ask("/report")
        await member.click(menu, "学习心得")
        await fake.wait_for(lambda: "50–2000 字" in menu.content)
        preview = await member.ask("认真学习了全会精神，" * 6)
        await member.click(preview, "保存")
        await fake.wait_for(lambda: "已记为补学" in preview.content)
        assert "补学" not in (await member.ask("/tasks")).content
    finally:
        await running.stop()


async def test_a_later_steps_button_cannot_skip_the_time_and_place(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    branch: tuple[list[UserHandle], int],
) -> None:
    """跳过 or 线上 from an older /meet message, pressed while the time is asked, changes
    nothing and says the button is no longer valid; the time is still asked."""
    users, _ = branch
    running = await start_bot(fake, db, clock, settings)
    try:
        sec = users[0]
        panel = await sec.ask("/meet")
        await sec.click(panel, "支部党员大会")
        await fake.wait_for(lambda: "请选择日期" in panel.content)
        for stale in ("mk:s", "mk:o", "mk:a:theme_day"):
            before = len(sec.bot_messages())
            await sec.click_data(panel, stale)
            said = await sec.next_message(before)
            assert "这个按钮无效或已过期" in said.content
        assert "请选择日期" in panel.content
        assert "请输入地点" in (await sec.ask("12-3 9:00")).content
    finally:
        await running.stop()
