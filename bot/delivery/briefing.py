"""The morning briefing (#16): each person's one scheduled message of the day.

Everything the scheduler used to send as separate messages on a day — the reminders and
escalations of obligations, the managers' digest, the committee's Monday digest, political
birthdays, the /ask nudges, the meeting records falling due and tomorrow's meetings — is
merged per person into one message, grouped by branch and section, with buttons to act. It
goes out at the person's briefing time (their own choice in /settings, else their branch's
reminder time, else the digest time). How often it comes is the person's choice too: every
day it has something, only when something is overdue or due within 2 workdays, or on
Mondays with the week ahead; and they can mute it until a day. A manager never loses the
escalations of overdue items that way: they come whatever the choice.

Event messages (meeting cards, the code at check-in, the hour-before meeting reminder, a
collection's prompt and summary, tallies, approvals) are not briefings: they stay immediate.
Reads only; the tick queues what this returns.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.reminders import (
    BranchDay,
    Detail,
    Directory,
    Planned,
    Recipient,
    admin_lang,
    committee_lines,
    day_of_orgs,
    late_below,
    planned_on,
)
from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, fmt_moment, period_label, t
from bot.rules.buttons import AskSubmit, BranchPick, Button, ReportFromBriefing, Rows
from bot.rules.calendar import Occurrence
from bot.rules.catalogue import (
    URGENT_WORKDAYS,
    BriefingMode,
    Obligation,
    Prefs,
    ReminderPolicy,
    Scope,
)
from bot.rules.workdays import WorkdayCalendar
from bot.services import collections, meetings
from bot.services.obligations import RECORD_WORKDAYS, OrgLike, obligation_name
from bot.services.reports import DATED_KINDS, TEXT_KINDS
from bot.store.db import let_others_run
from bot.store.models import Collection, Meeting, Org, OrgKind, TelegramUser

# sections of a branch's part, in the order they are shown
SECTIONS = ("overdue", "soon", "meetings", "records", "asks", "greeting", "birthdays")
SECTION_TITLE = {
    "overdue": "digest.overdue",
    "soon": "brief.soon",
    "meetings": "brief.meetings",
    "records": "brief.records",
    "asks": "brief.asks",
}
MAX_TEXT = 3800  # Telegram allows 4,096 characters; the rest is left for the closing line
MAX_BUTTON_ROWS = 8
COMMITTEE = "*"  # the part of a briefing about the branches below a committee admin


@dataclass(unsafe_hash=True, slots=True)  # a value, not frozen: see Occurrence
class Item:
    """One thing a briefing says: its kind (as the separate message it replaces was), where
    it goes in the message, its line, and whether it is pressing (``urgent``) or may not be
    muted (``must``: an escalation of an overdue item to a manager)."""

    kind: str  # reminder | escalation | oversight | digest | committee | birthday | nudge |
    #            record_due | meeting
    org: str  # the org's code (COMMITTEE for the committee's weekly lines)
    org_name: str
    obligation: str | None
    section: str
    line: str
    same: tuple[object, ...]  # items with the same ``same`` are one line
    urgent: bool
    must: bool = False
    buttons: tuple[tuple[str, Button], ...] = ()  # (label key, button)
    org_id: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "obligation": self.obligation,
            "org": self.org,
            "text": self.line,
        }


@dataclass
class Briefing:
    recipient: Recipient
    day: date
    at: datetime
    tz: str
    items: list[Item] = field(default_factory=list)
    text: str = ""
    rows: Rows = field(default_factory=list)

    @property
    def delivery(self) -> str:
        return "telegram" if self.recipient.telegram_id is not None else "unlinked"

    def as_json(self) -> dict[str, object]:
        return {
            "recipient": self.recipient.key,
            "delivery": self.delivery,
            "at": self.at.isoformat(),
            "items": [i.as_json() for i in self.items],
            "text": self.text,
        }


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


async def load_prefs(session: AsyncSession) -> dict[int, Prefs]:
    """The choices of everyone who changed theirs (the rest get the defaults)."""
    rows = await session.execute(
        select(
            TelegramUser.id,
            TelegramUser.briefing_mode,
            TelegramUser.briefing_at,
            TelegramUser.briefing_muted_until,
        ).where(
            or_(
                TelegramUser.briefing_mode != BriefingMode.DAILY.value,
                TelegramUser.briefing_at.is_not(None),
                TelegramUser.briefing_muted_until.is_not(None),
            )
        )
    )
    return {tg: Prefs.parse(mode, at, muted) for tg, mode, at, muted in rows}


# ---------------------------------------------------------------- items


def _who_key(r: Recipient) -> tuple[str, object]:
    """One person, however many roles: a Telegram account, else the roster's key."""
    return ("tg", r.telegram_id) if r.telegram_id is not None else ("member", r.key)


