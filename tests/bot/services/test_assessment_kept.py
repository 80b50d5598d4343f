"""Scores kept between assessments (#15): an assessment works out again only the branches
whose data changed since the last one (the ``org_changes`` log) and those an open obligation
or a collection fell due for in between; what it answers is always what working everything
out answers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from bot.services import kept, progress
from bot.services.assessment import Result, assess
from bot.services.obligations import add_record
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import (
    Attendance,
    Collection,
    CollectionTarget,
    Meeting,
    Member,
    ObligationSetting,
    Org,
)
from tests.bot.services.test_assessment import NOW, SH, seed


async def kept_and_fresh(
    db: Database, worked: list[list[str]], now: datetime = NOW, quarter: int | None = None
) -> tuple[list[Result], list[str]]:
    """The kept assessment, checked against one working everything out; and what it worked
    out."""
    before = len(worked)
    async with db.read() as session:
        kept = await assess(session, year=2026, quarter=quarter, now=now)
    done = sorted(code for part in worked[before:] for code in part)
    async with db.read() as session:
        fresh = await assess(session, year=2026, quarter=quarter, now=now, keep=False)
    assert kept == fresh
    return kept, done


def scores(results: list[Result]) -> dict[str, float | None]:
    return {r.org: r.score for r in results}


async def org_id(db: Database, code: str) -> int:
    async with db.read() as session:
        found = await session.scalar(select(Org.id).where(Org.code == code))
    assert found is not None
    return found


ALL = [f"ZB{i:02d}" for i in range(1, 11)]


async def test_only_the_branches_changed_are_worked_out_again(
    db: Database, worked: list[list[str]]
) -> None:
    await seed(db)
    first, done = await kept_and_fresh(db, worked)
    assert done == ALL
    again, done = await kept_and_fresh(db, worked)
    assert done == [] and again == first  # nothing changed: only ranked again

    zb08 = await org_id(db, "ZB08")
    async with db.write() as session:  # a 主题党日 in December: ZB08's score goes up
        await add_record(session, org_id=zb08, kind="theme_day", held_on=date(2026, 12, 15),
                         codes=["theme_day"], filed_at=datetime(2026, 12, 15, 10, tzinfo=SH))  # fmt: skip
    after, done = await kept_and_fresh(db, worked)
    assert done == ["ZB08"]
    assert scores(after)["ZB08"] > scores(first)["ZB08"]  # type: ignore[operator]

    zb06 = await org_id(db, "ZB06")
    async with db.write() as session:  # one who was absent is marked present
        meeting = await session.scalar(
            select(Meeting.id).where(Meeting.org_id == zb06).order_by(Meeting.starts_at)
        )
        absent = await session.scalar(
            select(Member.id)
            .where(Member.org_id == zb06)
            .where(~Member.id.in_(select(Attendance.member_id).where(Attendance.meeting_id == meeting)))
        )  # fmt: skip
        assert meeting is not None and absent is not None
        session.add(Attendance(meeting_id=meeting, member_id=absent, status="present",
                               via="button", at=datetime(2026, 2, 10, 10, tzinfo=SH)))  # fmt: skip
    before = scores(after)["ZB06"]
    after, done = await kept_and_fresh(db, worked)
    assert done == ["ZB06"] and scores(after)["ZB06"] != before

    zb10 = await org_id(db, "ZB10")
    async with db.write() as session:  # an obligation switched back on
        await session.execute(
            delete(ObligationSetting).where(
                ObligationSetting.org_id == zb10, ObligationSetting.code == "org_life_meeting"
            )
        )
    before = scores(after)["ZB10"]
    after, done = await kept_and_fresh(db, worked)
    assert done == ["ZB10"] and scores(after)["ZB10"] != before

    zb07 = await org_id(db, "ZB07")
    async with db.write() as session:  # a member leaves: fewer were expected at its meetings
        gone = await session.scalar(select(Member.id).where(Member.org_id == zb07).limit(1))
        await session.execute(update(Member).where(Member.id == gone).values(active=False))
    _, done = await kept_and_fresh(db, worked)
    assert done == ["ZB07"]

    async with db.write() as session:  # a 党小组 under ZB03: the org tree changed
        session.add(Org(code="ZB03-1", name="第一党小组", kind="group", parent_id=(
            await org_id(db, "ZB03")), timezone="Asia/Shanghai", created_at=NOW,
            updated_at=NOW))  # fmt: skip
    _, done = await kept_and_fresh(db, worked)
    assert done == ALL
    group = await org_id(db, "ZB03-1")
    async with db.write() as session:  # the 党小组's record counts to its branch
        await add_record(session, org_id=group, kind="theme_day", held_on=date(2026, 11, 20),
                         codes=["theme_day"], filed_at=datetime(2026, 11, 20, 10, tzinfo=SH))  # fmt: skip
    _, done = await kept_and_fresh(db, worked)
    assert done == ["ZB03"]


async def test_a_write_sessions_own_changes_are_never_kept(
    db: Database, worked: list[list[str]]
) -> None:
    await seed(db)
    first, _ = await kept_and_fresh(db, worked)
    zb09 = await org_id(db, "ZB09")
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            for month in (10, 11, 12):
                await add_record(session, org_id=zb09, kind="general_meeting_record",
                                 held_on=date(2026, month, 10), codes=["general_meeting"],
                                 filed_at=datetime(2026, month, 10, 10, tzinfo=SH))  # fmt: skip
            seen = await assess(session, year=2026, now=NOW)
            assert scores(seen)["ZB09"] != scores(first)["ZB09"]
            raise RuntimeError("rolled back")
    again, done = await kept_and_fresh(db, worked)
    assert again == first and done == []


async def test_what_falls_due_meanwhile_is_worked_out_again(
    db: Database, worked: list[list[str]]
) -> None:
    await seed(db)
    zb05 = await org_id(db, "ZB05")
    async with db.write() as session:  # a collection closing on 25 December at 18:00
        people = list(
            (await session.execute(select(Member.id).where(Member.org_id == zb05))).scalars()
        )
        c = Collection(org_id=zb05, kind="study_note", prompt="学习体会", audience="all",
                       deadline=datetime(2026, 12, 25, 18, tzinfo=SH), created_by=1,
                       created_at=datetime(2026, 12, 1, tzinfo=SH))  # fmt: skip
        session.add(c)
        await session.flush()
        for member_id in people:
            session.add(CollectionTarget(collection_id=c.id, member_id=member_id))
    december = datetime(2026, 12, 20, 12, tzinfo=SH)
    first, done = await kept_and_fresh(db, worked, december)
    assert done == ALL
    evening = datetime(2026, 12, 25, 17, 59, tzinfo=SH)
    _, done = await kept_and_fresh(db, worked, evening)
    assert done == []  # nothing fell due yet
    closed, done = await kept_and_fresh(db, worked, evening + timedelta(minutes=2))
    assert done == ["ZB05"]  # its collection counts now: nobody answered in time
    assert scores(closed)["ZB05"] < scores(first)["ZB05"]  # type: ignore[operator]
    new_year, done = await kept_and_fresh(db, worked, datetime(2027, 1, 1, 0, 1, tzinfo=SH))
    # December's 主题党日 and the fourth quarter's general meeting fell due: those who had
    # not held them are judged again, those who had are not
    assert "ZB08" in done and "ZB01" not in done and "ZB02" not in done
    assert scores(new_year)["ZB08"] < scores(closed)["ZB08"]  # type: ignore[operator]
    _, done = await kept_and_fresh(db, worked, december)  # back in time: nothing kept holds
    assert done == ALL
    _, done = await kept_and_fresh(db, worked, december, quarter=4)  # another period
    assert done == ALL
    _, done = await kept_and_fresh(db, worked, december)  # the year's are still kept
    assert done == []


async def test_kept_scores_follow_changes_on_postgresql(
    pg_url: str, worked: list[list[str]]
) -> None:
    db = Database.from_url(pg_url)
    try:
        await upgrade(db.engine)
        await seed(db)
        first, done = await kept_and_fresh(db, worked)
        assert done == ALL
        zb08 = await org_id(db, "ZB08")
        async with db.write() as session:
            await add_record(session, org_id=zb08, kind="theme_day", held_on=date(2026, 12, 15),
                             codes=["theme_day"], filed_at=datetime(2026, 12, 15, 10, tzinfo=SH))  # fmt: skip
        after, done = await kept_and_fresh(db, worked)
        assert done == ["ZB08"] and scores(after)["ZB08"] != scores(first)["ZB08"]
        _, done = await kept_and_fresh(db, worked)
        assert done == []
    finally:
        await db.dispose()


async def test_a_change_committing_late_on_postgresql_is_not_missed(
    pg_url: str, worked: list[list[str]]
) -> None:
    """On PostgreSQL a change can commit after a later-numbered one: an assessment starting
    in between waits for it (else the log's mark would pass it by, and its branch's score
    would stay as it was, unseen)."""
    db = Database.from_url(pg_url)
    try:
        await upgrade(db.engine)
        await seed(db)
        await kept_and_fresh(db, worked)
        zb08, zb07 = await org_id(db, "ZB08"), await org_id(db, "ZB07")
        day = datetime(2026, 12, 15, 10, tzinfo=SH)
        async with db.write() as slow:  # logged first, committed last
            await add_record(slow, org_id=zb08, kind="theme_day", held_on=day.date(),
                             codes=["theme_day"], filed_at=day)  # fmt: skip
            await slow.flush()
            async with db.write() as quick:
                await add_record(quick, org_id=zb07, kind="theme_day", held_on=day.date(),
                                 codes=["theme_day"], filed_at=day)  # fmt: skip

            async def assessed() -> list[Result]:
                async with db.read() as session:
                    return await assess(session, year=2026, now=NOW)

            meanwhile = asyncio.create_task(assessed())
            await asyncio.sleep(0.3)
            assert not meanwhile.done()  # it waits for the slow writer
        await meanwhile
        _, done = await kept_and_fresh(db, worked)  # the same as working everything out
        assert done == []
    finally:
        await db.dispose()


async def test_overview_rows_are_kept_alike(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """/overview's rows are kept as the scores are: what it shows is what working all out
    shows, after a change and as days pass; only the rows changed are worked out again."""
    await seed(db)
    loaded: list[list[str]] = []
    original = progress.load_facts

    async def counted(session: Any, orgs: Sequence[Any], *args: Any, **kw: Any) -> Any:
        loaded.append(sorted(o.code for o in orgs))
        return await original(session, orgs, *args, **kw)

    monkeypatch.setattr(progress, "load_facts", counted)

    async def both(now: datetime) -> tuple[progress.Overview, list[str]]:
        async with db.read() as session:
            kept = await progress.overview(session, None, now=now)
        done = sorted(code for part in loaded for code in part)
        loaded.clear()
        async with db.read() as session:
            fresh = await progress.overview(session, None, now=now, keep=False)
        loaded.clear()
        assert kept == fresh
        return kept, done

    november = datetime(2026, 11, 24, 10, tzinfo=SH)
    first, done = await both(november)
    assert done == ALL and len(first.rows) == 10
    _, done = await both(november + timedelta(hours=1))
    assert done == []
    zb08 = await org_id(db, "ZB08")
    async with db.write() as session:
        await add_record(session, org_id=zb08, kind="theme_day", held_on=date(2026, 11, 20),
                         codes=["theme_day"], filed_at=november)  # fmt: skip
    changed, done = await both(november + timedelta(hours=2))
    assert done == ["ZB08"] and changed != first
    # 1 December: November's 主题党日 is overdue where not held, December's is shown
    december, done = await both(datetime(2026, 12, 1, 0, 1, tzinfo=SH))
    assert done == ALL and december != changed


async def test_worked_out_in_parts_the_same(
    db: Database, worked: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Branches are worked out a part at a time (their facts in memory at once): in parts
    of 3 the scores and the overview are those of one pass."""
    await seed(db)
    monkeypatch.setattr(kept, "PART", 3)
    async with db.read() as session:
        parted = await assess(session, year=2026, now=NOW)
        shown = await progress.overview(session, None, now=NOW)
    assert [len(w) for w in worked] == [3, 3, 3, 1] * 3  # the year; the quarter twice
    async with db.read() as session:
        assert parted == await assess(session, year=2026, now=NOW, keep=False)
        assert shown == await progress.overview(session, None, now=NOW, keep=False)
