"""From which day the bot keeps an org's calendar (``tracking_since``, issue #16).

Periods whose deadline is before that day are not tracked: never reminded of, escalated,
assessed or shown as missed. The import sets it (the roster's 启用日期, else the parent's,
else the day the org was first imported); the operator moves it with ``zhibu orgs since``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot.services.access import by_code
from bot.store import audit
from bot.store.db import Database
from bot.store.models import Org

EARLIEST = date(2000, 1, 1)
AHEAD = timedelta(days=366)  # a branch may be set to start next year, not later


class TrackingError(ValueError):
    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def check_day(day: date, today: date) -> date:
    if not EARLIEST <= day <= today + AHEAD:
        raise TrackingError(
            "orgs.since_range", earliest=EARLIEST.isoformat(), latest=(today + AHEAD).isoformat()
        )
    return day


async def set_tracking_since(
    db: Database, code: str, day: date, *, now: datetime, by: int | None = None
) -> tuple[str, list[tuple[str, date | None]]]:
    """Set the day for the org with this code (case-insensitive) and every org below it, in
    one audited write. Returns the org's code as stored and each org changed with its former
    day; TrackingError when the code or the day is not accepted."""
    async with db.write() as session:
        top = await session.scalar(by_code(code))
        if top is None:
            raise TrackingError("orgs.unknown", code=code)
        orgs = list((await session.execute(select(Org).order_by(Org.code))).scalars())
        check_day(day, now.date())
        children: dict[int | None, list[Org]] = defaultdict(list)
        for o in orgs:
            children[o.parent_id].append(o)
        changed: list[tuple[str, date | None]] = []
        todo, seen = [top], set()
        while todo:
            org = todo.pop()
            if org.id in seen:
                continue
            seen.add(org.id)
            todo += children[org.id]
            if org.tracking_since != day:
                changed.append((org.code, org.tracking_since))
                org.tracking_since, org.updated_at = day, now
        changed.sort()
        await audit.record(
            session,
            at=now,
            action="org.tracking_since",
            actor_telegram_id=by,
            org_id=top.id,
            detail={
                "to": day.isoformat(),
                "orgs": {c: None if d is None else d.isoformat() for c, d in changed},
            },
        )
        return top.code, changed


async def list_orgs(db: Database) -> list[Org]:
    async with db.read() as session:
        return list((await session.execute(select(Org).order_by(Org.code))).scalars())
