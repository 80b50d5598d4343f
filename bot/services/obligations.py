"""Which obligations each org owes, and their occurrences with statuses (SPEC §3, §4).

Loads what the pure calendar needs from the database, once per org, and hands it over.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import names
from bot.i18n.texts import Lang, t
from bot.rules.calendar import (
    DayRule,
    Occurrence,
    Status,
    build_occurrence,
    heart_talk_coverage,
    periods_of_year,
    planned_day,
    reminder_days,
)
from bot.rules.catalogue import (
    BY_CODE,
    CATALOGUE,
    DEFAULT_POLICY,
    MIN_COMMITTEE_MEMBERS,
    OFFSET_CHOICES,
    QUIET_CHOICES,
    REMINDER_TIMES,
    Obligation,
    Period,
    ReminderPolicy,
    Scope,
)
from bot.rules.workdays import WorkdayCalendar, YearData
from bot.services.access import Actor, Declined, require_manager
from bot.store import audit
from bot.store.db import Database, among, let_others_run, plain_rows
from bot.store.models import (
    COMMITTEE_ROLES,
    CustomObligation,
    HolidayDay,
    HolidayYear,
    Meeting,
    Member,
    ObligationSetting,
    Org,
    OrgKind,
    Record,
    RecordObligation,
    Role,
    TelegramLink,
)

SCOPES_BY_KIND: dict[str, tuple[Scope, ...]] = {
    OrgKind.BRANCH.value: (Scope.BRANCH, Scope.BRANCH_COMMITTEE, Scope.GROUP, Scope.CANDIDATE),
    OrgKind.COMMITTEE.value: (Scope.COMMITTEE,),
}
CANDIDATE_ROLES = (Role.PROBATIONARY.value, Role.ACTIVIST.value)


async def load_workdays(session: AsyncSession) -> WorkdayCalendar:
    """The workday calendar with every year the operator imported."""
    years = list((await session.execute(select(HolidayYear.year))).scalars())
    days = list((await session.execute(select(HolidayDay))).scalars())
    data = []
    for year in years:
        mine = [d for d in days if d.year == year]
        data.append(
            YearData(
                year,
                frozenset(d.day for d in mine if d.kind == "holiday"),
                frozenset(d.day for d in mine if d.kind == "workday"),
                {d.day: d.name for d in mine if d.name},
            )
        )
    return WorkdayCalendar(data)


@dataclass(frozen=True)
class Effective:
    """An obligation as one org owes it: its own period and min, on or off."""

    ob: Obligation
    enabled: bool = True
    reason: str | None = None
    custom: bool = False
    due_on: date | None = None
    since: date | None = None


def effective_obligations(
    org: OrgLike, settings: list[ObligationSetting], customs: list[CustomObligation]
) -> list[Effective]:
    """The catalogue as this org owes it: its kind's obligations, its settings, its own."""
    scopes = SCOPES_BY_KIND.get(org.kind, ())
    by_code = {s.code: s for s in settings}
    result = []
    for ob in CATALOGUE:
        if ob.scope not in scopes:
            continue
        s = by_code.get(ob.code)
        if s is None:
            result.append(Effective(ob))
            continue
        own = replace(
            ob,
            period=Period(s.period) if s.period else ob.period,
            min_count=s.min_count if s.min_count is not None else ob.min_count,
        )
        result.append(Effective(own, s.enabled, s.reason))
    own_scope = Scope.COMMITTEE if org.kind == OrgKind.COMMITTEE.value else Scope.BRANCH
    for c in sorted(customs, key=lambda c: c.id):
        ob = Obligation(
            c.code,
            c.title,
            c.title,
            own_scope,
            Period(c.period),
            c.min_count,
            c.attendance,
            t("zh", "settings.custom_source"),
            t("en", "settings.custom_source"),
        )
        result.append(Effective(ob, custom=True, due_on=c.due_on, since=c.created_at.date()))
    return result


