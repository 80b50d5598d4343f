"""Conversation state kept in the database, so a bot restart does not lose a half-filed report.

One row per user, one conversation at a time: ``{"flow": name, "step": step or null,
"draft": {...}}`` where the draft is a dataclass stored field by field (``dump_draft``/``load_draft``;
dates as ISO strings). The handlers keep a live copy for the length of one update (see
``handlers/kit/flow.py``); it is loaded before the update is handled and written after it.
A use-case that consumes a draft takes the conversation out in its own transaction (``pop``),
so a draft is used once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.store.models import Conversation

CONVERSATIONS = cast(Table, Conversation.__table__)
# read at every update: built once
_STATE = select(CONVERSATIONS.c.state, CONVERSATIONS.c.updated_at).where(
    CONVERSATIONS.c.telegram_id == bindparam("tg")
)
_DROP = delete(CONVERSATIONS).where(CONVERSATIONS.c.telegram_id == bindparam("tg"))


def load(
    session: Session, telegram_id: int, *, now: datetime, idle: timedelta
) -> tuple[dict[str, Any], bool]:
    """(state, expired): the user's state, or an empty one; an idle state is dropped."""
    conn = session.connection()
    row = conn.execute(_STATE, {"tg": telegram_id}).first()
    if row is None:
        return {}, False
    if now - row.updated_at > idle:
        conn.execute(_DROP, {"tg": telegram_id})
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


async def pop(session: AsyncSession, telegram_id: int, flow: str) -> dict[str, Any] | None:
    """End the user's conversation if it is ``flow``, inside the caller's transaction, and
    return its stored draft: the change that uses a draft and the end of the conversation
    commit together, so a draft is used once. None when that conversation is not going on."""
    row = await session.get(Conversation, telegram_id)
    if row is None or row.state.get("flow") != flow:
        return None
    draft = row.state.get("draft")
    await session.delete(row)
    return dict(draft) if isinstance(draft, dict) else {}


# ---------------------------------------------------------------- drafts as JSON

Draft = TypeVar("Draft")


def dump_draft(draft: Any) -> dict[str, Any]:
    """A dataclass draft as JSON: its fields, dates and moments as ISO strings."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(draft):
        value = getattr(draft, f.name)
        out[f.name] = value.isoformat() if isinstance(value, date) else value
    return out


def _allows(hint: Any, kind: type) -> bool:
    if hint is kind:
        return True
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    return union and kind in typing.get_args(hint)


def load_draft(cls: type[Draft], data: object) -> Draft | None:
    """The draft ``dump_draft`` stored, or None when it no longer fits the class (a field renamed
    or retyped by an upgrade): the conversation is then dropped, never half-read."""
    if not isinstance(data, dict):
        return None
    hints = typing.get_type_hints(cls)
    given: dict[str, Any] = {}
    try:
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                continue
            value = data[f.name]
            if isinstance(value, str) and _allows(hints[f.name], datetime):
                value = datetime.fromisoformat(value)
            elif isinstance(value, str) and _allows(hints[f.name], date):
                value = date.fromisoformat(value)
            given[f.name] = value
        return cls(**given)
    except (TypeError, ValueError):
        return None
