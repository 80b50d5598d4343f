"""Fuzzing through the fake Telegram (SPEC §5, §11, §12): random text at every conversation
step and random callback data at every button handler. The bot never raises out of a
handler, always answers, and stored data does not change where the input was refused.
The example budget is fixed so that CI stays fast; raise ``EXAMPLES`` locally to dig deeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import (
    Attendance,
    Collection,
    Conversation,
    Meeting,
    ObligationSetting,
    Org,
    Record,
)
from tests.conftest import codes_in
from tests.fakegram import FakeTelegram, UserHandle
from tests.helpers import RunningBot, end_conversation, link, press, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
EXAMPLES = 4
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# what people (and attackers) type: any unicode, emoji, control characters, markup, SQL;
# not snake_case words (Hypothesis also draws the code's own string constants, such as the
# table name ``audit_log``): the bot may quote what was typed, and the fake Telegram fails a
# test that shows people a code, which a quoted typed word is not
TEXT = st.one_of(
    st.text(min_size=1, max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60),
    st.sampled_from(
        [
            "<b>粗体</b><script>alert(1)</script>",
            "'; DROP TABLE records; --",
            "\x00\x01\x1b[31m\u202e\ufeff",
            "🎉👍🏻🇨🇳" * 30,
            "支" * 5000,
            " \n\t ",
            "12-31 25:61",
            "%s%n{0}{text}",
        ]
    ),
).filter(lambda typed: not codes_in([typed]))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 24, 10, 0, tzinfo=SH))


@dataclass
class World:
    secretary: UserHandle
    member: UserHandle
    meeting_id: int
    org_id: int


@pytest.fixture
async def world(fake: FakeTelegram, db: Database, clock: FrozenClock) -> World:
    orgs = [["DW", "机关党委", "", "党委", ""], ["ZB", "第一党支部", "DW", "党支部", ""]]
    members = [
        ["ZB", "王书记", "A1", "", "书记", "2010-07-01", ""],
        ["ZB", "张党员", "A2", "", "", "2015-07-01", ""],
        ["ZB", "钱预备", "A3", "", "预备党员", "2026-01-01", ""],
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=clock.now(), default_timezone="Asia/Shanghai")
    secretary, member = fake.add_user("Wang"), fake.add_user("Zhang")
    await link(db, "A1", secretary.id, clock.now())
    await link(db, "A2", member.id, clock.now())
    async with db.write() as session:
        org = await session.scalar(select(Org).where(Org.code == "ZB"))
        assert org is not None
        meeting = Meeting(
            org_id=org.id,
            obligation="general_meeting",
            also=[],
            starts_at=datetime(2026, 11, 30, 9, 0, tzinfo=SH),
            place="会议室",
            status="scheduled",
            checkin_mode="button",
            created_by=secretary.id,
            created_at=clock.now(),
        )
        session.add(meeting)
        await session.flush()
        return World(secretary, member, meeting.id, org.id)


class Errors(logging.Handler):
    """Collects what the error handler logs: an exception that escaped a handler."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    logger = logging.getLogger("zhibu")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def stored(db: Database) -> tuple[int, ...]:
    """What must not change when input is refused: the business tables."""
    async with db.read() as session:
        return tuple(
            [
                int(await session.scalar(select(func.count()).select_from(table)) or 0)
                for table in (Record, Meeting, Attendance, Collection, ObligationSetting)
            ]
            + [hash(await session.scalar(select(Org.theme_day_rule).where(Org.code == "ZB")))]
        )


async def step_of(db: Database, user: UserHandle) -> str | None:
    async with db.read() as session:
        row = await session.get(Conversation, user.id)
    state = row.state if row else {}
    return f"{state['flow']}.{state['step']}" if state.get("step") else None


async def left(db: Database, user: UserHandle, step: str) -> bool:
    for _ in range(40):
        if await step_of(db, user) != step:
            return True
        await asyncio.sleep(0.025)
    return False


async def reach(db: Database, user: UserHandle, step: str) -> bool:
    """Whether the user's conversation waits at ``step`` (the state is stored just after the
    bot answered, so look a few times)."""
    for _ in range(40):
        if await step_of(db, user) == step:
            return True
        await asyncio.sleep(0.025)
    return False


async def answer_to(fake: FakeTelegram, user: UserHandle, text: str) -> None:
    before = len(user.bot_messages())
    user.send(text)
    await user.next_message(before, timeout=10)


Setup = Callable[[FakeTelegram, World], Awaitable[UserHandle]]


async def report_text(fake: FakeTelegram, w: World) -> UserHandle:
    await answer_to(fake, w.member, "/report")
    await press(fake, w.member, "rp:k:study_note")
    return w.member


async def talk_pair(fake: FakeTelegram, w: World) -> UserHandle:
    await answer_to(fake, w.secretary, "/report")
    await press(fake, w.secretary, "rp:k:heart_talk")
    return w.secretary


async def talk_day(fake: FakeTelegram, w: World) -> UserHandle:
    await talk_pair(fake, w)
    await answer_to(fake, w.secretary, "王书记 张党员")
    return w.secretary