async def obligations_for(session: AsyncSession, org: Org) -> list[Effective]:
    return (await load_facts(session, [org], None))[org.id].obligations


@dataclass(unsafe_hash=True, slots=True)
class Person:
    """A member as the calendar and the scheduler need them: plain values, cheap to load.
    Never changed once read; not declared ``frozen``, whose field-by-field ``__setattr__``
    made reading 300,000 members a second slower (see ``Occurrence``)."""

    id: int
    org_id: int
    group_id: int | None
    name: str
    member_code: str | None
    role: str
    joined_on: date | None
    away_until: date | None = None

    def away_on(self, day: date) -> bool:
        """Away (出差/休假, set with /away) on ``day``: no nudges."""
        return self.away_until is not None and day <= self.away_until


@dataclass(frozen=True)
class Reach:
    """Who a broadcast reached: how many were sent it, and the people it could not reach
    (no linked Telegram account) by id and name, so a manager can invite them."""

    sent: int
    unreached: tuple[tuple[int, str], ...] = ()


async def reach_of(session: AsyncSession, people: list[Person]) -> Reach:
    """The reach of a message to ``people``: the linked ones are sent it."""
    linked = set(
        (
            await session.execute(
                select(TelegramLink.member_id).where(
                    TelegramLink.member_id.in_([p.id for p in people])
                )
            )
        ).scalars()
    )
    return Reach(
        sum(1 for p in people if p.id in linked),
        tuple((p.id, p.name) for p in people if p.id not in linked),
    )


@dataclass(frozen=True, slots=True)
class OrgInfo:
    """An org as the calendar and the scheduler read it: plain values. Every attribute read
    of an ORM object goes through SQLAlchemy's instrumentation; the tick at 10,000 branches
    read org attributes millions of times, at 2 s in all."""

    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    timezone: str
    group_chat_id: int | None
    theme_day_rule: str | None
    checkin_mode: str
    reminder_rule: dict[str, Any] | None
    tracking_since: date | None

    @classmethod
    def of(cls, org: Org) -> OrgInfo:
        return cls(*(getattr(org, c.key) for c in ORG_COLUMNS))


ORG_COLUMNS = (
    Org.id,
    Org.code,
    Org.name,
    Org.kind,
    Org.parent_id,
    Org.timezone,
    Org.group_chat_id,
    Org.theme_day_rule,
    Org.checkin_mode,
    Org.reminder_rule,
    Org.tracking_since,
)
OrgLike = Org | OrgInfo  # what the calendar needs of an org, an ORM object or plain values


PERSON_COLUMNS = (
    Member.id,
    Member.org_id,
    Member.group_id,
    Member.name,
    Member.member_code,
    Member.role,
    Member.joined_on,
    Member.away_until,
)


class RecordFact(NamedTuple):
    """What the calendar counts of a record (a light row, not the whole record)."""

    org_id: int
    member_id: int | None
    partner_id: int | None
    held_on: date
    filed_at: datetime


