"""What the scheduler sends at a moment (SPEC §4, §9 ``zhibu reminders``): reminders,
escalations, political birthdays and digests, with their recipients and texts. Sends nothing.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, normalise_lang, period_label, t
from bot.rules.calendar import Occurrence, Status, birthday_in
from bot.rules.catalogue import Obligation, ReminderPolicy, Scope
from bot.rules.tree import Children, children_of, subtree
from bot.rules.workdays import WorkdayCalendar
from bot.services.obligations import (
    GRACE_AFTER_DAYS,
    ORG_COLUMNS,
    PERSON_COLUMNS,
    Effective,
    Facts,
    OrgInfo,
    OrgLike,
    Person,
    compute_occurrences,
    load_facts,
    load_workdays,
    member_key,
    periods_near,
)
from bot.store.db import WIDE, let_others_run, plain_rows
from bot.store.models import (
    MANAGER_ROLES,
    Member,
    Org,
    OrgAdmin,
    OrgKind,
    Role,
    TelegramLink,
    TelegramUser,
)


@dataclass(unsafe_hash=True, slots=True)  # a value, not frozen: see Occurrence
class Recipient:
    key: str | int  # member_code (or name) for members; the Telegram id for admins
    telegram_id: int | None
    lang: Lang


@dataclass(unsafe_hash=True, slots=True)  # a value, not frozen: see Occurrence
class Detail:
    """An item as data, for the briefing that merges it: its step, the occurrence (or none
    for a greeting), the obligation, who it is about, the branch's name."""

    step: str  # reminder | escalation | oversight | birthday
    occ: Occurrence | None
    ob: Obligation | None
    who: str
    org_name: str


@dataclass(unsafe_hash=True, slots=True)  # a value, not frozen: see Occurrence
class Planned:
    kind: str  # reminder | escalation | birthday | digest
    obligation: str | None
    org: str
    recipient: Recipient
    text: str
    at: datetime
    tz: str
    occurrence: tuple[str, str, str | None, date] | None = None  # obligation, org, member, start
    org_id: int | None = None
    detail: Detail | None = None  # what a briefing needs to say it in a line

    @property
    def delivery(self) -> str:
        return "telegram" if self.recipient.telegram_id is not None else "unlinked"

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "obligation": self.obligation,
            "org": self.org,
            "recipient": self.recipient.key,
            "delivery": self.delivery,
            "text": self.text,
        }


class _People:
    """Members of one branch with their Telegram accounts and languages."""

    def __init__(self, default: Lang) -> None:
        self.rows: list[tuple[Person, int | None, str | None]] = []
        self.default = default
        self._managers: list[Recipient] | None = None
        self._born: dict[date, list[tuple[Person, int | None, str | None]]] = {}

    def recipient(self, member: Person, telegram_id: int | None, lang: str | None) -> Recipient:
        return Recipient(member_key(member), telegram_id, normalise_lang(lang, self.default))

    def managers(self) -> list[Recipient]:
        """The branch's managers (worked out once: the rows do not change after loading)."""
        if self._managers is None:
            self._managers = [
                self.recipient(m, tg, lang)
                for m, tg, lang in self.rows
                if m.role in MANAGER_ROLES  # a StrEnum set: the stored string is found as is
            ]
        return list(self._managers)

    def born_on(self, day: date) -> list[tuple[Person, int | None, str | None]]:
        """The members whose political birthday is ``day`` (a year or more after they joined);
        worked out once per day, for the greeting and the digest alike."""
        if day not in self._born:
            self._born[day] = [
                row
                for row in self.rows
                if (joined := row[0].joined_on) is not None
                and joined.month == day.month  # a birthday stays in its month (29 Feb: 28th)
                and joined.year < day.year
                and birthday_in(joined, day.year) == day
            ]
        return self._born[day]

    def group_leaders(self, group_id: int) -> list[Recipient]:
        return [
            self.recipient(m, tg, lang)
            for m, tg, lang in self.rows
            if m.role == Role.GROUP_LEADER.value and m.group_id == group_id
        ]

    def by_key(self, key: str) -> list[Recipient]:
        return [self.recipient(m, tg, lang) for m, tg, lang in self.rows if member_key(m) == key]

    def name_of(self, key: str) -> str:
        return next((m.name for m, _, _ in self.rows if member_key(m) == key), key)


