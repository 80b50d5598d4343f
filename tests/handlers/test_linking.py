"""Linking accounts end to end through the fake Telegram: invites, join requests, /roster."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import AuditEntry, InviteToken, JoinRequest, TelegramLink
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, workbook_bytes

LINK_RE = re.compile(r"https://t\.me/zhibu_test_bot\?start=([mb]_[A-Za-z0-9_-]+)")


@pytest.fixture
async def roster(db: Database, clock: FrozenClock) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    result = await import_roster(
        db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai"
    )
    assert result.counts is not None


@pytest.fixture
async def secretary(
    fake: FakeTelegram, db: Database, clock: FrozenClock, roster: None
) -> UserHandle:
    user = fake.add_user("王书记")
    await link(db, "S001", user.id, clock.now())
    return user


async def links(db: Database) -> dict[int, int]:
    async with db.read() as session:
        rows = await session.execute(select(TelegramLink.telegram_user_id, TelegramLink.member_id))
        return dict(rows.all())


async def denied(db: Database) -> list[AuditEntry]:
    async with db.read() as session:
        return list(
            (
                await session.execute(select(AuditEntry).where(AuditEntry.outcome == "denied"))
            ).scalars()
        )


async def personal_link(secretary: UserHandle, name: str) -> str:
    """The secretary opens /invite and copies ``name``'s personal link."""
    page = await secretary.ask("/invite")
    for block in page.content.split("\n\n"):
        if name in block:
            match = LINK_RE.search(block)
            assert match, block
            return match[1]
    raise AssertionError(f"{name} not on the invite page:\n{page.content}")


async def test_invite_lists_unlinked_members_with_links_and_buttons(
    bot: RunningBot, secretary: UserHandle
) -> None:
    page = await secretary.ask("/invite")
    assert "未绑定成员 4 人" in page.content
    assert "王书记" not in page.content  # already linked
    assert len(LINK_RE.findall(page.content)) == 4
    assert all(len(p) <= 64 for p in LINK_RE.findall(page.content))
    assert "二维码·张三" in page.button_labels
    assert "🔗 支部入群链接" in page.button_labels


async def test_personal_link_links_after_confirmation(
    bot: RunningBot, fake: FakeTelegram, db: Database, secretary: UserHandle
) -> None:
    payload = await personal_link(secretary, "张三")
    zhang = fake.add_user("Zhang")
    confirm = await zhang.ask(f"/start {payload}")
    assert "张三" in confirm.content and "第一党支部" in confirm.content
    assert zhang.id not in await links(db)  # nothing happens before the confirmation
    await zhang.click(confirm, "确认绑定")
    await fake.wait_for(lambda: "绑定成功" in confirm.content)
    assert "张三" in confirm.content
    assert zhang.id in await links(db)
    home = await zhang.ask("/start")
    assert "张三" in home.content and "党员" in home.content
    roster = await secretary.ask("/roster")
    line = next(line for line in roster.content.splitlines() if "张三" in line)
    assert "已绑定" in line and "未绑定" not in line


async def test_used_token_is_refused(
    bot: RunningBot, fake: FakeTelegram, db: Database, secretary: UserHandle
) -> None:
    payload = await personal_link(secretary, "张三")
    zhang = fake.add_user("Zhang")
    confirm = await zhang.ask(f"/start {payload}")
    await zhang.click(confirm, "确认绑定")
    before = await links(db)
    mallory = fake.add_user("Mallory")
    answer = await mallory.ask(f"/start {payload}")
    assert "已经被使用" in answer.content
    assert await links(db) == before


async def test_confirm_button_rechecks_the_token(
    bot: RunningBot, fake: FakeTelegram, db: Database, secretary: UserHandle
) -> None:
    """Two people open the same link; only the first confirmation links."""
    payload = await personal_link(secretary, "张三")
    first, second = fake.add_user("First"), fake.add_user("Second")
    card1 = await first.ask(f"/start {payload}")
    card2 = await second.ask(f"/start {payload}")
    await first.click(card1, "确认绑定")
    await second.click(card2, "确认绑定")
    await fake.wait_for(lambda: "已经被使用" in card2.content)
    assert second.id not in await links(db)


async def test_expired_token_is_refused(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, secretary: UserHandle
) -> None:
    payload = await personal_link(secretary, "张三")
    clock.advance(timedelta(days=30, seconds=1))
    zhang = fake.add_user("Zhang")
    answer = await zhang.ask(f"/start {payload}")
    assert "已过期" in answer.content
    assert zhang.id not in await links(db)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("m_AAAAAAAAAAAAAAAAAAAAAA", "无效"),  # well-formed, never issued
        ("m_short", "格式不正确"),
        ("x_AAAAAAAAAAAAAAAAAAAAAA", "格式不正确"),
        ("m_AAAAAAAAAAAAAAAAAAAA<b>", "格式不正确"),
    ],
)
async def test_unknown_and_malformed_tokens(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    secretary: UserHandle,
    payload: str,
    expected: str,
) -> None:
    before = await links(db)
    user = fake.add_user("Someone")
    answer = await user.ask(f"/start {payload}")
    assert expected in answer.content
    assert await links(db) == before


async def test_already_linked_account_cannot_link_again(
    bot: RunningBot, fake: FakeTelegram, db: Database, secretary: UserHandle
) -> None:
    payload = await personal_link(secretary, "张三")
    answer = await secretary.ask(f"/start {payload}")
    assert "已经绑定为 王书记" in answer.content