@dataclass
class Facts:
    """What one branch or committee looks like, loaded once."""

    org: OrgLike
    obligations: list[Effective] = field(default_factory=list)
    members: list[Person] = field(default_factory=list)
    groups: list[Org] = field(default_factory=list)
    records: dict[str, list[RecordFact]] = field(default_factory=lambda: defaultdict(list))
    held: dict[str, list[tuple[int, date]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def committee(self) -> list[Person]:
        return [m for m in self.members if m.role in COMMITTEE_ROLES]  # a StrEnum set


async def load_facts(
    session: AsyncSession,
    orgs: Sequence[OrgLike],
    records: tuple[date, date] | None,
    people: dict[int, list[Person]] | None = None,
) -> dict[int, Facts]:
    """Everything the calendar needs about these orgs, in a handful of queries for all of them.

    ``records``: the window of record dates to load, or None for no records.
    """
    facts = {o.id: Facts(o) for o in orgs}
    ids = list(facts)
    settings: dict[int, list[ObligationSetting]] = defaultdict(list)
    for s in (
        await session.execute(select(ObligationSetting).where(among(ObligationSetting.org_id, ids)))
    ).scalars():
        settings[s.org_id].append(s)
    customs: dict[int, list[CustomObligation]] = defaultdict(list)
    for c in (
        await session.execute(
            select(CustomObligation).where(
                among(CustomObligation.org_id, ids), CustomObligation.active
            )
        )
    ).scalars():
        customs[c.org_id].append(c)
    for f in facts.values():
        f.obligations = effective_obligations(f.org, settings[f.org.id], customs[f.org.id])
        await let_others_run()  # thousands of branches: a button press goes in between
    if records is None:
        return facts
    if people is not None:  # already loaded by the caller
        for f in facts.values():
            f.members = list(people.get(f.org.id, []))
    else:
        for k, row in enumerate(
            await plain_rows(
                session,
                select(*PERSON_COLUMNS)
                .where(among(Member.org_id, ids), Member.active)
                .order_by(Member.id),
            )
        ):
            if row[1] in facts:
                facts[row[1]].members.append(Person(*row))
            if k % ROWS_BETWEEN_PAUSES == 0:
                await let_others_run()  # 300,000 members: a button press goes in between
    owner: dict[int, int] = {i: i for i in ids}
    for g in (
        await session.execute(
            select(Org)
            .where(among(Org.parent_id, ids), Org.kind == OrgKind.GROUP.value)
            .order_by(Org.code)
        )
    ).scalars():
        if g.parent_id not in facts:
            continue
        facts[g.parent_id].groups.append(g)
        owner[g.id] = g.parent_id
    rows = await plain_rows(
        session,
        select(
            Record.org_id,
            Record.member_id,
            Record.partner_id,
            Record.held_on,
            Record.filed_at,
            RecordObligation.code,
        )
        .join(RecordObligation, RecordObligation.record_id == Record.id)
        .where(
            among(Record.org_id, owner),
            Record.held_on >= records[0],
            Record.held_on <= records[1],
            Record.withdrawn_at.is_(None),
        ),
    )
    for k, (org_id, member_id, partner_id, held_on, filed_at, code) in enumerate(rows):
        if org_id in owner:
            record = RecordFact(org_id, member_id, partner_id, held_on, filed_at)
            facts[owner[org_id]].records[code].append(record)
        if k % ROWS_BETWEEN_PAUSES == 0:
            await let_others_run()
    held = await plain_rows(
        session,
        select(Meeting.org_id, Meeting.starts_at, Meeting.obligation, Meeting.also).where(
            among(Meeting.org_id, owner),
            Meeting.status == "closed",
            Meeting.quorum_met.is_(True),
            Meeting.record_id.is_(None),
        ),
    )
    for org_id, starts_at, obligation, also in held:
        if org_id not in owner:
            continue
        day = starts_at.astimezone(ZoneInfo(facts[owner[org_id]].org.timezone)).date()
        for code in [obligation, *also]:
            facts[owner[org_id]].held[code].append((org_id, day))
    return facts


ROWS_BETWEEN_PAUSES = 1000  # rows taken in a long read between chances for others to run


def _count(
    records: list[RecordFact],
    *,
    org_id: int,
    member_id: int | None,
    start: date,
    end: date,
    tz: ZoneInfo,
) -> tuple[int, int]:
    """(count, late): records dated in the period; late ones were filed after its end."""
    count = late = 0
    for r in records:
        if r.org_id != org_id or not start <= r.held_on <= end:
            continue
        if member_id is not None and r.member_id != member_id:
            continue
        count += 1
        if r.filed_at.astimezone(tz).date() > end:
            late += 1
    return count, late


def member_key(member: Person | Member) -> str:
    """How a member is named in calendar output: member_code, else the name."""
    return member.member_code or member.name


async def org_occurrences(
    session: AsyncSession,
    org: Org,
    year: int,
    *,
    now: datetime,
    cal: WorkdayCalendar,
    policy: ReminderPolicy,
) -> list[Occurrence]:
    """Every occurrence of this org, its 党小组 and its members whose period overlaps ``year``."""
    facts = await load_facts(session, [org], (date(year - 1, 1, 1), date(year + 1, 12, 31)))
    policy = policy.with_rule(org.reminder_rule)  # the branch's own reminder settings
    return compute_occurrences(
        facts[org.id], lambda eff: periods_of(eff, year), now=now, cal=cal, policy=policy
    )


def periods_near(
    day: date, after_days: int | None = None
) -> Callable[[Effective], list[tuple[date, date]]]:
    """Periods whose reminders or escalations could fall on ``day``: ending shortly after or
    before it (10 workdays before the last workday; 3 workdays after the deadline). With
    ``after_days`` (``GRACE_AFTER_DAYS``), also those still overdue on ``day``."""
    after = NEAR_AFTER_DAYS if after_days is None else after_days

    seen: dict[tuple[Period, date | None, date | None], list[tuple[date, date]]] = {}

    def pick(eff: Effective) -> list[tuple[date, date]]:
        key = (eff.ob.period, eff.due_on, eff.since)
        if key not in seen:
            seen[key] = near(eff)
        return seen[key]

    def near(eff: Effective) -> list[tuple[date, date]]:
        found = []
        for year in (day.year - 1, day.year, day.year + 1):
            for start, end in periods_of(eff, year):
                if day - timedelta(days=after) <= end <= day + timedelta(days=NEAR_BEFORE_DAYS):
                    found.append((start, end))
        return sorted(set(found))

    return pick


RECORD_WORKDAYS = 3  # a held meeting's record is due within this many workdays
NEAR_BEFORE_DAYS = 45  # 10 workdays before a deadline, with the longest holidays in between
NEAR_AFTER_DAYS = 25  # 3 workdays after a deadline, likewise, and the grace window's start
GRACE_AFTER_DAYS = 40  # the 10 workdays an occurrence stays overdue, with the longest holidays


def compute_occurrences(
    facts: Facts,
    periods: Callable[[Effective], list[tuple[date, date]]],
    *,
    now: datetime,
    cal: WorkdayCalendar,
    policy: ReminderPolicy,
    on_day: date | None = None,
    plans: bool = True,
) -> list[Occurrence]:
    """The occurrences of one org (and its 党小组 and members) for the periods chosen. Pure.

    ``on_day``: only those with a reminder or an escalation planned that day (the scheduler).
    ``plans``: with their reminder and escalation times (else left empty: statuses only).
    """
    org = facts.org
    tz = ZoneInfo(org.timezone)
    today = now.astimezone(tz).date()
    rule = DayRule.decode(org.theme_day_rule) if org.theme_day_rule else None
    committee = [m.id for m in facts.committee]
    everyone = [m.id for m in facts.members]
    tracked_from = org.tracking_since
    result: list[Occurrence] = []
    for eff in facts.obligations:
        ob = eff.ob
        owners = _owners(ob.scope, org, facts)
        day_rule = rule if ob.code == "theme_day" else None
        records = facts.records.get(ob.code, [])
        held_all = facts.held.get(ob.code, [])
        for start, end in periods(eff):
            if on_day is not None and on_day not in plan_days(
                ob, start, end, day_rule, cal, policy
            ):
                continue
            for org_code, org_id, member, applicable in owners:
                required, count, late = ob.min_count, 0, 0
                if ob.coverage:
                    talks = [
                        (r.member_id, r.partner_id)
                        for r in records
                        if r.member_id and r.partner_id and start <= r.held_on <= end
                    ]
                    count, required = heart_talk_coverage(committee, everyone, talks)
                    applicable = applicable and bool(committee)
                elif records:
                    count, late = _count(
                        records,
                        org_id=org_id,
                        member_id=member.id if member else None,
                        start=start,
                        end=end,
                        tz=tz,
                    )
                occurrence = build_occurrence(
                    ob,
                    org=org_code,
                    member=member_key(member) if member else None,
                    start=start,
                    end=end,
                    required=required,
                    count=count,
                    late=late,
                    applicable=applicable and eff.enabled,
                    today=today,
                    tz=tz,
                    cal=cal,
                    policy=policy,
                    rule=day_rule,
                    plans=plans,
                    tracked_from=tracked_from,
                )
                if held_all and count < required and member is None:
                    held = [d for oid, d in held_all if oid == org_id and start <= d <= end]
                    if held:
                        occurrence = replace(
                            occurrence, to_file=cal.shift(max(held), RECORD_WORKDAYS)
                        )
                result.append(occurrence)
    order = {o.code: i for i, o in enumerate(CATALOGUE)}
    result.sort(key=lambda o: (order.get(o.obligation, len(order)), o.org, o.member or "", o.start))
    return result


def plan_days(
    ob: Obligation,
    start: date,
    end: date,
    rule: DayRule | None,
    cal: WorkdayCalendar,
    policy: ReminderPolicy,
) -> frozenset[date]:
    """The days on which a not-yet-done occurrence has a reminder or an escalation (the same
    for every org with these rules: worked out once per calendar)."""

    def work() -> frozenset[date]:
        last = cal.on_or_before(end)
        anchor = planned_day(rule, start, end, cal) if rule is not None else last
        days = set(reminder_days(ob, start=start, anchor=anchor, cal=cal, policy=policy))
        days |= {cal.shift(end, k) for k in policy.escalation_offsets}
        if policy.in_quiet_hours(policy.at):  # moved to the end of quiet hours, maybe a day later
            days |= {cal.shift(d, 1) for d in days}
        return frozenset(days)

    return cal.remember(("plan_days", ob.code, start, end, rule, policy), work)


def _owners(scope: Scope, org: OrgLike, facts: Facts) -> list[tuple[str, int, Person | None, bool]]:
    """Who owes an obligation of this scope: (org code, org id, member, applicable)."""
    if scope is Scope.BRANCH_COMMITTEE:
        return [(org.code, org.id, None, len(facts.committee) >= MIN_COMMITTEE_MEMBERS)]
    if scope is Scope.GROUP:
        return [
            (g.code, g.id, None, any(m.group_id == g.id for m in facts.members))
            for g in facts.groups
        ]
    if scope is Scope.CANDIDATE:
        return [(org.code, org.id, m, True) for m in facts.members if m.role in CANDIDATE_ROLES]
    return [(org.code, org.id, None, True)]


def periods_of(eff: Effective, year: int) -> list[tuple[date, date]]:
    """The periods of this obligation that overlap ``year``."""
    if eff.ob.period is Period.ONCE:
        if eff.due_on is None:
            return []
        start = min(eff.since or eff.due_on, eff.due_on)
        return [(start, eff.due_on)] if start.year <= year <= eff.due_on.year else []
    return periods_of_year(eff.ob.period, year)


def obligation_name(code: str, lang: Lang) -> str:
    """A built-in obligation's name; ``other`` for meetings of no obligation; a kind of report
    (学习心得, 工作汇报) for what such a report counts toward; else the code (a custom one's)."""
    if code in BY_CODE:
        return BY_CODE[code].name(lang)
    if code in names.REPORT_KIND:
        return t(lang, names.REPORT_KIND[code])
    return t(lang, "meet.other") if code == "other" else code


# ---------------------------------------------------------------- changing a branch's obligations


class ObligationError(Declined):
    pass


MIN_REASON, MAX_REASON = 2, 200
MAX_TITLE = 60


async def _setting(
    session: AsyncSession, org: Org, code: str, now: datetime, by: int | None
) -> ObligationSetting:
    if code not in {e.ob.code for e in await obligations_for(session, org) if not e.custom}:
        raise ObligationError("settings.unknown_obligation", code=code)
    setting = await session.scalar(
        select(ObligationSetting).where(
            ObligationSetting.org_id == org.id, ObligationSetting.code == code
        )
    )
    if setting is None:
        setting = ObligationSetting(org_id=org.id, code=code, enabled=True, updated_at=now)
        session.add(setting)
    setting.updated_at, setting.updated_by = now, by
    return setting


async def set_enabled(
    session: AsyncSession,
    org: Org,
    code: str,
    *,
    enabled: bool,
    reason: str | None,
    now: datetime,
    by: int | None,
) -> None:
    """Switch a built-in obligation off (a reason is required) or back on; audited."""
    text = (reason or "").strip()
    if not enabled and not MIN_REASON <= len(text) <= MAX_REASON:
        raise ObligationError(
            "settings.reason_length", min=MIN_REASON, max=MAX_REASON, count=len(text)
        )
    setting = await _setting(session, org, code, now, by)
    setting.enabled = enabled
    setting.reason = None if enabled else text
    await audit.record(
        session,
        at=now,
        action="obligation.on" if enabled else "obligation.off",
        actor_telegram_id=by,
        org_id=org.id,
        detail={"code": code, "reason": setting.reason},
    )


async def set_period(
    session: AsyncSession,
    org: Org,
    code: str,
    *,
    period: Period | None,
    min_count: int | None,
    now: datetime,
    by: int | None,
) -> None:
    """A local rule: this branch owes the obligation per another period, or more/less often."""
    if period is Period.ONCE:
        raise ObligationError("settings.bad_period")
    if min_count is not None and not 1 <= min_count <= 50:
        raise ObligationError("settings.bad_min")
    if code in BY_CODE and BY_CODE[code].coverage and min_count is not None:
        raise ObligationError("settings.coverage_min")
    setting = await _setting(session, org, code, now, by)
    setting.period = period.value if period else None
    setting.min_count = min_count
    await audit.record(
        session,
        at=now,
        action="obligation.period",
        actor_telegram_id=by,
        org_id=org.id,
        detail={"code": code, "period": setting.period, "min": min_count},
    )


async def add_custom(
    session: AsyncSession,
    org: Org,
    *,
    title: str,
    period: Period,
    due_on: date | None,
    min_count: int,
    attendance: bool,
    now: datetime,
    by: int | None,
) -> str:
    """A custom obligation, periodic or one-off (``Period.ONCE`` with ``due_on``); its code."""
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise ObligationError("settings.bad_title", max=MAX_TITLE)
    if (period is Period.ONCE) != (due_on is not None):
        raise ObligationError("settings.once_needs_date")
    if not 1 <= min_count <= 50:
        raise ObligationError("settings.bad_min")
    custom = CustomObligation(
        org_id=org.id,
        code=f"pending-{now.timestamp()}",
        title=title,
        period=period.value,
        due_on=due_on,
        min_count=min_count,
        attendance=attendance,
        created_by=by,
        created_at=now,
    )
    session.add(custom)
    await session.flush()
    custom.code = f"custom_{custom.id}"
    await audit.record(
        session,
        at=now,
        action="obligation.custom",
        actor_telegram_id=by,
        org_id=org.id,
        detail={"code": custom.code, "title": title},
    )
    return custom.code


async def set_theme_rule(
    session: AsyncSession, org: Org, rule: DayRule | None, *, now: datetime, by: int | None
) -> None:
    org.theme_day_rule = rule.encode() if rule else None
    org.updated_at = now
    await audit.record(
        session,
        at=now,
        action="obligation.theme_day",
        actor_telegram_id=by,
        org_id=org.id,
        detail={"rule": org.theme_day_rule},
    )


async def set_checkin_mode(
    session: AsyncSession, org: Org, mode: str, *, now: datetime, by: int | None
) -> None:
    """Check-in by button, or by the 6-digit code shown in the room; audited."""
    if mode not in ("button", "code"):
        raise ObligationError("settings.bad_checkin_mode")
    org.checkin_mode, org.updated_at = mode, now
    await audit.record(
        session,
        at=now,
        action="settings.checkin_mode",
        actor_telegram_id=by,
        org_id=org.id,
        detail={"mode": mode},
    )


async def _managed_org(session: AsyncSession, actor: Actor, org_id: int) -> Org:
    await require_manager(session, actor, org_id)
    return await session.get_one(Org, org_id)


async def switch(
    db: Database,
    actor: Actor,
    org_id: int,
    code: str,
    *,
    enabled: bool,
    reason: str | None,
    now: datetime,
) -> None:
    """A manager turns an obligation of the branch off (with a reason) or back on."""
    async with db.write() as session:
        org = await _managed_org(session, actor, org_id)
        await set_enabled(
            session, org, code, enabled=enabled, reason=reason, now=now, by=actor.telegram_id
        )


async def choose_theme_rule(
    db: Database, actor: Actor, org_id: int, rule: DayRule | None, *, now: datetime
) -> None:
    """A manager fixes (or clears) the day the branch's 主题党日 is held."""
    async with db.write() as session:
        org = await _managed_org(session, actor, org_id)
        await set_theme_rule(session, org, rule, now=now, by=actor.telegram_id)


async def toggle_checkin_mode(db: Database, actor: Actor, org_id: int, *, now: datetime) -> str:
    """A manager switches check-in between button and code; the mode now in force."""
    async with db.write() as session:
        org = await _managed_org(session, actor, org_id)
        mode = "button" if org.checkin_mode == "code" else "code"
        await set_checkin_mode(session, org, mode, now=now, by=actor.telegram_id)
        return mode


async def set_reminders(
    db: Database,
    actor: Actor,
    org_id: int,
    *,
    at: str | None = None,
    offsets: tuple[int, ...] | None = None,
    quiet: tuple[str, str] | None = None,
    now: datetime,
) -> ReminderPolicy:
    """A manager sets the branch's reminder time, reminder offsets or quiet hours (SPEC §5),
    each one of the choices offered; audited. The branch's policy now in force."""
    if at is not None and at not in REMINDER_TIMES:
        raise ObligationError("settings.bad_choice")
    if offsets is not None and offsets not in OFFSET_CHOICES:
        raise ObligationError("settings.bad_choice")
    if quiet is not None and quiet not in QUIET_CHOICES:
        raise ObligationError("settings.bad_choice")
    async with db.write() as session:
        org = await _managed_org(session, actor, org_id)
        rule = dict(org.reminder_rule or {})
        changed: dict[str, Any] = {}
        if at is not None:
            changed["at"] = at
        if offsets is not None:
            changed["offsets"] = list(offsets)
        if quiet is not None:
            changed["quiet"] = list(quiet)
        org.reminder_rule, org.updated_at = rule | changed, now
        await audit.record(
            session,
            at=now,
            action="settings.reminders",
            actor_telegram_id=actor.telegram_id,
            actor_member_id=actor.member.id if actor.member else None,
            org_id=org.id,
            detail=changed,
        )
        return DEFAULT_POLICY.with_rule(org.reminder_rule)


async def add_record(
    session: AsyncSession,
    *,
    org_id: int,
    kind: str,
    held_on: date,
    codes: list[str],
    filed_at: datetime,
    filed_by: int | None = None,
    member_id: int | None = None,
    partner_id: int | None = None,
    summary: str | None = None,
    allow_none: bool = False,
) -> int:
    """A record that counts toward each obligation it names, once. A meeting record may name
    none (a meeting of another kind, or one without quorum)."""
    if not codes and not allow_none:
        raise ObligationError("records.no_obligation")
    record = Record(
        org_id=org_id,
        kind=kind,
        held_on=held_on,
        member_id=member_id,
        partner_id=partner_id,
        summary=summary,
        filed_by=filed_by,
        filed_at=filed_at,
    )
    session.add(record)
    await session.flush()
    for code in sorted(set(codes)):
        session.add(RecordObligation(record_id=record.id, code=code))
    await session.flush()
    return record.id


# ---------------------------------------------------------------- views for the chat


@dataclass(frozen=True)
class BranchView:
    """Everything /calendar, /due and /settings show about one org, as plain values."""

    org_id: int
    org_code: str
    org_name: str
    today: date
    occurrences: list[Occurrence]
    obligations: list[Effective]
    member_names: dict[str, str]  # member key -> name
    group_names: dict[str, str]  # group org code -> name
    theme_rule: DayRule | None
    checkin_mode: str = "button"
    reminders: ReminderPolicy = DEFAULT_POLICY  # the branch's, its own choices in place

    def name(self, code: str, lang: Lang) -> str:
        for e in self.obligations:
            if e.ob.code == code:
                return e.ob.name(lang)
        return obligation_name(code, lang)


async def branch_view(
    session: AsyncSession,
    org_id: int,
    *,
    now: datetime,
    policy: ReminderPolicy,
    years: tuple[int, ...] = (),
) -> BranchView | None:
    org = await session.get(Org, org_id)
    if org is None:
        return None
    today = now.astimezone(ZoneInfo(org.timezone)).date()
    cal = await load_workdays(session)
    occurrences: list[Occurrence] = []
    for year in years or (today.year,):
        occurrences += await org_occurrences(session, org, year, now=now, cal=cal, policy=policy)
    members = (await session.execute(select(Member).where(Member.org_id == org.id))).scalars()
    groups = (await session.execute(select(Org).where(Org.parent_id == org.id))).scalars()
    return BranchView(
        org.id,
        org.code,
        org.name,
        today,
        occurrences,
        await obligations_for(session, org),
        {member_key(m): m.name for m in members},
        {g.code: g.name for g in groups},
        DayRule.decode(org.theme_day_rule) if org.theme_day_rule else None,
        org.checkin_mode,
        # the time shown is the briefing's: the branch's choice, else the digest time
        replace(policy.with_rule(org.reminder_rule), at=policy.briefing_time(org.reminder_rule)),
    )


async def view_of(
    db: Database, org_id: int, *, now: datetime, years: tuple[int, ...] = ()
) -> BranchView:
    """A branch's obligations and occurrences as /calendar, /settings and /tasks show them."""
    async with db.read() as session:
        view = await branch_view(session, org_id, now=now, policy=DEFAULT_POLICY, years=years)
    if view is None:
        raise ObligationError("common.button_invalid")
    return view


DUE_DAYS = 30  # /due and the board's Me: what falls due within this many days


def sees(view: BranchView, actor: Actor, occ: Occurrence) -> bool:
    """Managers and admins see every line; a member sees the branch's and the 党小组s', and
    of the members' own obligations (thought reports) only their own."""
    if occ.member is not None:
        if actor.is_manager or actor.branch is None or actor.branch.id != view.org_id:
            return True
        return actor.member is not None and occ.member in (
            actor.member.member_code,
            actor.member.name,
        )
    return True


def due_items(view: BranchView, actor: Actor, days: int = DUE_DAYS) -> list[Occurrence]:
    """Overdue first, then what falls due within ``days``, soonest first."""
    horizon = view.today + timedelta(days=days)
    due = [
        o
        for o in view.occurrences
        if o.status in (Status.OPEN, Status.OVERDUE)
        and (o.status is Status.OVERDUE or o.last_workday <= horizon)
        and sees(view, actor, o)
    ]
    order = {e.ob.code: i for i, e in enumerate(view.obligations)}
    due.sort(
        key=lambda o: (o.status is not Status.OVERDUE, o.last_workday, order.get(o.obligation, 99))
    )
    return due
