"""Housekeeping removes only what can no longer matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.db import Database
from bot.store.maintenance import prune
from bot.store.models import Conversation, InboxUpdate

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


async def test_prune_keeps_recent_and_unhandled_update_ids_and_live_conversations(
    db: Database,
) -> None:
    async with db.write() as session:
        session.add_all(
            [
                InboxUpdate(
                    update_id=1,
                    received_at=NOW - timedelta(days=8),
                    handled_at=NOW - timedelta(days=8),
                ),
                InboxUpdate(
                    update_id=2,
                    received_at=NOW - timedelta(days=6),
                    handled_at=NOW - timedelta(days=6),
                ),
                # never handled (the process died first): kept, however old, until handled
                InboxUpdate(
                    update_id=3, received_at=NOW - timedelta(days=9), payload={"update_id": 3}
                ),
                Conversation(
                    telegram_id=10, state={"report": {}}, updated_at=NOW - timedelta(hours=1)
                ),
                Conversation(
                    telegram_id=11, state={"report": {}}, updated_at=NOW - timedelta(minutes=5)
                ),
            ]
        )
    async with db.write() as session:
        pruned = await prune(session, now=NOW, idle=timedelta(minutes=15))
    assert (pruned.update_ids, pruned.conversations) == (1, 1)
    async with db.read() as session:
        assert list((await session.execute(select(InboxUpdate.update_id))).scalars()) == [2, 3]
        assert list((await session.execute(select(Conversation.telegram_id))).scalars()) == [11]
