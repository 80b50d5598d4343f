"""How long the yearly assessment takes for 1,000 and for 10,000 branches of 30 members (#15).

Each branch has a year behind it: 4 general meetings with 30 attendance rows and their
records, 12 主题党日 records and a collection of 30 submissions. Each size is seeded once; 3 times
a new database object (a process's first assessment: nothing kept) assesses it, then, after 1%
of the branches had a record filed, assesses it again as the running bot serves /assess (the
scores kept, those changed worked out again). Verdicts from the medians: 10,000 branches
served in under 5 s, the first assessment's growth from 1,000 to 10,000 no worse than linear
(≤ 10.5×), and no button press (a short write transaction made every 50 ms meanwhile) waiting
200 ms or more in either.
Run: ``.venv/bin/python -m bench.assess [--sizes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bench.report import RUNS, figure, median, peak_rss_mb, reset_peak_rss, spread
from bench.tick import MEMBERS, probe, seed
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


SEED_PART = 1000  # branches whose year is written in one transaction


async def seed_year(db: Database, branches: int) -> None:
    meetings: list[dict[str, Any]] = []
    attendance: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    collections: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
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
        if (b + 1) % SEED_PART == 0 or b + 1 == branches:  # a part at a time: RSS stays low
            async with db.write() as session:
                for model, rows in (
                    (Record, records), (RecordObligation, codes), (Meeting, meetings),
                    (Attendance, attendance), (Collection, collections),
                    (CollectionTarget, targets),
                ):  # fmt: skip
                    if rows:
                        await session.execute(insert(model), rows)
                    rows.clear()


CHANGED = 0.01  # the share of branches whose data change between two assessments


@dataclass
class Found:
    """Seconds of each run and the longest a press waited in each (a short write transaction
    every 50 ms, as /overview may run while members press 签到)."""

    scored: int = 0
    cold: list[float] = field(default_factory=list)  # the first assessment of a process
    cold_waited: list[float] = field(default_factory=list)
    served: list[float] = field(default_factory=list)  # with the kept scores, 1% changed
    served_waited: list[float] = field(default_factory=list)
    peak_mb: float = 0.0  # this process's peak while assessing (set-up excluded), if known


async def timed(db: Database, into: list[float], waited: list[float]) -> int:
    waits: list[float] = []
    stop = asyncio.Event()
    pressing = asyncio.create_task(probe(db, waits, stop))
    started = time.perf_counter()
    async with db.read() as session:
        results = await assess(session, year=2026, now=NOW)
    into.append(time.perf_counter() - started)
    stop.set()
    await pressing
    waited.append(max(waits))
    return len(results)


async def change_some(db: Database, branches: int, run: int) -> None:
    """A 主题党日 record filed for 1% of the branches (other ones each run)."""
    step = round(1 / CHANGED)
    async with db.write() as session:
        last = (await session.execute(select(func.max(Record.id)))).scalar() or 0
        rows = [
            {"id": last + 1 + k, "org_id": 100 + b, "kind": "theme_day",
             "held_on": date(2026, 12, 10), "filed_at": at(date(2026, 12, 10))}
            for k, b in enumerate(range(run, branches, step))
        ]  # fmt: skip
        await session.execute(insert(Record), rows)
        await session.execute(
            insert(RecordObligation), [{"record_id": r["id"], "code": "theme_day"} for r in rows]
        )


async def measure(branches: int) -> Found:
    """Each run: a process's first assessment (nothing kept), then, after 1% of the branches
    changed, the next one (as the running bot answers /assess)."""
    found = Found()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'assess.db'}"
        db = Database.from_url(url)
        await upgrade(db.engine)
        await seed(db, branches)
        await seed_year(db, branches)
        await db.dispose()
        fresh_peak = reset_peak_rss()
        for run in range(RUNS):
            db = Database.from_url(url)  # a new database object: nothing kept
            found.scored = await timed(db, found.cold, found.cold_waited)
            await change_some(db, branches, run)
            await timed(db, found.served, found.served_waited)
            await db.dispose()
        found.peak_mb = peak_rss_mb() if fresh_peak else 0.0
    return found


async def main(sizes: list[int]) -> None:
    await measure(10)  # warm up: imports, the workday package's caches
    found = {n: await measure(n) for n in sizes}
    print(
        f"inputs: branches of {MEMBERS} members, each with a year of meetings, attendance, "
        f"records and a collection; assessed for 2026; {RUNS} runs; served: the scores kept "
        f"from the run before, {CHANGED:.0%} of the branches changed since"
    )
    print(
        f"{'branches':>10}{'scored':>8}{'first s':>10}{'min–max s':>16}{'served s':>10}"
        f"{'min–max s':>16}{'press waited s':>16}"
    )
    for n, f in found.items():
        print(
            f"{n:>10}{f.scored:>8}{median(f.cold):>10.3f}"
            f"{f'{min(f.cold):.3f}–{max(f.cold):.3f}':>16}{median(f.served):>10.3f}"
            f"{f'{min(f.served):.3f}–{max(f.served):.3f}':>16}"
            f"{median([max(a, b) for a, b in zip(f.cold_waited, f.served_waited, strict=True)]):>16.3f}"
        )
    big = max(sizes)
    large = found[big]
    figure(f"assessment: {big:,} branches, a year, as served ({CHANGED:.0%} changed since)",
           spread(large.served), "< 5 s",
           "ok" if median(large.served) < 5.0 else "MISSED")  # fmt: skip
    figure(f"assessment: {big:,} branches, a process's first (nothing kept)",
           spread(large.cold))  # fmt: skip
    if large.peak_mb:
        figure(f"assessment: peak RSS while assessing {big:,} branches", f"{large.peak_mb:.0f} MB")
    waited = [max(a, b) for a, b in zip(large.cold_waited, large.served_waited, strict=True)]
    figure(f"assessment: longest press wait, {big:,} branches (first or served)", spread(waited),
           "< 0.2 s", "ok" if median(waited) < 0.2 else "MISSED")  # fmt: skip
    if len(sizes) > 1:
        small = min(sizes)
        ratio = median(large.cold) / median(found[small].cold)
        linear = big / small
        figure(f"assessment: time {big:,} / {small:,} branches (first)", f"{ratio:.1f}×",
               f"≤ {linear * 1.05:.1f}× (linear {linear:.0f}×)",
               "ok" if ratio <= linear * 1.05 else "MISSED")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    asyncio.run(main([int(x) for x in parser.parse_args().sizes.split(",")]))
