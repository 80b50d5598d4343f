"""The authorization matrix (SPEC §5, §12): every command and every button kind, pressed by
every role, is allowed or refused as the SPEC says. Generated from ``bot.commands.COMMANDS``
and from the button table below; guards fail when a handler is added without a row here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.rules import buttons as declared_buttons
from bot.rules import commands
from bot.rules.clock import FrozenClock
from bot.services import linking
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import (
    AuditEntry,
    Collection,
    InviteKind,
    InviteToken,
    Meeting,
    Org,
    OrgAdmin,
)
from tests.fakegram import FakeTelegram, UserHandle
from tests.fakegram.server import Chat
from tests.helpers import RunningBot, end_conversation, link, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
ROLES = (
    "stranger",
    "activist",
    "member",
    "secretary",
    "deputy",
    "organizer",
    "admin",
    "other_admin",
)
MANAGERS = ("secretary", "deputy", "organizer")
MEMBERS = ("activist", "member", *MANAGERS)
# commands that name a branch: admins (who have none of their own) pass its code
WITH_CODE = {"calendar", "due", "invite", "roster", "settings", "meet", "ask", "status"}
REFUSED = ("只有", "没有权限", "还没有绑定党员身份")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 24, 10, 0, tzinfo=SH))


@dataclass
class World:
    users: dict[str, UserHandle]
    group: Chat
    ids: dict[str, int]


@pytest.fixture
async def world(fake: FakeTelegram, db: Database, clock: FrozenClock) -> World:
    orgs = [
        ["DW", "机关党委", "", "党委", ""],
        ["ZB1", "第一党支部", "DW", "党支部", ""],
        ["DW2", "另一党委", "", "党委", ""],
        ["ZC", "外单位支部", "DW2", "党支部", ""],
    ]
    members = [
        ["ZB1", "王书记", "A1", "", "书记", "2010-07-01", ""],
        ["ZB1", "李副书", "A2", "", "副书记", "2011-07-01", ""],
        ["ZB1", "赵组织", "A3", "", "组织委员", "2012-07-01", ""],
        ["ZB1", "张党员", "A4", "", "", "2015-07-01", ""],
        ["ZB1", "钱积极", "A5", "", "入党积极分子", "", ""],
        ["ZB1", "孙未绑", "A6", "", "", "2016-07-01", ""],
        ["ZC", "周书记", "C1", "", "书记", "2010-07-01", ""],
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = {role: fake.add_user(role) for role in ROLES}
    for code, role in (
        ("A1", "secretary"),
        ("A2", "deputy"),
        ("A3", "organizer"),
        ("A4", "member"),
        ("A5", "activist"),
    ):
        await link(db, code, users[role].id, clock.now())
    group = fake.add_group("第一党支部群", list(users.values()))
    ids: dict[str, int] = {}
    async with db.write() as session:
        org = {o.code: o for o in (await session.execute(select(Org))).scalars()}
        for code, role in (("DW", "admin"), ("DW2", "other_admin")):
            session.add(
                OrgAdmin(org_id=org[code].id, telegram_user_id=users[role].id, added_at=clock.now())
            )
        zb1 = org["ZB1"]
        zb1.group_chat_id = group.id
        meeting = Meeting(
            org_id=zb1.id,
            obligation="general_meeting",
            also=[],
            starts_at=datetime(2026, 11, 30, 9, 0, tzinfo=SH),
            place="会议室",
            status="scheduled",
            checkin_mode="button",
            created_by=users["secretary"].id,
            created_at=clock.now(),
        )
        collection = Collection(
            org_id=zb1.id,
            kind="study_note",
            prompt="学习体会",
            audience="all",
            deadline=datetime(2026, 11, 30, 18, 0, tzinfo=SH),
            created_by=users["secretary"].id,
            created_at=clock.now(),
        )
        session.add_all([meeting, collection])
        await linking.issue_token(
            session,
            kind=InviteKind.BRANCH,
            org_id=zb1.id,
            member_id=None,
            created_by=users["secretary"].id,
            now=clock.now(),
            ttl_days=30,
        )
        await session.flush()
        token_id = await session.scalar(select(InviteToken.id))
        assert token_id is not None
        _, request_id = await linking.create_join_request(
            session,
            token_id=token_id,
            org_id=zb1.id,
            telegram_id=users["stranger"].id,
            typed_name="孙未绑",
            now=clock.now(),
        )
        ids |= {
            "zb1": zb1.id,
            "meeting": meeting.id,
            "collection": collection.id,
            "request": request_id,
        }
    return World(users, group, ids)


def command_text(info: commands.CommandInfo, role: str) -> str:
    text = f"/{info.name}"
    admin = role in ("admin", "other_admin")
    if admin and info.name in WITH_CODE:
        text += " ZB1"
    if info.name == "export":
        text += " 2026" + (" ZB1" if admin else "")
    if info.name == "lang":
        text += " zh"
    return text


def command_allowed(info: commands.CommandInfo, role: str) -> bool:
    manager, member = role in MANAGERS, role in MEMBERS
    if info.name == "report":  # a 党委's admins file its own records (意识形态专题研究 …)
        return member or role in ("admin", "other_admin")
    if info.audience == "admin":  # each admin sees their own subtree
        return role in ("admin", "other_admin")
    return commands.allowed(info, member=member, manager=manager, admin=role == "admin")


async def denied(db: Database) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "denied")
            )
            or 0
        )


@pytest.mark.parametrize("role", ROLES)
async def test_every_command_for_every_role(
    bot: RunningBot, fake: FakeTelegram, db: Database, world: World, role: str
) -> None:
    user = world.users[role]
    wrong: list[str] = []
    for info in commands.COMMANDS:
        text = command_text(info, role)
        chat = world.group.id if info.where == "group" else user.id
        before = await denied(db)
        answer = await user.ask(text, chat_id=chat)
        refused = await denied(db) > before or (
            info.audience != "anyone" and any(p in answer.content for p in REFUSED)
        )
        if refused == command_allowed(info, role):
            wrong.append(f"{text}: {'refused' if refused else 'allowed'} — {answer.content[:60]}")
        await end_conversation(fake, user)
    assert not wrong, "\n".join(wrong)


@dataclass(frozen=True)
class Button:
    data: str
    allowed: tuple[str, ...]
    in_group: bool = False


def buttons(ids: dict[str, int], secretary: int) -> dict[str, Button]:
    """One representative press of every button kind, and who may press it."""
    admins = ("admin",)
    return {
        "lk": Button("lk:y:forgedtoken", ()),  # a link's token is the credential
        "jr": Button(f"jr:r:{ids['request']}", (*MANAGERS, *admins)),
        "inv": Button(f"inv:p:{ids['zb1']}:0", (*MANAGERS, *admins)),
        "ros": Button(f"ros:p:{ids['zb1']}:0", (*MANAGERS, *admins)),
        "bd": Button(f"bd:n:{ids['zb1']}:{secretary}", ("secretary",), in_group=True),
        "lang": Button("lang:zh", ROLES),
        "set": Button(f"set:m:{ids['zb1']}", (*MANAGERS, *admins)),
        "mk": Button("mk:t:general_meeting", (*MANAGERS, *admins)),
        "mt": Button(f"mt:l:{ids['meeting']}", MEMBERS),
        "rp": Button("rp:k:work_report", MANAGERS),
        "ak": Button(f"ak:v:{ids['collection']}", (*MANAGERS, *admins)),
        "pg": Button("pg:o:0", ("admin", "other_admin")),
        "br": Button(f"br:p:status:{ids['zb1']}", (*MANAGERS, *admins)),
        "bf": Button("bf:m:weekly", (*MEMBERS, "admin", "other_admin")),  # one's own briefing
    }


@pytest.mark.parametrize("role", ROLES)
async def test_every_button_kind_for_every_role(
    bot: RunningBot, fake: FakeTelegram, db: Database, world: World, role: str
) -> None:
    user = world.users[role]
    wrong: list[str] = []
    for prefix, button in buttons(world.ids, world.users["secretary"].id).items():
        if prefix == "mk":  # the /meet draft is the caller's own: open it first when allowed
            await user.ask("/meet" + (" ZB1" if role in ("admin", "other_admin") else ""))
        chat = world.group.id if button.in_group else user.id
        holder = fake.new_message(fake.chats[chat], int(fake.bot["id"]), from_bot=True, text="·")
        before = await denied(db)
        answer = await user.click_data(holder, button.data)
        refused = await denied(db) > before
        if refused == (role in button.allowed):
            wrong.append(f"{button.data}: {'refused' if refused else 'allowed'} ({answer.text})")
        if refused and not answer.show_alert:
            wrong.append(f"{button.data}: refused without saying why")
        await end_conversation(fake, user)
    assert not wrong, "\n".join(wrong)


def test_no_command_or_button_kind_is_missing_from_the_matrix(bot: RunningBot) -> None:
    """A handler added without a row in COMMANDS or in the button table fails here."""
    registered: set[str] = set()
    prefixes: set[str] = set()

    def walk(handler: object) -> None:
        if isinstance(handler, CommandHandler):
            registered.update(handler.commands)
        elif isinstance(handler, CallbackQueryHandler) and handler.pattern is not None:
            pattern = getattr(handler.pattern, "pattern", handler.pattern)
            prefixes.add(str(pattern).lstrip("^").split(":")[0])

    for group in bot.app.handlers.values():
        for handler in group:
            walk(handler)
    assert registered == {c.name for c in commands.COMMANDS}
    sample = buttons({k: 1 for k in ("zb1", "meeting", "collection", "request")}, 1)
    assert prefixes == set(sample)
    assert prefixes == {prefix for prefix, _ in declared_buttons.KINDS}  # each family routed