def _occ_item(
    kind: str,
    lang: Lang,
    occ: Occurrence,
    ob: Obligation,
    who: str | None,
    org: OrgLike,
    *,
    urgent: bool,
    must: bool,
    manager: bool,
    today: date,
    section: str,
) -> Item:
    name = _e(ob.name(lang)) + (f" · {_e(who)}" if who else "")
    line = t(
        lang,
        "brief.line_today" if occ.last_workday == today else "digest.line",
        name=name,
        period=period_label(lang, occ.start, occ.end),
        count=occ.count,
        required=occ.required,
        day=fmt_date(lang, occ.last_workday),
    )
    buttons: list[tuple[str, Button]] = []
    if manager and kind != "oversight" and ob.code in meetings.MEETING_KINDS:
        buttons.append(("brief.arrange", BranchPick("meet", org.id)))
    elif (ob.code in TEXT_KINDS or ob.code in DATED_KINDS) and (occ.member is None or not manager):
        # one's own report, or a branch record a manager files; never another member's
        buttons.append(("brief.submit", ReportFromBriefing(ob.code)))
    if manager or kind == "oversight":
        buttons.append(("brief.view", BranchPick("due", org.id)))
    return Item(
        kind,
        org.code,
        org.name,
        ob.code,
        section,
        line,
        ("occ", occ.obligation, occ.org, occ.member, occ.start),
        urgent,
        must,
        tuple(buttons),
        org.id,
    )


