"""The yearly (or quarterly) assessment of branches (SPEC §8).

``RULES`` is the one place for every weight, threshold and quota. ``score`` and ``rank`` are
pure; ``assess`` loads what they need for many branches in a handful of queries.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.calendar import Occurrence, Status
from bot.rules.catalogue import DEFAULT_POLICY, ReminderPolicy
from bot.rules.workdays import WorkdayCalendar
from bot.services.access import Actor, admin_roots, require_admin
from bot.services.kept import below, kept_for
from bot.services.obligations import (
    ORG_COLUMNS,
    ROWS_BETWEEN_PAUSES,
    Effective,
    Facts,
    OrgInfo,
    OrgLike,
    Person,
    compute_occurrences,
    load_facts,
    load_workdays,
    periods_of,
)
from bot.store.db import Database, among, collecting_after, let_others_run, plain_rows
from bot.store.models import (
    COMMITTEE_ROLES,
    Attendance,
    Collection,
    CollectionTarget,
    Meeting,
    Org,
    OrgKind,
    Record,
)


@dataclass(frozen=True)
class Rules:
    """Weights, thresholds and quotas of the assessment (SPEC §8)."""

    obligations_points: float = 60
    attendance_points: float = 20
    records_points: float = 10
    collections_points: float = 10
    obligation_weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {"general_meeting": 2, "org_life_meeting": 2, "democratic_review": 2}
        )
    )
    late_credit: float = 0.7  # an obligation done with a record filed after its deadline
    record_workdays: int = 3  # a meeting record is in time when filed within this many
    grade_floors: tuple[tuple[str, float], ...] = (("优秀", 90), ("良好", 80), ("一般", 60))
    lowest_grade: str = "较差"
    excellent_quota: float = 0.3  # at most floor(30% × branches) may be 优秀
    interview_share: float = 0.1  # the lowest floor(10% × branches) are interviewed …
    interview_min_branches: int = 10  # … when there are at least this many

    def weight(self, code: str) -> float:
        return self.obligation_weights.get(code, 1)


RULES = Rules()
_DAY = timedelta(days=1)
GRADES = ("优秀", "良好", "一般", "较差")


# ---------------------------------------------------------------- pure scoring


@dataclass(frozen=True)
class HeldMeeting:
    expected: int
    present: int
    leave: int
    record_in_time: bool


@dataclass(frozen=True)
class Inputs:
    """What one branch did in the period, reduced to what the score needs."""

    org: str
    name: str
    credits: tuple[tuple[float, float], ...]  # (weight, credit) per required occurrence
    meetings: tuple[HeldMeeting, ...]
    submissions_on_time: int
    submissions_asked: int  # 0: no collection counted in the period
    tracking_since: date | None = None  # the first day judged, when inside the period

    @property
    def missed(self) -> int:
        """Required occurrences whose deadline passed undone (credit 0)."""
        return sum(1 for _, c in self.credits if c == 0.0)

    @property
    def attendance(self) -> float | None:
        """Present of expected over the meetings held (None: none held)."""
        expected = sum(m.expected for m in self.meetings)
        return sum(m.present for m in self.meetings) / expected if expected else None

    @property
    def judged(self) -> bool:
        """Something in the period can be judged: an occurrence due, a meeting held or a
        collection closed. A branch with none (new, or early in the period) is not scored."""
        return bool(self.credits or self.meetings or self.submissions_asked)


@dataclass(frozen=True)
class Parts:
    """The four parts, each with the most it could have earned (``*_max``): 60/20/10/10, or
    66.7/22.2/11.1 when no collection counted and the others were scaled up to 100."""

    obligations: float
    attendance: float
    records: float
    collections: float | None  # None: no collection counted; the others were scaled to 100
    obligations_max: float = 0.0
    attendance_max: float = 0.0
    records_max: float = 0.0
    collections_max: float | None = None

    @property
    def rescaled(self) -> bool:
        return self.collections is None

    def as_json(self) -> dict[str, object]:
        return {
            "obligations": self.obligations,
            "attendance": self.attendance,
            "records": self.records,
            "collections": self.collections,
        }

    def maximums_json(self) -> dict[str, object]:
        return {
            "obligations": self.obligations_max,
            "attendance": self.attendance_max,
            "records": self.records_max,
            "collections": self.collections_max,
        }


NOT_JUDGED = Parts(0.0, 0.0, 0.0, None)


def _round(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def score(inputs: Inputs, rules: Rules = RULES) -> tuple[float, Parts]:
    weights = sum(w for w, _ in inputs.credits)
    obligations = (
        rules.obligations_points * sum(w * c for w, c in inputs.credits) / weights
        if weights
        else rules.obligations_points
    )
    rates = [
        m.present / (m.expected - m.leave) for m in inputs.meetings if m.expected - m.leave > 0
    ]
    attendance = rules.attendance_points * min(1.0, sum(rates) / len(rates)) if rates else 0.0
    records = (
        rules.records_points * sum(m.record_in_time for m in inputs.meetings) / len(inputs.meetings)
        if inputs.meetings
        else 0.0
    )
    scale = 1.0
    if inputs.submissions_asked:
        collections: float | None = (
            rules.collections_points * inputs.submissions_on_time / inputs.submissions_asked
        )
    else:
        collections = None
        base = rules.obligations_points + rules.attendance_points + rules.records_points
        scale = (base + rules.collections_points) / base
        obligations, attendance, records = obligations * scale, attendance * scale, records * scale
    total = obligations + attendance + records + (collections or 0.0)
    parts = Parts(
        _round(obligations),
        _round(attendance),
        _round(records),
        None if collections is None else _round(collections),
        _round(rules.obligations_points * scale),
        _round(rules.attendance_points * scale),
        _round(rules.records_points * scale),
        None if collections is None else _round(rules.collections_points),
    )
    return _round(total), parts


Scored = tuple[Inputs, float, Parts]


@dataclass(frozen=True)
class Result:
    """A branch's place in the assessment; ``score``, ``grade`` and ``rank`` are None when
    nothing in the period could be judged yet (see ``Inputs.judged``)."""

    org: str
    name: str
    score: float | None
    grade: str | None
    rank: int | None
    interview: bool
    parts: Parts
    tracking_since: date | None = None
    missed: int = 0  # required occurrences past their deadline undone
    attendance: float | None = None  # present of expected at the meetings held

    @property
    def judged(self) -> bool:
        return self.score is not None

    def as_json(self) -> dict[str, object]:
        """The keys of SPEC §9 for ``zhibu assess --json``, with each part's maximum, whether
        the parts were rescaled (no collection counted) and the day tracking began."""
        return {
            "org": self.org,
            "name": self.name,
            "score": self.score,
            "grade": self.grade,
            "rank": self.rank,
            "interview": self.interview,
            "parts": self.parts.as_json() if self.judged else None,
            "maximums": self.parts.maximums_json() if self.judged else None,
            "rescaled": self.parts.rescaled if self.judged else False,
            "tracking_since": None if self.tracking_since is None else str(self.tracking_since),
        }


def grade_of(value: float, rules: Rules = RULES) -> str:
    for name, floor in rules.grade_floors:
        if value >= floor:
            return name
    return rules.lowest_grade


def rank(scored: Sequence[Scored], rules: Rules = RULES) -> list[Result]:
    """Ranks (1, 2, 2, 4), grades with the 优秀 quota, and the 双约谈 list, among the branches
    judged; those with nothing to judge follow, unranked, ungraded and never interviewed."""
    judged = [x for x in scored if x[0].judged]
    n = len(judged)
    values = sorted((s for _, s, _ in judged), reverse=True)
    quota = math.floor(rules.excellent_quota * n + 1e-9)
    best = rules.grade_floors[0][0]
    second = rules.grade_floors[1][0]
    lowest_k = (
        math.floor(rules.interview_share * n + 1e-9) if n >= rules.interview_min_branches else 0
    )
    edge = sorted(values)[lowest_k - 1] if lowest_k else None
    results: list[Result] = []
    ascending = values[::-1]
    for inputs, value, parts in judged:
        at_least = n - bisect.bisect_left(ascending, value)  # scores ≥ this one
        higher = n - bisect.bisect_right(ascending, value)  # scores > this one
        grade = grade_of(value, rules)
        if grade == best and at_least > quota:
            grade = second  # outside the quota, or tied at its edge with too many to fit
        interview = grade == rules.lowest_grade or (edge is not None and value <= edge)
        results.append(
            Result(
                inputs.org,
                inputs.name,
                value,
                grade,
                higher + 1,
                interview,
                parts,
                inputs.tracking_since,
                inputs.missed,
                inputs.attendance,
            )
        )
    results.sort(key=lambda r: (r.rank or 0, r.org))
    waiting = [
        Result(i.org, i.name, None, None, None, False, NOT_JUDGED, i.tracking_since)
        for i, _, _ in scored
        if not i.judged
    ]
    return results + sorted(waiting, key=lambda r: r.org)


# ---------------------------------------------------------------- loading


def quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


def period_bounds(year: int, quarter: int | None) -> tuple[date, date]:
    if quarter is None:
        return date(year, 1, 1), date(year, 12, 31)
    if not 1 <= quarter <= 4:
        raise ValueError("quarter must be 1–4")
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def credit(occ: Occurrence, rules: Rules = RULES) -> float | None:
    """What one occurrence earns: 1 in time, 0.7 with a late record, 0 missed; None when it
    does not count (not applicable, not tracked, or its deadline has not come)."""
    if occ.status in (Status.NOT_APPLICABLE, Status.NOT_TRACKED) or occ.required <= 0:
        return None
    if occ.status is Status.DONE:
        return 1.0 if occ.count - occ.late >= occ.required else rules.late_credit
    if occ.status is Status.OPEN:
        return None
    return 0.0


def expected_count(org_id: int, obligation: str, org_kind: str, people: list[Person]) -> int:
    """How many were expected at a meeting of ``org_id`` for ``obligation``, as
    ``bot.meetings.expected`` decides it, from loaded members."""
    if org_kind == OrgKind.GROUP.value:
        chosen = [p for p in people if p.group_id == org_id]
    else:
        chosen = list(people)
    if obligation == "committee_meeting":
        chosen = [p for p in chosen if p.role in COMMITTEE_ROLE_NAMES]
    return len(chosen)


COMMITTEE_ROLE_NAMES = frozenset(r.value for r in COMMITTEE_ROLES)


async def inputs_for(
    session: AsyncSession,
    branches: Sequence[OrgLike],
    *,
    start: date,
    end: date,
    now: datetime,
    cal: WorkdayCalendar,
    policy: ReminderPolicy = DEFAULT_POLICY,
    rules: Rules = RULES,
) -> list[tuple[Inputs, datetime | None]]:
    """Everything the score needs for these branches, in a fixed number of queries; each
    with the moment it next changes by time alone (None: never): an open occurrence falling
    due undone, or a collection's deadline."""
    if not branches:
        return []
    facts = await load_facts(session, branches, (start, end))
    # the meetings, attendance and collections are read while the credits are worked out (the
    # database's thread reads as the event loop's computes; neither needs the other)
    reads = asyncio.create_task(
        _meetings_and_asks(session, branches, facts, start=start, end=end, now=now, cal=cal,
                           rules=rules)
    )  # fmt: skip
    try:
        credits = await _credits(branches, facts, start=start, end=end, now=now, cal=cal,
                                 policy=policy, rules=rules)  # fmt: skip
    finally:
        held, asked, closing = await reads
    found = []
    for b in branches:
        done, until = credits[b.id]
        closes = closing.get(b.id)
        if closes is not None and (until is None or closes < until):
            until = closes
        inputs = Inputs(b.code, b.name, done, tuple(held[b.id]), *asked[b.id], b.tracking_since)
        found.append((inputs, until))
    return found


