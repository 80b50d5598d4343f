"""Which orgs' data changed since a mark (the ``org_changes`` log its triggers write).

The tick prepares a moment's briefings minutes before it, noting the log's ``mark``; at the
moment it asks ``since(mark)`` which orgs changed meanwhile and works out only those again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.store.db import Database
from bot.store.models import OrgChange, OrgKind

KEEP = 200_000  # log rows kept by housekeeping (hours of writes; a mark lives minutes)


@dataclass(frozen=True)
class Changed:
    """The orgs changed since a mark; ``everyone``: something that may concern anyone
    changed (or the log no longer reaches back to the mark): work everything out again."""

    orgs: frozenset[int]
    everyone: bool


async def mark(db: Database) -> int:
    """The log's latest id: changes after it are news to whoever noted it. Read in its own
    transaction, before what it marks is read. On PostgreSQL a transaction could commit its
    log row after a later-numbered one is read: the table is locked against writers for the
    read (which waits for those writing it to finish), so every row up to the mark is in."""
    async with db.write() as session:
        if not db.is_sqlite:
            await session.execute(text("LOCK TABLE org_changes IN SHARE MODE"))
        return await _last(session)


async def noted(session: AsyncSession) -> int:
    """``mark`` for a reader holding only a session: the log's latest id, such that whatever
    this session reads next shows every change up to it. On SQLite it is read in the
    session's own snapshot; on PostgreSQL (each statement sees what committed before it) on
    a connection of its own, under the same short lock as ``mark``."""
    bind = session.bind
    if not isinstance(bind, AsyncEngine) or bind.dialect.name == "sqlite":
        return await _last(session)
    async with bind.begin() as conn:
        await conn.execute(text("LOCK TABLE org_changes IN SHARE MODE"))
        return int((await conn.execute(select(func.max(OrgChange.id)))).scalar() or 0)


async def _last(session: AsyncSession) -> int:
    return int((await session.execute(select(func.max(OrgChange.id)))).scalar() or 0)


async def since(session: AsyncSession, noted: int) -> Changed:
    """The orgs changed after ``noted``."""
    first = (await session.execute(select(func.min(OrgChange.id)))).scalar()
    if first is not None and first > noted + 1:  # pruned past the mark: not knowable
        return Changed(frozenset(), everyone=True)
    rows = await session.execute(select(OrgChange.org_id).where(OrgChange.id > noted).distinct())
    found = set(rows.scalars())
    return Changed(frozenset(o for o in found if o is not None), everyone=None in found)


class Node(Protocol):
    @property
    def parent_id(self) -> int | None: ...
    @property
    def kind(self) -> str: ...


def reached(
    changed: Iterable[int], orgs: Mapping[int, Node], subtree: Callable[[int], set[int]]
) -> set[int]:
    """The orgs whose working-out a change to these orgs may alter: each changed org's
    branch (a 党小组's records and meetings count to it) with everything below it."""
    found: set[int] = set()
    for org_id in changed:
        org = orgs.get(org_id)
        if org is None:
            continue
        top = org.parent_id if org.kind == OrgKind.GROUP.value and org.parent_id else org_id
        found |= subtree(top)
    return found


async def prune(session: AsyncSession, keep: int = KEEP) -> int:
    """Forget all but the latest ``keep`` log rows."""
    last = await _last(session)
    done = await session.execute(delete(OrgChange).where(OrgChange.id <= last - keep))
    return int(getattr(done, "rowcount", 0) or 0)
