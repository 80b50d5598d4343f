"""/report: a thought report clears its occurrence; limits, kinds, 补学."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Record
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, workbook_bytes


@pytest.fixture
async def people(fake: FakeTelegram, db: Database, clock: FrozenClock) -> dict[str, UserHandle]:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    users = {"probationary": fake.add_user("Qian"), "member": fake.add_user("Zhang")}
    await link(db, "S005", users["probationary"].id, clock.now())
    await link(db, "S003", users["member"].id, clock.now())
    return users


async def test_a_thought_report_clears_the_quarter(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    qian = people["probationary"]
    assert "思想汇报 · 钱预备 0/1" in (await qian.ask("/calendar")).content
    menu = await qian.ask("/report")
    assert menu.button_labels == ["学习心得", "思想汇报"]
    await qian.click(menu, "思想汇报")
    await fake.wait_for(lambda: "100–4000 字" in menu.content)
    short = await qian.ask("太短了")
    assert "正文需 100–4000 字，您发送了 3 字" in short.content
    text = "近期我认真学习了党的创新理论，" * 8
    preview = await qian.ask(text)
    assert "预览 · 思想汇报" in preview.content and f"（{len(text)} 字）" in preview.content
    async with db.read() as session:
        assert await session.scalar(select(Record.id)) is None  # nothing saved before 保存
    await qian.click(preview, "保存")
    await fake.wait_for(lambda: "思想汇报已保存" in preview.content)
    assert "思想汇报 · 钱预备 1/1" in (await qian.ask("/calendar")).content
    again = await qian.click_data(preview, "rp:y")  # an old 保存 button: the draft is gone
    assert again.show_alert
    async with db.read() as session:
        assert len(list((await session.execute(select(Record))).scalars())) == 1


async def test_kinds_are_checked(bot: RunningBot, people: dict[str, UserHandle]) -> None:
    zhang = people["member"]
    menu = await zhang.ask("/report")
    assert menu.button_labels == ["学习心得"]
    forged = await zhang.click_data(menu, "rp:k:thought_report")
    assert forged.show_alert
    junk = await zhang.click_data(menu, "rp:zz")
    assert junk.show_alert
