"""The scheduler's minute tick at 1,000 and 10,000 branches of 30 members (issue #15).

Each size is seeded once; every run is in a fresh child process on a copy of that database
(so its peak memory is the ticks' own). Ahead, as the running bot does it: the tick at 08:25
works the 08:30 briefings out, a record is filed by 1% of the branches, and the 08:30 tick
works those branches out again and queues everything. Whole: the 08:30 minute with nothing
worked out ahead (just after a restart). Quiet: 10:17, when nothing is due. While the ticks
run, a button press's share of the work (a short write transaction) is made every 50 ms and
the longest wait is kept. Three runs each; verdicts from the medians: a quiet minute < 100 ms
and the 08:30 minute < 2 s at 10,000 branches, growth from 1,000 to 10,000 branches ≤ 10.5×
(linear is 10×) of both the 08:30 minute and the 08:25 one working it out, no press waiting
200 ms or more, peak RSS < 300 MB.
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
from bot.delivery.scheduler import LEAD, Ahead, TickResult, tick
from bot.rules.catalogue import DEFAULT_POLICY
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Member, Org, Record, RecordObligation, TelegramLink, TickState

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


CHANGED = 0.01  # the share of branches whose data change between working out and the moment


async def child(path: Path, at: datetime, way: str) -> None:
    """Ticks on this database while a press is simulated every 50 ms. Whole: one tick at
    ``at``. Ahead: the tick five minutes before (working the moment out), the minutes
    between, a record filed in ``CHANGED`` of the branches, then the tick at ``at``. Prints
    the seconds of the minute at ``at`` and of the one working it out ahead (0: whole),
    messages queued, peak RSS, the longest a press waited, the branches worked out again.
    Quiet: one tick at ``at`` as the running bot makes it (looking for a moment ahead)."""
    ahead = way == "ahead"
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    first = at - (LEAD if ahead else timedelta(minutes=1))
    async with db.write() as session:
        state = await session.get_one(TickState, 1)
        state.last_minute = first - timedelta(minutes=1)
    waits: list[float] = []
    stop = asyncio.Event()
    pressing = asyncio.create_task(probe(db, waits, stop))
    kept = Ahead() if way != "whole" else None
    prepared = 0.0
    if ahead and kept is not None:
        started = time.perf_counter()
        await run_tick(db, first, kept)
        prepared = time.perf_counter() - started
        for minutes in range(1, int(LEAD.total_seconds() // 60)):
            await run_tick(db, first + timedelta(minutes=minutes), kept)
        await file_records(db, CHANGED)
    started = time.perf_counter()
    result = await run_tick(db, at, kept)
    took = time.perf_counter() - started
    stop.set()
    await pressing
    await db.dispose()
    branches = len(kept.redone_orgs) if kept is not None else 0  # (with their 党小组)
    if ahead and kept is not None and kept.used != 1:
        raise SystemExit("the moment was not sent from what was worked out ahead")
    print(f"{took}\t{prepared}\t{result.enqueued}\t{peak_rss_mb()}\t{max(waits)}\t{branches}")


async def run_tick(db: Database, at: datetime, ahead: Ahead | None) -> TickResult:
    return await tick(
        db, now=at, policy=DEFAULT_POLICY, bootstrap_ids=frozenset(), default_lang="zh",
        ahead=ahead,
    )  # fmt: skip


async def file_records(db: Database, share: float) -> None:
    """A branch committee meeting's record filed by this share of the branches (spread out)."""
    async with db.read() as session:
        branches = list(
            (await session.execute(select(Org.id).where(Org.kind == "branch"))).scalars()
        )
    step = max(1, round(1 / share))
    async with db.write() as session:
        for org_id in branches[::step]:
            record = Record(org_id=org_id, kind="branch_committee", held_on=AT.date(),
                            filed_at=AT - timedelta(minutes=2), summary="支委会")  # fmt: skip
            session.add(record)
            await session.flush()
            session.add(RecordObligation(record_id=record.id, code="branch_committee"))


Run = tuple[float, float, int, float, float, int]