class _Collector:
    """Items per person for one day, with the person's recipient (language) and home org."""

    def __init__(
        self, day: date, cal: WorkdayCalendar, directory: Directory, *, linked_only: bool
    ) -> None:
        self.day = day
        self.linked_only = linked_only
        self.cal = cal
        self.directory = directory
        self.soon_until = cal.shift(day, URGENT_WORKDAYS) if cal.is_workday(day) else day
        self.items: dict[tuple[str, object], list[Item]] = defaultdict(list)
        # the phase each item was added in (``PHASES``): a briefing that draws on several
        # parts is put in phase order, as one pass over all the orgs would have made it
        self.phases: dict[tuple[str, object], list[int]] = defaultdict(list)
        self.phase = 0
        self.recipients: dict[tuple[str, object], Recipient] = {}
        # the same line for several people is one Item (at 10,000 branches: a third of a
        # million lines, most of them the same for a branch's five managers)
        self.made: dict[tuple[object, ...], Item] = {}
        self.place: dict[int, int] | None = None  # org id -> its place among the orgs

    def occ_item(
        self,
        kind: str,
        lang: Lang,
        occ: Occurrence,
        ob: Obligation,
        who: str | None,
        org: OrgLike,
        *,
        urgent: bool,
        must: bool,
        manager: bool,
        section: str,
    ) -> Item:
        key = (kind, lang, occ.obligation, occ.org, occ.member, occ.start, who, org.id,
               urgent, must, manager, section)  # fmt: skip
        found = self.made.get(key)
        if found is None:
            found = self.made[key] = _occ_item(kind, lang, occ, ob, who, org, urgent=urgent,
                must=must, manager=manager, today=self.day, section=section)  # fmt: skip
        return found

    def wants(self, r: Recipient) -> bool:
        """Whether to work out items for this person (the tick: only those it can reach)."""
        return r.telegram_id is not None or not self.linked_only

    def add(self, r: Recipient, item: Item) -> None:
        who = _who_key(r)
        self.recipients.setdefault(who, r)
        self.items[who].append(item)
        self.phases[who].append(self.phase)

    def take(self, who: tuple[str, object]) -> tuple[Recipient, list[Item]]:
        """A person's recipient and items, let go from the collector: in phase order, and
        within a phase in the order of the orgs (items gathered part by part, or kept from
        an earlier pass and merged, come in the order of one pass over all the orgs)."""
        items, phases = self.items.pop(who), self.phases.pop(who)
        if len({i.org_id for i in items}) > 1:
            place, by_org = self._place(), (PHASES["committee"], PHASES["week"])
            keys = [(p, 0 if p in by_org else place.get(i.org_id or 0, -1))
                    for p, i in zip(phases, items, strict=True)]  # fmt: skip
            if any(a > b for a, b in pairwise(keys)):
                order = sorted(range(len(items)), key=keys.__getitem__)
                items = [items[k] for k in order]
        elif any(a > b for a, b in pairwise(phases)):  # from several parts
            items = [i for _, i in sorted(zip(phases, items, strict=True), key=lambda x: x[0])]
        return self.recipients.pop(who), items

    def _place(self) -> dict[int, int]:
        if self.place is None:
            self.place = {org_id: k for k, org_id in enumerate(self.directory.orgs)}
        return self.place

    def keep(self, kept: Kept, many: set[int]) -> None:
        """Copy into ``kept`` the items of those whose briefings draw on many orgs, as they
        stand before the committee's lines and the week ahead."""
        kept.many = {
            who: (self.recipients[who], list(self.items[who]), list(self.phases[who]))
            for who in self.items
            if who[0] == "tg" and who[1] in many
        }

    def merge(self, prior: Kept, redone: set[int], many: set[int]) -> None:
        """Add what an earlier pass kept for those who draw on many orgs, but for the orgs
        worked out again (``redone``), the committee's lines and the week ahead (made anew)."""
        made_anew = (PHASES["committee"], PHASES["week"])
        for who, (r, items, phases) in prior.many.items():
            if who[1] not in many:
                continue
            old = [
                (p, i)
                for p, i in zip(phases, items, strict=True)
                if p not in made_anew and i.org_id not in redone
            ]
            if not old and who not in self.items:
                continue
            self.recipients.setdefault(who, r)
            self.items[who] = [i for _, i in old] + self.items.get(who, [])
            self.phases[who] = [p for p, _ in old] + self.phases.get(who, [])

    def pressing(self, occ: Occurrence) -> bool:
        return occ.last_workday <= self.soon_until

    def planned(self, p: Planned) -> None:
        """A reminder, escalation, oversight or greeting of the day."""
        d = p.detail
        if d is None or not self.wants(p.recipient):
            return
        org = self.directory.orgs.get(p.org_id or 0)
        if org is None:
            return
        if d.occ is None or d.ob is None:  # a political birthday, to the member
            greeting = Item(
                "birthday",
                org.code,
                org.name,
                None,
                "greeting",
                "🎂 " + p.text,
                ("birthday",),
                False,
                org_id=org.id,
            )
            self.add(p.recipient, greeting)
            return
        self._occurrence(p, d, org)

    def _occurrence(self, p: Planned, d: Detail, org: OrgLike) -> None:
        assert d.occ is not None and d.ob is not None
        overdue = d.step in ("escalation", "oversight")
        member = d.occ.member is not None
        own = d.ob.scope is Scope.CANDIDATE and member  # a member's own report, to them
        who = d.who.split(" · ", 1)[1] if " · " in d.who and not own else None
        must = overdue and not own
        # the buttons of those who run the branch (a 党小组长 is told, and cannot /meet)
        runs = not own and (
            org.kind != OrgKind.BRANCH.value
            or p.recipient in self.directory.people[org.id].managers()
            or d.step == "oversight"
        )
        self.add(
            p.recipient,
            self.occ_item(
                d.step,
                p.recipient.lang,
                d.occ,
                d.ob,
                who,
                org,
                urgent=overdue or self.pressing(d.occ),
                must=must,
                manager=runs,
                section="overdue" if overdue else "soon",
            ),
        )

    def digest(self, bd: BranchDay) -> None:
        """The manager's digest of a workday: overdue, due soon, birthdays of the branch (its
        lines made once per language, however many managers share them)."""
        if not bd.workday:
            return
        made: dict[Lang, list[Item]] = {}
        for r in bd.people.managers():
            if not self.wants(r):
                continue
            if r.lang not in made:
                made[r.lang] = self._digest_items(r.lang, bd)
            for item in made[r.lang]:
                self.add(r, item)

    def _digest_items(self, lang: Lang, bd: BranchDay) -> list[Item]:
        found: list[Item] = []
        for section, occs in (("overdue", bd.overdue), ("soon", bd.soon)):
            for occ, ob in occs[:20]:
                found.append(
                    self.occ_item(
                        "digest",
                        lang,
                        occ,
                        ob,
                        self._who(occ, bd),
                        bd.org,
                        urgent=section == "overdue" or self.pressing(occ),
                        must=False,
                        manager=True,
                        section=section,
                    )
                )
        if bd.birthdays:
            names = "、".join(
                t(lang, "digest.birthday_one", name=_e(m.name), years=bd.day.year - y)
                for m in bd.birthdays
                if (y := m.joined_on.year if m.joined_on else None) is not None
            )
            found.append(
                Item(
                    "digest",
                    bd.org.code,
                    bd.org.name,
                    None,
                    "birthdays",
                    t(lang, "digest.birthdays", names=names),
                    ("birthdays",),
                    False,
                    org_id=bd.org.id,
                )
            )
        return found

    def _who(self, occ: Occurrence, bd: BranchDay) -> str | None:
        """Whom an item of a branch is about: a member, a 党小组, or the branch itself."""
        if occ.member is not None:
            return bd.people.name_of(occ.member)
        group = self.directory.by_code.get(occ.org)
        return group.name if group is not None and group.id != bd.org.id else None

    def committee(self, behind: dict[int, list[tuple[Occurrence, Obligation]]]) -> None:
        """Mondays: each committee admin hears which branches below them are behind
        (``behind``: each branch's overdue items)."""
        if self.day.weekday() != 0:
            return
        for tg, late in late_below(self.directory, behind).items():
            lang = admin_lang(self.directory, tg)
            r = Recipient(tg, tg, lang)
            for (org, _), line in zip(late, committee_lines(lang, late), strict=False):
                self.add(
                    r,
                    Item(
                        "committee",
                        COMMITTEE,
                        "",
                        None,
                        "committee",
                        line,
                        ("committee", org.code),
                        True,
                        True,
                        (("brief.view", BranchPick("due", org.id)),),
                        org.id,
                    ),
                )


