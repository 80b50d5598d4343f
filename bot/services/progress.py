"""What /status and /overview show (SPEC §8), as plain values for the chat and the charts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.calendar import Occurrence, Status
from bot.rules.catalogue import CATALOGUE, DEFAULT_POLICY
from bot.services import collections
from bot.services.access import Actor, admin_roots, require_admin, require_manager
from bot.services.assessment import (
    Result,
    assess,
    branches_in,
    inputs_for,
    org_tree,
    period_bounds,
    quarter_of,
)
from bot.services.kept import kept_for
from bot.services.obligations import (
    Effective,
    OrgInfo,
    compute_occurrences,
    load_facts,
    load_workdays,
    periods_of,
)
from bot.store.db import Database, let_others_run
from bot.store.models import Org

UNCOUNTED = (Status.NOT_APPLICABLE, Status.NOT_TRACKED)  # shown as nothing owed


class Cell(NamedTuple):
    """One cell of /overview's heatmap: the share done and the state that colours it."""

    share: float
    state: str  # done, open (not yet due), overdue, not_tracked


@dataclass(frozen=True)
class Line:
    obligation: str
    owner: str  # org code, or "" for the members' items summed up
    status: Status
    count: int
    required: int
    last_workday: date
    to_file: bool

    @property
    def share(self) -> float:
        if self.status is Status.DONE:
            return 1.0
        return min(1.0, self.count / self.required) if self.required else 0.0


@dataclass(frozen=True)
class BranchStatus:
    org_id: int
    code: str
    name: str
    today: date
    lines: list[Line]
    meetings_held: int
    attendance: float | None  # mean present / (expected − leave) this quarter
    collections: list[collections.Progress]


def _current(occurrences: list[Occurrence], today: date) -> list[Occurrence]:
    """The periods running today (this month, quarter, half-year, year)."""
    return [o for o in occurrences if o.start <= today <= o.end and o.status not in UNCOUNTED]


def _lines(current: list[Occurrence]) -> list[Line]:
    """Org-level items one by one; members' items (思想汇报) summed into one line each."""
    lines: list[Line] = []
    members: dict[str, list[Occurrence]] = defaultdict(list)
    for o in current:
        if o.member is not None:
            members[o.obligation].append(o)
            continue
        lines.append(
            Line(
                o.obligation,
                o.org,
                o.status,
                o.count,
                o.required,
                o.last_workday,
                o.to_file is not None,
            )
        )
    for code, items in members.items():
        done = sum(1 for o in items if o.status is Status.DONE)
        worst = (
            Status.OVERDUE
            if any(o.status is Status.OVERDUE for o in items)
            else Status.DONE
            if done == len(items)
            else Status.OPEN
        )
        lines.append(
            Line(code, "", worst, done, len(items), max(o.last_workday for o in items), False)
        )
    return lines


async def branch_status(session: AsyncSession, org_id: int, *, now: datetime) -> BranchStatus:
    org = await session.get_one(Org, org_id)
    tz = ZoneInfo(org.timezone)
    today = now.astimezone(tz).date()
    cal = await load_workdays(session)
    facts = await load_facts(session, [org], (date(today.year, 1, 1), date(today.year, 12, 31)))
    occurrences = compute_occurrences(
        facts[org.id],
        lambda eff: periods_of(eff, today.year),
        now=now,
        cal=cal,
        policy=DEFAULT_POLICY,
        plans=False,
    )
    start, end = period_bounds(today.year, quarter_of(today))
    inputs, _ = (await inputs_for(session, [org], start=start, end=end, now=now, cal=cal))[0]
    rates = [m.present / (m.expected - m.leave) for m in inputs.meetings if m.expected > m.leave]
    recent = [
        await collections.progress(session, cid, org.timezone)
        for cid in await collections.recent_of_branch(session, org.id, now=now)
    ]
    return BranchStatus(
        org.id,
        org.code,
        org.name,
        today,
        _lines(_current(occurrences, today)),
        len(inputs.meetings),
        sum(rates) / len(rates) if rates else None,
        [p for p in recent if p.deadline > now],
    )


@dataclass(frozen=True)
class Overview:
    today: date
    codes: list[str]  # obligation columns, catalogue order
    rows: list[tuple[Result, Result | None, list[Cell | None]]]  # quarter, year, cells


STATE_OF = {  # a status as the charts colour it: done, open (not yet due), overdue, not tracked
    Status.DONE: "done",
    Status.OPEN: "open",
    Status.OVERDUE: "overdue",
    Status.MISSED: "overdue",
    Status.NOT_TRACKED: "not_tracked",
}


