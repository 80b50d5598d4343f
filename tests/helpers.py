"""Shared test helpers: rosters, seeding, and a running bot against the fake Telegram."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from telegram.ext import Application

from bot.rules.clock import FrozenClock
from bot.services.access import Actor, load_actor
from bot.services.roster import (
    TEMPLATE_MEMBER_HEADERS,
    TEMPLATE_ORG_HEADERS,
    import_roster,
    read_workbook,
)
from bot.store import outbox
from bot.store.db import Database
from bot.store.models import Member, Org, TelegramLink, TickState
from handlers.app import build_application, polling_intake, start_services, stop_services
from handlers.kit.intake import PollingIntake
from jobs.tick import tick_once
from settings import Settings
from tests.fakegram import FakeTelegram, UserHandle

TOKEN = "123456789:AAE-fake-token-for-tests-0123456789ab"


def run_env(fake: FakeTelegram, database: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``zhibu run`` against the fake, with nothing of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    return env | {
        "ZHIBU_BOT_TOKEN": TOKEN,
        "ZHIBU_API_BASE_URL": fake.base_url,
        "ZHIBU_DATABASE_URL": f"sqlite:///{database}",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def stopped(process: asyncio.subprocess.Process, sig: signal.Signals = signal.SIGTERM) -> str:
    """Stop a ``zhibu run`` with ``sig`` (killed if it takes over 30 s); what it logged."""
    process.send_signal(sig)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    except TimeoutError:
        process.kill()
        _, stderr = await process.communicate()
    return stderr.decode()


def workbook_bytes(orgs: Sequence[Sequence[Any]], members: Sequence[Sequence[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "组织"
    ws.append(TEMPLATE_ORG_HEADERS)
    for row in orgs:
        ws.append(list(row))
    ms = wb.create_sheet("党员")
    ms.append(TEMPLATE_MEMBER_HEADERS)
    for row in members:
        ms.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def big_roster() -> tuple[list[list[Any]], list[list[Any]]]:
    """1 工委, 3 党委, 10 支部 and 300 members, 30 a branch, with 党小组 and every role."""
    # tracked since 2025 (children inherit it): the tests judge whole years
    orgs: list[list[Any]] = [["GW", "市直机关工委", "", "工委", "", "2025-01-01"]]
    for c in range(1, 4):
        orgs.append([f"DW{c}", f"第{c}党委", "GW", "党委", ""])
    for b in range(1, 11):
        orgs.append([f"ZB{b:02d}", f"第{b}党支部", f"DW{(b - 1) % 3 + 1}", "党支部", ""])
    roles = [
        "书记",
        "副书记",
        "组织委员",
        "宣传委员",
        "纪检委员",
        "党小组长",
        "预备党员",
        "入党积极分子",
    ]
    members: list[list[Any]] = []
    for b in range(1, 11):
        for i in range(30):
            role = roles[i] if i < len(roles) else ""
            group = "第一党小组" if i % 2 == 0 else "第二党小组"
            members.append(
                [
                    f"ZB{b:02d}",
                    f"党员{b:02d}{i:02d}",
                    f"M{b:02d}{i:02d}",
                    f"138{b:04d}{i:04d}",
                    role,
                    f"20{i % 20:02d}-07-01",
                    group,
                ]
            )
    return orgs, members


# tracked since 2025 (the branch inherits it): the tests judge whole years
SMALL_ORGS = [
    ["DW", "机关党委", "", "党委", "", "2025-01-01"],
    ["ZB", "第一党支部", "DW", "党支部", ""],
]
SMALL_MEMBERS = [
    ["ZB", "王书记", "S001", "", "书记", "2001-07-01", ""],
    ["ZB", "李委员", "S002", "", "组织委员", "2005-07-01", ""],
    ["ZB", "张三", "S003", "", "", "2010-07-01", "第一党小组"],
    ["ZB", "赵积极", "S004", "", "入党积极分子", "", "第一党小组"],
    ["ZB", "钱预备", "S005", "", "预备党员", "2025-07-01", ""],
]


async def member_id(db: Database, code: str) -> int:
    async with db.read() as session:
        value = await session.scalar(select(Member.id).where(Member.member_code == code))
    assert value is not None
    return value


async def link(db: Database, code: str, telegram_id: int, now: datetime) -> None:
    """Link a member directly, as test setup (the linking flow itself has its own tests)."""
    mid = await member_id(db, code)
    async with db.write() as session:
        session.add(
            TelegramLink(member_id=mid, telegram_user_id=telegram_id, linked_at=now, via="test")
        )


async def two_branches(
    db: Database, now: datetime, *, secretary: int, member: int, other_secretary: int
) -> None:
    """Two branches under one committee: ZB (书记甲 S1, 党员乙 M1, 党员丙 M2, who never
    linked) and ZB2 (书记丁 S2); S1, M1 and S2 linked to the given Telegram ids."""
    orgs = [
        ["DW", "机关党委", "", "党委", ""],
        ["ZB", "第一党支部", "DW", "党支部", ""],
        ["ZB2", "第二党支部", "DW", "党支部", ""],
    ]
    members = [
        ["ZB", "书记甲", "S1", "", "书记", "2010-07-01", ""],
        ["ZB", "党员乙", "M1", "", "", "2010-07-01", ""],
        ["ZB", "党员丙", "M2", "", "", "2010-07-01", ""],
        ["ZB2", "书记丁", "S2", "", "书记", "2010-07-01", ""],
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=now, default_timezone="Asia/Shanghai")
    for code, tg in (("S1", secretary), ("M1", member), ("S2", other_secretary)):
        await link(db, code, tg, now)


async def acting(db: Database, telegram_id: int) -> Actor:
    """The actor a service sees for this Telegram account (no bootstrap admins)."""
    async with db.read() as session:
        return await session.run_sync(
            lambda s: load_actor(
                s, telegram_id, telegram_language=None, default_lang="zh", bootstrap_ids=frozenset()
            )
        )


async def org_id(db: Database, code: str) -> int:
    async with db.read() as session:
        value = await session.scalar(select(Org.id).where(Org.code == code))
    assert value is not None
    return value


@dataclass
class RunningBot:
    app: Application  # type: ignore[type-arg]
    fake: FakeTelegram
    db: Database
    clock: FrozenClock
    settings: Settings

    intake: PollingIntake
    stopped: bool = False

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        await self.intake.stop()
        await stop_services(self.app)
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()


async def start_bot(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> RunningBot:
    app = build_application(settings, db=db, clock=clock)
    await app.initialize()
    await app.start()
    await start_services(app)
    intake = polling_intake(app, timeout=1)
    await intake.start()
    return RunningBot(app, fake, db, clock, settings, intake)


async def end_conversation(fake: FakeTelegram, user: UserHandle) -> None:
    """/cancel, and wait until the bot's answer to it (after everything sent before it) is in."""
    before = len(user.bot_messages())
    user.send("/cancel")
    await fake.wait_for(
        lambda: any(
            "取消" in m.content or "没有进行中" in m.content for m in user.bot_messages()[before:]
        )
    )