@dataclass
class _Events:
    """The meetings and collections a day's briefings may speak of, read once for the day
    and taken up part by part (each with its branch)."""

    tomorrow: list[tuple[Meeting, Org]]
    records: list[tuple[Meeting, Org]]
    asks: list[Collection]

    @classmethod
    async def of_day(cls, session: AsyncSession, day: date) -> _Events:
        start = datetime.combine(day, time(0), tzinfo=ZoneInfo("UTC")) - timedelta(hours=14)
        soon = await meetings.upcoming_between(session, start, start + timedelta(days=3))
        held = await meetings.records_due(session)
        return cls(
            [(m, await meetings.branch_of(session, m)) for m in soon],
            [(m, await meetings.branch_of(session, m)) for m in held],
            await collections.due_between(session, start),
        )

    async def add(
        self, session: AsyncSession, c: _Collector, policy: ReminderPolicy, part: set[int] | None
    ) -> None:
        """The items of the meetings and collections of the branches in ``part`` (None: all)."""
        c.phase = PHASES["tomorrow"]
        await _tomorrow(session, c, [(m, b) for m, b in self.tomorrow if _in(b.id, part)])
        c.phase = PHASES["records"]
        _records(c, [(m, b) for m, b in self.records if _in(b.id, part)])
        c.phase = PHASES["asks"]
        await _asks(session, c, policy, [col for col in self.asks if _in(col.org_id, part)])

    def in_order_of(self, orgs: dict[int, OrgLike]) -> None:
        """Each list in the order of its branch among ``orgs`` (the parts' order), else as
        read: taken up part by part, they come in the order one pass would take them."""
        place = {org_id: k for k, org_id in enumerate(orgs)}
        self.tomorrow.sort(key=lambda x: place.get(x[1].id, -1))
        self.records.sort(key=lambda x: place.get(x[1].id, -1))
        self.asks.sort(key=lambda x: place.get(x.org_id, -1))


