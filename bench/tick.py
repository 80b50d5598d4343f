"""How long the scheduler's tick takes at 09:00 for 100 and for 1,000 branches of 30 members.

Target: under 1 s for 1,000 branches (30,000 members), growth no worse than linear.
Prints both times and their ratio (10× the branches should cost at most about 10× the time).
Run: ``.venv/bin/python -m bench.tick``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from bench.report import figure
from bot.delivery.scheduler import tick
from bot.rules.catalogue import DEFAULT_POLICY
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Member, Org, TelegramLink, TickState

MEMBERS = 30
ROLES = [
    "secretary",
    "deputy_secretary",
    "organizer",
    "propaganda",
    "discipline",
    "probationary",
    "activist",
]
AT = datetime(2026, 3, 17, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # reminders are due
NOW = datetime(2026, 3, 1, tzinfo=UTC)


async def seed(db: Database, branches: int) -> None:
    orgs = [{"id": 1, "code": "GW", "name": "工委", "kind": "working_committee", "parent_id": None}]
    orgs += [
        {"id": 2 + c, "code": f"DW{c}", "name": f"党委{c}", "kind": "committee", "parent_id": 1}
        for c in range(10)
    ]
    orgs += [
        {
            "id": 100 + b,
            "code": f"ZB{b:04d}",
            "name": f"第{b}支部",
            "kind": "branch",
            "parent_id": 2 + b % 10,
        }
        for b in range(branches)
    ]
    members, links = [], []
    for b in range(branches):
        for i in range(MEMBERS):
            mid = b * MEMBERS + i + 1
            members.append(
                {
                    "id": mid,
                    "org_id": 100 + b,
                    "group_id": None,
                    "name": f"党员{b}-{i}",
                    "member_code": f"M{b:04d}{i:02d}",
                    "role": ROLES[i] if i < len(ROLES) else "member",
                    "joined_on": date(2000 + i % 20, 1 + (b + i) % 12, 1 + (b * 7 + i) % 28),
                    "active": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            if i < 5:
                links.append(
                    {
                        "member_id": mid,
                        "telegram_user_id": 10_000_000 + mid,
                        "linked_at": NOW,
                        "via": "bench",
                    }
                )
    async with db.write() as session:
        for o in orgs:
            o |= {"timezone": "Asia/Shanghai", "created_at": NOW, "updated_at": NOW}
        await session.execute(insert(Org), orgs)
        await session.execute(insert(Member), members)
        await session.execute(insert(TelegramLink), links)
        session.add(TickState(id=1, last_minute=AT - timedelta(minutes=1)))


async def measure(branches: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / 'tick.db'}")
        await upgrade(db.engine)
        await seed(db, branches)
        started = time.perf_counter()
        result = await tick(
            db, now=AT, policy=DEFAULT_POLICY, bootstrap_ids=frozenset(), default_lang="zh"
        )
        took = time.perf_counter() - started
        await db.dispose()
    return took, result.enqueued


async def main() -> None:
    await measure(10)  # warm up: imports, the workday package's caches
    small, small_sent = await measure(100)
    large, large_sent = await measure(1000)
    print(
        f"inputs: branches of {MEMBERS} members (5 linked), tick at {AT.isoformat()} with reminders due"
    )
    print(f"{'branches':>10}{'members':>10}{'queued':>10}{'seconds':>10}{'target':>12}")
    print(f"{100:>10}{100 * MEMBERS:>10}{small_sent:>10}{small:>10.3f}")
    verdict = "ok" if large < 1.0 else "MISSED"
    print(f"{1000:>10}{1000 * MEMBERS:>10}{large_sent:>10}{large:>10.3f}{'< 1 s':>12}  {verdict}")
    ratio = large / small
    print(
        f"ratio 1000/100: {ratio:.1f} (linear is 10.0; target ≤ 10, within 5% timing noise)  {'ok' if ratio <= 10.5 else 'MISSED'}"
    )
    figure("tick: 1,000 branches at 09:00", f"{large:.3f} s", "< 1 s", verdict)
    figure(
        "tick: time 1,000 / 100 branches",
        f"{ratio:.1f}",
        "≤ 10 (linear)",
        "ok" if ratio <= 10.5 else "MISSED",
    )


if __name__ == "__main__":
    asyncio.run(main())
