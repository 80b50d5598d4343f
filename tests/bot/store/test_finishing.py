"""Finishing: updates that finish close together are marked done in one transaction, and
whatever is still waiting is written at stop (issue #15)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.store import inbox
from bot.store.db import Database
from bot.store.models import InboxUpdate

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def batch_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window long enough that the checks made inside it come before it closes."""
    monkeypatch.setattr(inbox, "FINISH_EVERY", 0.4)


async def rows(db: Database) -> dict[int, tuple[bool, bool]]:
    """update id -> (handled, payload still kept)"""
    async with db.read() as session:
        found = await session.execute(
            select(InboxUpdate.update_id, InboxUpdate.handled_at, InboxUpdate.payload)
        )
        return {uid: (at is not None, payload is not None) for uid, at, payload in found}


async def stored_and_changed(db: Database) -> None:
    """Five updates in the inbox; 1–3 made their change (handled, payload kept)."""
    await inbox.keep(db, [{"update_id": i, "x": i} for i in range(1, 6)], now=NOW)
    for uid in (1, 2, 3):
        await db.unit(lambda s, uid=uid: inbox.mark_handled(s, uid, now=NOW, answered=False))


def counting_units(db: Database) -> list[int]:
    calls: list[int] = []
    unit = db.unit

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await unit(*args, **kwargs)

    db.unit = counted  # type: ignore[method-assign]
    return calls


async def test_updates_finished_together_are_marked_in_one_transaction(db: Database) -> None:
    await stored_and_changed(db)
    finishing = inbox.Finishing(db)
    units = counting_units(db)
    for uid in (1, 2, 3):  # finished while others were still being handled
        await finishing.finished(uid, marked=True, now=NOW, alone=False)
    for uid in (4, 5):  # changed nothing
        await finishing.finished(uid, marked=False, now=NOW, alone=False)
    assert await rows(db) == {1: (True, True), 2: (True, True), 3: (True, True),
                              4: (False, True), 5: (False, True)}  # fmt: skip
    await asyncio.sleep(inbox.FINISH_EVERY * 2)
    assert await rows(db) == {uid: (True, False) for uid in range(1, 6)}
    assert units == [1]
    await finishing.close()
    assert units == [1]  # nothing left to write


async def test_close_writes_what_is_still_waiting(db: Database) -> None:
    await stored_and_changed(db)
    finishing = inbox.Finishing(db)
    await finishing.finished(1, marked=True, now=NOW, alone=False)
    await finishing.finished(4, marked=False, now=NOW, alone=False)
    await finishing.close()  # at once, not after the wait
    assert (await rows(db))[1] == (True, False)
    assert (await rows(db))[4] == (True, False)
    assert (await rows(db))[2] == (True, True)  # not finished: still owed an answer


async def test_an_update_finishing_alone_is_marked_at_once_with_any_waiting(db: Database) -> None:
    await stored_and_changed(db)
    finishing = inbox.Finishing(db)
    units = counting_units(db)
    await finishing.finished(1, marked=True, now=NOW, alone=False)
    assert (await rows(db))[1] == (True, True)  # waits for others to join
    await finishing.finished(2, marked=True, now=NOW, alone=True)  # the burst is over
    assert (await rows(db))[1] == (True, False) and (await rows(db))[2] == (True, False)
    assert units == [1]
    await asyncio.sleep(inbox.FINISH_EVERY * 2)
    assert units == [1]  # the batch it would have joined had nothing left to write


async def test_an_answered_payload_is_sql_null_so_the_one_still_owed_is_found(
    db: Database,
) -> None:
    """Answered updates let their payload go as SQL NULL: the restart's look for updates owed
    an answer finds the one owed even behind more answered ones than it reads at a time."""
    await inbox.keep(db, [{"update_id": i} for i in range(1, 31)], now=NOW)
    await inbox.finish(db, 1, marked=False, now=NOW)  # changed nothing: handled and answered
    await db.unit(lambda s: inbox.mark_handled(s, 2, now=NOW, answered=False))
    await inbox.finish(db, 2, marked=True, now=NOW)  # its change, then its answer
    for uid in range(3, 30):
        await inbox.finish(db, uid, marked=False, now=NOW)
    await db.unit(lambda s: inbox.mark_handled(s, 30, now=NOW, answered=False))  # then a crash
    async with db.read() as session:
        raw = await session.execute(text("SELECT count(*) FROM update_inbox WHERE payload IS NULL"))
        assert raw.scalar() == 29
        assert [uid for uid, _ in await inbox.unanswered(session, limit=5)] == [30]
