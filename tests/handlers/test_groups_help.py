"""/bind, /unbind, /help by role, /lang, the command menus, and repeated updates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, Org
from tests.conftest import ADMIN_ID
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, start_bot, workbook_bytes


@pytest.fixture
async def roster(db: Database, clock: FrozenClock) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    assert (
        await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    ).counts


@pytest.fixture
async def people(
    fake: FakeTelegram, db: Database, clock: FrozenClock, roster: None
) -> dict[str, UserHandle]:
    users = {
        "secretary": fake.add_user("Wang"),
        "organizer": fake.add_user("Li"),
        "member": fake.add_user("Zhang"),
        "activist": fake.add_user("Zhao"),
    }
    for key, code in (
        ("secretary", "S001"),
        ("organizer", "S002"),
        ("member", "S003"),
        ("activist", "S004"),
    ):
        await link(db, code, users[key].id, clock.now())
    users["stranger"] = fake.add_user("Stranger")
    return users


async def bound_chat(db: Database) -> int | None:
    async with db.read() as session:
        return await session.scalar(select(Org.group_chat_id).where(Org.code == "ZB"))


async def audit_actions(db: Database, outcome: str) -> list[tuple[str, int | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.actor_telegram_id).where(
                AuditEntry.outcome == outcome
            )
        )
        return [(a, u) for a, u in rows]


async def test_bind_by_non_manager_is_refused(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    group = fake.add_group("第一党支部群", list(people.values()))
    for who in ("member", "activist", "stranger"):
        answer = await people[who].ask("/bind", chat_id=group.id)
        assert "只有支部书记" in answer.content
    assert await bound_chat(db) is None
    assert sorted(await audit_actions(db, "denied")) == sorted(
        ("group.bind", people[w].id) for w in ("member", "activist", "stranger")
    )


async def test_bind_by_manager_and_confirmation_only_by_them(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    group = fake.add_group("第一党支部群", list(people.values()))
    card = await people["secretary"].ask("/bind@zhibu_test_bot", chat_id=group.id)
    assert "第一党支部" in card.content
    # somebody else in the group presses the secretary's button
    answer = await people["member"].click(card, "确认绑定")
    assert answer.show_alert and "发起人" in (answer.text or "")
    assert await bound_chat(db) is None
    assert ("group.bind", people["member"].id) in await audit_actions(db, "denied")
    # even the organizer (a manager) cannot confirm the secretary's request
    answer = await people["organizer"].click(card, "确认绑定")
    assert answer.show_alert
    await people["secretary"].click(card, "确认绑定")
    await fake.wait_for(lambda: "已绑定为" in card.content)
    assert await bound_chat(db) == group.id
    assert ("group.bind", people["secretary"].id) in await audit_actions(db, "ok")


async def test_unbind(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    group = fake.add_group("第一党支部群", list(people.values()))
    card = await people["secretary"].ask("/bind", chat_id=group.id)
    await people["secretary"].click(card, "确认绑定")
    await fake.wait_for(lambda: "已绑定为" in card.content)
    refused = await people["member"].ask("/unbind", chat_id=group.id)
    assert "只有支部书记" in refused.content
    assert await bound_chat(db) == group.id
    done = await people["organizer"].ask("/unbind", chat_id=group.id)
    assert "已解除" in done.content
    assert await bound_chat(db) is None
    again = await people["organizer"].ask("/unbind", chat_id=group.id)
    assert "没有绑定" in again.content


async def test_bind_moves_from_an_old_group_and_refuses_a_taken_one(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    old = fake.add_group("旧群", list(people.values()))
    new = fake.add_group("新群", list(people.values()))
    sec = people["secretary"]
    card = await sec.ask("/bind", chat_id=old.id)
    await sec.click(card, "确认绑定")
    await fake.wait_for(lambda: "已绑定为" in card.content)
    card = await sec.ask("/bind", chat_id=new.id)
    await sec.click(card, "确认绑定")
    await fake.wait_for(lambda: "原来绑定的群" in card.content)
    assert await bound_chat(db) == new.id


async def test_bind_in_private_chat_explains(
    bot: RunningBot, people: dict[str, UserHandle]
) -> None:
    answer = await people["secretary"].ask("/bind")
    assert "请在支部的 Telegram 群里" in answer.content


def commands_in(text: str) -> set[str]:
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith("/")}


async def test_help_differs_by_role(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    member = commands_in((await people["member"].ask("/help")).content)
    secretary = commands_in((await people["secretary"].ask("/help")).content)
    stranger_text = (await people["stranger"].ask("/help")).content
    assert "/invite" not in member and "/roster" not in member
    assert {"/invite", "/roster", "/start", "/help", "/lang"} <= secretary
    assert "/invite" not in commands_in(stranger_text) and "绑定党员身份" in stranger_text


async def test_help_for_bootstrap_admin_mentions_import(
    fake: FakeTelegram, bot: RunningBot
) -> None:
    admin = fake.add_user("Admin", user_id=ADMIN_ID)
    text = (await admin.ask("/help")).content
    assert "/invite" in commands_in(text) and "导入名册" in text


async def test_help_in_group_lists_group_commands(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    group = fake.add_group("群", list(people.values()))
    text = (await people["secretary"].ask("/help", chat_id=group.id)).content
    assert {"/bind", "/unbind", "/help"} <= commands_in(text)
    assert "/invite" not in commands_in(text)


async def test_private_commands_in_a_group_offer_the_private_chat(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    group = fake.add_group("群", list(people.values()))
    answer = await people["secretary"].ask("/invite", chat_id=group.id)
    assert "私聊" in answer.content
    assert answer.buttons[0][0]["url"] == "https://t.me/zhibu_test_bot"


async def test_lang_switches_to_english(bot: RunningBot, people: dict[str, UserHandle]) -> None:
    member = people["member"]
    assert "已设为中文" in (await member.ask("/lang zh")).content
    assert "English" in (await member.ask("/lang en")).content
    assert "Commands" in (await member.ask("/help")).content
    chooser = await member.ask("/lang")
    await member.click(chooser, "中文")
    assert "可用命令" in (await member.ask("/help")).content


async def test_english_telegram_users_get_english(bot: RunningBot, fake: FakeTelegram) -> None:
    user = fake.add_user("Eve", language_code="en")
    assert "not linked" in (await user.ask("/start")).content


async def test_menus_registered_in_chinese_and_english(bot: RunningBot, fake: FakeTelegram) -> None:
    zh = fake.commands[("all_private_chats", None, "zh")]
    en = fake.commands[("all_private_chats", None, "en")]
    default = fake.commands[("all_private_chats", None, "")]
    assert (
        [c["command"] for c in zh] == [c["command"] for c in en] == [c["command"] for c in default]
    )
    assert zh[0]["description"] != en[0]["description"]
    group = fake.commands[("all_group_chats", None, "zh")]
    assert {"bind", "unbind", "help", "calendar", "due", "checkin", "status"} == {
        c["command"] for c in group
    }


async def test_manager_gets_a_fuller_menu(
    bot: RunningBot, fake: FakeTelegram, people: dict[str, UserHandle]
) -> None:
    await people["secretary"].ask("/start")
    own = await fake.wait_for(lambda: fake.commands.get(("chat", people["secretary"].id, "")))
    assert "invite" in {c["command"] for c in own}


async def test_duplicated_update_changes_nothing(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: object,
    people: dict[str, UserHandle],
) -> None:
    member = people["member"]
    await member.ask("/lang en")
    update = next(
        u for u in reversed(fake.update_log) if u.get("message", {}).get("text") == "/lang en"
    )
    replies = len(member.bot_messages())
    # Telegram hands the same update out again (as after a crash before the offset was confirmed)
    await bot.stop()
    fake.redeliver(update)
    restarted = await start_bot(fake, db, clock, bot.settings)
    try:
        await fake.wait_for(lambda: not fake.updates)
        answer = await member.ask("/help")  # processed after the duplicate
        assert "Commands" in answer.content
        assert len(member.bot_messages()) == replies + 1
    finally:
        await restarted.stop()


async def test_removing_the_bot_unbinds_the_group(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    group = fake.add_group("第一党支部群", list(people.values()))
    card = await people["secretary"].ask("/bind", chat_id=group.id)
    await people["secretary"].click(card, "确认绑定")
    await fake.wait_for(lambda: "已绑定为" in card.content)
    fake.remove_bot(group, by=people["member"])
    await people["secretary"].ask("/help")  # handled after the removal
    assert await bound_chat(db) is None
    assert ("group.unbind", people["member"].id) in await audit_actions(db, "ok")


async def test_a_manager_who_blocked_the_bot_shows_in_the_roster(
    bot: RunningBot, fake: FakeTelegram, db: Database, people: dict[str, UserHandle]
) -> None:
    sec, org = people["secretary"], people["organizer"]
    page = await sec.ask("/invite")
    before = len(sec.bot_messages())
    await sec.click(page, "支部入群链接")
    photo = await sec.next_message(before)
    payload = photo.content.split("start=")[1].split()[0]
    org.block_bot()
    joiner = fake.add_user("Joiner")
    await joiner.ask(f"/start {payload}")
    done = await joiner.ask("钱预备")
    assert "申请已提交" in done.content
    roster = await sec.ask("/roster")
    line = next(x for x in roster.content.splitlines() if "李委员" in x)
    assert "已屏蔽机器人" in line
    org.send("/start")  # they come back
    await org.next_message(len(org.bot_messages()))
    roster = await sec.ask("/roster")
    line = next(x for x in roster.content.splitlines() if "李委员" in x)
    assert "已屏蔽" not in line and "已绑定" in line
