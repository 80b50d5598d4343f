"""The assessment of SPEC §8: a seeded year for 10 branches computed by hand, and the ranking
rules as properties."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.rules.catalogue import CATALOGUE
from bot.services.assessment import RULES, Inputs, Parts, assess, rank, score
from bot.services.obligations import add_record
from bot.services.roster import import_roster, read_workbook
from bot.store import db as store_db
from bot.store.db import Database
from bot.store.models import (
    Attendance,
    Collection,
    CollectionTarget,
    Meeting,
    Member,
    ObligationSetting,
    Org,
)
from tests.helpers import workbook_bytes

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 1, 20, 12, 0, tzinfo=SH)
# a Tuesday in the middle of each quarter: the general meetings
MEETING_DAYS = [date(2026, 2, 10), date(2026, 5, 12), date(2026, 8, 11), date(2026, 11, 10)]
KEPT = ("general_meeting", "theme_day")  # every other obligation is switched off


@dataclass(frozen=True)
class Plan:
    """One branch's year. Meetings are the general meetings, in quarter order."""

    code: str
    on_time: int  # general meetings whose record is dated in their quarter and filed in it
    late: int  # … filed after the quarter (a late record: 0.7)
    theme_days: int  # months with a 主题党日 record
    present: tuple[int, ...] = ()  # per meeting, of 3 expected (default: all 3)
    leave: tuple[int, ...] = ()
    slow_records: int = 0  # meeting records filed in the quarter but after 3 workdays
    collection: tuple[int, int] | None = None  # (in time, asked)


PLANS = [
    Plan("ZB01", 4, 0, 12, collection=(3, 3)),
    Plan("ZB02", 4, 0, 12, collection=(3, 3)),
    Plan("ZB03", 4, 0, 11, collection=(3, 3)),
    Plan("ZB04", 4, 0, 11, collection=(3, 3)),
    Plan("ZB05", 3, 1, 12, collection=(2, 3)),
    Plan("ZB06", 2, 0, 10, present=(2, 3), slow_records=1, collection=(1, 3)),
    Plan("ZB07", 4, 0, 8, present=(3, 3, 2, 3), leave=(0, 0, 1, 0)),
    Plan("ZB08", 0, 0, 6),
    Plan("ZB09", 1, 0, 12, present=(1,), slow_records=1, collection=(3, 3)),
    Plan("ZB10", 3, 0, 12, collection=(0, 3)),
]

# By hand, from SPEC §8. Obligations: 4 general meetings (weight 2) + 12 theme days (weight 1)
# = 20. Attendance: present / (3 − leave) averaged. Records: share filed within 3 workdays.
# Collections: share in time; none run: the other three parts × 100/90.
HAND = {
    "ZB01": 60 * (8 + 12) / 20 + 20 + 10 + 10,  # 100
    "ZB02": 60 * (8 + 12) / 20 + 20 + 10 + 10,  # 100
    "ZB03": 60 * (8 + 11) / 20 + 20 + 10 + 10,  # 97
    "ZB04": 60 * (8 + 11) / 20 + 20 + 10 + 10,  # 97
    "ZB05": 60 * (6 + 2 * 0.7 + 12) / 20 + 20 + 10 * 3 / 4 + 10 * 2 / 3,  # 92.37
    "ZB06": 60 * (4 + 10) / 20 + 20 * (2 / 3 + 1) / 2 + 10 * 1 / 2 + 10 * 1 / 3,  # 67.0
    "ZB07": (60 * (8 + 8) / 20 + 20 + 10) * 100 / 90,  # 86.67
    "ZB08": (60 * 6 / 20 + 0 + 0) * 100 / 90,  # 20.0
    "ZB09": 60 * (2 + 12) / 20 + 20 * 1 / 3 + 0 + 10,  # 58.67
    "ZB10": 60 * (6 + 12) / 20 + 20 + 10 + 0,  # 84
}
# 10 branches: at most 3 may be 优秀. ZB03 and ZB04 tie at the quota's edge (4 at or above
# 97 > 3), so both are 良好. 双约谈: every 较差 (ZB08, ZB09) and the lowest 1 (ZB08).
GRADES = {
    "ZB01": "优秀",
    "ZB02": "优秀",
    "ZB03": "良好",
    "ZB04": "良好",
    "ZB05": "良好",
    "ZB06": "一般",
    "ZB07": "良好",
    "ZB08": "较差",
    "ZB09": "较差",
    "ZB10": "良好",
}
RANKS = {
    "ZB01": 1,
    "ZB02": 1,
    "ZB03": 3,
    "ZB04": 3,
    "ZB05": 5,
    "ZB07": 6,
    "ZB10": 7,
    "ZB06": 8,
    "ZB09": 9,
    "ZB08": 10,
}


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SH)