async def _credits(
    branches: Sequence[OrgLike],
    facts: Mapping[int, Facts],
    *,
    start: date,
    end: date,
    now: datetime,
    cal: WorkdayCalendar,
    policy: ReminderPolicy,
    rules: Rules,
) -> dict[int, tuple[tuple[tuple[float, float], ...], datetime | None]]:
    """Each branch's (weight, credit) per required occurrence of the period, and the moment
    the first of its open occurrences falls due undone (its credit, None so far, becomes 0)."""
    judged: dict[tuple[object, ...], list[tuple[date, date]]] = {}
    pairs: dict[tuple[float, float], tuple[float, float]] = {}  # one tuple per distinct pair

    def within(eff: Effective) -> list[tuple[date, date]]:
        """The periods inside the one assessed (the same for every branch owing it alike)."""
        key = (eff.ob.period, eff.due_on, eff.since)
        if key not in judged:
            judged[key] = [p for p in periods_of(eff, start.year) if start <= p[0] and p[1] <= end]
        return judged[key]

    found: dict[int, tuple[tuple[tuple[float, float], ...], datetime | None]] = {}
    for b in branches:
        await let_others_run()  # a button press (and the reads beside) go in between
        occurrences = compute_occurrences(
            facts[b.id], within, now=now, cal=cal, policy=policy, plans=False
        )
        credits = []
        falls_due: date | None = None
        for o in occurrences:
            c = credit(o, rules)
            if c is not None:
                pair = (rules.weight(o.obligation), c)
                credits.append(pairs.setdefault(pair, pair))
            elif o.status is Status.OPEN and o.required > 0:
                falls_due = o.deadline if falls_due is None else min(falls_due, o.deadline)
        until = None
        if falls_due is not None:  # judged undone from the day after its deadline
            until = datetime.combine(falls_due + _DAY, time(0), tzinfo=ZoneInfo(b.timezone))
        found[b.id] = (tuple(credits), until)
    return found