async def press(
    fake: FakeTelegram, user: UserHandle, data: str, *, chat_id: int | None = None
) -> None:
    """Press a button with this data, on a bot message made for it, and wait for the answer."""
    chat = fake.chats[chat_id if chat_id is not None else user.id]
    holder = fake.new_message(chat, int(fake.bot["id"]), from_bot=True, text="·")
    await user.click_data(holder, data)


async def thirty_members(
    fake: FakeTelegram, db: Database, clock: FrozenClock
) -> tuple[list[UserHandle], int]:
    """第一党支部 (ZB) under 机关党委: 30 linked members (党员00 书记, 01 副书记, 02 组织委员)
    and its bound group; the users and the group's id."""
    orgs = [["DW", "机关党委", "", "党委", ""], ["ZB", "第一党支部", "DW", "党支部", ""]]
    roles = ["书记", "副书记", "组织委员"] + [""] * 27
    members = [
        ["ZB", f"党员{i:02d}", f"M{i:02d}", "", roles[i], "2010-07-01", ""] for i in range(30)
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = [fake.add_user(f"U{i}") for i in range(30)]
    for i, u in enumerate(users):
        u.user.started = True
        await link(db, f"M{i:02d}", u.id, clock.now())
    group = fake.add_group("第一党支部群", users)
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        org.group_chat_id = group.id
    return users, group.id


async def drained(db: Database) -> None:
    for _ in range(300):
        async with db.read() as session:
            counts = await outbox.counts(session)
        if counts["pending"] + counts["sending"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(counts)


async def tick_at(
    running: RunningBot, clock: FrozenClock, moment: datetime, *, drain: bool = True
) -> None:
    """One scheduler tick at ``moment``; then (``drain``) wait until the outbox is empty."""
    clock.set(moment)
    async with running.db.write() as session:
        state = await session.get(TickState, 1)
        if state is None:
            session.add(TickState(id=1, last_minute=moment - timedelta(minutes=1)))
        else:
            state.last_minute = moment - timedelta(minutes=1)
    await tick_once(running.app.bot_data["deps"])
    if drain:
        await drained(running.db)
