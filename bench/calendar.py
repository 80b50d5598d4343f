"""How long the calendar of a 300-member branch takes for a year (target: well under 1 s).

Prints the time of ``org_occurrences`` (what ``zhibu calendar`` computes) for a branch of
300 members, next to a baseline measured in the same run: loading the same members with a
plain query. Run: ``.venv/bin/python -m bench.calendar``.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bench.report import figure
from bot.rules.catalogue import DEFAULT_POLICY
from bot.services.obligations import add_record, load_workdays, org_occurrences
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Member, Org
from tests.helpers import workbook_bytes

MEMBERS = 300
TARGET_SECONDS = 1.0
RUNS = 5


def roster() -> tuple[list[list[object]], list[list[object]]]:
    orgs: list[list[object]] = [
        ["DW", "机关党委", "", "党委", ""],
        ["ZB", "第一党支部", "DW", "党支部", ""],
    ]
    roles = ["书记", "副书记", "组织委员", "宣传委员", "纪检委员"]
    members: list[list[object]] = []
    for i in range(MEMBERS):
        role = (
            roles[i]
            if i < len(roles)
            else ("预备党员" if i % 15 == 0 else "入党积极分子" if i % 15 == 1 else "")
        )
        group = f"第{i % 10 + 1}党小组"
        members.append(["ZB", f"党员{i:03d}", f"M{i:03d}", "", role or ("党小组长" if i % 30 == 7 else ""),
                        "2010-07-01", group])  # fmt: skip
    return orgs, members


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await upgrade(db.engine)
        now = datetime(2026, 11, 27, 2, tzinfo=UTC)
        orgs, members = read_workbook(workbook_bytes(*roster()))
        await import_roster(db, orgs, members, now=now, default_timezone="Asia/Shanghai")
        async with db.write() as session:
            org = await session.scalar(select(Org).where(Org.code == "ZB"))
            assert org is not None
            ids = list((await session.execute(select(Member.id))).scalars())
            for week in range(48):  # a year of meetings and talks
                held = date(2026, 1, 5) + timedelta(weeks=week)
                await add_record(session, org_id=org.id, kind="meeting_record", held_on=held,
                                 codes=["theme_day", "general_meeting"], filed_at=now)  # fmt: skip
                await add_record(session, org_id=org.id, kind="heart_talk", held_on=held,
                                 codes=["heart_talks"], member_id=ids[0], partner_id=ids[week + 5],
                                 filed_at=now)  # fmt: skip

        async def baseline() -> None:
            async with db.read() as session:
                list(
                    (await session.execute(select(Member).where(Member.org_id == org.id))).scalars()
                )

        async def calendar() -> int:
            async with db.read() as session:
                cal = await load_workdays(session)
                occs = await org_occurrences(
                    session, org, 2026, now=now, cal=cal, policy=DEFAULT_POLICY
                )
                return len(occs)

        async def timed(work: object) -> float:
            samples = []
            for _ in range(RUNS):
                start = time.perf_counter()
                await work()  # type: ignore[operator]
                samples.append(time.perf_counter() - start)
            return statistics.median(samples)

        await calendar()  # warm caches (imports, the workday package)
        base = await timed(baseline)
        took = await timed(calendar)
        count = await calendar()
        await db.dispose()
    print(
        f"inputs: {MEMBERS} members, year 2026, {count} occurrences, 96 records, median of {RUNS}"
    )
    print(f"{'measure':<36}{'seconds':>10}{'ratio':>10}{'target':>12}")
    print(f"{'baseline: load the members':<36}{base:>10.4f}{1.0:>10.1f}{'':>12}")
    verdict = "ok" if took < TARGET_SECONDS else "MISSED"
    print(
        f"{'calendar of the branch for a year':<36}{took:>10.4f}{took / base:>10.1f}{f'< {TARGET_SECONDS:.1f} s':>12}  {verdict}"
    )
    figure(
        f"calendar: {MEMBERS}-member branch, a year",
        f"{took:.3f} s ({took / base:.0f}× loading the members)",
        f"< {TARGET_SECONDS:.1f} s",
        verdict,
    )


if __name__ == "__main__":
    asyncio.run(main())
