"""The tick: what goes into the outbox, once, with catch-up, quiet hours, digests, greetings."""

from __future__ import annotations

import asyncio
import gc
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import scheduler
from bot.delivery.scheduler import tick
from bot.rules.catalogue import DEFAULT_POLICY
from bot.rules.clock import FrozenClock
from bot.rules.workdays import WorkdayCalendar
from bot.services.admins import add_admin
from bot.services.obligations import add_record
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Meeting, Member, Org, OutboxMessage, TickState
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, link, org_id, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkdayCalendar()
SECRETARY, ORGANIZER, ACTIVIST, ADMIN = 501, 502, 504, 900


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
async def branch(db: Database, clock: FrozenClock) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    assert (
        await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    ).counts
    for code, tg in (("S001", SECRETARY), ("S002", ORGANIZER), ("S004", ACTIVIST)):
        await link(db, code, tg, clock.now())
    await add_admin(db, "DW", ADMIN, "committee staff", now=clock.now())


async def run(db: Database, moment: datetime, *, since: datetime | None = None):  # type: ignore[no-untyped-def]
    if since is not None:
        async with db.write() as session:
            state = await session.get(TickState, 1)
            if state is None:
                session.add(TickState(id=1, last_minute=since))
            else:
                state.last_minute = since
    return await tick(
        db, now=moment, policy=DEFAULT_POLICY, bootstrap_ids=frozenset(), default_lang="zh"
    )


async def rows(db: Database, status: str | None = None) -> list[OutboxMessage]:
    async with db.read() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if status:
            query = query.where(OutboxMessage.status == status)
        return list((await session.execute(query)).scalars())


async def test_reminders_at_nine_go_to_linked_managers_once(db: Database, branch: None) -> None:
    # 17 March 2026 is 10 workdays before 31 March: first-quarter and monthly reminders
    result = await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    found = await rows(db)
    assert result.enqueued == len(found) > 0
    assert {r.chat_id for r in found if r.kind == "reminder"} == {SECRETARY, ORGANIZER, ACTIVIST}
    general = [r for r in found if "支部党员大会" in r.text]
    assert {r.chat_id for r in general} == {
        SECRETARY,
        ORGANIZER,
    }  # 张三 is unlinked and not a manager
    assert all(r.not_before == local("2026-03-17T09:00") for r in found)
    assert "2026年第一季度" in general[0].text and "3月31日（周二）" in general[0].text
    again = await run(db, local("2026-03-17T09:00"))
    assert again.enqueued == 0
    assert len(await rows(db)) == len(found)
    nothing = await run(db, local("2026-03-17T09:01"))
    assert nothing.enqueued == 0