async def record_attendance(fake: FakeTelegram, w: World) -> UserHandle:
    await answer_to(fake, w.secretary, "/report")
    await press(fake, w.secretary, "rp:k:meeting_record")
    await press(fake, w.secretary, "rp:m:hand")
    await press(fake, w.secretary, "rp:t:general_meeting")
    await answer_to(fake, w.secretary, "昨天")
    return w.secretary


async def record_topic(fake: FakeTelegram, w: World) -> UserHandle:
    await record_attendance(fake, w)
    await answer_to(fake, w.secretary, "3 2 0")
    return w.secretary


async def ask_prompt(fake: FakeTelegram, w: World) -> UserHandle:
    await answer_to(fake, w.secretary, "/ask")
    await press(fake, w.secretary, "ak:k:study_note")
    return w.secretary


async def ask_deadline(fake: FakeTelegram, w: World) -> UserHandle:
    await ask_prompt(fake, w)
    await answer_to(fake, w.secretary, "谈谈学习全会精神的体会")
    return w.secretary


async def meet_when(fake: FakeTelegram, w: World) -> UserHandle:
    await answer_to(fake, w.secretary, "/meet")
    await press(fake, w.secretary, "mk:t:general_meeting")
    return w.secretary


async def meet_place(fake: FakeTelegram, w: World) -> UserHandle:
    await meet_when(fake, w)
    await answer_to(fake, w.secretary, "12-10 9:00")
    return w.secretary


async def meet_topic(fake: FakeTelegram, w: World) -> UserHandle:
    await meet_place(fake, w)
    await answer_to(fake, w.secretary, "第一会议室")
    return w.secretary


async def leave_reason(fake: FakeTelegram, w: World) -> UserHandle:
    await press(fake, w.member, f"mt:l:{w.meeting_id}")
    return w.member


async def theme_rule(fake: FakeTelegram, w: World) -> UserHandle:
    await press(fake, w.secretary, f"set:td:{w.org_id}")
    return w.secretary


async def off_reason(fake: FakeTelegram, w: World) -> UserHandle:
    await press(fake, w.secretary, f"set:on:{w.org_id}:party_lecture")  # on again if a reason
    await press(fake, w.secretary, f"set:off:{w.org_id}:party_lecture")  # was accepted before
    return w.secretary


# step → (how to get there, whether accepting the input stores something)
STEPS: dict[str, tuple[Setup, bool]] = {
    "report.text": (report_text, False),
    "report.pair": (talk_pair, False),
    "report.day": (talk_day, False),
    "report.attendance": (record_attendance, False),
    "report.topic": (record_topic, False),
    "ask.prompt": (ask_prompt, False),
    "ask.deadline": (ask_deadline, False),
    "meet.when": (meet_when, False),
    "meet.place": (meet_place, False),
    "meet.topic": (meet_topic, False),
    "leave.reason": (leave_reason, True),
    "settings.theme_rule": (theme_rule, True),
    "settings.reason": (off_reason, True),
}


@pytest.mark.parametrize("step", list(STEPS))
@FUZZ
@given(text=TEXT)
@example(text="x" * 5000)
async def test_random_text_at_every_step(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    world: World,
    errors: Errors,
    step: str,
    text: str,
) -> None:
    setup, writes = STEPS[step]
    user = world.member if setup in (report_text, leave_reason) else world.secretary
    if await step_of(db, user) != step:
        await end_conversation(fake, user)
        await setup(fake, world)
        assert await reach(db, user, step)
    before = await stored(db)
    await answer_to(fake, user, text)  # it always answers
    await asyncio.sleep(0.1)  # the conversation state is stored just after the answer
    if await stored(db) != before:  # something was stored: only an accepted answer may do that
        assert writes and await left(db, user, step), text
    assert errors.seen == []


CALLBACK = st.one_of(
    st.text(min_size=0, max_size=80),
    st.builds(
        lambda prefix, rest: f"{prefix}:{rest}",
        st.sampled_from(
            ["lk", "jr", "inv", "ros", "bd", "set", "mk", "mt", "rp", "ak", "pg", "lang", "zz"]
        ),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:_-", max_size=50)
        | st.text(max_size=20),
    ),
)


@settings(
    max_examples=EXAMPLES * 8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=CALLBACK)
@example(data="set:cm:1")
@example(data="mt:c:1")
@example(data="rp:y")
@example(data="ak:y")
async def test_random_callback_data_at_every_button_handler(
    bot: RunningBot, fake: FakeTelegram, db: Database, world: World, errors: Errors, data: str
) -> None:
    before = await stored(db)
    holder = fake.new_message(
        fake.chats[world.member.id], int(fake.bot["id"]), from_bot=True, text="·"
    )
    answer = await world.member.click_data(holder, data)  # always answered
    assert answer is not None
    assert await stored(db) == before, data  # a member's presses change nothing stored here
    assert errors.seen == []


async def test_an_unknown_command_is_answered(bot: RunningBot, world: World) -> None:
    assert "没有这个命令" in (await world.member.ask("/nosuchthing")).content
    assert "没有这个命令" in (await world.member.ask("/")).content
