"""The tick: each person's one briefing of the day goes into the outbox, once, with catch-up,
quiet hours, digests, escalations, greetings, meetings and the person's own choices (#16)."""

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
from bot.services import briefings
from bot.services.admins import add_admin
from bot.services.obligations import add_record
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Meeting, Member, Org, OutboxMessage, TickState
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, acting, link, org_id, workbook_bytes

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


def briefings_of(found: list[OutboxMessage]) -> dict[int | None, OutboxMessage]:
    """The briefings queued, by chat: there is never more than one per chat and day."""
    mine = [r for r in found if r.kind == "briefing"]
    assert len({(r.chat_id, r.key.split("|")[-1]) for r in mine}) == len(mine)
    return {r.chat_id: r for r in mine}


async def choose(db: Database, tg: int, **chosen: Any) -> None:
    actor = await acting(db, tg)
    now = local("2026-03-01T12:00")
    await briefings.choose(db, actor, now=now, today=now.date(), **chosen)


async def test_one_briefing_at_half_past_eight_merges_the_days_reminders(
    db: Database, branch: None
) -> None:
    # 17 March 2026 is 10 workdays before 31 March: first-quarter and monthly reminders
    result = await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
    found = await rows(db)
    assert result.enqueued == len(found) > 0
    sent = briefings_of(found)
    assert set(sent) == {SECRETARY, ORGANIZER, ACTIVIST} and len(found) == 3
    secretary = sent[SECRETARY].text
    assert "今日简报" in secretary and "第一党支部" in secretary and "即将到期" in secretary
    assert "支部党员大会（2026年第一季度）0/1，最后工作日 3月31日（周二）" in secretary
    assert secretary.count("支部党员大会（2026年第一季度）") == 1  # reminder and digest: one line
    assert "思想汇报 · 赵积极" in secretary  # the managers hear of their activist's report
    # the activist hears of their own thought report only, with a 提交 button
    activist = sent[ACTIVIST]
    assert "思想汇报" in activist.text and "支部党员大会" not in activist.text
    labels = [b[0] for row in (activist.reply_markup or {})["buttons"] for b in row]
    assert labels == ["提交"]
    manager = [b[0] for row in (sent[SECRETARY].reply_markup or {})["buttons"] for b in row]
    assert "安排会议" in manager and "查看" in manager
    assert "提交" not in manager  # the activist's thought report is theirs to submit
    assert all(r.not_before == local("2026-03-17T08:30") for r in found)
    again = await run(db, local("2026-03-17T08:30"))
    assert again.enqueued == 0
    # 09:00, when the reminders used to go out one by one, brings nothing more
    nine = await run(db, local("2026-03-17T09:00"), since=local("2026-03-17T08:59"))
    assert nine.enqueued == 0 and len(await rows(db)) == len(found)


