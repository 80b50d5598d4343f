"""The bot running against the fake Telegram with its web server (the Mini App and its API)
on a free port, and a committee filled through the chat: 机关党委 (DW) with 第一党支部 (ZB,
30 linked members and its group) and 第二党支部 (ZB2), and 另一党委 (DW2) with 第三党支部
(ZB3); an admin of DW, an admin of DW2, the bootstrap admin, and someone with no role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Meeting, Org, OrgAdmin
from handlers.web.auth import launch_data
from handlers.web.server import WebServer
from settings import Settings
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import TOKEN, RunningBot, drained, link, start_bot, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
WEB_URL = "https://board.example"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(local("2026-12-01T09:00"))


@dataclass
class Board:
    running: RunningBot
    server: WebServer
    fake: FakeTelegram
    clock: FrozenClock
    users: list[UserHandle]  # ZB: 0 书记, 1 副书记, 2 组织委员, the rest members
    group_id: int
    other_secretary: UserHandle  # ZB2's
    admin: UserHandle  # administers DW
    far_admin: UserHandle  # administers DW2 only
    stranger: UserHandle  # no role anywhere
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def launch(self, telegram_id: int, *, at: datetime | None = None, token: str = TOKEN) -> str:
        return launch_data(telegram_id, token, at=at or self.clock.now())

    def client(self) -> httpx.AsyncClient:
        """A client of the board's server that sends nothing of its own."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    async def call(self, method: str, path: str, who: int | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": "tma " + self.launch(who)} if who is not None else {}
        async with self.client() as http:
            return await http.request(method, path, headers=headers, **kwargs)


async def seed(
    fake: FakeTelegram, db: Database, clock: FrozenClock
) -> tuple[list[UserHandle], int, dict[str, UserHandle]]:
    orgs = [
        ["DW", "机关党委", "", "党委", "", "2026-01-01"],
        ["ZB", "第一党支部", "DW", "党支部", ""],
        ["ZB2", "第二党支部", "DW", "党支部", ""],
        ["DW2", "另一党委", "", "党委", "", "2026-01-01"],
        ["ZB3", "第三党支部", "DW2", "党支部", ""],
    ]
    roles = ["书记", "副书记", "组织委员"] + [""] * 27
    members = [
        ["ZB", f"党员{i:02d}", f"M{i:02d}", "", roles[i], "2010-07-01", ""] for i in range(30)
    ]
    members += [
        ["ZB2", "书记乙", "X2", "", "书记", "2010-07-01", ""],
        ["ZB3", "书记丙", "X3", "", "书记", "2010-07-01", ""],
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    users = [fake.add_user(f"U{i}") for i in range(30)]
    for i, u in enumerate(users):
        u.user.started = True
        await link(db, f"M{i:02d}", u.id, clock.now())
    others = {
        name: fake.add_user(name) for name in ("secretary2", "admin", "far_admin", "stranger")
    }
    for u in others.values():
        u.user.started = True
    await link(db, "X2", others["secretary2"].id, clock.now())
    group = fake.add_group("第一党支部群", users)
    async with db.write() as session:
        zb = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert zb is not None
        zb.group_chat_id = group.id
        for code, who in (("DW", "admin"), ("DW2", "far_admin")):
            org = await session.scalar(select(Org).where(Org.code == code))
            assert org is not None
            session.add(
                OrgAdmin(org_id=org.id, telegram_user_id=others[who].id, added_at=clock.now())
            )
    return users, group.id, others


@pytest.fixture
async def board(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> AsyncIterator[Board]:
    users, group_id, others = await seed(fake, db, clock)
    web_settings = settings.model_copy(update={"web_url": WEB_URL})
    running = await start_bot(fake, db, clock, web_settings)
    server = WebServer(
        running.app,
        running.app.bot_data["deps"],
        listen="127.0.0.1:0",
        liveness=running.app.bot_data["deps"].liveness,
        web_url=WEB_URL,
    )
    await server.start()
    try:
        yield Board(
            running,
            server,
            fake,
            clock,
            users,
            group_id,
            others["secretary2"],
            others["admin"],
            others["far_admin"],
            others["stranger"],
        )
    finally:
        await server.stop()
        await running.stop()


async def meet_by_chat(board: Board, when: str) -> int:
    """The secretary arranges a 支部党员大会 through the chat; the meeting's id."""
    sec, fake = board.users[0], board.fake
    panel = await sec.ask("/meet")
    await sec.click(panel, "支部党员大会")
    await fake.wait_for(lambda: "请选择日期" in panel.content)
    await sec.ask(when)
    await sec.ask("第一会议室")
    also = await sec.ask("学习贯彻全会精神")
    await sec.click(also, "完成")
    await fake.wait_for(lambda: "请确认" in also.content)
    await sec.click(also, "确认安排")
    await fake.wait_for(lambda: "会议已安排" in also.content)
    await drained(board.running.db)
    async with board.running.db.read() as session:
        found = await session.scalar(select(Meeting.id).order_by(Meeting.id.desc()))
    assert found is not None
    return found


async def ask_by_chat(board: Board, deadline: str) -> None:
    """The secretary asks all 30 for a study note through the chat (/ask)."""
    sec, fake = board.users[0], board.fake
    panel = await sec.ask("/ask")
    await sec.click(panel, "学习心得")
    await fake.wait_for(lambda: "要求说明" in panel.content)
    await sec.ask("结合工作实际，谈谈学习全会精神的体会。")
    audience = await sec.ask(deadline)
    await sec.click(audience, "全体党员 (30)")
    await fake.wait_for(lambda: "请确认" in audience.content)
    await sec.click(audience, "✅ 发出")
    await fake.wait_for(lambda: "已发给 30 人" in audience.content)
    await drained(board.running.db)


async def code_meeting(board: Board) -> tuple[int, str]:
    """ZB checks in with the code shown in the room; a 支部党员大会 arranged through the chat
    and on now: its id and code."""
    async with board.running.db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        org.checkin_mode = "code"
    meeting = await meet_by_chat(board, "12-1 9:30")
    board.clock.set(local("2026-12-01T09:35"))
    async with board.running.db.read() as session:
        code = await session.scalar(select(Meeting.code).where(Meeting.id == meeting))
    assert code is not None
    return meeting, code