class _Loaded(dict[int, _People]):
    """The people of the orgs loaded so far, by org id. An org loaded with no members reads
    as empty; an org not loaded raises: a missing part must never look like nobody."""

    def __init__(self, default: Lang) -> None:
        super().__init__()
        self.default = default
        self.orgs: set[int] = set()  # the orgs whose people were read (members or none)
        self.everyone = False

    def __missing__(self, org_id: int) -> _People:
        if not self.everyone and org_id not in self.orgs:
            raise RuntimeError(f"the people of org {org_id} were read before they were loaded")
        found = self[org_id] = _People(self.default)
        return found


class Directory:
    """Who is who: the org tree, the admins, which org each Telegram account is a member of,
    and the members with their accounts and languages — of every org, or of the orgs asked
    for (``load_people``), so that a tick over 10,000 branches holds one part at a time.

    ``load`` reads it all; ``later`` reads nothing until ``ready()``, so a minute in which
    nothing is due never reads the people.
    Reading what is not loaded yet raises rather than looking empty."""

    def __init__(self, default: Lang, bootstrap: frozenset[int]) -> None:
        self._orgs: dict[int, OrgLike] = {}
        self._by_code: dict[str, OrgLike] = {}
        self._people = _Loaded(default)
        self._admins: dict[int, list[Recipient]] = defaultdict(list)
        self._member_of: dict[int, int] = {}  # Telegram id -> the org of the member linked
        self._accounts: dict[int, tuple[int, str | None]] = {}  # member id -> account, language
        self._loaded = False
        self._children: Children | None = None
        self.default = default
        self.bootstrap = bootstrap

    @classmethod
    def later(cls, default: Lang, bootstrap: frozenset[int]) -> Directory:
        """A directory that reads nothing until ``ready()``: a quiet minute costs no reads."""
        return cls(default, bootstrap)

    @property
    def orgs(self) -> dict[int, OrgLike]:
        if not self._loaded:
            raise RuntimeError("Directory.orgs read before ready()")
        return self._orgs

    @property
    def by_code(self) -> dict[str, OrgLike]:
        self.orgs  # noqa: B018 (raises before ready())
        return self._by_code

    @property
    def people(self) -> _Loaded:
        """The people by org, of the orgs loaded (an org not loaded raises)."""
        if not self._loaded:
            raise RuntimeError("Directory.people read before ready()")
        return self._people

    @property
    def admins(self) -> dict[int, list[Recipient]]:
        if not self._loaded:
            raise RuntimeError("Directory.admins read before ready()")
        return self._admins

    @property
    def member_of(self) -> dict[int, int]:
        """Telegram id → the org of the (active) member it is linked to: known for every
        account, whether or not that org's people are loaded."""
        self.orgs  # noqa: B018 (raises before ready())
        return self._member_of

    @classmethod
    async def load(
        cls, session: AsyncSession, default: Lang, bootstrap: frozenset[int]
    ) -> Directory:
        return await cls.later(default, bootstrap).ready(session)

    async def ready(self, session: AsyncSession, *, people: bool = True) -> Directory:
        """Load the org tree, the admins and the accounts' orgs, once; and the people of every
        org unless ``people`` is false (then ``load_people`` reads them a part at a time)."""
        if not self._loaded:
            await self._load_tree(session)
        if people and not self._people.everyone:
            await self.load_people(session, None)
        return self

    async def _load_tree(self, session: AsyncSession) -> None:
        orgs = [
            OrgInfo(*row)
            for row in await plain_rows(session, select(*ORG_COLUMNS).order_by(Org.code))
        ]
        await let_others_run()
        self._orgs, self._by_code = {o.id: o for o in orgs}, {o.code: o for o in orgs}
        admins = await session.execute(
            select(
                OrgAdmin.org_id,
                OrgAdmin.telegram_user_id,
                TelegramUser.language,
                TelegramUser.telegram_language,
            )
            .outerjoin(TelegramUser, TelegramUser.id == OrgAdmin.telegram_user_id)
            .order_by(OrgAdmin.telegram_user_id)
        )
        for org_id, tg, chosen, told in admins:
            self._admins[org_id].append(
                Recipient(tg, tg, normalise_lang(chosen or told, self.default))
            )
        linked = await plain_rows(
            session,
            select(
                TelegramLink.member_id,
                TelegramLink.telegram_user_id,
                Member.org_id,
                TelegramUser.language,
                TelegramUser.telegram_language,
            )
            .join(Member, Member.id == TelegramLink.member_id)
            .outerjoin(TelegramUser, TelegramUser.id == TelegramLink.telegram_user_id)
            .where(Member.active),
        )
        for member_id, tg, org_id, chosen, told in linked:
            self._member_of[tg] = org_id
            self._accounts[member_id] = (tg, chosen or told)
        self._loaded = True

    async def load_people(self, session: AsyncSession, org_ids: Collection[int] | None) -> None:
        """Read the members of these orgs, or of every org (None), with their accounts and
        languages; orgs already loaded are not read again. Read ``WIDE`` orgs a query, each
        result whole (a streamed result's rows come one by one through the driver's adapter:
        twice as slow), other work running between the queries."""
        loaded = self.people
        if loaded.everyone:
            return
        wanted = [o for o in (self.orgs if org_ids is None else org_ids) if o not in loaded.orgs]
        accounts, nobody = self._accounts, (None, None)
        query = (  # the accounts are known already (``ready``): no join per member
            select(*PERSON_COLUMNS)
            .where(Member.active)
            .order_by(Member.org_id, Member.id)  # an org's members in order (no whole sort)
        )
        for first in range(0, len(wanted), WIDE):
            part = wanted[first : first + WIDE]
            for row in await plain_rows(session, query.where(Member.org_id.in_(part))):
                person = Person(*row)
                found = loaded.get(person.org_id)
                if found is None:
                    found = loaded[person.org_id] = _People(self.default)
                found.rows.append((person, *accounts.get(person.id, nobody)))
            loaded.orgs.update(part)
            await let_others_run()
        loaded.everyone = org_ids is None

    async def people_of(self, session: AsyncSession, org_id: int) -> _People:
        """One org's people, read if they are not loaded yet."""
        await self.ready(session, people=False)
        await self.load_people(session, [org_id])
        return self.people[org_id]

    def forget(self, org_ids: Collection[int]) -> None:
        """Let go of these orgs' people (a tick's part is done with them)."""
        loaded = self.people
        if loaded.everyone:
            return
        for org_id in org_ids:
            loaded.pop(org_id, None)
        loaded.orgs -= set(org_ids)

    def account(self, person: Person) -> Recipient:
        """The recipient for a member: their Telegram account (if linked) and language."""
        for p, tg, lang in self.people[person.org_id].rows:
            if p.id == person.id:
                return self.people[person.org_id].recipient(p, tg, lang)
        return Recipient(member_key(person), None, self.default)

    def persons(self, orgs: Collection[int]) -> dict[int, list[Person]]:
        """The members of these orgs (loaded: an org not loaded raises)."""
        people = self.people
        return {org_id: [p for p, _, _ in people[org_id].rows] for org_id in orgs}

    def chain(self, org_id: int) -> list[int]:
        """The org and every org above it, nearest first."""
        result: list[int] = []
        current: int | None = org_id
        while current is not None and current not in result and current in self.orgs:
            result.append(current)
            current = self.orgs[current].parent_id
        return result

    def admins_of_first(self, org_ids: list[int]) -> list[Recipient]:
        """The admins of the first org in ``org_ids`` that has any; else the bootstrap admins."""
        for oid in org_ids:
            if self.admins.get(oid):
                return self.admins[oid]
        return [Recipient(tg, tg, self.default) for tg in sorted(self.bootstrap)]

    def subtree(self, org_id: int) -> set[int]:
        """The org and every org below it."""
        if self._children is None:  # the tree is read once: its children map is made once
            self._children = children_of(self.orgs.values())
        return subtree(self._children, [org_id])


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