async def test_qr_code_is_a_png_with_the_link(
    bot: RunningBot, fake: FakeTelegram, secretary: UserHandle
) -> None:
    page = await secretary.ask("/invite")
    before = len(secretary.bot_messages())
    answer = await secretary.click(page, "二维码·张三")
    assert answer.text is None
    photo = await secretary.next_message(before)
    assert photo.photo is not None and photo.photo.startswith(b"\x89PNG")
    assert "张三" in photo.content and LINK_RE.search(photo.content)


async def join_link(secretary: UserHandle) -> str:
    page = await secretary.ask("/invite")
    before = len(secretary.bot_messages())
    await secretary.click(page, "支部入群链接")
    photo = await secretary.next_message(before)
    match = LINK_RE.search(photo.content)
    assert match and match[1].startswith("b_")
    return match[1]


async def test_join_link_with_approval(
    bot: RunningBot, fake: FakeTelegram, db: Database, secretary: UserHandle
) -> None:
    payload = await join_link(secretary)
    zhao = fake.add_user("Zhao", username="zhao")
    prompt = await zhao.ask(f"/start {payload}")
    assert "请输入您在支部名册中的姓名" in prompt.content
    nope = await zhao.ask("赵不存在")
    assert "没有未绑定的“赵不存在”" in nope.content
    before = len(secretary.bot_messages())
    done = await zhao.ask("赵 积极")  # spaces are forgiven
    assert "申请已提交" in done.content
    request = await secretary.next_message(before)
    assert "赵积极" in request.content and "@zhao" in request.content
    assert zhao.id not in await links(db)
    before_zhao = len(zhao.bot_messages())
    approve = request.button("批准")["callback_data"]
    await secretary.click(request, "批准")
    await fake.wait_for(lambda: "已批准" in request.content)
    told = await zhao.next_message(before_zhao)
    assert "绑定成功" in told.content and "赵积极" in told.content
    assert zhao.id in await links(db)
    # a second press (an old copy of the button) changes nothing
    linked = await links(db)
    await secretary.click_data(request, approve)
    await fake.wait_for(lambda: "已经处理过了" in request.content)
    assert await links(db) == linked


async def test_join_link_with_rejection(
    bot: RunningBot, fake: FakeTelegram, db: Database, secretary: UserHandle
) -> None:
    payload = await join_link(secretary)
    zhao = fake.add_user("Zhao")
    await zhao.ask(f"/start {payload}")
    before = len(secretary.bot_messages())
    await zhao.ask("赵积极")
    request = await secretary.next_message(before)
    before_zhao = len(zhao.bot_messages())
    await secretary.click(request, "拒绝")
    told = await zhao.next_message(before_zhao)
    assert "未获批准" in told.content
    assert "已拒绝" in request.content
    assert zhao.id not in await links(db)
    async with db.read() as session:
        status = await session.scalar(select(JoinRequest.status))
    assert status == "rejected"


async def test_join_request_cannot_be_decided_by_a_member(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, secretary: UserHandle
) -> None:
    payload = await join_link(secretary)
    zhao = fake.add_user("Zhao")
    await zhao.ask(f"/start {payload}")
    before = len(secretary.bot_messages())
    await zhao.ask("赵积极")
    request = await secretary.next_message(before)
    member = fake.add_user("Member")
    await link(db, "S003", member.id, clock.now())
    data = request.button("批准")["callback_data"]
    # the member forges the approval button in their own chat
    own = await member.ask("/help")
    answer = await member.click_data(own, data)
    assert answer.show_alert and "没有权限" in (answer.text or "")
    assert zhao.id not in await links(db)
    assert any(
        e.action == "join.decide" and e.actor_telegram_id == member.id for e in await denied(db)
    )


async def test_member_cannot_invite(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, roster: None
) -> None:
    member = fake.add_user("Member")
    await link(db, "S003", member.id, clock.now())
    answer = await member.ask("/invite")
    assert "只有本支部的书记" in answer.content
    async with db.read() as session:
        tokens = await session.scalar(select(func.count()).select_from(InviteToken))
    assert tokens == 0
    assert [e.action for e in await denied(db)] == ["invite"]


async def test_forged_invite_page_for_another_branch_is_refused(
    bot: RunningBot, fake: FakeTelegram, db: Database, clock: FrozenClock, secretary: UserHandle
) -> None:
    page = await secretary.ask("/invite")
    answer = await secretary.click_data(page, "inv:p:1:0")  # org 1 is the 党委, not their branch
    assert answer.show_alert
    for junk in ("inv:p:x:0", "inv:zz", "nonsense", "inv:q:999999"):
        answer = await secretary.click_data(page, junk)
        assert answer.show_alert, junk
    assert len(await denied(db)) == 5


async def test_the_secretarys_home_screen_holds_what_waits_for_her(
    bot: RunningBot, fake: FakeTelegram, db: Database, secretary: UserHandle
) -> None:
    home = await secretary.ask("/start")
    assert "4 名党员还没有绑定 Telegram" in home.content  # of 5, she is linked
    assert "📨 发邀请" in home.button_labels
    assert f"您的 Telegram ID：{secretary.id}" in home.content
    payload = await join_link(secretary)
    zhao = fake.add_user("Zhao", username="zhao")
    await zhao.ask(f"/start {payload}")
    await zhao.ask("赵积极")
    desk = await secretary.ask("/start")  # the request she may have scrolled past
    assert "Zhao (@zhao) 申请以“赵积极”的身份加入本支部" in desk.content
    await secretary.click(desk, "批准")
    await fake.wait_for(lambda: "已批准" in desk.content)
    assert zhao.id in await links(db)
    later = await secretary.ask("/tasks")
    assert "申请以" not in later.content and "3 名党员还没有绑定" in later.content
    await secretary.click(later, "📨 发邀请")  # the invite list, one tap away
    await fake.wait_for(lambda: "张三" in later.content)