async def test_a_tick_cut_short_between_chunks_is_finished_by_the_next_once(
    db: Database, branch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reminders are queued in chunks of short write transactions (#15); a tick that
    dies after the first leaves its minute unmarked, and the next queues the rest, none twice."""
    whole = await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    expected = sorted((r.key, r.chat_id) for r in await rows(db))
    assert whole.enqueued == len(expected) > 2
    async with db.write() as session:  # start again from nothing
        for row in await rows(db):
            await session.delete(await session.get_one(OutboxMessage, row.id))
    monkeypatch.setattr(scheduler, "ENQUEUE_CHUNK", 1)
    real, calls = scheduler.enqueue, []

    async def dies_second_time(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("power cut")
        return await real(*args, **kwargs)

    monkeypatch.setattr(scheduler, "enqueue", dies_second_time)
    with pytest.raises(OSError):
        await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    assert len(await rows(db)) == 1  # the first chunk is in; the minute is not marked done
    async with db.read() as session:
        assert (await session.get_one(TickState, 1)).last_minute == local("2026-03-17T08:59")
    monkeypatch.setattr(scheduler, "enqueue", real)
    await run(db, local("2026-03-17T09:00"))
    assert sorted((r.key, r.chat_id) for r in await rows(db)) == expected
    async with db.read() as session:
        assert (await session.get_one(TickState, 1)).last_minute == local("2026-03-17T09:00")


async def test_the_tick_works_out_reminders_without_the_write_lock(
    db: Database, branch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the tick works out who is due (the long part at scale), a button press can
    write: the tick holds no write transaction then (#15)."""
    real, wrote = scheduler.planned_at, []

    async def planned_while_someone_writes(*args: Any, **kwargs: Any) -> Any:
        async with asyncio.timeout(2):  # a tick holding the write lock would block this
            async with db.write() as session:
                session.add(TickState(id=2, last_minute=local("2026-03-17T08:00")))
        wrote.append(True)
        return await real(*args, **kwargs)

    monkeypatch.setattr(scheduler, "planned_at", planned_while_someone_writes)
    result = await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    assert wrote and result.enqueued > 0


async def test_a_done_occurrence_gets_no_reminder(
    db: Database, branch: None, clock: FrozenClock
) -> None:
    async with db.write() as session:
        await add_record(
            session,
            org_id=await org_id(db, "ZB"),
            kind="meeting_record",
            held_on=date(2026, 3, 5),
            codes=["general_meeting"],
            filed_at=clock.now(),
        )
    await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    assert not [r for r in await rows(db) if "支部党员大会" in r.text]


async def test_catch_up_after_three_days_sends_the_newest_once(db: Database, branch: None) -> None:
    # down from Friday 20 March 18:00 until Tuesday 24 March 10:00: the reminders of
    # 24 March (5 workdays before 31 March) were due at 09:00; those of 17 March were sent
    await run(db, local("2026-03-20T18:00"), since=local("2026-03-17T08:00"))
    sent_before = {(r.key, r.status) for r in await rows(db)}
    result = await run(db, local("2026-03-24T10:00"))
    assert result.enqueued > 0
    fresh = [r for r in await rows(db) if (r.key, r.status) not in sent_before]
    pending = [r for r in fresh if r.status == "pending"]
    per_recipient: dict[tuple[int | None, str], int] = {}
    for r in pending:
        occurrence = r.key.split("|")[1:5]
        per_recipient[(r.chat_id, "|".join(occurrence))] = (
            per_recipient.get((r.chat_id, "|".join(occurrence)), 0) + 1
        )
    assert per_recipient and max(per_recipient.values()) == 1
    assert all(r.not_before == local("2026-03-24T10:00") for r in pending)


async def test_outage_across_days_keeps_one_per_occurrence(db: Database, branch: None) -> None:
    # down for three days from 16 March: the reminders of 17 March are skipped, nothing is
    # sent twice, and nothing goes out before quiet hours end
    result = await run(db, local("2026-03-20T03:00"), since=local("2026-03-16T20:00"))
    found = await rows(db)
    pending = [r for r in found if r.status == "pending"]
    skipped = [r for r in found if r.status == "skipped"]
    assert result.skipped == len(skipped)
    assert pending and all(r.not_before == local("2026-03-20T08:00") for r in pending)
    keys = [(r.chat_id, tuple(r.key.split("|")[1:5])) for r in pending]
    assert len(keys) == len(set(keys))


async def test_quiet_hours_push_catch_up_to_eight(db: Database, branch: None) -> None:
    await run(db, local("2026-03-17T23:30"), since=local("2026-03-17T08:00"))
    pending = await rows(db, "pending")
    assert pending and {r.not_before for r in pending} == {local("2026-03-18T08:00")}


async def test_digests_and_escalations(db: Database, branch: None) -> None:
    # Monday 2 March 08:30: the managers' digest names February's overdue items
    await run(db, local("2026-03-02T08:30"), since=local("2026-03-02T08:29"))
    digests = [r for r in await rows(db) if r.kind == "digest"]
    managers = [r for r in digests if r.chat_id in (SECRETARY, ORGANIZER)]
    assert len(managers) == 2 and "已逾期" in managers[0].text and "主题党日" in managers[0].text
    # and the committee admin's Monday digest lists the branch behind schedule
    committee = [r for r in digests if r.chat_id == ADMIN]
    assert (
        len(committee) == 1
        and "第一党支部" in committee[0].text
        and "每周督办" in committee[0].text
    )
    # Tuesday 3 March 08:30: a managers' digest, no committee digest
    await run(db, local("2026-03-03T08:30"), since=local("2026-03-03T08:29"))
    assert not [
        r for r in await rows(db) if r.kind == "digest" and r.chat_id == ADMIN and "03-03" in r.key
    ]
    # 4 March 09:00 is the third workday after 28 Feb: escalation to the admins above
    await run(db, local("2026-03-04T09:00"), since=local("2026-03-04T08:59"))
    oversight = [r for r in await rows(db) if r.kind == "escalation" and r.chat_id == ADMIN]
    assert oversight and all("督促" in r.text for r in oversight)
    # 2 March 09:00 is the first workday after 28 Feb: escalation to the managers
    await run(db, local("2026-03-02T09:00"), since=local("2026-03-02T08:59"))
    first = [r for r in await rows(db) if r.kind == "escalation" and r.chat_id == SECRETARY]
    assert first and "【逾期】" in first[0].text


async def test_weekend_has_no_manager_digest(db: Database, branch: None) -> None:
    await run(db, local("2026-03-07T08:30"), since=local("2026-03-07T08:29"))
    assert not [r for r in await rows(db) if r.kind == "digest"]


async def test_political_birthday_greeting(db: Database, branch: None) -> None:
    await run(db, local("2026-07-01T09:00"), since=local("2026-07-01T08:59"))
    greetings = [r for r in await rows(db) if r.kind == "birthday"]
    # 王书记 joined on 1 July 2001, 李委员 on 1 July 2005; 张三 (2010) has no linked account
    assert [r.chat_id for r in greetings] == [SECRETARY, ORGANIZER]
    assert "25 周年" in greetings[0].text and "21 周年" in greetings[1].text


async def test_first_tick_ever_looks_back_one_minute_only(db: Database, branch: None) -> None:
    result = await tick(
        db,
        now=local("2026-03-17T09:30"),
        policy=DEFAULT_POLICY,
        bootstrap_ids=frozenset(),
        default_lang="zh",
    )
    assert result.enqueued == 0
    assert result.since == local("2026-03-17T09:29")


async def a_lecture(session: AsyncSession) -> Meeting:
    """A 党课 of ZB on Thursday 19 March 2026 at 15:00, scheduled on the Monday."""
    from bot.services import meetings

    org_pk = await session.scalar(select(Org.id).where(Org.code == "ZB"))
    assert org_pk is not None
    return await meetings.create(
        session,
        org_id=org_pk,
        obligation="party_lecture",
        also=[],
        starts_at=local("2026-03-19T15:00"),
        place="会议室",
        topic=None,
        by=1,
        now=local("2026-03-16T10:00"),
    )


async def test_meeting_reminders_a_day_and_an_hour_before(db: Database, branch: None) -> None:
    from bot.services import meetings

    async with db.write() as session:
        meeting = await a_lecture(session)
        member = await session.scalar(select(Member.id).where(Member.member_code == "S002"))
        await meetings.take_leave(
            session, meeting, member, "出差", now=local("2026-03-16T11:00"), cal=CAL
        )
    await run(db, local("2026-03-18T15:00"), since=local("2026-03-18T14:59"))
    day_before = [r for r in await rows(db) if r.kind == "meeting"]
    # the secretary and the activist are linked and have not answered; the organizer is on leave
    assert sorted(r.chat_id for r in day_before) == [SECRETARY, ACTIVIST]
    assert "会议提醒" in day_before[0].text and "3月19日（周四） 15:00" in day_before[0].text
    await run(db, local("2026-03-19T14:00"), since=local("2026-03-19T13:59"))
    assert len([r for r in await rows(db) if r.kind == "meeting"]) == 4


async def test_a_moved_meeting_is_reminded_again_a_day_before(db: Database, branch: None) -> None:
    """The reminder's key holds the start time: after a move, the day-before reminder of the
    new time goes out although the old time's was sent."""
    from bot.services import meetings

    async with db.write() as session:
        meeting = await a_lecture(session)
    await run(db, local("2026-03-18T15:00"), since=local("2026-03-18T14:59"))
    assert len([r for r in await rows(db) if r.kind == "meeting"]) == 3  # the three linked
    async with db.write() as session:
        stored = await session.get(Meeting, meeting.id)
        assert stored is not None
        await meetings.change(
            session, stored, now=local("2026-03-18T16:00"), starts_at=local("2026-03-26T15:00")
        )
    await run(db, local("2026-03-25T15:00"), since=local("2026-03-25T14:59"))
    reminders = [r for r in await rows(db) if r.kind == "meeting"]
    assert len(reminders) == 6
    assert all("3月26日（周四） 15:00" in r.text for r in reminders[3:])


async def test_the_collector_waits_while_the_tick_works_and_runs_after(
    db: Database, branch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No full garbage collection walks the tick's objects mid-tick (at scale that paused
    every button for 0.3 s); the collector runs again once the tick is over, even if it
    failed (#15)."""
    real, seen = scheduler.planned_at, []

    async def planned_noting_the_collector(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return await real(*args, **kwargs)

    monkeypatch.setattr(scheduler, "planned_at", planned_noting_the_collector)
    await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    assert seen and not any(seen) and gc.isenabled()

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(scheduler, "planned_at", failing)
    with pytest.raises(RuntimeError):
        await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    assert gc.isenabled()
