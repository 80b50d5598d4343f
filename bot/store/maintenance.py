"""Housekeeping: tables that would otherwise only grow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import changes, inbox
from bot.store.models import Conversation


@dataclass(frozen=True)
class Pruned:
    update_ids: int
    conversations: int
    changes: int = 0


async def prune(session: AsyncSession, *, now: datetime, idle: timedelta) -> Pruned:
    """Forget update ids old enough never to come back, conversations long idle, and the
    change log but its latest rows."""
    updates = await inbox.prune(session, now=now)
    talks = await session.execute(delete(Conversation).where(Conversation.updated_at < now - idle))
    logged = await changes.prune(session)
    return Pruned(updates, int(getattr(talks, "rowcount", 0) or 0), logged)