async def _setting(
    session: AsyncSession,
    at: datetime,
    now: datetime | None,
    cal: WorkdayCalendar | None,
    directory: Directory | None,
    default_lang: Lang,
    bootstrap_ids: frozenset[int],
) -> tuple[datetime, datetime, WorkdayCalendar, Directory]:
    """The minute, the time statuses are judged at, the workdays and who is who: given or loaded."""
    at = at.replace(second=0, microsecond=0)
    found = directory or await Directory.load(session, default_lang, bootstrap_ids)
    return at, now or at, cal or await load_workdays(session), await found.ready(session)


async def planned_at(
    session: AsyncSession,
    at: datetime,
    *,
    policy: ReminderPolicy,
    bootstrap_ids: frozenset[int],
    default_lang: Lang,
    now: datetime | None = None,
    directory: Directory | None = None,
    cal: WorkdayCalendar | None = None,
) -> list[Planned]:
    """Everything due at ``at`` (to the minute), with statuses as of ``now`` (default ``at``)."""
    at, now, cal, directory = await _setting(
        session, at, now, cal, directory, default_lang, bootstrap_ids
    )
    return await _planned(
        session,
        directory,
        cal,
        now,
        policy,
        day_of=lambda org: at.astimezone(ZoneInfo(org.timezone)).date(),
        keep=lambda moment, org: moment == at,
    )


