"""/calendar, /due and /settings end to end (clock: Monday 2 March 2026, 10:00 in Shanghai)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.obligations import add_record
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, ObligationSetting, Org
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, org_id, workbook_bytes

ORGS = [*SMALL_ORGS, ["ZB2", "第二党支部", "DW", "党支部", ""]]
MEMBERS = [*SMALL_MEMBERS, ["ZB2", "孙其他", "T001", "", "书记", "", ""]]


@pytest.fixture
async def people(fake: FakeTelegram, db: Database, clock: FrozenClock) -> dict[str, UserHandle]:
    orgs, members = read_workbook(workbook_bytes(ORGS, MEMBERS))
    assert (
        await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    ).counts
    users = {}
    for key, code in (
        ("secretary", "S001"),
        ("member", "S003"),
        ("activist", "S004"),
        ("other", "T001"),
    ):
        users[key] = fake.add_user(key)
        await link(db, code, users[key].id, clock.now())
    users["stranger"] = fake.add_user("stranger")
    return users


def line(text: str, *words: str) -> str:
    found = [x for x in text.splitlines() if all(w in x for w in words)]
    assert found, f"no line with {words} in:\n{text}"
    return found[0]


async def test_calendar_for_a_member(bot: RunningBot, people: dict[str, UserHandle]) -> None:
    text = (await people["member"].ask("/calendar")).content
    assert "第一党支部 · 工作日历" in text and "3月2日（周一）" in text
    assert (
        "本月 · 2026年3月" in text
        and "本季度 · 2026年第一季度" in text
        and "本年度 · 2026年度" in text
    )
    assert "⏳ 支部党员大会 0/1 · 最后工作日 3月31日（周二）" in text
    assert "⏳ 主题党日 0/1 · 最后工作日 3月31日（周二）" in text
    assert "➖ 支部委员会会议 · 不适用" in text  # only two 支委 members
    assert "党小组会 · 第一党小组" in text
    assert "谈心谈话 0/4" in text
    # a member sees no one else's thought report; the activist sees their own
    assert "思想汇报" not in text
    activist = (await people["activist"].ask("/calendar")).content
    assert "思想汇报 · 赵积极 0/1" in activist and "钱预备" not in activist
    manager = (await people["secretary"].ask("/calendar")).content
    assert "思想汇报 · 赵积极" in manager and "思想汇报 · 钱预备" in manager


async def test_calendar_follows_records(
    bot: RunningBot, db: Database, clock: FrozenClock, people: dict[str, UserHandle]
) -> None:
    async with db.write() as session:
        await add_record(session, org_id=await org_id(db, "ZB"), kind="meeting_record",
                         held_on=date(2026, 3, 1), codes=["general_meeting", "theme_day"],
                         filed_at=clock.now())  # fmt: skip
    text = (await people["member"].ask("/calendar")).content
    assert line(text, "支部党员大会").startswith("✅ 支部党员大会 1/1")
    assert line(text, "主题党日").startswith("✅ 主题党日 1/1")


async def test_calendar_in_groups_and_refusals(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    group = fake.add_group("支部群", list(people.values()))
    unbound = await people["member"].ask("/calendar", chat_id=group.id)
    assert "还没有绑定支部" in unbound.content
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        org.group_chat_id = group.id
    shown = await people["member"].ask("/calendar", chat_id=group.id)
    assert "第一党支部 · 工作日历" in shown.content
    # the secretary of another branch may not read this branch's calendar here
    refused = await people["other"].ask("/calendar", chat_id=group.id)
    assert "没有权限" in refused.content
    assert "还没有绑定党员身份" in (await people["stranger"].ask("/calendar")).content
    assert "还没有绑定党员身份" in (await people["stranger"].ask("/due")).content
    async with db.read() as session:
        denied = list(
            (
                await session.execute(
                    select(AuditEntry.action).where(AuditEntry.outcome == "denied")
                )
            ).scalars()
        )
    assert denied == ["calendar"]


async def test_due_lists_the_next_thirty_days_with_overdue_first(
    bot: RunningBot, people: dict[str, UserHandle]
) -> None:
    text = (await people["secretary"].ask("/due")).content
    lines = text.splitlines()
    assert "未来 30 天的截止事项" in lines[0]
    # February's monthly obligations (due 28 Feb) are overdue and come first
    overdue = [x for x in lines if x.startswith("⚠️")]
    assert lines[1 : 1 + len(overdue)] == overdue
    assert any(x.startswith("⚠️ 主题党日（2026年2月） 0/1") and "已逾期" in x for x in overdue)
    assert any(x.startswith("⏳ 支部党员大会（2026年第一季度）") for x in lines)
    assert not any("2026年第二季度" in x for x in lines)  # due 30 June: beyond 30 days
    assert not any("不适用" in x for x in lines)


async def test_settings_of_non_managers_are_their_own_briefing(
    bot: RunningBot, db: Database, people: dict[str, UserHandle]
) -> None:
    for who in ("member", "activist"):
        answer = await people[who].ask("/settings")
        assert "我的每日简报" in answer.content and "工作要求" not in answer.content
        assert "/settings ZB" not in answer.content
    # another branch's code is no way into its settings
    assert "只有本支部的书记" in (await people["member"].ask("/settings ZB")).content
    assert "还没有绑定党员身份" in (await people["stranger"].ask("/settings")).content
    async with db.read() as session:
        denied = list(
            (
                await session.execute(
                    select(AuditEntry.action).where(AuditEntry.outcome == "denied")
                )
            ).scalars()
        )
    assert denied == ["settings", "briefing"]


async def test_switch_an_obligation_off_with_a_reason_and_on_again(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    panel = await sec.ask("/settings")
    assert "✅ 党课 · 每季度 1 次" in panel.content and "主题党日：未固定日期" in panel.content
    await sec.click(panel, "党课")
    await fake.wait_for(lambda: "依据：" in panel.content)
    assert "三会一课" in panel.content
    await sec.click(panel, "停用")
    await fake.wait_for(lambda: "停用“党课”的原因" in panel.content)
    short = await sec.ask("合")
    assert "原因需 2–200 字，您发送了 1 字" in short.content
    long = await sec.ask("长" * 201)
    assert "您发送了 201 字" in long.content
    async with db.read() as session:
        assert await session.scalar(select(ObligationSetting.enabled)) is None  # nothing stored yet
    before = len(sec.bot_messages())
    sec.send("与支部党员大会合并开展")
    done = await sec.next_message(before)
    assert "已停用 党课" in done.content
    summary = await sec.next_message(before + 1)
    assert "➖ 党课 · 已停用：与支部党员大会合并开展" in summary.content
    calendar = (await people["member"].ask("/calendar")).content
    assert "➖ 党课 · 不适用" in calendar
    # on again, from the detail view
    await sec.click(summary, "党课")
    await fake.wait_for(lambda: "重新开启" in summary.button_labels)
    answer = await sec.click(summary, "重新开启")
    assert answer.text == "已重新开启 党课"
    await fake.wait_for(lambda: "状态：开启" in summary.content)
    async with db.read() as session:
        actions = list(
            (
                await session.execute(select(AuditEntry.action).where(AuditEntry.outcome == "ok"))
            ).scalars()
        )
    assert actions == ["obligation.off", "obligation.on"]


async def test_theme_day_rule(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    panel = await sec.ask("/settings")
    await sec.click(panel, "主题党日固定日")
    await fake.wait_for(lambda: "请发送新的固定日" in panel.content)
    bad = await sec.ask("每周八")
    assert "无法识别“每周八”" in bad.content
    before = len(sec.bot_messages())
    sec.send("15")
    saved = await sec.next_message(before)
    assert "主题党日已固定为每月15日" in saved.content
    calendar = (await people["member"].ask("/calendar")).content
    assert "计划 3月16日（周一）" in line(calendar, "主题党日")  # 15 March is a Sunday
    fresh = await sec.ask("/settings")
    await sec.click(fresh, "主题党日固定日")
    await fake.wait_for(lambda: "不再固定日期" in fresh.button_labels)
    answer = await sec.click(fresh, "不再固定日期")
    assert answer.text == "已取消固定日期"
    await fake.wait_for(lambda: "主题党日：未固定日期" in fresh.content)


async def test_cancel_and_stale_and_forged_buttons(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    panel = await sec.ask("/settings")
    await sec.click(panel, "党课")
    await fake.wait_for(lambda: "依据：" in panel.content)
    off = panel.button("停用")["callback_data"]
    await sec.click(panel, "停用")
    assert "已取消" in (await sec.ask("/cancel")).content
    assert "没有进行中" in (await sec.ask("/cancel")).content
    # after /cancel, text is just text
    await sec.ask("/help")
    async with db.read() as session:
        assert await session.scalar(select(ObligationSetting.id)) is None
    # a member forges the secretary's button
    member = people["member"]
    own = await member.ask("/help")
    answer = await member.click_data(own, off)
    assert answer.show_alert and "没有权限" in (answer.text or "")
    # another branch's secretary aims at this branch
    other_own = await people["other"].ask("/help")
    answer = await people["other"].click_data(other_own, off)
    assert answer.show_alert
    # junk
    for junk in ("set:o:1:nope", "set:zz:1", f"set:o:{await org_id(db, 'ZB')}:not_a_code"):
        answer = await sec.click_data(panel, junk)
        assert answer.show_alert, junk
    async with db.read() as session:
        assert await session.scalar(select(ObligationSetting.id)) is None


async def test_idle_reason_step_ends_by_itself(
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: object,
    people: dict[str, UserHandle],
) -> None:
    from tests.helpers import start_bot

    quick = settings.model_copy(update={"conversation_timeout_seconds": 1})  # type: ignore[attr-defined]
    running = await start_bot(fake, db, clock, quick)
    try:
        sec = people["secretary"]
        panel = await sec.ask("/settings")
        await sec.click(panel, "党课")
        await fake.wait_for(lambda: "依据：" in panel.content)
        before = len(sec.bot_messages())
        await sec.click(panel, "停用")
        ended = await sec.next_message(before, timeout=5)
        assert "已自动结束" in ended.content
    finally:
        await running.stop()


async def test_settings_in_english(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    await sec.ask("/lang en")
    panel = await sec.ask("/settings")
    assert "obligation settings" in panel.content and "1 a quarter" in panel.content
    calendar = (await sec.ask("/calendar")).content
    assert "This quarter · Q1 2026" in calendar and "last workday Tue 31 Mar" in calendar


async def test_home_shows_the_next_deadlines(
    bot: RunningBot, people: dict[str, UserHandle]
) -> None:
    home = (await people["member"].ask("/start")).content
    assert "近期截止" in home
    upcoming = home.split("近期截止")[1].split("\n\n")[0].splitlines()[1:]
    assert [x.split(" 0/1")[0] for x in upcoming] == [
        "⚠️ 党小组会 · 第一党小组（2026年2月）",  # overdue first
        "⚠️ 主题党日（2026年2月）",
        "⏳ 支部党员大会（2026年第一季度）",
    ]


async def test_check_in_mode_toggles(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    panel = await sec.ask("/settings")
    assert "签到方式：点按钮签到" in panel.content
    answer = await sec.click(panel, "切换签到方式")
    assert "6 位签到码" in (answer.text or "")
    await fake.wait_for(lambda: "签到方式：输入会场公布的 6 位签到码" in panel.content)
    async with db.read() as session:
        assert await session.scalar(select(Org.checkin_mode).where(Org.code == "ZB")) == "code"
    forged = await people["member"].click_data(
        await people["member"].ask("/help"), panel.button("切换签到方式")["callback_data"]
    )
    assert forged.show_alert


async def test_tasks_show_my_thought_report(bot: RunningBot, people: dict[str, UserHandle]) -> None:
    activist = (await people["activist"].ask("/tasks")).content
    assert "思想汇报（2026年第一季度），最后工作日 3月31日（周二）" in activist
    member = (await people["member"].ask("/tasks")).content
    assert "思想汇报" not in member and "当前没有待办事项" in member
    assert "还没有绑定党员身份" in (await people["stranger"].ask("/tasks")).content


async def test_home_shows_my_tasks(bot: RunningBot, people: dict[str, UserHandle]) -> None:
    home = (await people["activist"].ask("/start")).content
    assert "我的待办" in home and "思想汇报（2026年第一季度）" in home
