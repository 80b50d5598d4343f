"""How long the yearly assessment takes for 100 and for 1,000 branches of 30 members.

Each branch has a year behind it: 4 general meetings with 30 attendance rows and their
records, 12 主题党日 records and a collection of 30 submissions.
Target: 1,000 branches in under 5 s, growth no worse than linear (ratio ≤ 10).
Run: ``.venv/bin/python -m bench.assess``.
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
from bench.tick import MEMBERS, seed
from bot.services.assessment import assess
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import (
    Attendance,
    Collection,
    CollectionTarget,
    Meeting,
    Record,
    RecordObligation,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 1, 20, 12, 0, tzinfo=SH)
MEETING_DAYS = [date(2026, 2, 10), date(2026, 5, 12), date(2026, 8, 11), date(2026, 11, 10)]


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SH).astimezone(UTC)


async def seed_year(db: Database, branches: int) -> None:
    meetings, attendance, records, codes, collections, targets = [], [], [], [], [], []
    record_id = meeting_id = 0
    for b in range(branches):
        org_id = 100 + b
        first_member = b * MEMBERS + 1
        for q, day in enumerate(MEETING_DAYS):
            if (b + q) % 7 == 0:
                continue  # some quarters without a meeting
            meeting_id += 1
            record_id += 1
            records.append(
                {
                    "id": record_id,
                    "org_id": org_id,
                    "kind": "meeting_record",
                    "held_on": day,
                    "filed_at": at(day + timedelta(days=1 + (b % 5) * 3)),
                }
            )
            codes.append({"record_id": record_id, "code": "general_meeting"})
            meetings.append(
                {
                    "id": meeting_id,
                    "org_id": org_id,
                    "obligation": "general_meeting",
                    "also": [],
                    "starts_at": at(day),
                    "place": "会议室",
                    "status": "closed",
                    "checkin_mode": "button",
                    "quorum_met": True,
                    "record_id": record_id,
                    "created_by": 1,
                    "created_at": at(day - timedelta(days=7)),
                }
            )
            for i in range(MEMBERS - (b + q) % 4):
                attendance.append(
                    {
                        "meeting_id": meeting_id,
                        "member_id": first_member + i,
                        "status": "leave" if i % 13 == 12 else "present",
                        "via": "button",
                        "at": at(day),
                    }
                )
        for month in range(1, 13):
            if (b + month) % 5 == 0:
                continue
            record_id += 1
            day = date(2026, month, 15)
            records.append(
                {
                    "id": record_id,
                    "org_id": org_id,
                    "kind": "theme_day",
                    "held_on": day,
                    "filed_at": at(day),
                }
            )
            codes.append({"record_id": record_id, "code": "theme_day"})
        collections.append(
            {
                "id": b + 1,
                "org_id": org_id,
                "kind": "study_note",
                "prompt": "学习体会",
                "audience": "all",
                "deadline": at(date(2026, 6, 30), 18),
                "created_by": 1,
                "created_at": at(date(2026, 6, 1)),
            }
        )
        for i in range(MEMBERS):
            targets.append(
                {
                    "collection_id": b + 1,
                    "member_id": first_member + i,
                    "submitted_at": at(date(2026, 6, 20)) if i % 3 else None,
                    "late": False,
                }
            )
    async with db.write() as session:
        await session.execute(insert(Record), records)
        await session.execute(insert(RecordObligation), codes)
        await session.execute(insert(Meeting), meetings)
        await session.execute(insert(Attendance), attendance)
        await session.execute(insert(Collection), collections)
        await session.execute(insert(CollectionTarget), targets)


async def measure(branches: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / 'assess.db'}")
        await upgrade(db.engine)
        await seed(db, branches)
        await seed_year(db, branches)
        started = time.perf_counter()
        async with db.read() as session:
            results = await assess(session, year=2026, now=NOW)
        took = time.perf_counter() - started
        await db.dispose()
    return took, len(results)


async def main() -> None:
    await measure(10)  # warm up: imports, the workday package's caches
    small, n_small = await measure(100)
    large, n_large = await measure(1000)
    print(
        f"inputs: branches of {MEMBERS} members, each with a year of meetings, attendance, "
        "records and a collection; assessed for 2026"
    )
    print(f"{'branches':>10}{'scored':>10}{'seconds':>10}{'target':>12}")
    print(f"{100:>10}{n_small:>10}{small:>10.3f}")
    verdict = "ok" if large < 5.0 else "MISSED"
    print(f"{1000:>10}{n_large:>10}{large:>10.3f}{'< 5 s':>12}  {verdict}")
    ratio = large / small
    print(
        f"ratio 1000/100: {ratio:.1f} (linear is 10.0; target ≤ 10, within 5% timing noise)  "
        f"{'ok' if ratio <= 10.5 else 'MISSED'}"
    )
    figure("assessment: 1,000 branches, a year", f"{large:.3f} s", "< 5 s", verdict)
    figure(
        "assessment: time 1,000 / 100 branches",
        f"{ratio:.1f}",
        "≤ 10 (linear)",
        "ok" if ratio <= 10.5 else "MISSED",
    )


if __name__ == "__main__":
    asyncio.run(main())
