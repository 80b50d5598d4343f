"""December 2026 on the test roster (#16): at most one scheduled message a person a day, and
everything the separate reminders and digests used to say is still said, in the briefings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.delivery import briefing
from bot.delivery.briefing import Briefing, briefings_of_day
from bot.delivery.reminders import Directory, Planned, Recipient, digests_at, planned_at
from bot.delivery.scheduler import tick
from bot.rules.catalogue import DEFAULT_POLICY
from bot.services import briefings
from bot.services.admins import add_admin
from bot.services.obligations import load_workdays
from bot.services.roster import import_roster, read_workbook
from bot.store.db import Database
from bot.store.models import Org, OutboxMessage, TickState
from tests.helpers import acting, big_roster, link, workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
IMPORTED = datetime(2026, 11, 2, 10, 0, tzinfo=SH)
SECRETARY = 7001  # 书记 of 第1党支部 and an admin of 第1党委: two roles, one briefing
PROBATIONER = 7002
LEADER = 7003  # 党小组长 of 第1党支部's 第二党小组: told of the group's meeting, cannot /meet
BOOTSTRAP = frozenset({7009})


def person(r: Recipient) -> tuple[str, object]:
    return ("tg", r.telegram_id) if r.telegram_id is not None else ("member", r.key)


def same_line(line: str) -> str:
    """A digest line as both say it: the item and its count (the briefing adds whom it is
    about, and says "today" rather than the date on the last workday)."""
    return re.sub(r" · [^（]*（", "（", line).split("，")[0]


async def world(db: Database) -> None:
    orgs, members = big_roster()
    o, m = read_workbook(workbook_bytes(orgs, members))
    assert (await import_roster(db, o, m, now=IMPORTED, default_timezone="Asia/Shanghai")).counts
    await link(db, "M0100", SECRETARY, IMPORTED)
    await link(db, "M0106", PROBATIONER, IMPORTED)
    await link(db, "M0105", LEADER, IMPORTED)
    await add_admin(db, "DW1", SECRETARY, None, now=IMPORTED)


async def world_of_many_roles(db: Database) -> None:
    """``world`` with a member and a manager of each branch linked, the secretary who runs
    第1党委 too, admins of 第2党委 and of the 工委, and someone on the week ahead."""
    await world(db)
    for b in range(2, 11):
        await link(db, f"M{b:02d}00", 7100 + b, IMPORTED)  # each branch's secretary
        await link(db, f"M{b:02d}06", 7200 + b, IMPORTED)  # and its probationary member
    await add_admin(db, "DW2", 7103, None, now=IMPORTED)  # 第3党支部's secretary as well
    await add_admin(db, "GW", 7104, None, now=IMPORTED)
    await briefings.choose(
        db, await acting(db, 7105), now=IMPORTED, today=IMPORTED.date(), mode="weekly"
    )


async def the_day(db: Database, day: date) -> tuple[list[Briefing], list[Planned]]:
    """The day's briefings, and what the separate messages of before said that day."""
    morning = datetime.combine(day, DEFAULT_POLICY.digest_at, tzinfo=SH)
    async with db.read() as session:
        cal = await load_workdays(session)
        new = await briefings_of_day(
            session,
            day,
            now=morning,
            policy=DEFAULT_POLICY,
            directory=Directory.later("zh", BOOTSTRAP),
            cal=cal,
            prefs={},
            default_tz="Asia/Shanghai",
        )
        old: list[Planned] = []
        for at in (DEFAULT_POLICY.digest_at, DEFAULT_POLICY.at, DEFAULT_POLICY.greeting_at):
            moment = datetime.combine(day, at, tzinfo=SH)
            for find in (planned_at, digests_at):
                old += await find(
                    session,
                    moment,
                    now=morning,
                    policy=DEFAULT_POLICY,
                    bootstrap_ids=BOOTSTRAP,
                    default_lang="zh",
                    cal=cal,
                )
    unique = {(p.kind, p.occurrence, p.org, p.recipient, p.at): p for p in old}
    return new, list(unique.values())