async def _meetings_and_asks(
    session: AsyncSession,
    branches: Sequence[OrgLike],
    facts: Mapping[int, Facts],
    *,
    start: date,
    end: date,
    now: datetime,
    cal: WorkdayCalendar,
    rules: Rules,
) -> tuple[dict[int, list[HeldMeeting]], dict[int, tuple[int, int]], dict[int, datetime]]:
    """Each branch's meetings held in the period (with their attendance and whether their
    record came in time), its collections' submissions (in time, asked), and the next
    deadline of a collection of the period still open, by branch."""
    ids = [b.id for b in branches]
    owner: dict[int, int] = {b.id: b.id for b in branches}
    kinds: dict[int, str] = {b.id: b.kind for b in branches}
    for f in facts.values():
        for g in f.groups:
            owner[g.id] = f.org.id
            kinds[g.id] = g.kind
    tz_of = {b.id: ZoneInfo(b.timezone) for b in branches}
    # the first day judged: the period's, or the day tracking began when that is later
    judged_from = {b.id: max(start, b.tracking_since or start) for b in branches}
    first = datetime.combine(start, time(0), tzinfo=ZoneInfo("UTC")) - _DAY
    last = datetime.combine(end, time(0), tzinfo=ZoneInfo("UTC")) + 2 * _DAY
    closed = (
        among(Meeting.org_id, owner),
        Meeting.status == "closed",
        Meeting.starts_at >= first,
        Meeting.starts_at < last,
    )
    meetings = [
        m
        for m in await plain_rows(
            session,
            select(
                Meeting.id,
                Meeting.org_id,
                Meeting.obligation,
                Meeting.starts_at,
                Meeting.record_id,
            ).where(*closed),
        )
        if m.org_id in owner
    ]
    counts: dict[tuple[int, str], int] = {}
    if meetings:  # the same meetings, joined rather than listed
        for meeting_id, status, n in await plain_rows(
            session,
            select(Attendance.meeting_id, Attendance.status, func.count())
            .join(Meeting, Meeting.id == Attendance.meeting_id)
            .where(*closed)
            .group_by(Attendance.meeting_id, Attendance.status),
        ):
            counts[(meeting_id, status)] = n
    filed: dict[int, datetime] = {}
    if any(m.record_id is not None for m in meetings):
        filed = {
            record_id: at
            for record_id, at in await plain_rows(
                session,
                select(Record.id, Record.filed_at)
                .join(Meeting, Meeting.record_id == Record.id)
                .where(*closed),
            )
        }
    held: dict[int, list[HeldMeeting]] = defaultdict(list)
    expected: dict[tuple[int, bool], int] = {}  # (org, committee only): how many, counted once

    def how_many(org_id: int, obligation: str, branch_id: int) -> int:
        key = (org_id, obligation == "committee_meeting")
        if key not in expected:
            people = facts[branch_id].members
            expected[key] = expected_count(org_id, obligation, kinds[org_id], people)
        return expected[key]

    for k, m in enumerate(meetings):
        if k % ROWS_BETWEEN_PAUSES == 0:
            await let_others_run()  # a button press goes in between
        branch_id = owner[m.org_id]
        tz = tz_of[branch_id]
        day = m.starts_at.astimezone(tz).date()
        if not judged_from[branch_id] <= day <= end:
            continue
        due = cal.shift(day, rules.record_workdays)
        at = filed.get(m.record_id) if m.record_id is not None else None
        held[branch_id].append(
            HeldMeeting(
                how_many(m.org_id, m.obligation, branch_id),
                counts.get((m.id, "present"), 0),
                counts.get((m.id, "leave"), 0),
                at is not None and at.astimezone(tz).date() <= due,
            )
        )
    by_hand = await plain_rows(
        session,
        select(Record.org_id, Record.details, Record.held_on, Record.filed_at).where(
            among(Record.org_id, owner),
            Record.kind == "meeting_record",
            Record.withdrawn_at.is_(None),
            Record.held_on >= start,
            Record.held_on <= end,
        ),
    )
    for r in by_hand:
        d = r.details or {}
        if r.org_id not in owner or d.get("meeting_id") is not None or "expected" not in d:
            continue
        branch_id = owner[r.org_id]
        if r.held_on < judged_from[branch_id]:
            continue
        due = cal.shift(r.held_on, rules.record_workdays)
        held[branch_id].append(
            HeldMeeting(
                int(d["expected"]),
                int(d["present"]),
                int(d["leave"]),
                r.filed_at.astimezone(tz_of[branch_id]).date() <= due,
            )
        )
    asked: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # in time, asked
    closing: dict[int, datetime] = {}  # the next deadline of a collection still open
    answered = CollectionTarget.submitted_at.is_not(None)
    in_time = case((answered & ~CollectionTarget.late, 1), else_=0)
    for org_id, deadline, on_time, targets in await plain_rows(
        session,
        select(Collection.org_id, Collection.deadline, func.sum(in_time), func.count())
        .join(CollectionTarget, CollectionTarget.collection_id == Collection.id)
        .where(
            among(Collection.org_id, ids),
            Collection.deadline >= first,
            Collection.deadline < last,
            Collection.deadline <= now,  # an open collection is not judged before its deadline
            CollectionTarget.reached | answered,  # nor for those it could not reach
        )
        .group_by(Collection.id),
    ):
        # a collection counts in the period of its deadline
        local = deadline.astimezone(tz_of[org_id]).date() if org_id in tz_of else None
        if local is not None and judged_from[org_id] <= local <= end:
            asked[org_id][0] += int(on_time or 0)
            asked[org_id][1] += targets
    # a collection still open counts from its deadline on: its branch's score changes then
    for org_id, deadline in await plain_rows(
        session,
        select(Collection.org_id, func.min(Collection.deadline))
        .where(
            among(Collection.org_id, ids),
            Collection.deadline > now,
            Collection.deadline < last,
        )
        .group_by(Collection.org_id),
    ):
        if org_id in tz_of:
            closing[org_id] = deadline
    return held, {b.id: (asked[b.id][0], asked[b.id][1]) for b in branches}, closing