def _in(org_id: int, part: set[int] | None) -> bool:
    return part is None or org_id in part


async def _tomorrow(session: AsyncSession, c: _Collector, found: list[tuple[Meeting, Org]]) -> None:
    """Tomorrow's meetings, to those expected who have not answered and are not away."""
    d = c.directory
    for m, branch in found:
        tz = branch.timezone
        if m.starts_at.astimezone(ZoneInfo(tz)).date() != c.day + timedelta(days=1):
            continue
        done = await meetings.answered(session, m.id)
        people = await meetings.expected(session, m)
        await d.load_people(session, {p.org_id for p in people})
        for person in people:
            if person.id in done or person.away_on(c.day):
                continue
            r = d.account(person)
            if not c.wants(r):
                continue
            line = t(
                r.lang,
                "brief.meeting_line",
                name=_e(obligation_name(m.obligation, r.lang)),
                when=fmt_moment(r.lang, m.starts_at, tz),
                place=_e(m.place),
            )
            c.add(
                r,
                Item(
                    "meeting",
                    branch.code,
                    branch.name,
                    m.obligation,
                    "meetings",
                    line,
                    ("meeting", m.id),
                    True,
                    org_id=branch.id,
                ),
            )


def _records(c: _Collector, found: list[tuple[Meeting, Org]]) -> None:
    """Meeting records falling due today, to the branch's managers."""
    for m, branch in found:
        tz = ZoneInfo(branch.timezone)
        if c.cal.shift(m.starts_at.astimezone(tz).date(), RECORD_WORKDAYS) != c.day:
            continue
        for r in c.directory.people[branch.id].managers():
            if not c.wants(r):
                continue
            line = t(
                r.lang,
                "brief.record_line",
                name=_e(obligation_name(m.obligation, r.lang)),
                when=fmt_moment(r.lang, m.starts_at, branch.timezone),
            )
            c.add(
                r,
                Item(
                    "record_due",
                    branch.code,
                    branch.name,
                    m.obligation,
                    "records",
                    line,
                    ("record", m.id),
                    True,
                    buttons=(("brief.file_record", ReportFromBriefing("meeting_record")),),
                    org_id=branch.id,
                ),
            )


async def _asks(
    session: AsyncSession, c: _Collector, policy: ReminderPolicy, found: list[Collection]
) -> None:
    """/ask nudges of the day, to those who have not submitted and are not away."""
    for col in found:
        branch = c.directory.orgs.get(col.org_id)
        if branch is None:
            continue
        tz = branch.timezone
        rule = policy.with_rule(branch.reminder_rule)
        labels = [
            label
            for label, moment in collections.nudge_moments(col, tz, rule, c.cal)
            if moment.astimezone(ZoneInfo(tz)).date() == c.day
            and col.created_at < moment < col.deadline
        ]
        if not labels:
            continue
        people = {p.id: p for p, _, _ in c.directory.people[col.org_id].rows}
        for member_id in await collections.waiting(session, col.id):
            person = people.get(member_id)
            if person is None or person.away_on(c.day):
                continue
            r = c.directory.account(person)
            if not c.wants(r):
                continue
            line = t(
                r.lang,
                "brief.ask_line",
                kind=t(r.lang, names.REPORT_KIND[col.kind]),
                prompt=_e(col.prompt[:60]),
                deadline=fmt_moment(r.lang, col.deadline, tz),
            )
            c.add(
                r,
                Item(
                    "nudge",
                    branch.code,
                    branch.name,
                    col.kind,
                    "asks",
                    line,
                    ("ask", col.id),
                    "last" in labels,
                    buttons=(("ask.submit", AskSubmit(col.id)),),
                    org_id=branch.id,
                ),
            )