async def seed(db: Database) -> None:
    orgs = [["DW", "机关党委", "", "党委", ""]] + [
        [p.code, f"第{i + 1}党支部", "DW", "党支部", ""] for i, p in enumerate(PLANS)
    ]
    members = [
        [p.code, f"{p.code}-{j}", f"{p.code}M{j}", "", "书记" if j == 0 else "", "2010-07-01", ""]
        for p in PLANS
        for j in range(3)
    ]
    o, m = read_workbook(workbook_bytes(orgs, members))
    await import_roster(db, o, m, now=at(date(2026, 1, 2)), default_timezone="Asia/Shanghai")
    async with db.write() as session:
        for p in PLANS:
            org = await session.scalar(select(Org).where(Org.code == p.code))
            assert org is not None
            people = list(
                (
                    await session.execute(
                        select(Member.id).where(Member.org_id == org.id).order_by(Member.id)
                    )
                ).scalars()
            )
            for ob in CATALOGUE:
                if ob.code not in KEPT:
                    session.add(
                        ObligationSetting(
                            org_id=org.id,
                            code=ob.code,
                            enabled=False,
                            reason="test",
                            updated_at=at(date(2026, 1, 2)),
                        )
                    )
            for i in range(p.on_time + p.late):
                day = MEETING_DAYS[i]
                present = p.present[i] if i < len(p.present) else 3
                leave = p.leave[i] if i < len(p.leave) else 0
                meeting = Meeting(
                    org_id=org.id,
                    obligation="general_meeting",
                    also=[],
                    starts_at=at(day),
                    place="会议室",
                    status="closed",
                    checkin_mode="button",
                    quorum_met=True,
                    created_by=1,
                    created_at=at(day - timedelta(days=7)),
                    closed_at=at(day, 13),
                )
                session.add(meeting)
                await session.flush()
                for j, member_id in enumerate(people):
                    status = "present" if j < present else "leave" if j < present + leave else None
                    if status:
                        session.add(
                            Attendance(
                                meeting_id=meeting.id,
                                member_id=member_id,
                                status=status,
                                via="button",
                                at=at(day),
                            )
                        )
                if i >= p.on_time:
                    filed = at(date(day.year, day.month, 1) + timedelta(days=100))  # next quarter
                elif i < p.slow_records:
                    filed = at(day + timedelta(days=14))  # in the quarter, after 3 workdays
                else:
                    filed = at(day + timedelta(days=1))
                meeting.record_id = await add_record(
                    session,
                    org_id=org.id,
                    kind="meeting_record",
                    held_on=day,
                    codes=["general_meeting"],
                    filed_at=filed,
                )
            for month in range(1, p.theme_days + 1):
                day = date(2026, month, 15)
                await add_record(
                    session,
                    org_id=org.id,
                    kind="theme_day",
                    held_on=day,
                    codes=["theme_day"],
                    filed_at=at(day),
                )
            if p.collection is not None:
                c = Collection(
                    org_id=org.id,
                    kind="study_note",
                    prompt="学习体会",
                    audience="all",
                    deadline=at(date(2026, 6, 30), 18),
                    created_by=1,
                    created_at=at(date(2026, 6, 1)),
                )
                session.add(c)
                await session.flush()
                in_time, asked = p.collection
                for j, member_id in enumerate(people[:asked]):
                    session.add(
                        CollectionTarget(
                            collection_id=c.id,
                            member_id=member_id,
                            submitted_at=at(date(2026, 6, 20)) if j < in_time else None,
                        )
                    )


def rounded(value: float) -> float:
    return math.floor(value * 10 + 0.5 + 1e-9) / 10


async def test_a_seeded_year_scores_as_computed_by_hand(db: Database) -> None:
    await seed(db)
    async with db.read() as session:
        results = await assess(session, year=2026, now=NOW)
    got = {r.org: r for r in results}
    assert {code: got[code].score for code in HAND} == {
        code: rounded(v) for code, v in HAND.items()
    }
    assert {code: got[code].grade for code in HAND} == GRADES
    assert {code: got[code].rank for code in HAND} == RANKS
    assert {r.org for r in results if r.interview} == {"ZB08", "ZB09"}
    assert [r.org for r in results][:2] == ["ZB01", "ZB02"]
    assert got["ZB07"].parts.collections is None and got["ZB01"].parts.collections == 10.0
    zb06 = got["ZB06"].parts
    assert (zb06.obligations, zb06.attendance, zb06.records, zb06.collections) == (
        42.0,
        16.7,
        5.0,
        3.3,
    )
    assert zb06.maximums_json() == {
        "obligations": 60,
        "attendance": 20,
        "records": 10,
        "collections": 10,
    }
    zb07 = got["ZB07"].parts  # no collection ran: the other three scaled up to 100
    assert zb07.rescaled and (zb07.obligations_max, zb07.attendance_max) == (66.7, 22.2)
    assert zb07.records_max == 11.1 and zb07.collections_max is None