async def planned_on(
    session: AsyncSession,
    day: date,
    *,
    now: datetime,
    policy: ReminderPolicy,
    directory: Directory,
    cal: WorkdayCalendar,
    orgs: set[int] | None = None,
) -> list[Planned]:
    """Every reminder, escalation and greeting of the local ``day`` (in each org's time zone),
    whatever its minute, with statuses as of ``now``: what a day's briefing merges."""
    await directory.ready(session, people=False)  # the people: loaded by the caller
    return await _planned(
        session,
        directory,
        cal,
        now,
        policy,
        day_of=lambda org: day,
        keep=_on_local_day(day),
        orgs=orgs,
    )


def _reminded(directory: Directory, orgs: set[int] | None) -> list[OrgLike]:
    """The orgs with obligations of their own to remind of (branches and committees), of
    ``orgs`` when given."""
    return [
        o
        for o in directory.orgs.values()
        if o.kind in (OrgKind.BRANCH.value, OrgKind.COMMITTEE.value)
        and (orgs is None or o.id in orgs)
    ]


def _on_local_day(day: date) -> Callable[[datetime, OrgLike], bool]:
    """Whether a moment falls on the local ``day`` in the org's time zone (its bounds worked
    out once per zone: the tick asks this of every reminder moment of every branch)."""
    bounds: dict[str, tuple[datetime, datetime]] = {}

    def keep(moment: datetime, org: OrgLike) -> bool:
        found = bounds.get(org.timezone)
        if found is None:
            zone = ZoneInfo(org.timezone)
            found = bounds[org.timezone] = (
                datetime.combine(day, time.min, tzinfo=zone),
                datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),
            )
        return found[0] <= moment < found[1]

    return keep


async def _facts_around(
    session: AsyncSession, orgs: list[OrgLike], first: date, directory: Directory
) -> dict[int, Any]:
    """What the orgs' calendars need around ``first``: records from the year before on."""
    window = (date(first.year - 1, 1, 1), first + timedelta(days=60))
    return await load_facts(session, orgs, window, directory.persons([o.id for o in orgs]))


async def _planned(
    session: AsyncSession,
    directory: Directory,
    cal: WorkdayCalendar,
    now: datetime,
    policy: ReminderPolicy,
    *,
    day_of: Callable[[OrgLike], date],
    keep: Callable[[datetime, OrgLike], bool],
    orgs: set[int] | None = None,
) -> list[Planned]:
    targets = _reminded(directory, orgs)
    if not targets:
        return []
    facts = await _facts_around(session, targets, min(day_of(o) for o in targets), directory)
    result: list[Planned] = []
    near: dict[date, Callable[[Effective], list[tuple[date, date]]]] = {}
    for org in targets:
        await let_others_run()  # a tick over 10,000 branches must not hold up a button
        day = day_of(org)
        periods = near.setdefault(day, periods_near(day))
        own = policy.with_rule(org.reminder_rule)  # the branch's own reminder settings
        occurrences = compute_occurrences(
            facts[org.id], periods, now=now, cal=cal, policy=own, on_day=day
        )
        result += _org_planned(directory, org, facts[org.id], occurrences, day, policy, keep)
    return result