async def test_december_one_briefing_a_day_saying_all_the_old_messages_said(
    db: Database,
) -> None:
    await world(db)
    old_per_day: Counter[tuple[str, object]] = Counter()
    new_days: Counter[tuple[str, object]] = Counter()
    crowded = 0  # days on which someone used to get more than one message
    day = date(2026, 12, 1)
    while day.month == 12:
        new, old = await the_day(db, day)
        people = [person(b.recipient) for b in new]
        assert len(people) == len(set(people)), day  # at most one scheduled message each
        new_days.update(people)
        by_person = {person(b.recipient): b for b in new}
        labels = {
            who: {label for row in b.rows for label, _ in row} for who, b in by_person.items()
        }
        if ("tg", LEADER) in labels:
            assert labels[("tg", LEADER)].isdisjoint({"安排会议", "查看"}), day
        said = {
            (person(b.recipient), i.kind.replace("oversight", "escalation"), i.obligation)
            for b in new
            for i in b.items
        }
        counts = Counter(person(p.recipient) for p in old)
        crowded += any(n > 1 for n in counts.values())
        old_per_day.update(counts)
        for p in old:
            who = person(p.recipient)
            if p.kind != "digest":
                assert (who, p.kind, p.obligation) in said, (day, who, p.kind, p.obligation)
                continue
            told = {same_line(x) for x in by_person[who].text.splitlines()}
            for line in p.text.splitlines()[1:]:
                if line.startswith(("·", "🎂")):
                    assert same_line(line) in told, (day, who, line)
        day += timedelta(days=1)
    assert crowded > 0  # the old way sent some people several messages a day
    secretary = ("tg", SECRETARY)
    assert old_per_day[secretary] > new_days[secretary] > 0
    assert new_days[("tg", PROBATIONER)] > 0 and new_days[("tg", LEADER)] > 0


def reminders_json(path: Path, day: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    env["ZHIBU_DATABASE_URL"] = f"sqlite:///{path}"
    env["ZHIBU_ADMIN_IDS"] = ",".join(map(str, BOOTSTRAP))
    return subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", "reminders", "--day", day, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        timeout=120,
    )


async def test_zhibu_reminders_day_json_is_the_days_briefings(db: Database, tmp_path: Path) -> None:
    await world(db)
    expected = (await the_day(db, date(2026, 12, 31)))[0]
    result = reminders_json(tmp_path / "test.db", "2026-12-31")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(b["recipient"], len(b["items"])) for b in found] == [
        (b.recipient.key, len(b.items)) for b in expected
    ]
    secretary = next(b for b in found if b["recipient"] in ("M0100", SECRETARY))
    assert secretary["at"] == "2026-12-31T08:30:00+08:00" and secretary["delivery"] == "telegram"
    assert "第1党支部" in secretary["text"]
    assert time(8, 30) == datetime.fromisoformat(secretary["at"]).time()


