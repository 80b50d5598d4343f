"""The scheduler's minute tick at 1,000 and 10,000 branches of 30 members (issue #15).

Each size is seeded once; every run is one tick in a fresh child process on a copy of that
database (so its peak memory is the tick's own): at 08:30 with the briefings due, and in a quiet
minute (10:17) when nothing is. While it runs, a button press's share of the work (a short
write transaction) is made every 50 ms and the longest wait is kept. Three runs each;
verdicts from the medians: a quiet minute < 100 ms and the 08:30 minute < 2 s at 10,000
branches, growth from 1,000 to 10,000 branches ≤ 10.5× (linear is 10×), no press waiting
200 ms or more during the 08:30 tick, peak RSS < 300 MB.
Run: ``.venv/bin/python -m bench.tick [--sizes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from bench.report import RUNS, figure, median, peak_rss_mb, spread
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
AT = datetime(2026, 3, 17, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # the briefings are due
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


QUIET = AT.replace(hour=10, minute=17)  # nothing is due


async def seeded(folder: Path, branches: int) -> Path:
    path = folder / f"tick-{branches}.db"
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    await upgrade(db.engine)
    await seed(db, branches)
    await db.dispose()
    return path


async def probe(db: Database, waits: list[float], stop: asyncio.Event) -> None:
    """A button press's share of the work, every 50 ms: a short write transaction (as a
    check-in takes). How long each waited (event loop and write lock) goes into ``waits``."""
    while not stop.is_set():
        started = time.perf_counter()
        async with db.write() as session:
            await session.execute(select(1))
        waits.append(time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def child(path: Path, at: datetime) -> None:
    """One tick on this database at ``at`` while a press is simulated every 50 ms; prints
    seconds, messages queued, peak RSS and the longest a press waited."""
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    async with db.write() as session:
        state = await session.get_one(TickState, 1)
        state.last_minute = at - timedelta(minutes=1)
    waits: list[float] = []
    stop = asyncio.Event()
    pressing = asyncio.create_task(probe(db, waits, stop))
    started = time.perf_counter()
    result = await tick(
        db, now=at, policy=DEFAULT_POLICY, bootstrap_ids=frozenset(), default_lang="zh"
    )
    took = time.perf_counter() - started
    stop.set()
    await pressing
    await db.dispose()
    print(f"{took}\t{result.enqueued}\t{peak_rss_mb()}\t{max(waits)}")


def one_run(path: Path, at: datetime) -> tuple[float, int, float, float]:
    """A tick in a fresh process on a fresh copy of the seeded database."""
    copy = path.with_suffix(".run.db")
    for stale in (copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
        stale.unlink(missing_ok=True)  # a killed run's journal would be applied to the copy
    shutil.copyfile(path, copy)
    done = subprocess.run(
        [sys.executable, "-m", "bench.tick", "--child", str(copy), at.isoformat()],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    copy.unlink()
    took, queued, rss, wait = done.stdout.strip().splitlines()[-1].split("\t")
    return float(took), int(queued), float(rss), float(wait)


async def main(sizes: list[int]) -> None:
    rows: dict[tuple[int, str], tuple[list[float], int, float]] = {}
    waits: dict[tuple[int, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for branches in sizes:
            path = await seeded(Path(tmp), branches)
            for label, at in (("08:30", AT), ("quiet", QUIET)):
                runs = [one_run(path, at) for _ in range(RUNS)]
                rows[(branches, label)] = (
                    [r[0] for r in runs],
                    runs[0][1],
                    max(r[2] for r in runs),
                )
                waits[(branches, label)] = [r[3] for r in runs]
    print(
        f"inputs: branches of {MEMBERS} members (5 linked); 08:30 on {AT.date()} (briefings due) "
        f"and 10:17 (quiet); each tick in a fresh process; {RUNS} runs"
    )
    print(
        f"{'branches':>9}{'minute':>8}{'queued':>8}{'median s':>10}{'min–max s':>16}{'peak MB':>9}"
        f"{'press waited s':>16}"
    )
    for (branches, label), (times, queued, rss) in rows.items():
        print(
            f"{branches:>9}{label:>8}{queued:>8}{median(times):>10.3f}"
            f"{f'{min(times):.3f}–{max(times):.3f}':>16}{rss:>9.0f}"
            f"{median(waits[(branches, label)]):>16.3f}"
        )
    big = max(sizes)
    quiet, busy = rows[(big, "quiet")][0], rows[(big, "08:30")][0]
    figure(f"tick: quiet minute, {big:,} branches", spread(quiet), "< 0.1 s",
           "ok" if median(quiet) < 0.1 else "MISSED")  # fmt: skip
    figure(f"tick: 08:30, {big:,} branches", spread(busy), "< 2 s",
           "ok" if median(busy) < 2.0 else "MISSED")  # fmt: skip
    if len(sizes) > 1:
        small = min(sizes)
        ratio = median(busy) / median(rows[(small, "08:30")][0])
        linear = big / small
        figure(f"tick: 08:30 time {big:,} / {small:,} branches", f"{ratio:.1f}×",
               f"≤ {linear * 1.05:.1f}× (linear {linear:.0f}×)",
               "ok" if ratio <= linear * 1.05 else "MISSED")  # fmt: skip
    waited = waits[(big, "08:30")]  # the longest wait of each run
    figure(f"tick: longest press wait during 08:30, {big:,} branches", spread(waited),
           "< 0.2 s", "ok" if median(waited) < 0.2 else "MISSED")  # fmt: skip
    rss = max(r[2] for r in rows.values())
    figure("tick: peak RSS", f"{rss:.0f} MB", "< 300 MB", "ok" if rss < 300 else "MISSED")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--child", nargs=2, metavar=("DB", "AT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(Path(args.child[0]), datetime.fromisoformat(args.child[1])))
    else:
        asyncio.run(main([int(x) for x in args.sizes.split(",")]))