def _org_planned(
    directory: Directory,
    org: OrgLike,
    facts: Facts,
    occurrences: list[Occurrence],
    day: date,
    policy: ReminderPolicy,
    keep: Callable[[datetime, OrgLike], bool],
) -> list[Planned]:
    """An org's reminders, escalations and greetings among its occurrences that ``keep``s."""
    result: list[Planned] = []
    obs = {e.ob.code: e.ob for e in facts.obligations}
    for occ in occurrences:
        for moment in (*occ.reminders, *occ.escalations):
            if keep(moment, org):
                result += _for_occurrence(directory, org, occ, obs[occ.obligation], moment)
    if org.kind == OrgKind.BRANCH.value:
        greeting = datetime.combine(day, policy.greeting_at, tzinfo=ZoneInfo(org.timezone))
        if keep(greeting, org):
            result += _birthdays(directory.people[org.id], org, greeting, day)
    return result


async def day_of_orgs(
    session: AsyncSession,
    day: date,
    *,
    now: datetime,
    policy: ReminderPolicy,
    directory: Directory,
    cal: WorkdayCalendar,
    orgs: set[int] | None = None,
) -> tuple[list[Planned], list[BranchDay]]:
    """What a day's briefings merge, from one reading of the facts and one working-out of
    each org's occurrences: the reminders, escalations and greetings of the local ``day``
    (``planned_on``) and each branch's digest of that day (``branch_days``). The periods
    that can be overdue or due soon include those whose reminders can fall on the day."""
    await directory.ready(session, people=False)  # the people: loaded by the caller
    targets = _reminded(directory, orgs)
    if not targets:
        return [], []
    facts = await _facts_around(session, targets, day, directory)
    periods = periods_near(day, GRACE_AFTER_DAYS)
    keep = _on_local_day(day)
    planned: list[Planned] = []
    days: list[BranchDay] = []
    for org in targets:
        await let_others_run()  # a tick over 10,000 branches must not hold up a button
        own = policy.with_rule(org.reminder_rule)  # the branch's own reminder settings
        occs = compute_occurrences(facts[org.id], periods, now=now, cal=cal, policy=own)
        planned += _org_planned(
            directory,
            org,
            facts[org.id],
            occs,
            day,
            policy,
            keep,
        )
        if org.kind == OrgKind.BRANCH.value:
            days.append(_branch_day(org, day, facts[org.id], occs, policy, directory, cal))
    return planned, days


def _for_occurrence(
    directory: Directory, org: OrgLike, occ: Occurrence, ob: Obligation, at: datetime
) -> list[Planned]:
    people = directory.people[org.id] if org.kind == OrgKind.BRANCH.value else None
    step = "reminder" if at in occ.reminders else "escalation"
    oversight = step == "escalation" and occ.escalations.index(at) >= 1
    if oversight:
        recipients = directory.admins_of_first(directory.chain(org.id)[1:])
    elif people is None:
        recipients = directory.admins_of_first([org.id])
    elif ob.scope is Scope.CANDIDATE and occ.member is not None:
        recipients = people.by_key(occ.member)
    elif ob.scope is Scope.GROUP:
        group = directory.by_code.get(occ.org)
        leaders = people.group_leaders(group.id) if group else []
        recipients = leaders + [r for r in people.managers() if r not in leaders]
    else:
        recipients = people.managers()
    who = org.name
    if occ.member is not None and people is not None:
        who = f"{org.name} · {people.name_of(occ.member)}"
    elif occ.org in directory.by_code and occ.org != org.code:
        who = f"{org.name} · {directory.by_code[occ.org].name}"
    text_key = "oversight" if oversight else step
    texts: dict[Lang, str] = {}  # one text per language, however many recipients share it

    def text(lang: Lang) -> str:
        if lang not in texts:
            texts[lang] = t(
                lang,
                names.REMINDER_STEP[text_key],
                org=_e(who),
                obligation=_e(ob.name(lang)),
                period=period_label(lang, occ.start, occ.end),
                count=occ.count,
                required=occ.required,
                last_workday=fmt_date(lang, occ.last_workday),
                deadline=fmt_date(lang, occ.deadline),
            )
        return texts[lang]

    where = (occ.obligation, occ.org, occ.member, occ.start)
    kind = "oversight" if oversight else step
    return [
        Planned(
            step,
            occ.obligation,
            occ.org,
            r,
            text(r.lang),
            at,
            org.timezone,
            where,
            org.id,
            detail=Detail(kind, occ, ob, who, org.name),
        )
        for r in recipients
    ]