def one_run(path: Path, at: datetime, way: str) -> Run:
    """Ticks in a fresh process on a fresh copy of the seeded database."""
    copy = path.with_suffix(".run.db")
    for stale in (copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
        stale.unlink(missing_ok=True)  # a killed run's journal would be applied to the copy
    shutil.copyfile(path, copy)
    done = subprocess.run(
        [sys.executable, "-m", "bench.tick", "--child", str(copy), at.isoformat(), way],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    copy.unlink()
    took, prepared, queued, rss, wait, redone = done.stdout.strip().splitlines()[-1].split("\t")
    return float(took), float(prepared), int(queued), float(rss), float(wait), int(redone)


WAYS = (  # label, minute, how
    ("08:30 ahead", AT, "ahead"),  # worked out 08:25; 1% of the branches changed since
    ("08:30 whole", AT, "whole"),  # nothing worked out ahead (just after a restart)
    ("quiet", QUIET, "quiet"),
)


async def main(sizes: list[int]) -> None:
    rows: dict[tuple[int, str], list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for branches in sizes:
            path = await seeded(Path(tmp), branches)
            for label, at, way in WAYS:
                rows[(branches, label)] = [one_run(path, at, way) for _ in range(RUNS)]
    print(
        f"inputs: branches of {MEMBERS} members (5 linked); 08:30 on {AT.date()} (briefings "
        f"due) and 10:17 (quiet); ahead: worked out at 08:25, then a record filed by "
        f"{CHANGED:.0%} of the branches; each run in a fresh process; {RUNS} runs"
    )
    print(
        f"{'branches':>9}{'minute':>13}{'queued':>8}{'median s':>10}{'min–max s':>16}"
        f"{'ahead s':>9}{'redone':>8}{'peak MB':>9}{'press waited s':>16}"
    )
    for (branches, label), runs in rows.items():
        times = [r[0] for r in runs]
        print(
            f"{branches:>9}{label:>13}{runs[0][2]:>8}{median(times):>10.3f}"
            f"{f'{min(times):.3f}–{max(times):.3f}':>16}{median([r[1] for r in runs]):>9.3f}"
            f"{runs[0][5]:>8}{max(r[3] for r in runs):>9.0f}{median([r[4] for r in runs]):>16.3f}"
        )
    big = max(sizes)

    def col(label: str, k: int, size: int = big) -> list[float]:
        return [r[k] for r in rows[(size, label)]]

    quiet, busy = col("quiet", 0), col("08:30 ahead", 0)
    figure(f"tick: quiet minute, {big:,} branches", spread(quiet), "< 0.1 s",
           "ok" if median(quiet) < 0.1 else "MISSED")  # fmt: skip
    figure(f"tick: 08:30 ({CHANGED:.0%} changed since 08:25), {big:,} branches", spread(busy),
           "< 2 s", "ok" if median(busy) < 2.0 else "MISSED")  # fmt: skip
    figure(f"tick: 08:25 working 08:30 out, {big:,} branches", spread(col("08:30 ahead", 1)))
    figure(f"tick: 08:30 worked out whole (after a restart), {big:,} branches",
           spread(col("08:30 whole", 0)))  # fmt: skip
    if len(sizes) > 1:
        small = min(sizes)
        linear = big / small
        for label, k, what in (("08:30 ahead", 0, "08:30"), ("08:30 ahead", 1, "08:25")):
            ratio = median(col(label, k)) / median(col(label, k, small))
            figure(f"tick: {what} time {big:,} / {small:,} branches", f"{ratio:.1f}×",
                   f"≤ {linear * 1.05:.1f}× (linear {linear:.0f}×)",
                   "ok" if ratio <= linear * 1.05 else "MISSED")  # fmt: skip
    waited = [max(a, b) for a, b in zip(col("08:30 ahead", 4), col("08:30 whole", 4), strict=True)]
    figure(f"tick: longest press wait during 08:25–08:30, {big:,} branches", spread(waited),
           "< 0.2 s", "ok" if median(waited) < 0.2 else "MISSED")  # fmt: skip
    rss = max(r[3] for runs in rows.values() for r in runs)
    figure("tick: peak RSS", f"{rss:.0f} MB", "< 300 MB", "ok" if rss < 300 else "MISSED")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--child", nargs=3, metavar=("DB", "AT", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        db, at, way = args.child
        asyncio.run(child(Path(db), datetime.fromisoformat(at), way))
    else:
        asyncio.run(main([int(x) for x in args.sizes.split(",")]))