# ---------------------------------------------------------------- the day's briefings


@dataclass
class Kept:
    """What a pass over a day's orgs keeps for working a few of them out again later: the
    items of those whose briefings draw on many orgs, before they were finished (recipient,
    items, the phase of each), and each branch's overdue items (the committee's lines)."""

    many: dict[tuple[str, object], tuple[Recipient, list[Item], list[int]]] = field(
        default_factory=dict
    )
    behind: dict[int, list[tuple[Occurrence, Obligation]]] = field(default_factory=dict)


PART_ORGS = 500  # orgs worked out at a time: their people, facts and items, then let go
# the order in which a day's items are gathered: a briefing's lines and buttons keep it
PHASES = {
    name: k
    for k, name in enumerate(
        ("planned", "digest", "committee", "tomorrow", "records", "asks", "week")
    )
}


async def briefings_of_day(
    session: AsyncSession,
    day: date,
    *,
    now: datetime,
    policy: ReminderPolicy,
    directory: Directory,
    cal: WorkdayCalendar,
    prefs: dict[int, Prefs],
    default_tz: str,
    linked_only: bool = False,
    only: set[int] | None = None,
) -> list[Briefing]:
    """Every person's briefing of the local ``day``, statuses as of ``now``, each with the
    moment it is due; people with nothing to be told (or who chose not to be) have none.
    ``linked_only``: only for people with a Telegram account (the tick; the preview shows
    everyone). ``only``: work out the items of these orgs only (``orgs_due``): the briefings
    of the people they concern are whole, the others' are left out or partial."""
    found: list[Briefing] = []
    async for part in briefings_in_parts(
        session,
        day,
        now=now,
        policy=policy,
        directory=directory,
        cal=cal,
        prefs=prefs,
        default_tz=default_tz,
        linked_only=linked_only,
        only=only,
    ):
        found += part
    return sorted(found, key=lambda b: (b.at, str(b.recipient.key)))


async def briefings_in_parts(
    session: AsyncSession,
    day: date,
    *,
    now: datetime,
    policy: ReminderPolicy,
    directory: Directory,
    cal: WorkdayCalendar,
    prefs: dict[int, Prefs],
    default_tz: str,
    linked_only: bool = False,
    only: set[int] | None = None,
    keep: Kept | None = None,
    prior: Kept | None = None,
) -> AsyncIterator[list[Briefing]]:
    """``briefings_of_day`` a part at a time, so that 10,000 branches are never held at once:
    the orgs are worked out ``PART_ORGS`` at a time (their people read, their items made, and
    let go), and the briefings of the people who belong to those orgs alone are done with
    them. The briefings that draw on many orgs (``many_accounts``) and those of people known
    by the roster only come last, whole.

    ``keep``: filled with what the briefings drawing on many orgs were made of. ``prior``:
    such a ``keep`` of an earlier pass over the same day; then ``only`` are the orgs whose
    data changed since, worked out again, and the last part's briefings are made of them and
    of what ``prior`` kept of the other orgs (the tick's briefings prepared ahead)."""
    await directory.ready(session, people=False)
    c = _Collector(day, cal, directory, linked_only=linked_only)
    weekly = {tg for tg, p in prefs.items() if p.mode is BriefingMode.WEEKLY}
    many = many_accounts(directory, prefs)  # whose briefings wait for every part
    homes = _homes(directory)
    events = await _Events.of_day(session, day)
    events.in_order_of(directory.orgs)
    behind: dict[int, list[tuple[Occurrence, Obligation]]] = {}
    targets = [o.id for o in directory.orgs.values() if only is None or o.id in only]
    for first in range(0, len(targets), PART_ORGS):
        part = set(targets[first : first + PART_ORGS])
        await directory.load_people(session, part)
        planned, found = await day_of_orgs(
            session, day, now=now, policy=policy, directory=directory, cal=cal, orgs=part
        )
        c.phase = PHASES["planned"]
        for k, p in enumerate(planned):
            c.planned(p)
            if k % 256 == 0:
                await let_others_run()  # a button press goes in between
        del planned
        c.phase = PHASES["digest"]
        for bd in found:
            c.digest(bd)
            behind[bd.org.id] = bd.overdue
            await let_others_run()
        del found
        await events.add(session, c, policy, part)
        done = [
            who
            for who in c.items
            if who[0] == "tg"
            and isinstance(account := who[1], int)
            and account not in many
            and directory.member_of.get(account) in part
        ]
        yield await _finish(c, done, prefs, homes, policy, default_tz)
        directory.forget(part)
    if keep is not None:
        c.keep(keep, many)
        keep.behind = dict(behind)
    if prior is not None:
        redone = set(targets)
        c.merge(prior, redone, many)
        behind = {o: late for o, late in prior.behind.items() if o not in redone} | behind
    c.phase = PHASES["committee"]
    c.committee(behind)
    if day.weekday() == 0 and weekly:  # Monday: the week ahead for those who chose it
        c.phase = PHASES["week"]
        orgs = _orgs_of(directory, weekly)
        await directory.load_people(session, orgs)
        for later in range(1, 7):
            for p in await planned_on(
                session,
                day + timedelta(days=later),
                now=now,
                policy=policy,
                directory=directory,
                cal=cal,
                orgs=orgs,
            ):
                if p.recipient.telegram_id in weekly:
                    c.planned(p)
    yield await _finish(c, list(c.items), prefs, homes, policy, default_tz)