def _birthdays(people: _People, org: OrgLike, at: datetime, today: date) -> list[Planned]:
    """Political birthdays (党员政治生日), greeted at ``at`` (09:00 local time)."""
    found = []
    for m, tg, lang in people.born_on(today):
        assert m.joined_on is not None
        r = people.recipient(m, tg, lang)
        text = t(r.lang, "remind.birthday", name=_e(m.name), years=today.year - m.joined_on.year)
        found.append(
            Planned(
                "birthday",
                None,
                org.code,
                r,
                text,
                at,
                org.timezone,
                None,
                org.id,
                detail=Detail("birthday", None, None, m.name, org.name),
            )
        )
    return found


# ---------------------------------------------------------------- digests


@dataclass(frozen=True)
class BranchDay:
    """A branch's day as its digest sees it: overdue items, items due soon, birthdays."""

    org: OrgLike
    day: date
    workday: bool
    overdue: list[tuple[Occurrence, Obligation]]
    soon: list[tuple[Occurrence, Obligation]]
    birthdays: list[Person]
    people: _People


async def branch_days(
    session: AsyncSession,
    branches: list[OrgLike],
    days: dict[int, date],
    *,
    now: datetime,
    policy: ReminderPolicy,
    directory: Directory,
    cal: WorkdayCalendar,
) -> list[BranchDay]:
    """What each branch's digest says on its day (``days``: branch id → local day)."""
    if not branches:
        return []
    facts = await _facts_around(session, branches, min(days.values()), directory)
    result: list[BranchDay] = []
    near: dict[date, Callable[[Effective], list[tuple[date, date]]]] = {}
    for org in branches:
        await let_others_run()  # a tick over 10,000 branches must not hold up a button
        today = days[org.id]
        # the periods that can be overdue or due soon today: not the whole year
        periods = near.setdefault(today, periods_near(today, GRACE_AFTER_DAYS))
        occs = compute_occurrences(
            facts[org.id], periods, now=now, cal=cal, policy=policy, plans=False
        )
        result.append(_branch_day(org, today, facts[org.id], occs, policy, directory, cal))
    return result


def _branch_day(
    org: OrgLike,
    today: date,
    facts: Facts,
    occs: list[Occurrence],
    policy: ReminderPolicy,
    directory: Directory,
    cal: WorkdayCalendar,
) -> BranchDay:
    """A branch's digest day from its occurrences of the periods near ``today``."""
    obs = {e.ob.code: e.ob for e in facts.obligations}
    horizon = cal.shift(today, policy.digest_horizon_workdays)
    people = directory.people[org.id]
    return BranchDay(
        org,
        today,
        cal.is_workday(today),
        [(o, obs[o.obligation]) for o in occs if o.status is Status.OVERDUE],
        [
            (o, obs[o.obligation])
            for o in occs
            if o.status is Status.OPEN and o.last_workday <= horizon and o.start <= today
        ],
        [m for m, _, _ in people.born_on(today)],
        people,
    )


async def digests_at(
    session: AsyncSession,
    at: datetime,
    *,
    policy: ReminderPolicy,
    bootstrap_ids: frozenset[int],
    default_lang: Lang,
    now: datetime | None = None,
    directory: Directory | None = None,
    cal: WorkdayCalendar | None = None,
) -> list[Planned]:
    """Managers' workday digest and committee admins' Monday digest, if ``at`` is their time."""
    at, now, cal, directory = await _setting(
        session, at, now, cal, directory, default_lang, bootstrap_ids
    )
    branches = [
        o
        for o in directory.orgs.values()
        if o.kind == OrgKind.BRANCH.value
        and datetime.combine(
            at.astimezone(ZoneInfo(o.timezone)).date(),
            policy.digest_at,
            tzinfo=ZoneInfo(o.timezone),
        )
        == at
    ]
    days = {o.id: at.astimezone(ZoneInfo(o.timezone)).date() for o in branches}
    found = await branch_days(
        session, branches, days, now=now, policy=policy, directory=directory, cal=cal
    )
    result: list[Planned] = []
    for bd in found:
        if not bd.workday or not (bd.overdue or bd.soon or bd.birthdays):
            continue  # an empty digest is not sent
        for r in bd.people.managers():
            text = _manager_digest(r.lang, bd)
            result.append(
                Planned("digest", None, bd.org.code, r, text, at, bd.org.timezone, None, bd.org.id)
            )
    result += _committee_digests(directory, at, found, policy)
    return result


def _who(occ: Occurrence, people: _People) -> str | None:
    return people.name_of(occ.member) if occ.member is not None else None