async def test_long_id_lists_are_read_as_id_ranges_with_the_same_result(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``WIDE`` ids a query reads the range from the least to the greatest and keeps
    the rows it knows (#15): the scores, for every branch or for one, are those of the
    narrow queries."""
    await seed(db)

    async def both() -> tuple[list[object], list[object]]:
        async with db.read() as session:
            one = await session.scalar(select(Org.id).where(Org.code == "ZB06"))
            assert one is not None
            every = await assess(session, year=2026, now=NOW, keep=False)
            alone = await assess(session, year=2026, now=NOW, roots=[one], keep=False)
        return list(every), list(alone)

    narrow = await both()
    monkeypatch.setattr(store_db, "WIDE", 0)
    wide = await both()
    assert wide == narrow
    assert [r.org for r in wide[1]] == ["ZB06"]  # 党员 of other branches left out


async def test_assess_json_from_the_command_line(
    db: Database, settings_path: tuple[str, Path]
) -> None:
    await seed(db)
    url, cwd = settings_path
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    env["ZHIBU_DATABASE_URL"] = url
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "bot.ops.cli",
            "assess",
            "--year",
            "2026",
            "--json",
            "--at",
            "2027-01-20",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["org"] for r in rows} == set(HAND)
    first = rows[0]
    assert set(first) == {
        "org",
        "name",
        "score",
        "grade",
        "rank",
        "interview",
        "parts",
        "maximums",
        "rescaled",
        "tracking_since",
    }
    assert set(first["parts"]) == {"obligations", "attendance", "records", "collections"}
    assert set(first["maximums"]) == set(first["parts"])
    assert first["tracking_since"] == "2026-01-02"  # the day the roster was imported
    assert {r["org"]: r["grade"] for r in rows} == GRADES
    text = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.ops.cli", "assess", "--year", "2026", "--at", "2027-01-20"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    assert "第8党支部" in text.stdout and "较差" in text.stdout


@pytest.fixture
def settings_path(db: Database, tmp_path: Path) -> tuple[str, Path]:
    return f"sqlite:///{tmp_path / 'test.db'}", tmp_path


# ---------------------------------------------------------------- the rules as properties


def inputs(code: str) -> Inputs:
    return Inputs(code, code, ((1.0, 1.0),), (), 0, 0)  # something to judge


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=40))
def test_ranks_grades_quota_and_interviews(tenths: list[int]) -> None:
    scores = [v / 10 for v in tenths]
    parts = Parts(0, 0, 0, None)
    results = rank([(inputs(f"B{i:02d}"), s, parts) for i, s in enumerate(scores)])
    n = len(scores)
    by = {r.org: r for r in results}
    assert sum(r.grade == "优秀" for r in results) <= math.floor(0.3 * n)
    for i, s in enumerate(scores):
        r = by[f"B{i:02d}"]
        assert r.rank == 1 + sum(1 for v in scores if v > s)  # 1, 2, 2, 4
        if s < 60:
            assert r.grade == "较差" and r.interview
        elif s < 80:
            assert r.grade == "一般"
        elif s < 90:
            assert r.grade == "良好"
        else:
            assert r.grade in ("优秀", "良好")
    for a in results:  # equal scores are treated alike
        for b in results:
            if a.score == b.score:
                assert (a.grade, a.rank, a.interview) == (b.grade, b.rank, b.interview)
    if n >= 10:
        k = math.floor(0.1 * n)
        lowest = sorted(scores)[:k]
        assert all(by[f"B{i:02d}"].interview for i, s in enumerate(scores) if s <= max(lowest))
    else:
        assert all(r.interview == (r.grade == "较差") for r in results)


@given(
    st.lists(st.tuples(st.sampled_from([1, 2]), st.sampled_from([0, 0.7, 1])), max_size=30),
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=10),
)
def test_a_score_stays_within_0_and_100(
    credits: list[tuple[int, float]], on_time: int, extra: int
) -> None:
    value, parts = score(Inputs("X", "X", tuple(credits), (), on_time, on_time + extra), RULES)
    assert 0 <= value <= 100
    assert parts.attendance == 0 and parts.records == 0  # no meetings held gives 0


def test_an_overview_cell_takes_the_worst_state_of_its_occurrences() -> None:
    from bot.rules.calendar import Status
    from bot.services.progress import cell_of

    assert cell_of([]) is None
    assert cell_of([Status.NOT_TRACKED, Status.NOT_TRACKED]) == (0.0, "not_tracked")
    assert cell_of([Status.DONE, Status.NOT_TRACKED]) == (1.0, "done")
    assert cell_of([Status.DONE, Status.OPEN]) == (0.5, "open")  # not yet due: not red
    assert cell_of([Status.DONE, Status.OPEN, Status.MISSED]) == (1 / 3, "overdue")
