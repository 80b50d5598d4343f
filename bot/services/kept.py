"""What is worked out per branch for a period (a score, an overview row), kept between
requests and worked out again only where the change log (``org_changes``) or time says so.

Each kept value comes with the moment it changes by time alone (an open obligation falling
due, a collection closing; None: never). A request works out again the branches changed
since the one before, those whose moment came, and those not kept yet; the rest it takes as
they are. Kept per database for its read sessions (a write session may read its own
uncommitted changes, which others may never see); several processes each keep their own,
all told of changes by the same log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import Pool

from bot.rules.tree import children_of, subtree
from bot.services.obligations import OrgInfo
from bot.store import changes
from bot.store.db import reading_only


def below(tree: Sequence[OrgInfo], roots: list[int] | None) -> set[int]:
    """The ids of these orgs' subtrees (of every org when ``roots`` is None)."""
    known = {o.id for o in tree}
    if roots is None:
        return known
    return subtree(children_of(tree), [r for r in roots if r in known])


T = TypeVar("T")
# branches worked out together, by id: their facts are in memory at once (10,000 branches at
# once peaked at 360 MB, in parts of 2,500 at 190 MB), and each part's queries read one range
# of ids (``among``)
PART = 2500


def _id(org: OrgInfo) -> int:
    return org.id


@dataclass
class _Entry(Generic[T]):
    value: T
    until: datetime | None  # the moment it changes by time alone


@dataclass
class _Period(Generic[T]):
    noted: int  # the change log's mark its values are current to
    at: datetime  # the latest moment they were asked for
    entries: dict[int, _Entry[T]] = field(default_factory=dict)  # by branch id


class Kept(Generic[T]):
    """One kind of per-branch value, for the periods lately asked for."""

    PERIODS = 6  # a year and its quarters, and one more

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # one request at a time works the kept values out
        self.periods: dict[Hashable, _Period[T]] = {}

    async def values(
        self,
        session: AsyncSession,
        period: Hashable,
        tree: Sequence[OrgInfo],
        branches: Sequence[OrgInfo],
        *,
        now: datetime,
        work: Callable[[list[OrgInfo]], Awaitable[list[tuple[T, datetime | None]]]],
    ) -> list[T]:
        """The value of each branch, worked out by ``work`` (for the branches given, each
        with its moment) where not kept."""
        async with self.lock:
            noted = await changes.noted(session)  # before what it marks is read
            kept = self.periods.pop(period, None)
            if kept is None or now < kept.at:  # a moment before the last: nothing kept holds
                kept = _Period(noted, now)
            else:
                await _forget_changed(session, kept, tree, now)
            self.periods[period] = kept  # the latest asked for last
            while len(self.periods) > self.PERIODS:
                del self.periods[next(iter(self.periods))]
            missing = sorted((b for b in branches if b.id not in kept.entries), key=_id)
            for first in range(0, len(missing), PART):  # a part's facts held at a time
                part = missing[first : first + PART]
                for b, (value, until) in zip(part, await work(part), strict=True):
                    kept.entries[b.id] = _Entry(value, until)
            kept.noted, kept.at = noted, now
            return [kept.entries[b.id].value for b in branches]


async def _forget_changed(
    session: AsyncSession, kept: _Period[Any], tree: Sequence[OrgInfo], now: datetime
) -> None:
    changed = await changes.since(session, kept.noted)
    if changed.everyone:
        kept.entries.clear()
        return
    if changed.orgs:
        by_id = {o.id: o for o in tree}
        children = children_of(tree)  # made once: a subtree for each org changed
        for org_id in changes.reached(changed.orgs, by_id, lambda o: subtree(children, [o])):
            kept.entries.pop(org_id, None)
    due = [i for i, e in kept.entries.items() if e.until is not None and e.until <= now]
    for org_id in due:
        del kept.entries[org_id]


_KEPT: WeakKeyDictionary[Pool, dict[str, Kept[Any]]] = WeakKeyDictionary()


def kept_for(session: AsyncSession, kind: str) -> Kept[Any] | None:
    """The values of this kind kept for the database of this read session (None for a
    write session)."""
    bind = session.bind
    if not isinstance(bind, AsyncEngine) or not reading_only(session):
        return None
    kinds = _KEPT.setdefault(bind.sync_engine.pool, {})
    return kinds.setdefault(kind, Kept())
