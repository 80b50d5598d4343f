"""Briefings worked out before their moment (#15): at the moment, the orgs whose data changed
meanwhile are worked out again, and what goes into the outbox is what working the whole
moment out then would have put there."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from bot.delivery import briefing, scheduler
from bot.delivery.scheduler import Ahead, TickResult, tick
from bot.rules.catalogue import DEFAULT_POLICY
from bot.services import briefings
from bot.services.access import set_language
from bot.services.admins import add_admin
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Member, Org, OutboxMessage, Record, RecordObligation, TickState
from tests.bot.delivery.test_briefing_month import (
    BOOTSTRAP,
    IMPORTED,
    SH,
    world_of_many_roles,
)
from tests.bot.ops.test_cli import zhibu
from tests.helpers import acting, link

DAY = date(2026, 12, 7)  # a Monday: the committee's list of branches behind goes out too
MOMENT = datetime.combine(DAY, DEFAULT_POLICY.digest_at, tzinfo=SH)
BEFORE = MOMENT - timedelta(minutes=5)
# a 副书记 newly linked, secretaries who switch to English, leave, choose "only when due"
NEW_MEMBER, ENGLISH, LEFT, QUIETER = 7301, 7106, 7109, 7107


async def run(db: Database, at: datetime, ahead: Ahead | None = None) -> TickResult:
    return await tick(
        db,
        now=at,
        policy=DEFAULT_POLICY,
        bootstrap_ids=BOOTSTRAP,
        default_lang="zh",
        ahead=ahead,
    )


async def outbox(db: Database) -> list[tuple[object, ...]]:
    async with db.read() as session:
        rows = await session.execute(
            select(
                OutboxMessage.key,
                OutboxMessage.chat_id,
                OutboxMessage.text,
                OutboxMessage.reply_markup,
                OutboxMessage.not_before,
                OutboxMessage.status,
            ).order_by(OutboxMessage.key)
        )
        return [tuple(r) for r in rows]


async def copy(db: Database, tmp_path: Path, name: str) -> Database:
    """The same data in another file (the database as it stands, closed and copied)."""
    await db.dispose()
    source = Path(str(db.engine.url.database))
    target = tmp_path / name
    shutil.copyfile(source, target)
    return Database.from_url(f"sqlite+aiosqlite:///{target}")


async def prepared(db: Database, monkeypatch: pytest.MonkeyPatch) -> Ahead:
    """The roster of many roles, the tick having run up to five minutes before the moment."""
    monkeypatch.setattr(briefing, "PART_ORGS", 3)  # parts cut through the committees
    monkeypatch.setattr(scheduler, "RELEASE_CHUNK", 2)  # released a few at a time
    await world_of_many_roles(db)
    async with db.write() as session:
        session.add(TickState(id=1, last_minute=BEFORE - timedelta(minutes=1)))
    ahead = Ahead()
    assert (await run(db, BEFORE, ahead)).enqueued == 0
    assert ahead.minute == MOMENT and DAY in ahead.days
    for minute in range(1, 5):  # the minutes between hold them: nothing goes out early
        assert (await run(db, BEFORE + timedelta(minutes=minute), ahead)).enqueued == 0
    statuses = {status for *_, status in await outbox(db)}
    assert statuses == {"held"}, statuses
    return ahead


async def test_what_changed_after_the_briefings_were_worked_out_is_in_them(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between working out and the moment: a member links, another switches to English,
    another leaves the roster, another chooses "only when due", a branch files the record
    of something overdue. The briefings queued at the moment are the ones a whole pass then
    makes (those of admins over many branches too), and only the changed branches were
    worked out again."""
    await changed_meanwhile_and_queued_as_a_whole_pass_would(db, monkeypatch)


