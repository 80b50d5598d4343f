"""/settings me: one's own morning briefing, chosen with buttons or a typed day (#16)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, TelegramUser
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, workbook_bytes


@pytest.fixture
async def people(fake: FakeTelegram, db: Database, clock: FrozenClock) -> dict[str, UserHandle]:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    users = {}
    for key, code in (("secretary", "S001"), ("member", "S003")):
        users[key] = fake.add_user(key)
        await link(db, code, users[key].id, clock.now())
    return users


async def stored(db: Database, tg: int) -> tuple[str, str | None, date | None]:
    async with db.read() as session:
        user = await session.get_one(TelegramUser, tg)
        return user.briefing_mode, user.briefing_at, user.briefing_muted_until


async def test_a_member_chooses_how_often_when_and_a_mute(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    member = people["member"]  # the clock: Monday 2 March 2026
    panel = await member.ask("/settings")
    assert "频率：每天（有事项时）" in panel.content and "静音：未静音" in panel.content
    assert "☑️ 每天" in panel.button_labels and "☑️ 跟随支部" in panel.button_labels
    assert (await member.click(panel, "临近到期时")).text == "已保存"
    await fake.wait_for(lambda: "仅当有逾期或 2 个工作日内到期的事项时" in panel.content)
    assert "☑️ 临近到期时" in panel.button_labels
    await member.click(panel, "10:00")
    await fake.wait_for(lambda: "时间：10:00" in panel.content)
    await member.click(panel, "静音 7 天")
    await fake.wait_for(lambda: "静音至 3月8日（周日）（含）" in panel.content)
    assert await stored(db, member.id) == ("due_soon", "10:00", date(2026, 3, 8))
    await member.click(panel, "取消静音")
    await fake.wait_for(lambda: "静音：未静音" in panel.content)
    # a day typed: checked, then saved
    await member.click(panel, "静音到…")
    await fake.wait_for(lambda: "请发送静音到哪一天" in member.bot_messages()[-1].content)
    assert "不是日期" in (await member.ask("下周某天")).content
    assert "最长 92 天" in (await member.ask("2026-12-31")).content
    assert await stored(db, member.id) == ("due_soon", "10:00", None)
    saved = await member.ask("3-20")
    assert saved.content == "已保存"
    assert await stored(db, member.id) == ("due_soon", "10:00", date(2026, 3, 20))
    await member.click(panel, "跟随支部")
    await fake.wait_for(lambda: "时间：跟随支部的简报时间" in panel.content)
    async with db.read() as session:
        actions = list(
            (
                await session.execute(
                    select(AuditEntry.action).where(AuditEntry.actor_telegram_id == member.id)
                )
            ).scalars()
        )
    assert actions.count("briefing.choose") == 6


async def test_forged_choices_change_nothing(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    member = people["member"]
    panel = await member.ask("/settings me")
    for data in ("bf:m:hourly", "bf:t:0315", "bf:q:365", "bf:x:1"):
        answer = await member.click_data(panel, data)
        assert answer.show_alert, data
    assert await stored(db, member.id) == ("daily", None, None)


async def test_a_secretary_reaches_their_briefing_from_the_branch_settings(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    sec = people["secretary"]
    branch = await sec.ask("/settings")
    assert "工作要求" in branch.content or "主题党日" in branch.content
    await sec.click(branch, "🔔 我的简报")
    await fake.wait_for(lambda: "我的每日简报" in branch.content)
    assert "书记、委员仍会收到逾期事项的督办" not in branch.content  # not muted: not said
    mine = await sec.ask("/settings me")
    assert "我的每日简报" in mine.content