async def test_a_time_few_chose_works_out_only_their_orgs_and_their_briefings_are_whole(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a minute only some people chose, the tick works out only the orgs whose items
    they get — and what they get is what working out everything gives them."""
    await world(db)
    day = date(2026, 12, 7)  # a Monday: the committee's part too
    morning = datetime.combine(day, time(8, 0), tzinfo=SH)
    await briefings.choose(db, await acting(db, PROBATIONER), now=morning, today=day, at="10:00")
    async with db.write() as session:  # 第1党支部's people, its secretary who runs 第1党委 too
        branch = await session.scalar(select(Org).where(Org.code == "ZB01"))
        assert branch is not None
        branch.reminder_rule = {"at": "14:00"}
    worked_out: list[set[int] | None] = []
    real = briefing.day_of_orgs

    async def noting(*args: Any, **kwargs: Any) -> Any:
        worked_out.append(kwargs.get("orgs"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(briefing, "day_of_orgs", noting)
    async with db.read() as session:
        total = len(list((await session.execute(select(Org.id))).scalars()))
        prefs = await briefing.load_prefs(session)
    # 17 December: the probationer's thought report is reminded; Monday 7 December: the
    # secretary's branch and the committee's list of branches behind
    for day, hhmm, who in (
        (date(2026, 12, 17), "10:00", PROBATIONER),
        (date(2026, 12, 7), "14:00", SECRETARY),
    ):
        moment = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=SH)
        async with db.write() as session:
            state = await session.get(TickState, 1)
            if state is None:
                session.add(TickState(id=1, last_minute=moment - timedelta(minutes=1)))
            else:
                state.last_minute = moment - timedelta(minutes=1)
        worked_out.clear()
        await tick(
            db, now=moment, policy=DEFAULT_POLICY, bootstrap_ids=BOOTSTRAP, default_lang="zh"
        )
        assert worked_out[0] is not None and 0 < len(worked_out[0]) < total
        async with db.read() as session:
            queued = list(
                (
                    await session.execute(
                        select(OutboxMessage).where(OutboxMessage.kind == "briefing")
                    )
                ).scalars()
            )
            whole = await briefing.briefings_of_day(
                session,
                day,
                now=moment,
                policy=DEFAULT_POLICY,
                directory=Directory.later("zh", BOOTSTRAP),
                cal=await load_workdays(session),
                prefs=prefs,
                default_tz="Asia/Shanghai",
            )
        sent = [r for r in queued if r.chat_id == who]
        expected = next(b for b in whole if b.recipient.telegram_id == who)
        assert expected.at == moment and len(sent) == 1
        assert sent[0].text == expected.text
    assert "督办" in expected.text  # the secretary's committee part came whole at 14:00


async def test_worked_out_an_org_at_a_time_the_briefings_are_the_same(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick works the orgs out a part at a time and lets each part's people go (#15: at
    10,000 branches it held all 300,000 members at once). However the orgs are cut into
    parts, the briefings are the very ones of one whole pass, each person's lines and buttons
    in the same order: a member and a manager of each branch, the secretary who runs 第1党委
    too, admins of 第2党委 and of the 工委 whose oversight comes from branches in many parts,
    someone on the week ahead, the bootstrap admin; on a Monday with the committee's list, on
    days of oversight and on others."""
    await world_of_many_roles(db)
    held: list[int] = []
    real = Directory.load_people

    async def noting(self: Directory, *args: Any, **kwargs: Any) -> None:
        await real(self, *args, **kwargs)
        held.append(len(self.people) if not self.people.everyone else 10**6)

    monkeypatch.setattr(Directory, "load_people", noting)

    async def briefings_with_parts_of(size: int, day: date) -> list[tuple[object, ...]]:
        monkeypatch.setattr(briefing, "PART_ORGS", size)
        morning = datetime.combine(day, DEFAULT_POLICY.digest_at, tzinfo=SH)
        async with db.read() as session:
            found = await briefings_of_day(
                session,
                day,
                now=morning,
                policy=DEFAULT_POLICY,
                directory=Directory.later("zh", BOOTSTRAP),
                cal=await load_workdays(session),
                prefs=await briefing.load_prefs(session),
                default_tz="Asia/Shanghai",
            )
        return [(b.recipient, b.at, b.text, b.rows) for b in found]

    said: set[int | None] = set()
    # Monday 7 December; 3 December and 6 January: the third workday after a deadline
    for day in (date(2026, 12, 3), date(2026, 12, 7), date(2026, 12, 17), date(2027, 1, 6)):
        whole = await briefings_with_parts_of(10_000, day)
        for size in (1, 3):
            held.clear()
            assert await briefings_with_parts_of(size, day) == whole, (day, size)
            assert held and max(held) <= size + 1, day  # never everyone: a part and its reach
        people = [person(who) for who, _, _, _ in whole]
        assert len(people) == len(set(people)), day  # one briefing each, however many parts
        said |= {who.telegram_id for who, _, _, _ in whole}
    assert {SECRETARY, PROBATIONER, 7103, 7104, 7105, 7110, 7210, *BOOTSTRAP} <= said