def many_accounts(directory: Directory, prefs: dict[int, Prefs]) -> set[int]:
    """The accounts whose briefings draw on many orgs: admins, the bootstrap admins, and
    those who chose the week ahead."""
    many = {tg for tg, p in prefs.items() if p.mode is BriefingMode.WEEKLY}
    many |= set(directory.bootstrap)
    many |= {tg for admins in directory.admins.values() for r in admins if (tg := r.telegram_id)}
    return many


async def _finish(
    c: _Collector,
    done: list[tuple[str, object]],
    prefs: dict[int, Prefs],
    homes: dict[int, int],
    policy: ReminderPolicy,
    default_tz: str,
) -> list[Briefing]:
    """The briefings of these people, made and let go from the collector."""
    result = []
    # a branch's managers mostly get the very same items (shared objects, alive in c.items
    # meanwhile): the same list in the same language is rendered once, its text shared
    rendered: dict[tuple[object, ...], tuple[str, Rows]] = {}
    for k, who in enumerate(done):
        if k % 64 == 0:
            await let_others_run()
        r, items = c.take(who)
        pref = prefs.get(r.telegram_id, Prefs()) if r.telegram_id is not None else Prefs()
        kept = kept_items(items, pref, c.day)
        if not kept:
            continue
        home = homes.get(r.telegram_id) if r.telegram_id is not None else None
        home = home or next((i.org_id for i in kept if i.org_id is not None), None)
        orgs = c.directory.orgs
        at, tz = briefing_moment(orgs.get(home or 0), pref, c.day, policy, default_tz)
        same = (r.lang, *map(id, kept))
        if same not in rendered:
            rendered[same] = render(r.lang, c.day, kept)
        text, rows = rendered[same]
        result.append(Briefing(r, c.day, at, tz, kept, text, rows))
    c.made.clear()  # the items of the people done are let go with them
    return result


def kept_items(items: list[Item], pref: Prefs, day: date) -> list[Item]:
    """What a person's choices keep of their day: muted or not their day, only what may not
    be muted; "only when due" drops the briefing unless something is pressing."""
    if pref.mutes(day) or (pref.mode is BriefingMode.WEEKLY and day.weekday() != 0):
        return [i for i in items if i.must]
    if pref.mode is BriefingMode.DUE_SOON and not any(i.urgent for i in items):
        return []
    return items


def briefing_moment(
    home: OrgLike | None, pref: Prefs, day: date, policy: ReminderPolicy, default_tz: str
) -> tuple[datetime, str]:
    """When a person's briefing is due: their own time, else their branch's reminder time,
    else the digest time; in their branch's time zone."""
    tz = home.timezone if home is not None else default_tz
    at = pref.at or policy.briefing_time(home.reminder_rule if home is not None else None)
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz)), tz