def cell_of(statuses: list[Status]) -> Cell | None:
    """One branch × obligation of /overview: the share done of the occurrences begun, and
    the state that colours it — overdue if any is, done if all are, not tracked if none
    is tracked, else open (not yet due)."""
    counted = [s for s in statuses if s is not Status.NOT_TRACKED]
    if not statuses:
        return None
    if not counted:
        return Cell(0.0, STATE_OF[Status.NOT_TRACKED])
    share = sum(1 for s in counted if s is Status.DONE) / len(counted)
    states = {STATE_OF.get(s, "open") for s in counted}
    worst = next(x for x in ("overdue", "open", "done") if x in states)
    return Cell(share, worst)


Cells = dict[str, Cell | None]  # a branch's row of /overview, by obligation


async def overview(
    session: AsyncSession, roots: list[int] | None, *, now: datetime, keep: bool = True
) -> Overview:
    """Every branch below ``roots``: this quarter's share done per obligation, ranked by this
    quarter's assessment score, with the year's score beside it. Each branch's row is kept
    between requests (``kept.Kept``) as the scores are; ``keep=False`` works all out."""
    tree = await org_tree(session)
    branches = branches_in(tree, roots)
    tz = ZoneInfo(branches[0].timezone if branches else "Asia/Shanghai")
    today = now.astimezone(tz).date()
    q = quarter_of(today)
    start, end = period_bounds(today.year, q)
    quarter = await assess(session, year=today.year, quarter=q, roots=roots, now=now, keep=keep)
    year = {
        r.org: r for r in await assess(session, year=today.year, roots=roots, now=now, keep=keep)
    }
    cal = await load_workdays(session)

    def overlapping(eff: Effective) -> list[tuple[date, date]]:
        return [p for p in periods_of(eff, today.year) if start <= p[1] and p[0] <= end]

    async def work(some: list[OrgInfo]) -> list[tuple[Cells, datetime | None]]:
        facts = await load_facts(session, some, (date(today.year, 1, 1), date(today.year, 12, 31)))
        found: list[tuple[Cells, datetime | None]] = []
        for b in some:
            await let_others_run()  # thousands of branches: a button press goes in between
            occ = compute_occurrences(facts[b.id], overlapping, now=now, cal=cal,
                                      policy=DEFAULT_POLICY, plans=False)  # fmt: skip
            statuses: dict[str, list[Status]] = defaultdict(list)
            turns: list[datetime] = []  # when a cell changes by time alone
            for o in occ:
                if o.status is Status.NOT_APPLICABLE:
                    continue
                if o.start > today:  # shown from its first day
                    turns.append(datetime.combine(o.start, time(0), tzinfo=tz))
                    continue
                statuses[o.obligation].append(o.status)
                if o.status is Status.OPEN:  # overdue from the day after its deadline
                    after = o.deadline + timedelta(days=1)
                    turns.append(datetime.combine(after, time(0), tzinfo=ZoneInfo(b.timezone)))
            row = {code: cell_of(seen) for code, seen in statuses.items()}
            found.append((row, min(turns, default=None)))
        return found

    kept = kept_for(session, "overview") if keep else None
    if kept is None:
        rows = [cells for cells, _ in await work(branches)]
    else:
        period = (today.year, q, tz.key)
        rows = await kept.values(session, period, tree, branches, now=now, work=work)
    cells = {b.code: row for b, row in zip(branches, rows, strict=True)}
    seen = {code for row in rows for code in row}
    order = [o.code for o in CATALOGUE if o.code in seen]
    order += sorted(seen - set(order))
    return Overview(
        today, order, [(r, year.get(r.org), [cells[r.org].get(c) for c in order]) for r in quarter]
    )


async def keep_ready(db: Database, *, now: datetime) -> int:
    """Bring the kept scores of this year and quarter and every branch's /overview row up to
    date, so that /assess and /overview find them ready (after a start, once deadlines
    passed); how many branches there are."""
    async with db.read() as session:
        return len((await overview(session, None, now=now)).rows)


async def status_of(db: Database, actor: Actor, org_id: int, *, now: datetime) -> BranchStatus:
    """/status: a branch's progress this period, for those who manage it."""
    async with db.read() as session:
        await require_manager(session, actor, org_id)
        return await branch_status(session, org_id, now=now)


async def overview_for(db: Database, actor: Actor, *, now: datetime) -> Overview:
    """/overview: every branch an admin oversees, ranked for the quarter."""
    require_admin(actor)
    async with db.read() as session:
        return await overview(session, admin_roots(actor), now=now)