async def test_on_postgresql_what_changed_is_in_them_too(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database.from_url(pg_url)
    try:
        await upgrade(db.engine)
        await changed_meanwhile_and_queued_as_a_whole_pass_would(db, monkeypatch)
    finally:
        await db.dispose()


async def changed_meanwhile_and_queued_as_a_whole_pass_would(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ahead = await prepared(db, monkeypatch)
    before = {chat: text for _, chat, text, _, _, status in await outbox(db) if status == "held"}
    late = ahead.days[DAY].kept.behind
    branch_8 = await org_of(db, "ZB08")
    occ, _ = next((o, ob) for o, ob in late[branch_8] if o.member is None)

    await link(db, "M0501", NEW_MEMBER, IMPORTED)
    async with db.write() as session:
        await set_language(session, ENGLISH, "en", now=BEFORE)
        await session.execute(
            update(Member).where(Member.member_code == "M0900").values(active=False)
        )
        record = Record(
            org_id=branch_8, kind=occ.obligation, held_on=occ.start, filed_at=BEFORE, summary="补"
        )
        session.add(record)
        await session.flush()
        session.add(RecordObligation(record_id=record.id, code=occ.obligation))
    await briefings.choose(
        db, await acting(db, QUIETER), now=BEFORE, today=DAY, mode="due_soon", at=None
    )

    result = await run(db, MOMENT, ahead)
    got = await outbox(db)
    assert ahead.used == 1
    branches = {b: await org_of(db, f"ZB{b:02d}") for b in range(1, 11)}
    changed = {branches[b] for b in (5, 6, 7, 8, 9)}
    assert ahead.redone_orgs & set(branches.values()) == changed  # (with their 党小组)
    said = {chat: text for _, chat, text, _, _, _ in got}
    assert NEW_MEMBER in said and NEW_MEMBER not in before
    assert said[ENGLISH] != before[ENGLISH] and "Today's briefing" in said[ENGLISH]
    assert LEFT in before and LEFT not in said
    assert said[7108] != before[7108]  # 第8党支部's secretary: one thing fewer overdue
    assert "held" not in {status for *_, status in got}

    async with db.write() as session:  # the same minute again, worked out whole
        await session.execute(delete(OutboxMessage))
        await session.execute(update(TickState).values(last_minute=MOMENT - timedelta(minutes=1)))
    await run(db, MOMENT)
    assert got == await outbox(db) and result.enqueued == len(got) > 10


async def test_a_change_that_may_concern_anyone_works_the_moment_out_whole(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new admin (the org tree, holidays, admins: anyone's briefing may change): nothing
    worked out ahead is used, and the moment's briefings are as a whole pass makes them."""
    ahead = await prepared(db, monkeypatch)
    await add_admin(db, "DW3", 7110, None, now=BEFORE)
    whole = await copy(db, tmp_path, "whole.db")
    try:
        await run(whole, MOMENT)
        expected = await outbox(whole)
    finally:
        await whole.dispose()
    await run(db, MOMENT, ahead)
    assert ahead.used == 0 and ahead.minute is None
    assert await outbox(db) == expected  # (the held rows dropped: none is left)


async def test_a_moment_missed_is_worked_out_whole_and_nothing_kept_goes_out_late(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot was restarted before the moment, or was down over it: the tick works the
    moment out itself, and the briefings held for it are dropped, not sent twice."""
    ahead = await prepared(db, monkeypatch)
    held = await outbox(db)
    result = await run(db, MOMENT + timedelta(minutes=3), Ahead())  # a new process
    got = await outbox(db)
    assert ahead.used == 0 and result.enqueued == len(got) > len(held) > 5  # and the admins'
    assert {status for *_, status in got} == {"pending"}
    assert {(key, text) for key, _, text, *_ in held} <= {(key, text) for key, _, text, *_ in got}


async def test_briefings_held_by_a_preparation_overtaken_are_replaced_not_left_held(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that had worked the moment out (a leader replaced meanwhile) leaves held
    rows behind after the new one dropped what was held: the moment worked out whole takes
    their keys over, and nothing stays held, unsent."""
    await prepared(db, monkeypatch)
    held = {key for key, *_, status in await outbox(db) if status == "held"}

    async def too_early(*args: object) -> None:  # the held rows came after the drop
        return None

    monkeypatch.setattr(scheduler, "_drop_held", too_early)
    result = await run(db, MOMENT, Ahead())
    got = await outbox(db)
    assert {status for *_, status in got} == {"pending"}
    assert held <= {key for key, *_ in got} and result.enqueued == len(got)


async def test_the_operator_sees_the_briefings_held_for_their_moment(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``zhibu outbox`` between working out and the moment says how many wait for it."""
    await prepared(db, monkeypatch)
    held = len(await outbox(db))
    url = str(db.engine.url).replace("+aiosqlite", "")
    await db.dispose()
    shown = zhibu("outbox", env={"ZHIBU_DATABASE_URL": url}, cwd=Path(url.split("///")[1]).parent)
    assert shown.returncode == 0, shown.stderr
    assert f"提前备好待到点 {held}" in shown.stdout and "待发送 0" in shown.stdout


async def test_working_out_ahead_failing_holds_back_nothing_of_the_minute(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error while working the next moment out is the tick's error (logged by its job),
    but the minute is done first: its meetings' and /ask news are not held back by it, and
    the next minute tries again."""
    await world_of_many_roles(db)
    async with db.write() as session:
        session.add(TickState(id=1, last_minute=BEFORE - timedelta(minutes=1)))

    async def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(scheduler, "_prepare", broken)
    with pytest.raises(RuntimeError):
        await run(db, BEFORE, Ahead())
    async with db.read() as session:
        state = await session.get_one(TickState, 1)
    assert state.last_minute == BEFORE
    monkeypatch.undo()
    ahead = Ahead()
    await run(db, BEFORE + timedelta(minutes=1), ahead)
    assert ahead.minute == MOMENT  # worked out at the next minute


async def org_of(db: Database, code: str) -> int:
    async with db.read() as session:
        return int((await session.execute(select(Org.id).where(Org.code == code))).scalar_one())