def orgs_due(
    directory: Directory, prefs: dict[int, Prefs], at: time, policy: ReminderPolicy
) -> set[int] | None:
    """The orgs whose items the people due at ``at`` need: those who chose that time, and the
    people of orgs that chose it. None at the digest time, when anyone may be due."""
    if at == policy.digest_at:
        return None
    accounts = {tg for tg, p in prefs.items() if p.at == at}
    found: set[int] = set()
    chose = {o.id for o in directory.orgs.values() if policy.briefing_time(o.reminder_rule) == at}
    for org_id in chose:
        found |= directory.subtree(org_id)
        accounts |= {tg for r in directory.admins.get(org_id, []) if (tg := r.telegram_id)}
    accounts |= {tg for tg, org_id in directory.member_of.items() if org_id in chose}
    return found | _orgs_of(directory, accounts)  # with all else these people hear of


def _homes(directory: Directory) -> dict[int, int]:
    """Telegram id → the org they belong to: their branch as members, else an org they
    administer."""
    found: dict[int, int] = {}
    for org_id, admins in sorted(directory.admins.items()):
        for r in admins:
            if r.telegram_id is not None:
                found.setdefault(r.telegram_id, org_id)
    found.update(directory.member_of)
    return found


def _orgs_of(directory: Directory, accounts: set[int]) -> set[int]:
    """The orgs whose items can reach these accounts (their branch; below what they run)."""
    found = {directory.member_of[tg] for tg in accounts if tg in directory.member_of}
    for org_id, admins in directory.admins.items():
        if any(r.telegram_id in accounts for r in admins):
            found |= directory.subtree(org_id)
    if accounts & directory.bootstrap:
        found |= set(directory.orgs)
    return found


def render(lang: Lang, day: date, items: list[Item]) -> tuple[str, Rows]:
    """The briefing's text, grouped by branch and section, and its buttons."""
    groups: dict[str, list[Item]] = {}
    for i in items:
        groups.setdefault(i.org, []).append(i)
    order = sorted(groups, key=lambda code: code == COMMITTEE)
    lines = [t(lang, "brief.title", day=fmt_date(lang, day))]
    for code in order:
        its = groups[code]
        lines.append("")
        if code == COMMITTEE:
            lines.append(t(lang, "brief.committee", n=len({i.same for i in its})))
        else:
            lines.append(f"<b>{_e(its[0].org_name)}</b>")
        lines += _sections(lang, its)
    shown, cut = lines, 0
    while len("\n".join(shown)) > MAX_TEXT and len(shown) > 2:
        shown, cut = shown[:-1], cut + 1
    if cut:
        shown = [*shown, t(lang, "brief.more", n=cut)]
    return "\n".join(shown), _buttons(lang, items, several=len(groups) > 1)


def _sections(lang: Lang, items: list[Item]) -> list[str]:
    lines: list[str] = []
    for section in (*SECTIONS, "committee"):
        seen: set[tuple[object, ...]] = set()
        found = []
        for i in items:
            if i.section == section and i.same not in seen:
                seen.add(i.same)
                found.append(i.line)
        if found and section in SECTION_TITLE:
            lines.append(t(lang, SECTION_TITLE[section]))
        lines += found
    return lines


def _buttons(lang: Lang, items: list[Item], *, several: bool) -> Rows:
    seen: set[Button] = set()
    found: list[tuple[str, Button]] = []
    for i in items:
        for key, button in i.buttons:
            if button in seen:
                continue
            seen.add(button)
            label = t(lang, key)
            if several or i.org == COMMITTEE:
                name = i.org_name or next(
                    (x.org_name for x in items if x.org_id == i.org_id and x.org_name), ""
                )
                label = f"{label} · {name[:12]}" if name else label
            found.append((label, button))
    rows = [found[k : k + 2] for k in range(0, len(found), 2)]
    return rows[:MAX_BUTTON_ROWS]