async def test_a_tick_cut_short_between_chunks_is_finished_by_the_next_once(
    db: Database, branch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The briefings are queued in chunks of short write transactions (#15); a tick that
    dies after the first leaves its minute unmarked, and the next queues the rest, none twice."""
    whole = await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
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
        await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
    assert len(await rows(db)) == 1  # the first chunk is in; the minute is not marked done
    async with db.read() as session:
        assert (await session.get_one(TickState, 1)).last_minute == local("2026-03-17T08:29")
    monkeypatch.setattr(scheduler, "enqueue", real)
    await run(db, local("2026-03-17T08:30"))
    assert sorted((r.key, r.chat_id) for r in await rows(db)) == expected
    async with db.read() as session:
        assert (await session.get_one(TickState, 1)).last_minute == local("2026-03-17T08:30")


async def test_the_tick_works_out_briefings_without_the_write_lock(
    db: Database, branch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the tick works out who is due (the long part at scale), a button press can
    write: the tick holds no write transaction then (#15)."""
    real, wrote = scheduler.briefings_in_parts, []

    async def worked_out_while_someone_writes(*args: Any, **kwargs: Any) -> Any:
        async for part in real(*args, **kwargs):
            async with asyncio.timeout(2):  # a tick holding the write lock would block this
                async with db.write() as session:
                    await session.merge(TickState(id=2, last_minute=local("2026-03-17T08:00")))
            wrote.append(True)
            yield part

    monkeypatch.setattr(scheduler, "briefings_in_parts", worked_out_while_someone_writes)
    result = await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
    assert wrote and result.enqueued > 0


async def test_a_done_occurrence_is_not_in_the_briefing(
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
    await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
    sent = briefings_of(await rows(db))
    assert sent and not [r for r in sent.values() if "支部党员大会" in r.text]


async def test_catch_up_after_three_days_sends_todays_briefing_once(
    db: Database, branch: None
) -> None:
    # down from Friday 20 March 18:00 until Tuesday 24 March 10:00: the briefing of 24 March
    # (due 08:30) goes out at 10:00, once per person; the days in between are not sent late
    await run(db, local("2026-03-20T18:00"), since=local("2026-03-17T08:00"))
    before = {r.key for r in await rows(db)}
    result = await run(db, local("2026-03-24T10:00"))
    fresh = [r for r in await rows(db) if r.key not in before]
    assert result.enqueued == len(fresh) > 0
    assert all(r.key.endswith("2026-03-24") and r.status == "pending" for r in fresh)
    assert len(briefings_of(fresh)) == len(fresh)
    assert all(r.not_before == local("2026-03-24T10:00") for r in fresh)
    assert "支部党员大会" in briefings_of(fresh)[SECRETARY].text


async def test_the_night_brings_nothing_and_the_morning_one_briefing(
    db: Database, branch: None
) -> None:
    # down for three days from 16 March 20:00 until 03:00 on 20 March: nothing is queued in
    # the night; at 08:30 the day's briefing, one per person
    night = await run(db, local("2026-03-20T03:00"), since=local("2026-03-16T20:00"))
    assert night.enqueued == 0 and not await rows(db)
    await run(db, local("2026-03-20T08:30"))
    sent = briefings_of(await rows(db))
    assert sent and all(r.not_before == local("2026-03-20T08:30") for r in sent.values())


async def test_a_briefing_caught_up_in_quiet_hours_is_stale_by_morning(
    db: Database, branch: None
) -> None:
    # back at 23:30 after a day down: the day's briefing would go out tomorrow at 08:00,
    # half an hour before tomorrow's own; it is recorded as skipped, not sent
    result = await run(db, local("2026-03-17T23:30"), since=local("2026-03-17T08:00"))
    found = await rows(db)
    assert found and result.skipped == len(found)
    assert all(r.status == "skipped" and "stale" in (r.last_error or "") for r in found)
    await run(db, local("2026-03-18T08:30"))
    assert briefings_of(await rows(db, "pending"))


async def test_digests_escalations_and_the_committee(db: Database, branch: None) -> None:
    # Monday 2 March 08:30: the managers' briefing names February's overdue items
    await run(db, local("2026-03-02T08:30"), since=local("2026-03-02T08:29"))
    sent = briefings_of(await rows(db))
    secretary = sent[SECRETARY].text
    assert "已逾期" in secretary and "主题党日（2026年2月）" in secretary
    # and the committee admin's Monday part lists the branch behind schedule
    assert "督办：1 个支部有逾期事项" in sent[ADMIN].text and "第一党支部" in sent[ADMIN].text
    # Tuesday 3 March: the managers hear again, the committee admin does not
    await run(db, local("2026-03-03T08:30"), since=local("2026-03-03T08:29"))
    tuesday = [r for r in await rows(db) if r.key.endswith("2026-03-03")]
    assert SECRETARY in briefings_of(tuesday) and ADMIN not in briefings_of(tuesday)
    # 4 March is the third workday after 28 Feb: the committee admin is told to oversee
    await run(db, local("2026-03-04T08:30"), since=local("2026-03-04T08:29"))
    wednesday = briefings_of([r for r in await rows(db) if r.key.endswith("2026-03-04")])
    assert "第一党支部" in wednesday[ADMIN].text and "主题党日" in wednesday[ADMIN].text


async def test_weekend_brings_no_digest(db: Database, branch: None) -> None:
    await run(db, local("2026-03-07T08:30"), since=local("2026-03-07T08:29"))
    assert not [r for r in await rows(db) if "已逾期" in r.text or "即将到期" in r.text]


async def test_political_birthday_greeting(db: Database, branch: None) -> None:
    await run(db, local("2026-07-01T08:30"), since=local("2026-07-01T08:29"))
    sent = briefings_of(await rows(db))
    # 王书记 joined on 1 July 2001, 李委员 on 1 July 2005; 张三 (2010) has no linked account
    assert "王书记同志：今天是您入党 25 周年" in sent[SECRETARY].text
    assert "李委员同志：今天是您入党 21 周年" in sent[ORGANIZER].text
    assert "今天政治生日" in sent[SECRETARY].text  # the managers hear of everyone's


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


async def test_tomorrows_meeting_in_the_briefing_and_an_hour_before(
    db: Database, branch: None
) -> None:
    from bot.services import meetings

    async with db.write() as session:
        meeting = await a_lecture(session)
        member = await session.scalar(select(Member.id).where(Member.member_code == "S002"))
        await meetings.take_leave(
            session, meeting, member, "出差", now=local("2026-03-16T11:00"), cal=CAL
        )
    await run(db, local("2026-03-18T08:30"), since=local("2026-03-18T08:29"))
    sent = briefings_of(await rows(db))
    # the secretary and the activist are linked and have not answered; the organizer is on leave
    told = sorted(k for k, r in sent.items() if "明天的会议" in r.text)
    assert told == [SECRETARY, ACTIVIST]
    assert "3月19日（周四） 15:00" in sent[ACTIVIST].text and "会议室" in sent[ACTIVIST].text
    # an hour before: an event of its own, to the same two
    await run(db, local("2026-03-19T14:00"), since=local("2026-03-19T13:59"))
    hour = [r for r in await rows(db) if r.kind == "meeting"]
    assert sorted(r.chat_id for r in hour) == [SECRETARY, ACTIVIST]
    assert "会议提醒" in hour[0].text


async def test_a_moved_meeting_is_in_the_briefing_of_its_new_eve(
    db: Database, branch: None
) -> None:
    from bot.services import meetings

    async with db.write() as session:
        meeting = await a_lecture(session)
    await run(db, local("2026-03-18T08:30"), since=local("2026-03-18T08:29"))
    assert len([r for r in await rows(db) if "明天的会议" in r.text]) == 3  # the three linked
    async with db.write() as session:
        stored = await session.get(Meeting, meeting.id)
        assert stored is not None
        await meetings.change(
            session, stored, now=local("2026-03-18T16:00"), starts_at=local("2026-03-26T15:00")
        )
    await run(db, local("2026-03-19T08:30"), since=local("2026-03-19T08:29"))
    assert not [r for r in await rows(db) if r.key.endswith("03-19") and "明天的会议" in r.text]
    await run(db, local("2026-03-25T08:30"), since=local("2026-03-25T08:29"))
    eve = [r for r in await rows(db) if r.key.endswith("03-25") and "明天的会议" in r.text]
    assert len(eve) == 3 and all("3月26日（周四） 15:00" in r.text for r in eve)


async def test_own_time_mute_weekly_and_only_when_due(db: Database, branch: None) -> None:
    """Each person's choices: their own time; muted (a manager still hears of what is
    overdue); weekly on Mondays with the week ahead; only when something is due soon."""
    await choose(db, SECRETARY, at="10:00")
    await choose(db, ORGANIZER, muted_until=date(2026, 3, 20))
    await choose(db, ACTIVIST, mode="weekly")
    await run(db, local("2026-03-16T08:30"), since=local("2026-03-16T08:29"))  # Monday
    monday = briefings_of(await rows(db))
    assert SECRETARY not in monday  # at ten
    # the activist's week ahead holds Tuesday's reminder of their thought report
    assert "思想汇报（2026年第一季度）0/1" in monday[ACTIVIST].text  # their own: no name
    # muted: only the overdue items of February (escalated this day? no: nothing)
    assert ORGANIZER not in monday or "即将到期" not in monday[ORGANIZER].text
    await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))  # Tuesday
    tuesday = briefings_of([r for r in await rows(db) if r.key.endswith("2026-03-17")])
    assert ACTIVIST not in tuesday and ORGANIZER not in tuesday and SECRETARY not in tuesday
    await run(db, local("2026-03-17T10:00"), since=local("2026-03-17T09:59"))
    ten = briefings_of([r for r in await rows(db) if r.key.endswith("2026-03-17")])
    assert ten[SECRETARY].not_before == local("2026-03-17T10:00")
    # only when due: on 17 March the activist's report is 10 workdays away: nothing
    await choose(db, ACTIVIST, mode="due_soon")
    await run(db, local("2026-03-18T08:30"), since=local("2026-03-18T08:29"))
    assert ACTIVIST not in briefings_of([r for r in await rows(db) if r.key.endswith("03-18")])
    # on 27 March it is 2 workdays away: the briefing comes
    await run(db, local("2026-03-27T08:30"), since=local("2026-03-27T08:29"))
    assert ACTIVIST in briefings_of([r for r in await rows(db) if r.key.endswith("03-27")])


async def test_a_muted_manager_still_hears_of_overdue_items(db: Database, branch: None) -> None:
    await choose(db, SECRETARY, muted_until=date(2026, 3, 31))
    await choose(db, ACTIVIST, muted_until=date(2026, 3, 31))
    # 2 March: the first workday after February's deadline: escalations
    await run(db, local("2026-03-02T08:30"), since=local("2026-03-02T08:29"))
    sent = briefings_of(await rows(db))
    assert "已逾期" in sent[SECRETARY].text and "主题党日（2026年2月）" in sent[SECRETARY].text
    assert ACTIVIST not in sent  # a member's mute is a mute
    # 17 March: reminders of what is due by 31 March; nothing overdue is escalated
    await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
    later = briefings_of([r for r in await rows(db) if r.key.endswith("2026-03-17")])
    assert SECRETARY not in later and ACTIVIST not in later
    assert "即将到期" in later[ORGANIZER].text  # not muted


async def test_the_collector_waits_while_the_tick_works_and_runs_after(
    db: Database, branch: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No full garbage collection walks the tick's objects mid-tick (at scale that paused
    every button for 0.3 s); the collector runs again once the tick is over, even if it
    failed (#15)."""
    real, seen = scheduler.briefings_in_parts, []

    async def noting_the_collector(*args: Any, **kwargs: Any) -> Any:
        async for part in real(*args, **kwargs):
            seen.append(gc.isenabled())
            yield part

    monkeypatch.setattr(scheduler, "briefings_in_parts", noting_the_collector)
    await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
    assert seen and not any(seen) and gc.isenabled()

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")
        yield  # an async generator, as the real one

    monkeypatch.setattr(scheduler, "briefings_in_parts", failing)
    with pytest.raises(RuntimeError):
        await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
    assert gc.isenabled()


async def test_the_briefing_tick_on_postgresql(pg_url: str, clock: FrozenClock) -> None:
    """The tick's queries hold on PostgreSQL too (a branch's own time is a JSON column)."""
    from bot.store.migrate import upgrade

    db = Database.from_url(pg_url)
    try:
        await upgrade(db.engine)
        orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
        await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
        await link(db, "S001", SECRETARY, clock.now())
        async with db.write() as session:
            branch = await session.scalar(select(Org).where(Org.code == "ZB"))
            assert branch is not None
            branch.reminder_rule = {"at": "10:00"}
        await run(db, local("2026-03-17T08:30"), since=local("2026-03-17T08:29"))
        assert not briefings_of(await rows(db))  # the branch chose 10:00
        await run(db, local("2026-03-17T10:00"), since=local("2026-03-17T09:59"))
        assert "支部党员大会" in briefings_of(await rows(db))[SECRETARY].text
    finally:
        await db.dispose()
