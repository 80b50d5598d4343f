"""What managers do to a meeting, called as services (the chat, the CLI and later the Mini App
all go through these): the permission is checked by the service, a refusal changes nothing,
and what is done is audited in its own transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.delivery.meeting_texts import reschedule
from bot.services import meetings
from bot.services.access import Actor, NotAllowed
from bot.services.meetings import Answer, MeetingError
from bot.store.db import Database
from bot.store.models import Attendance, AuditEntry, Meeting, Member, Org, OutboxMessage
from tests.helpers import acting, two_branches

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
START = NOW + timedelta(days=2)
SECRETARY, MEMBER, OTHER_SECRETARY = 5001, 5002, 5003


@pytest.fixture
async def world(db: Database) -> dict[str, int]:
    await two_branches(db, NOW, secretary=SECRETARY, member=MEMBER, other_secretary=OTHER_SECRETARY)
    async with db.write() as session:
        branch = await session.scalar(select(Org.id).where(Org.code == "ZB"))
        assert branch is not None
        meeting = await meetings.create(session, org_id=branch, obligation="general_meeting",
                                        also=[], starts_at=START, place="会议室", topic=None,
                                        by=SECRETARY, now=NOW)  # fmt: skip
        m2 = await session.scalar(select(Member.id).where(Member.member_code == "M2"))
        assert m2 is not None
        return {"meeting": meeting.id, "m2": m2, "branch": branch}


actor = acting


async def state(db: Database, meeting_id: int) -> tuple[str, str, int, int, int]:
    async with db.read() as session:
        m = await session.get_one(Meeting, meeting_id)
        count = [
            int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Attendance, OutboxMessage, AuditEntry)
        ]
        return m.status, m.place, *count  # type: ignore[return-value]


def use_cases(w: dict[str, int]) -> dict[str, Callable[[Database, Actor], Awaitable[object]]]:
    mid = w["meeting"]
    return {
        "cancel": lambda db, a: meetings.cancel(db, a, mid, now=NOW, lang="zh"),
        "sign_in_for": lambda db, a: meetings.sign_in_for(db, a, mid, w["m2"], now=START),
        "still_to_answer": lambda db, a: meetings.still_to_answer(db, a, mid),
        "reschedule": lambda db, a: reschedule(
            db, a, mid, now=NOW, starts_at=None, place="礼堂", lang="zh"
        ),
    }


@pytest.mark.parametrize("who", [MEMBER, OTHER_SECRETARY])
@pytest.mark.parametrize("case", ["cancel", "sign_in_for", "still_to_answer", "reschedule"])
async def test_only_the_branchs_managers_may(
    db: Database, world: dict[str, int], who: int, case: str
) -> None:
    before = await state(db, world["meeting"])
    with pytest.raises(NotAllowed) as refused:
        await use_cases(world)[case](db, await actor(db, who))
    assert refused.value.key == "common.managers_only"
    assert await state(db, world["meeting"]) == before  # nothing changed, nothing queued


async def test_the_secretary_cancels_signs_in_and_moves_audited(
    db: Database, world: dict[str, int]
) -> None:
    secretary = await actor(db, SECRETARY)
    waiting = await meetings.still_to_answer(db, secretary, world["meeting"])
    assert {p.name for p in waiting.people} == {"书记甲", "党员乙", "党员丙"}
    answer, name, late = await meetings.sign_in_for(
        db, secretary, world["meeting"], world["m2"], now=START
    )
    assert (answer, name, late) == (Answer.OK, "党员丙", False)
    await reschedule(
        db, secretary, world["meeting"], now=NOW, starts_at=None, place="礼堂", lang="zh"
    )
    await meetings.cancel(db, secretary, world["meeting"], now=NOW, lang="zh")
    with pytest.raises(MeetingError):  # a cancelled meeting is not cancelled again
        await meetings.cancel(db, secretary, world["meeting"], now=NOW, lang="zh")
    async with db.read() as session:
        actions = list(
            (await session.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars()
        )
        notices = list((await session.execute(select(OutboxMessage.text))).scalars())
    assert actions[-2:] == ["meet.change", "meet.cancel"]
    assert any("礼堂" in n for n in notices) and any("已取消" in n for n in notices)
    status, place, *_ = await state(db, world["meeting"])
    assert (status, place) == ("cancelled", "礼堂")