async def branches_under(session: AsyncSession, roots: list[int] | None) -> list[Org]:
    """The branches in these orgs' subtrees (every branch when ``roots`` is None)."""
    orgs = list((await session.execute(select(Org).order_by(Org.code))).scalars())
    under = below([OrgInfo.of(o) for o in orgs], roots)
    return [o for o in orgs if o.id in under and o.kind == OrgKind.BRANCH.value]


async def org_tree(session: AsyncSession) -> list[OrgInfo]:
    """Every org, by code, as plain values."""
    return [
        OrgInfo(*row) for row in await plain_rows(session, select(*ORG_COLUMNS).order_by(Org.code))
    ]


def branches_in(tree: Sequence[OrgInfo], roots: list[int] | None) -> list[OrgInfo]:
    """The branches of the tree in these orgs' subtrees (every branch when None), by code."""
    under = below(tree, roots)
    return [o for o in tree if o.id in under and o.kind == OrgKind.BRANCH.value]


@collecting_after
async def assess(
    session: AsyncSession,
    *,
    year: int,
    quarter: int | None = None,
    roots: list[int] | None = None,
    now: datetime,
    rules: Rules = RULES,
    keep: bool = True,
) -> list[Result]:
    """Score, rank and grade the branches below ``roots`` (all branches when None). With
    the default rules, a read session's assessment works out only what changed since the
    last (``kept.Kept``); ``keep=False`` works everything out (and keeps nothing). The
    garbage collector waits until it is over (``full_collections_later``): at 10,000
    branches its full passes over the year's facts took 2 s of 12."""
    start, end = period_bounds(year, quarter)
    tree = await org_tree(session)
    branches = branches_in(tree, roots)
    cal = await load_workdays(session)

    async def work(some: list[OrgInfo]) -> list[tuple[Scored, datetime | None]]:
        found = await inputs_for(session, some, start=start, end=end, now=now, cal=cal,
                              policy=DEFAULT_POLICY, rules=rules)  # fmt: skip
        scored = []
        for inputs, until in found:
            await let_others_run()  # 10,000 scores: a button press goes in between
            scored.append(((inputs, *score(inputs, rules)), until))
        return scored

    kept = kept_for(session, "scores") if keep and rules is RULES else None
    if kept is None:
        return rank([s for s, _ in await work(branches)], rules)
    return rank(await kept.values(session, (start, end), tree, branches, now=now, work=work), rules)


async def assessed_for(db: Database, actor: Actor, year: int, *, now: datetime) -> list[Result]:
    """/assess: the year's assessment of the branches an admin oversees."""
    require_admin(actor)
    async with db.read() as session:
        return await assess(session, year=year, roots=admin_roots(actor), now=now)
