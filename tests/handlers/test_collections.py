"""/ask: a study-note collection to 30 members, nudges in the briefings, the deadline summary."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.delivery.briefing import briefings_of_day
from bot.delivery.reminders import Directory
from bot.rules.catalogue import DEFAULT_POLICY
from bot.rules.clock import FrozenClock
from bot.services.obligations import load_workdays
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import CollectionTarget, Org, Record
from tests.fakegram import FakeTelegram, UserHandle
from tests.fakegram.server import Msg
from tests.helpers import RunningBot, drained, link, tick_at, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
NOTE = "学习心得：通过学习，我深刻认识到坚持理论武装的重要意义，要把学习成果转化为推动工作的实际成效，做到学思用贯通。"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-11-23T09:00"))  # a Monday


@pytest.fixture
async def branch(
    fake: FakeTelegram, db: Database, clock: FrozenClock
) -> tuple[list[UserHandle], int]:
    orgs = [
        ["DW", "机关党委", "", "党委", ""],
        ["ZB", "第一党支部", "DW", "党支部", ""],
        ["ZB2", "第二党支部", "DW", "党支部", ""],
    ]
    roles = ["书记", "副书记", "组织委员"] + [""] * 27
    members = [
        ["ZB", f"党员{i:02d}", f"M{i:02d}", "", roles[i], "2010-07-01", ""] for i in range(30)
    ]
    members.append(["ZB2", "外支书记", "X00", "", "书记", "2010-07-01", ""])
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = [fake.add_user(f"U{i}") for i in range(31)]
    for i, u in enumerate(users[:30]):
        u.user.started = True
        await link(db, f"M{i:02d}", u.id, clock.now())
    await link(db, "X00", users[30].id, clock.now())
    group = fake.add_group("第一党支部群", users[:30])
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        org.group_chat_id = group.id
    return users, group.id


def prompt_of(fake: FakeTelegram, chat_id: int) -> Msg:
    return next(m for m in fake.bot_messages(chat_id) if "请提交学习心得" in m.content)


def nudges(user: UserHandle) -> int:
    """Briefings that ask for the study note."""
    return sum("待提交" in m.content and "学习心得" in m.content for m in user.bot_messages())


async def by_button(fake: FakeTelegram, user: UserHandle) -> None:
    await user.click(prompt_of(fake, user.id), "📝 提交")
    await fake.wait_for(lambda: "请发送学习心得正文" in user.bot_messages()[-1].content)
    done = await user.ask(NOTE)
    assert "已提交" in done.content, done.content


async def by_reply(fake: FakeTelegram, user: UserHandle, chat_id: int | None = None) -> str:
    target = chat_id if chat_id is not None else user.id
    before = len(fake.bot_messages(target))
    user.reply(prompt_of(fake, target), NOTE)
    return (await user.next_message(before, chat_id=target)).content


async def test_collection_with_nudges_and_summary(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    branch: tuple[list[UserHandle], int],
) -> None:
    users, group_id = branch
    sec = users[0]
    # members and other branches' secretaries cannot start one here
    assert "只有本支部的书记" in (await users[5].ask("/ask")).content
    panel = await sec.ask("/ask")
    assert "发起新的收集" in panel.content
    await sec.click(panel, "学习心得")
    await fake.wait_for(lambda: "要求说明" in panel.content)
    assert "您发送了 2 字" in (await sec.ask("学习")).content
    when = await sec.ask("结合工作实际，谈谈学习全会精神的体会。")
    assert "截止日期" in when.content and when.button_labels[0] == "11/24"
    assert "无法识别" in (await sec.ask("下周某天")).content
    assert "1 小时之后" in (await sec.ask("今天 9:30")).content
    audience = await sec.ask("11-27 18:00")
    assert "全体党员 (30)" in audience.button_labels
    await sec.click(audience, "全体党员 (30)")
    await fake.wait_for(lambda: "请确认" in audience.content)
    await sec.click(audience, "✅ 发出")
    await fake.wait_for(lambda: "已发给 30 人" in audience.content)
    await drained(db)
    assert all(prompt_of(fake, u.id) for u in users[:30])
    # the group's copy opens the private chat's 提交 (a deep link), which works as the button
    group_prompt = prompt_of(fake, group_id)
    assert "点“提交（私聊）”" in group_prompt.content
    assert "点“提交”后发送正文" not in group_prompt.content  # one way to answer, the group's
    link = group_prompt.button("提交")["url"]
    assert link.startswith("https://t.me/zhibu_test_bot?start=s_")
    await users[11].ask(f"/start {link.split('start=')[1]}")
    assert "请发送学习心得正文" in users[11].bot_messages()[-1].content
    assert "已提交" in (await users[11].ask(NOTE)).content
    assert "不存在" in (await users[11].ask("/start s_99999")).content
    assert "不给您发催办" in (await users[29].ask("/away 11-30")).content
    # before halfway: 12 by button, 3 by reply (one in the group)
    short_before = len(users[3].bot_messages())
    await users[3].click(prompt_of(fake, users[3].id), "📝 提交")
    await users[3].next_message(short_before)
    assert "您发送了 2 字" in (await users[3].ask("心得")).content  # the step is kept
    assert "已提交" in (await users[3].ask(NOTE)).content
    for u in users[:12]:
        if u not in (users[3], users[11]):
            await by_button(fake, u)
    assert "已提交" in await by_reply(fake, users[12])
    assert "已提交" in await by_reply(fake, users[13])
    assert "已提交" in await by_reply(fake, users[14], group_id)
    # a second submission is refused; nothing is stored twice
    assert "已经提交过" in await by_reply(fake, users[14])
    # halfway is Wednesday 13:30: that day's briefing (08:30) tells the 15 who have not
    # submitted, but the one away; `zhibu reminders --day` previews it, sending nothing
    async with db.read() as session:
        preview = await briefings_of_day(
            session,
            local("2026-11-25T08:30").date(),
            now=local("2026-11-25T08:30"),
            policy=DEFAULT_POLICY,
            directory=Directory.later("zh", frozenset()),
            cal=await load_workdays(session),
            prefs={},
            default_tz="Asia/Shanghai",
        )
    asked = [b for b in preview if any(i.kind == "nudge" for i in b.items)]
    assert sorted(str(b.recipient.key) for b in asked) == [f"M{i:02d}" for i in range(15, 29)]
    assert {(i.obligation, b.delivery) for b in asked for i in b.items if i.kind == "nudge"} == {
        ("study_note", "telegram")
    }
    await tick_at(bot, clock, local("2026-11-24T08:30"))  # the day before: nothing yet
    assert sum(nudges(u) for u in users) == 0
    await tick_at(bot, clock, local("2026-11-25T08:30"))
    assert [nudges(u) for u in users[:30]] == [0] * 15 + [1] * 14 + [0]
    # 提交 under the briefing works as the prompt's
    briefing = next(m for m in users[15].bot_messages() if "待提交" in m.content)
    await users[15].click(briefing, "📝 提交")
    await fake.wait_for(lambda: "请发送学习心得正文" in users[15].bot_messages()[-1].content)
    assert "已提交" in (await users[15].ask(NOTE)).content
    for u in users[16:20]:
        await by_button(fake, u)
    assert "已提交" in await by_reply(fake, users[20])
    assert "已提交" in await by_reply(fake, users[21], group_id)
    # the last workday (Friday): the 7 still missing and not away, in that day's briefing
    await tick_at(bot, clock, local("2026-11-27T08:30"))
    assert [nudges(u) for u in users[:30]] == [0] * 15 + [1] * 7 + [2] * 7 + [0]
    for u in users[22:25]:
        await by_button(fake, u)
    # the deadline: managers get the summary
    await tick_at(bot, clock, local("2026-11-27T18:00"))
    for manager in users[:3]:
        summary = next(m for m in manager.bot_messages() if "收集已截止" in m.content).content
        assert "按时提交 25/30" in summary and "迟交 0" in summary
        assert "未提交 5：党员25、党员26、党员27、党员28、党员29（外出）" in summary
    assert not any("收集已截止" in m.content for m in users[5].bot_messages())
    # late submissions are accepted and marked late
    clock.set(local("2026-11-28T10:00"))
    tasks = await users[25].ask("/tasks")
    assert "仍可迟交" in tasks.content
    await users[25].click(tasks, "📝 提交 · 学习心得")
    await fake.wait_for(lambda: "请发送学习心得正文" in users[25].bot_messages()[-1].content)
    assert "记为迟交" in (await users[25].ask(NOTE)).content
    assert "记为迟交" in await by_reply(fake, users[26])
    panel = await sec.ask("/ask")
    assert "按时 25，迟交 2，共 30 人" in panel.content
    view_label = next(x for x in panel.button_labels if x.startswith("查看"))
    view_data = panel.button(view_label)["callback_data"]
    await sec.click(panel, view_label)
    await fake.wait_for(lambda: "迟交 2：党员25、党员26" in panel.content)
    assert "未提交 3：党员27、党员28、党员29（外出）" in panel.content
    # looking opened no conversation: nothing times out on her later
    clock.set(local("2026-11-28T10:30"))
    later = await sec.ask("/help")
    assert not [m for m in sec.bot_messages() if "没有操作" in m.content], later.content
    # another branch's secretary cannot look, nor can a member
    for outsider in (users[30], users[5]):
        answer = await outsider.click_data(panel, view_data)
        assert answer.show_alert
    async with db.read() as session:
        targets = list((await session.execute(select(CollectionTarget))).scalars())
        assert sum(t.submitted_at is not None for t in targets) == 27
        assert sum(t.late for t in targets) == 2
        notes = list(
            (await session.execute(select(Record).where(Record.kind == "study_note"))).scalars()
        )
        assert len(notes) == 27


async def test_a_plain_text_is_offered_as_the_one_open_answer(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    branch: tuple[list[UserHandle], int],
) -> None:
    """Typed under the 📥 prompt without pressing 提交 or replying: never silently dropped."""
    users, _ = branch
    sec = users[0]
    panel = await sec.ask("/ask")
    await sec.click(panel, "学习心得")
    await fake.wait_for(lambda: "要求说明" in panel.content)
    when = await sec.ask("结合工作实际，谈谈学习全会精神的体会。")
    assert when.button_labels[2] == "11/26"
    audience = await sec.ask("11-26 18:00")
    await sec.click(audience, "全体党员 (30)")
    await fake.wait_for(lambda: "请确认" in audience.content)
    await sec.click(audience, "✅ 发出")
    await fake.wait_for(lambda: "已发给 30 人" in audience.content)
    await drained(db)
    # a text of a study note's length: offered, saved only when they say so
    offer = await users[5].ask(NOTE)
    assert "要把这段文字" in offer.content and "学习心得" in offer.content
    async with db.read() as session:
        assert await session.scalar(select(Record.id).where(Record.kind == "study_note")) is None
    await users[5].click(offer, "作为学习心得提交")
    await fake.wait_for(lambda: "已提交" in offer.content)
    # declined: nothing saved
    other = await users[7].ask(NOTE)
    await users[7].click(other, "不是")
    await fake.wait_for(lambda: "没有提交" in other.content)
    async with db.read() as session:
        notes = list(
            (await session.execute(select(Record).where(Record.kind == "study_note"))).scalars()
        )
        assert [n.member_id for n in notes] and len(notes) == 1
    # anything else gets the home screen with what is open, and its buttons
    home = await users[6].ask("你好，我想请假")
    assert "党员06" in home.content and "学习心得" in home.content
    assert any("提交" in label for label in home.button_labels)
    # mid-conversation, waiting for a button: the buttons are pointed to
    menu = await sec.ask("/meet")
    assert menu.buttons
    assert "点上面消息里的按钮" in (await sec.ask("随便说点什么")).content
