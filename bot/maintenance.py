"""Housekeeping: tables that would otherwise only grow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Conversation, ProcessedUpdate

# Telegram redelivers an unconfirmed update for at most a day; a week is plenty.
KEEP_UPDATE_IDS = timedelta(days=7)


@dataclass(frozen=True)
class Pruned:
    update_ids: int
    conversations: int


async def prune(session: AsyncSession, *, now: datetime, idle: timedelta) -> Pruned:
    """Forget update ids old enough never to come back, and conversations long idle."""
    updates = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - KEEP_UPDATE_IDS)
    )
    talks = await session.execute(delete(Conversation).where(Conversation.updated_at < now - idle))
    return Pruned(
        int(getattr(updates, "rowcount", 0) or 0), int(getattr(talks, "rowcount", 0) or 0)
    )