def _occ_line(
    lang: Lang, occ: Occurrence, ob: Obligation, directory_name: str | None = None
) -> str:
    name = _e(ob.name(lang)) + (f" · {_e(directory_name)}" if directory_name else "")
    return t(
        lang,
        "digest.line",
        name=name,
        period=period_label(lang, occ.start, occ.end),
        count=occ.count,
        required=occ.required,
        day=fmt_date(lang, occ.last_workday),
    )


def _manager_digest(lang: Lang, bd: BranchDay) -> str:
    lines = [t(lang, "digest.title", org=_e(bd.org.name), day=fmt_date(lang, bd.day))]
    lines += digest_body(lang, bd)
    return "\n".join(lines)


def digest_body(lang: Lang, bd: BranchDay) -> list[str]:
    """The digest's lines for a branch's day: overdue, due soon, birthdays."""
    lines = []
    if bd.overdue:
        lines.append(t(lang, "digest.overdue"))
        lines += [_occ_line(lang, o, ob, _who(o, bd.people)) for o, ob in bd.overdue[:20]]
    if bd.soon:
        lines.append(t(lang, "digest.soon"))
        lines += [_occ_line(lang, o, ob, _who(o, bd.people)) for o, ob in bd.soon[:20]]
    if bd.birthdays:
        who = "、".join(
            t(lang, "digest.birthday_one", name=_e(m.name), years=bd.day.year - m.joined_on.year)
            for m in bd.birthdays
            if m.joined_on
        )
        lines.append(t(lang, "digest.birthdays", names=who))
    return lines


def late_below(
    directory: Directory, behind: dict[int, list[tuple[Occurrence, Obligation]]]
) -> dict[int, list[tuple[OrgLike, list[tuple[Occurrence, Obligation]]]]]:
    """Per committee admin (Telegram id): the branches in their scope with overdue items
    (``behind``: branch id → its overdue items), most behind first (the bootstrap admins see
    every branch)."""
    admin_orgs: dict[int, set[int]] = defaultdict(set)  # telegram id -> orgs administered
    for org_id, admins in directory.admins.items():
        for r in admins:
            assert r.telegram_id is not None
            admin_orgs[r.telegram_id].add(org_id)
    roots = [o.id for o in directory.orgs.values() if o.parent_id is None]
    for tg in directory.bootstrap:
        admin_orgs[tg] |= set(roots)
    behind = {b: items for b, items in behind.items() if items}
    result = {}
    for tg, orgs in sorted(admin_orgs.items()):
        scope = set().union(*(directory.subtree(o) for o in orgs))
        late = [(directory.orgs[b], items) for b, items in behind.items() if b in scope]
        if late:
            result[tg] = sorted(late, key=lambda x: (-len(x[1]), x[0].code))
    return result


def admin_lang(directory: Directory, tg: int) -> Lang:
    for admins in directory.admins.values():
        for r in admins:
            if r.telegram_id == tg:
                return r.lang
    return directory.default


def committee_lines(
    lang: Lang, late: list[tuple[OrgLike, list[tuple[Occurrence, Obligation]]]]
) -> list[str]:
    lines = []
    for org, items in late[:40]:
        names = "、".join(sorted({ob.name(lang) for _, ob in items}))
        lines.append(
            t(lang, "digest.committee_line", org=_e(org.name), n=len(items), names=_e(names))
        )
    return lines


def _committee_digests(
    directory: Directory, at: datetime, found: list[BranchDay], policy: ReminderPolicy
) -> list[Planned]:
    """Monday: each committee admin hears which branches below them are behind schedule."""
    result: list[Planned] = []
    for tg, late in late_below(directory, {bd.org.id: bd.overdue for bd in found}).items():
        tz = ZoneInfo(late[0][0].timezone)
        local = at.astimezone(tz)
        if local.weekday() != 0 or local.timetz().replace(tzinfo=None) != policy.digest_at:
            continue
        lang = admin_lang(directory, tg)
        lines = [t(lang, "digest.committee_title", day=fmt_date(lang, local.date()), n=len(late))]
        lines += committee_lines(lang, late)
        result.append(
            Planned(
                "digest",
                None,
                "*",
                Recipient(tg, tg, lang),
                "\n".join(lines),
                at,
                late[0][0].timezone,
            )
        )
    return result
