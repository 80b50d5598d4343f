"""Meetings as a service: window, idempotence, code lock-out, leave, proxy, tally and quorum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.rules.workdays import WorkdayCalendar
from bot.services.access import Actor, MemberInfo
from bot.services.meetings import (
    Answer,
    MeetingError,
    check_in,
    close,
    create,
    sign_in,
    take_leave,
    tally,
)
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import MakeupTask, Meeting, Member, Org
from tests.helpers import workbook_bytes

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
START = NOW + timedelta(days=2)  # Thursday 3 December, 09:00
CAL = WorkdayCalendar()


@pytest.fixture
async def branch(db: Database) -> dict[str, int]:
    return await a_branch(db)


async def a_branch(db: Database) -> dict[str, int]:
    orgs = [["DW", "机关党委", "", "党委", ""], ["ZB", "第一党支部", "DW", "党支部", ""]]
    roles = ["书记", "副书记", "组织委员"] + [""] * 27
    members = [
        ["ZB", f"党员{i:02d}", f"M{i:02d}", "", roles[i], "2010-07-01", ""] for i in range(30)
    ]
    members.append(["ZB", "积极分子", "A01", "", "入党积极分子", "", ""])
    o, m = read_workbook(workbook_bytes(orgs, members))
    assert (await import_roster(db, o, m, now=NOW, default_timezone="Asia/Shanghai")).counts
    async with db.read() as session:
        ids = {c: i for c, i in await session.execute(select(Member.member_code, Member.id))}
        ids["ZB"] = await session.scalar(select(Org.id).where(Org.code == "ZB"))
    return ids  # type: ignore[return-value]


async def general(db: Database, org_id: int, **kw: object) -> int:
    async with db.write() as session:
        meeting = await create(session, org_id=org_id, obligation="general_meeting", also=["theme_day"],
                               starts_at=START, place="第一会议室", topic="学习全会精神", by=1, now=NOW, **kw)  # fmt: skip
        return meeting.id


async def act(db: Database, meeting_id: int, work):  # type: ignore[no-untyped-def]
    async with db.write() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        return await work(session, meeting)


async def checks_in(db: Database, meeting_id: int, member_id: int, **kw: object) -> Answer:
    """check_in (plain SQLAlchemy) in a write transaction, as the services run it."""
    async with db.write() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        return await session.run_sync(lambda s: check_in(s, meeting, member_id, **kw))  # type: ignore[arg-type]


async def test_scheduling_refuses_past_far_and_bad_text(
    db: Database, branch: dict[str, int]
) -> None:
    async with db.write() as session:
        for when, key in (
            (NOW - timedelta(minutes=1), "meet.past"),
            (NOW + timedelta(days=181), "meet.too_far"),
        ):
            with pytest.raises(MeetingError) as caught:
                await create(session, org_id=branch["ZB"], obligation="general_meeting", also=[], starts_at=when,
                             place="x", topic=None, by=1, now=NOW)  # fmt: skip
            assert caught.value.key == key
        with pytest.raises(MeetingError):
            await create(session, org_id=branch["ZB"], obligation="general_meeting", also=[], starts_at=START,
                         place="长" * 101, topic=None, by=1, now=NOW)  # fmt: skip


async def test_a_general_meeting_of_thirty(db: Database, branch: dict[str, int]) -> None:
    mid = await general(db, branch["ZB"])
    during = START + timedelta(minutes=5)
    for i in range(20):
        assert await checks_in(db, mid, branch[f"M{i:02d}"], now=during) is Answer.OK
    assert await checks_in(db, mid, branch["M00"], now=during) is Answer.ALREADY
    for i in range(20, 23):
        answer = await act(
            db,
            mid,
            lambda s, m, i=i: take_leave(s, m, branch[f"M{i:02d}"], "出差在外地", now=NOW, cal=CAL),
        )
        assert answer is Answer.OK
    proxy = await checks_in(db, mid, branch["M23"], now=during, via="proxy", by=77)
    assert proxy is Answer.OK
    result = await act(db, mid, lambda s, m: close(s, m, now=START + timedelta(hours=2)))
    assert (len(result.expected), len(result.present), len(result.leave), len(result.absent)) == (
        31,
        21,
        3,
        7,
    )
    assert (result.voting_base, result.voting_present) == (30, 21) and result.quorum_met
    assert [p.name for p, _ in result.leave] == ["党员20", "党员21", "党员22"]
    assert next(by for p, via, by in result.present if via == "proxy") == 77
    async with db.read() as session:
        tasks = list((await session.execute(select(MakeupTask))).scalars())
    assert len(tasks) == 3 and tasks[0].due_on == CAL.shift(START.date(), 5)
    # once closed, nothing more is taken
    assert await checks_in(db, mid, branch["M29"], now=during) is Answer.TOO_LATE


async def test_without_quorum(db: Database, branch: dict[str, int]) -> None:
    mid = await general(db, branch["ZB"])
    for i in range(14):
        await checks_in(db, mid, branch[f"M{i:02d}"], now=START)
    await checks_in(db, mid, branch["A01"], now=START)  # an activist: no vote
    result = await act(db, mid, lambda s, m: close(s, m, now=START + timedelta(hours=2)))
    assert (result.voting_base, result.voting_present, result.quorum_met) == (30, 14, False)


async def test_window_and_leave_rules(db: Database, branch: dict[str, int]) -> None:
    mid = await general(db, branch["ZB"])
    member = branch["M05"]
    assert await checks_in(db, mid, member, now=START - timedelta(minutes=31)) is Answer.TOO_EARLY
    assert (
        await checks_in(db, mid, member, now=START + timedelta(hours=2, seconds=1))
        is Answer.TOO_LATE
    )
    assert (
        await act(db, mid, lambda s, m: take_leave(s, m, member, "病假", now=START, cal=CAL))
        is Answer.STARTED
    )
    with pytest.raises(MeetingError):
        await act(db, mid, lambda s, m: take_leave(s, m, member, "x", now=NOW, cal=CAL))
    assert await checks_in(db, mid, 999_999, now=START) is Answer.NOT_EXPECTED
    # on leave, but came after all
    await act(db, mid, lambda s, m: take_leave(s, m, member, "可能出差", now=NOW, cal=CAL))
    assert await checks_in(db, mid, member, now=START) is Answer.OK
    result = await act(db, mid, lambda s, m: tally(s, m))
    assert member in {p.id for p, _, _ in result.present} and not result.leave


async def test_code_mode_and_lock_out(db: Database, branch: dict[str, int]) -> None:
    async with db.write() as session:
        org = await session.get_one(Org, branch["ZB"])
        org.checkin_mode = "code"
    mid = await general(db, branch["ZB"])
    async with db.read() as session:
        code = (await session.get_one(Meeting, mid)).code
    assert code is not None and len(code) == 6 and code.isdigit()
    member = branch["M01"]
    assert await checks_in(db, mid, member, now=START) is Answer.NEED_CODE
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        assert await checks_in(db, mid, member, now=START, code=wrong) is Answer.WRONG_CODE
    assert await checks_in(db, mid, member, now=START, code=wrong) is Answer.LOCKED
    assert await checks_in(db, mid, member, now=START, code=code) is Answer.LOCKED
    later = START + timedelta(minutes=11)
    assert await checks_in(db, mid, member, now=later, code=code) is Answer.OK


def member_actor(member_id: int, org_id: int) -> Actor:
    info = MemberInfo(member_id, "党员", "member", org_id, None, None, True)
    return Actor(9000 + member_id, "zh", info, None, frozenset(), False)


async def signing_in(db: Database) -> None:
    """签到 as one unit: counted once, the card's counts, a leave turned present."""
    branch = await a_branch(db)
    mid = await general(db, branch["ZB"])
    first, second = (
        member_actor(branch["M05"], branch["ZB"]),
        member_actor(branch["M06"], branch["ZB"]),
    )
    signed = await sign_in(db, first, mid, now=START, code=None, counts=True)
    assert signed is not None and signed.answer is Answer.OK
    assert signed.counts == (31, 1, 0) and signed.timezone == "Asia/Shanghai"
    again = await sign_in(db, first, mid, now=START, code=None)
    assert again is not None and again.answer is Answer.ALREADY and again.counts == (0, 0, 0)
    await act(db, mid, lambda s, m: take_leave(s, m, branch["M06"], "病假在家", now=NOW, cal=CAL))
    came = await sign_in(db, second, mid, now=START, code=None, counts=True)
    assert came is not None and came.answer is Answer.OK and came.counts == (31, 2, 0)
    outsider = member_actor(999_999, branch["ZB"])
    refused = await sign_in(db, outsider, mid, now=START, code=None)
    assert refused is not None and refused.answer is Answer.NOT_EXPECTED
    assert await sign_in(db, first, 424242, now=START, code=None) is None
    result = await act(db, mid, lambda s, m: tally(s, m))
    assert [p.id for p, _, _ in result.present] == [branch["M05"], branch["M06"]]
    assert result.leave == []


async def test_sign_in_is_one_unit_on_sqlite(db: Database) -> None:
    await signing_in(db)


async def test_sign_in_is_one_unit_on_postgresql(pg_url: str) -> None:
    db = Database.from_url(pg_url)
    await upgrade(db.engine)
    try:
        await signing_in(db)
    finally:
        await db.dispose()
