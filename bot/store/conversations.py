"""Conversation state kept in the database, so a bot restart does not lose a half-filed report.

One row per user: a JSON object with the step waiting for typed input and the drafts of the
multi-step commands (/meet, /report, /ask). The handlers keep a copy in ``user_data`` for the
length of one update; it is loaded before the update is handled and written after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Conversation


async def load(
    session: AsyncSession, telegram_id: int, *, now: datetime, idle: timedelta
) -> tuple[dict[str, Any], bool]:
    """(state, expired): the user's state, or an empty one; an idle state is dropped."""
    row = await session.get(Conversation, telegram_id)
    if row is None:
        return {}, False
    if now - row.updated_at > idle:
        await session.delete(row)
        return {}, True
    return dict(row.state), False


async def save(
    session: AsyncSession, telegram_id: int, state: dict[str, Any], *, now: datetime
) -> None:
    """Store the state (an empty one removes the row)."""
    if not state:
        await clear(session, telegram_id)
        return
    row = await session.get(Conversation, telegram_id)
    if row is None:
        session.add(Conversation(telegram_id=telegram_id, state=state, updated_at=now))
    else:
        row.state = state
        row.updated_at = now


async def clear(session: AsyncSession, telegram_id: int) -> None:
    await session.execute(delete(Conversation).where(Conversation.telegram_id == telegram_id))


async def pop(session: AsyncSession, telegram_id: int, key: str) -> Any:
    """Take one draft out of the stored state, inside the caller's transaction: the save that
    uses a draft and the removal of the draft commit together, so a draft is used once."""
    row = await session.get(Conversation, telegram_id)
    if row is None or key not in row.state:
        return None
    state = dict(row.state)
    value = state.pop(key)
    if state:
        row.state = state
    else:
        await session.delete(row)
    return value
