"""The scheduler's tick (SPEC §4): what became due since the last tick goes into the outbox.

The tick asks the database; nothing important lives only in memory. Running it twice for
the same minute adds nothing. What is scheduled goes out as each person's one morning
briefing (``bot.delivery.briefing``), keyed by person and day, so a day never brings two;
after downtime the day's briefing goes out when the bot is back (a briefing of a day gone
by is not sent: today's says what is still overdue). Events (the hour-before meeting
reminder, the check-in code, tallies, a collection's summary) go out as they happen.
Nothing is sent in quiet hours: it waits for their end.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import meeting_texts
from bot.delivery.briefing import (
    Briefing,
    Kept,
    briefings_in_parts,
    load_prefs,
    many_accounts,
    orgs_due,
)
from bot.delivery.reminders import Directory
from bot.i18n.texts import Lang, fmt_moment, t
from bot.rules.buttons import stored
from bot.rules.catalogue import Prefs, ReminderPolicy
from bot.rules.workdays import WorkdayCalendar
from bot.services import collections, meetings
from bot.services.obligations import load_workdays, obligation_name
from bot.store import changes
from bot.store.db import Database, collecting_after, let_others_run
from bot.store.models import Org, OutboxMessage, OutboxStatus, TickState
from bot.store.outbox import EDIT, NewMessage, enqueue, outbox_key

FIRST_LOOK_BACK = timedelta(minutes=1)
MAX_LOOK_BACK = timedelta(days=31)


@dataclass(frozen=True)
class TickResult:
    since: datetime | None
    until: datetime
    enqueued: int
    skipped: int


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def send_after(now: datetime, tz: str, policy: ReminderPolicy, cal: WorkdayCalendar) -> datetime:
    """``now``, or the end of quiet hours (on a workday) when ``now`` is inside them."""
    local = now.astimezone(ZoneInfo(tz))
    if not policy.in_quiet_hours(local.timetz().replace(tzinfo=None)):
        return now
    day: date = local.date()
    if local.time() >= policy.quiet_start and policy.quiet_start > policy.quiet_end:
        day = day + timedelta(days=1)
    day = cal.on_or_after(day)
    return datetime.combine(day, policy.quiet_end, tzinfo=ZoneInfo(tz))


def briefing_key(b: Briefing) -> str:
    """One briefing per person and day, whenever in the day it goes out."""
    return outbox_key("briefing", b.recipient.key, b.day.isoformat())


async def _own_rules(session: AsyncSession, policy: ReminderPolicy) -> dict[int, ReminderPolicy]:
    rows = await session.execute(
        select(Org.id, Org.reminder_rule).where(Org.reminder_rule.is_not(None))
    )
    return {org_id: policy.with_rule(rule) for org_id, rule in rows}


async def briefing_days(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    policy: ReminderPolicy,
    prefs: Mapping[int, Prefs],
    default_tz: str,
) -> dict[date, set[time]]:
    """The local days with a briefing moment in (since, until], with those moments' times:
    any org's zone at the digest time, a branch's own reminder time or a person's own time.
    Only today's: a briefing of a day gone by is stale (today's says what is still overdue)."""
    zones = {default_tz, *(await session.execute(select(Org.timezone).distinct())).scalars()}
    times = {policy.digest_at}
    chosen = await session.execute(  # JSON has no equality on PostgreSQL: no DISTINCT here
        select(Org.reminder_rule).where(Org.reminder_rule.is_not(None))
    )
    times |= {policy.briefing_time(rule) for rule in chosen.scalars()}
    times |= {p.at for p in prefs.values() if p.at is not None}
    found: dict[date, set[time]] = {}
    for zone in zones:
        today = until.astimezone(ZoneInfo(zone)).date()
        for moment in times:
            if since < datetime.combine(today, moment, tzinfo=ZoneInfo(zone)) <= until:
                found.setdefault(today, set()).add(moment)
    return found


def _briefing_message(
    b: Briefing,
    until: datetime,
    rule: ReminderPolicy,
    cal: WorkdayCalendar,
    markups: dict[int, dict[str, Any] | None],
) -> NewMessage:
    """A briefing for the outbox: now, or when quiet hours end; a briefing that would go out
    on another day than its own is stale (that day's briefing says what is still due), so it
    is recorded as skipped."""
    when = send_after(until, b.tz, rule, cal)
    if id(b.rows) not in markups:  # briefings rendered alike share their rows
        markups[id(b.rows)] = stored(b.rows) if b.rows else None
    stale = when.astimezone(ZoneInfo(b.tz)).date() != b.day
    return NewMessage(
        key=briefing_key(b),
        kind="briefing",
        chat_id=b.recipient.telegram_id,
        text=b.text,
        not_before=when,
        org_id=b.items[0].org_id,
        reply_markup=markups[id(b.rows)],
        status=OutboxStatus.SKIPPED if stale else OutboxStatus.PENDING,
        note="catch-up: a day's briefing is stale the next day" if stale else None,
    )


ENQUEUE_CHUNK = 500  # rows per write transaction: a button waits for at most one chunk


@collecting_after
async def tick(
    db: Database,
    *,
    now: datetime,
    policy: ReminderPolicy,
    bootstrap_ids: frozenset[int],
    default_lang: Lang,
    default_tz: str = "Asia/Shanghai",
    ahead: Ahead | None = None,
) -> TickResult:
    """Look at (last tick, now]; put what became due into the outbox, once.

    The briefings whose moment falls in the window are worked out in a read transaction
    (holding no write lock, and letting other work run between branches), a part of the orgs
    at a time (``briefings_in_parts``: at 10,000 branches the people and items are never all
    held at once), each part queued in chunks of short write transactions; the meetings' and
    collections' news, which change what they read, and the tick's own mark come last, in
    one. A crash half-way leaves the mark where it was: the next tick works the minute out
    again, and the keys already queued are skipped (exactly once).
    With ``ahead`` (the running bot's), a moment's briefings are worked out in the minutes
    before it (``LEAD``) and kept; at the moment only the orgs whose data changed since (the
    ``org_changes`` log) are worked out again (``Ahead``).
    The garbage collector waits until the tick is over (``full_collections_later``: its full
    passes over the tick's objects paused every button press for 0.3 s at scale).
    """
    until = floor_minute(now)
    added = skipped = 0
    async with db.read() as session:
        state = await session.get(TickState, 1)
        since = state.last_minute if state is not None else until - FIRST_LOOK_BACK
        if until <= since:
            return TickResult(since, until, 0, 0)
        since = max(since, until - MAX_LOOK_BACK)
        cal = await load_workdays(session)
        # the org tree and the people are read only when something turns out to be due
        directory = Directory.later(default_lang, bootstrap_ids)
        prefs = await load_prefs(session)
        due = await briefing_days(session, since, until, policy, prefs, default_tz)
        own = await _own_rules(session, policy)
        ready = await _prepared(session, ahead, due, until) if ahead is not None else None
        work = _Work(since, until, policy, cal, prefs, own, default_tz)
        if due:
            await directory.ready(session, people=False)
        only = {day: _only(directory, prefs, times, policy) for day, times in due.items()}
        if ready is not None and not _fits(ready, directory, only):
            _let_go(ready)
            ready = None
        redo: dict[date, set[int]] = {}
        if ready is not None:
            redo = {day: _redone(directory, ready.changed, only[day]) for day in due}
            added += await _release(db, ready, redo, until)
        elif due:
            await _drop_held(db, until)  # worked out ahead, but not used: worked out now
        for day in sorted(due):
            parts: AsyncIterator[list[NewMessage]]
            if ready is not None:
                parts = _redo_changed(session, work, day, directory, ready, redo[day])
            else:  # worked out now, whole
                parts = _day_messages(session, work, day, directory, only[day])
            async for messages in parts:
                added += await _enqueue_all(db, messages, until)
                skipped += sum(1 for m in messages if m.status is OutboxStatus.SKIPPED)
        if ready is not None:
            _let_go(ready)
        soon = await _next_moment(session, work) if ahead is not None else None
    async with db.write() as session:
        state = await session.get(TickState, 1)
        if state is not None and state.last_minute >= until:
            # another tick did this minute meanwhile
            return TickResult(since, until, added, skipped)
        news = await meeting_messages(
            session, since, until, directory=directory, policy=policy, cal=cal
        )
        news += await collection_messages(
            session, since, until, directory=directory, policy=policy, cal=cal
        )
        added += await enqueue(session, news, now=until)
        if state is None:
            session.add(TickState(id=1, last_minute=until))
        else:
            state.last_minute = until
    if ahead is not None and soon is not None and ahead.minute != soon:
        # last, with the minute done: a failure here holds back no meeting's or /ask's news
        # (it is logged, and the next minute tries again; the moment is worked out whole)
        await _prepare(db, ahead, soon, work, default_lang, bootstrap_ids)
    return TickResult(since, until, added, skipped)


LEAD = timedelta(minutes=5)  # how long before its moment a briefing is worked out


@dataclass
class _Prepared:
    """One local day's briefings of a moment, worked out ahead: held in the outbox, known
    here by key under the branch of the member each goes to."""

    only: set[int] | None  # the orgs worked out (None: all)
    held: dict[int, list[str]]  # branch -> the keys of its members' held briefings
    stale: dict[int, list[NewMessage]]  # briefings recorded as skipped, queued at the moment
    kept: Kept  # what the briefings drawing on many orgs are made of


@dataclass
class Ahead:
    """The next moment's briefings, worked out up to ``LEAD`` before it (the running bot's
    one ``Ahead``): held in the outbox (status ``held``, ``held_for`` the moment), with what
    the briefings drawing on many orgs are made of kept here. At the moment, the orgs logged
    in ``org_changes`` since ``mark`` are worked out again (their members' held rows dropped
    and made anew; the briefings drawing on many orgs made from what was kept and what
    changed), and the rest is released, a chunk a write transaction. Anything that may
    concern anyone (the org tree, admins, holidays, a branch's own reminder time, an admin's
    language), a moment missed or a restart: the held rows are dropped and the moment is
    worked out whole then, as without ``Ahead``."""

    minute: datetime | None = None  # the moment (UTC, whole minute)
    due: dict[date, set[time]] = field(default_factory=dict)
    mark: int = 0
    days: dict[date, _Prepared] = field(default_factory=dict)
    changed: frozenset[int] = frozenset()  # the orgs logged since ``mark`` (at the moment)
    admins: frozenset[tuple[int, int | None, Lang]] = frozenset()  # and their languages
    used: int = 0  # moments sent from what was worked out ahead (for tests and benchmarks)
    redone_orgs: set[int] = field(default_factory=set)  # worked out again at those moments


@dataclass(frozen=True)
class _Work:
    """What a tick's briefings are worked out with."""

    since: datetime
    until: datetime
    policy: ReminderPolicy
    cal: WorkdayCalendar
    prefs: dict[int, Prefs]
    own: dict[int, ReminderPolicy]
    default_tz: str

    def messages(self, part: list[Briefing]) -> list[NewMessage]:
        """The briefings of (since, until] that can be sent, as outbox rows."""
        markups: dict[int, dict[str, Any] | None] = {}  # by the rows' identity
        return [
            _briefing_message(
                b, self.until, self.own.get(b.items[0].org_id or 0, self.policy), self.cal, markups
            )
            for b in part
            if self.since < b.at <= self.until
            and b.recipient.telegram_id is not None  # `zhibu reminders` shows the unlinked
        ]


def _only(
    directory: Directory, prefs: dict[int, Prefs], times: set[time], policy: ReminderPolicy
) -> set[int] | None:
    """The orgs to work out for these moments of a day (None: all)."""
    only: set[int] | None = set()
    for moment in times:  # at a time few chose, only their orgs are worked out
        wanted = orgs_due(directory, prefs, moment, policy)
        only = None if wanted is None or only is None else only | wanted
    return only


async def _day_messages(
    session: AsyncSession,
    work: _Work,
    day: date,
    directory: Directory,
    only: set[int] | None,
    keep: Kept | None = None,
    prior: Kept | None = None,
) -> AsyncIterator[list[NewMessage]]:
    """A day's briefings of (since, until] as outbox rows, a part of the orgs at a time."""
    async for part in briefings_in_parts(
        session,
        day,
        now=work.until,
        policy=work.policy,
        directory=directory,
        cal=work.cal,
        prefs=work.prefs,
        default_tz=work.default_tz,
        linked_only=True,  # nobody else can be sent anything
        only=only,
        keep=keep,
        prior=prior,
    ):
        messages = work.messages(part)
        del part
        yield messages


async def _prepared(
    session: AsyncSession, ahead: Ahead, due: dict[date, set[time]], until: datetime
) -> Ahead | None:
    """``ahead`` if it holds this minute's briefings and what changed since is known to be
    a few orgs; else None (and it is let go)."""
    if ahead.minute is None or ahead.minute > until:
        return None  # what is kept is for a later minute
    changed = await changes.since(session, ahead.mark)
    if ahead.minute < until or ahead.due != due or changed.everyone:
        _let_go(ahead)  # a moment missed, other moments due, or anything may have changed
        return None
    ahead.changed = changed.orgs
    return ahead


def _fits(ahead: Ahead, directory: Directory, only: dict[date, set[int] | None]) -> bool:
    """Whether what was worked out ahead is for the same orgs, with the same admins speaking
    the same languages (an admin's language is not in the change log)."""
    return ahead.admins == _admins(directory) and all(
        day in ahead.days and ahead.days[day].only == orgs for day, orgs in only.items()
    )


def _let_go(ahead: Ahead) -> None:
    ahead.minute, ahead.due, ahead.days, ahead.changed = None, {}, {}, frozenset()


def _redone(directory: Directory, changed: frozenset[int], only: set[int] | None) -> set[int]:
    """The orgs to work out again for these changes (``changes.reached``)."""
    found = changes.reached(changed, directory.orgs, directory.subtree)
    return found if only is None else found & only


RELEASE_CHUNK = 2000  # held rows let go a write transaction (a button waits for one)


async def _release(db: Database, ahead: Ahead, redo: dict[date, set[int]], until: datetime) -> int:
    """Drop the held briefings of the members of the orgs worked out again, then let the
    rest go out, a chunk a write transaction. A crash half-way: the next tick works the
    minute out whole, dropping what is still held; the keys released are skipped."""
    drop = [
        key
        for day, orgs in redo.items()
        for org_id in orgs
        for key in ahead.days[day].held.get(org_id, [])
    ]
    held = (OutboxMessage.status == OutboxStatus.HELD.value, OutboxMessage.held_for == until)
    async with db.write() as session:
        for first in range(0, len(drop), ENQUEUE_CHUNK):
            keys = drop[first : first + ENQUEUE_CHUNK]
            await session.execute(delete(OutboxMessage).where(OutboxMessage.key.in_(keys), *held))
    chunk = select(OutboxMessage.id).where(*held).limit(RELEASE_CHUNK).scalar_subquery()
    released = RELEASE_CHUNK
    total = 0
    while released == RELEASE_CHUNK:
        async with db.write() as session:
            done = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(chunk))
                .values(status=OutboxStatus.PENDING.value)
                .execution_options(synchronize_session=False)
            )
            released = int(getattr(done, "rowcount", 0) or 0)
        total += released
        await let_others_run()
    ahead.used += 1
    ahead.redone_orgs |= {o for orgs in redo.values() for o in orgs}
    return total


async def _drop_held(db: Database, until: datetime | None) -> None:
    """Drop the briefings held for moments up to ``until`` (None: all)."""
    query = delete(OutboxMessage).where(OutboxMessage.status == OutboxStatus.HELD.value)
    if until is not None:
        query = query.where(OutboxMessage.held_for <= until)
    async with db.write() as session:
        await session.execute(query)


async def _redo_changed(
    session: AsyncSession,
    work: _Work,
    day: date,
    directory: Directory,
    ahead: Ahead,
    redo: set[int],
) -> AsyncIterator[list[NewMessage]]:
    """A day's briefings besides those released: the stale ones recorded as skipped, the
    changed orgs' worked out again, and those drawing on many orgs made of what was kept
    and what changed."""
    prepared = ahead.days[day]
    yield [m for org_id, ms in prepared.stale.items() if org_id not in redo for m in ms]
    async for messages in _day_messages(session, work, day, directory, redo, prior=prepared.kept):
        yield messages


async def _next_moment(session: AsyncSession, work: _Work) -> datetime | None:
    """The first briefing moment after this minute, if it is within ``LEAD``."""
    soon = await briefing_days(
        session, work.until, work.until + LEAD, work.policy, work.prefs, work.default_tz
    )
    moments = sorted(
        datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        for zone in await _zones(session, work.default_tz)
        for day, times in soon.items()
        for at in times
        if work.until < datetime.combine(day, at, tzinfo=ZoneInfo(zone)) <= work.until + LEAD
    )
    return moments[0] if moments else None


async def _prepare(
    db: Database,
    ahead: Ahead,
    minute: datetime,
    work: _Work,
    default_lang: Lang,
    bootstrap: frozenset[int],
) -> None:
    """Work out the briefings due at ``minute``, as of it, on the data as they are now
    (the change log's mark noted first): held in the outbox, what they are made of in
    ``ahead``."""
    _let_go(ahead)
    await _drop_held(db, None)  # held by an earlier preparation, never released
    mark = await changes.mark(db)
    async with db.read() as session:
        prefs = await load_prefs(session)
        due = await briefing_days(
            session, minute - FIRST_LOOK_BACK, minute, work.policy, prefs, work.default_tz
        )
        at = _Work(minute - FIRST_LOOK_BACK, minute, work.policy, await load_workdays(session),
                   prefs, await _own_rules(session, work.policy), work.default_tz)  # fmt: skip
        directory = Directory.later(default_lang, bootstrap)
        await directory.ready(session, people=False)
        many = many_accounts(directory, prefs)
        days: dict[date, _Prepared] = {}
        for day, times in sorted(due.items()):
            only = _only(directory, prefs, times, work.policy)
            prepared = days[day] = _Prepared(only, {}, {}, Kept())
            async for messages in _day_messages(
                session, at, day, directory, only, keep=prepared.kept
            ):
                held = []
                for m in messages:
                    if m.chat_id in many:
                        continue  # made anew at the moment, from what is kept
                    org_id = directory.member_of.get(m.chat_id or 0)
                    if org_id is None:  # in no branch, yet not drawing on many: not kept
                        await _drop_held(db, None)
                        return  # (the moment is worked out whole)
                    if m.status is OutboxStatus.SKIPPED:
                        prepared.stale.setdefault(org_id, []).append(m)
                        continue
                    prepared.held.setdefault(org_id, []).append(m.key)
                    held.append(replace(m, status=OutboxStatus.HELD, held_for=minute))
                await _enqueue_all(db, held, work.until)
    ahead.minute, ahead.due, ahead.mark, ahead.days = minute, due, mark, days
    ahead.admins = _admins(directory)


def _admins(directory: Directory) -> frozenset[tuple[int, int | None, Lang]]:
    """Who administers what, in which language (not in the change log: compared)."""
    return frozenset(
        (org_id, r.telegram_id, r.lang) for org_id, rs in directory.admins.items() for r in rs
    )


async def _zones(session: AsyncSession, default_tz: str) -> set[str]:
    return {default_tz, *(await session.execute(select(Org.timezone).distinct())).scalars()}


async def _enqueue_all(db: Database, messages: list[NewMessage], until: datetime) -> int:
    """Queue messages in chunks of short write transactions: a button waits for one chunk."""
    added = 0
    for first in range(0, len(messages), ENQUEUE_CHUNK):
        async with db.write() as session:
            added += await enqueue(session, messages[first : first + ENQUEUE_CHUNK], now=until)
        await let_others_run()  # what waits for the database goes in between
    return added


async def meeting_messages(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    *,
    directory: Directory,
    policy: ReminderPolicy,
    cal: WorkdayCalendar,
) -> list[NewMessage]:
    """Meeting reminders an hour before (to those who have not answered; the day before is
    in the briefing) and the tally when a meeting's check-in window has closed (to managers
    and the group)."""
    found: list[NewMessage] = []
    for before in (meetings.REMINDER_BEFORE,):
        for m in await meetings.upcoming_between(session, since + before, until + before):
            if m.starts_at <= until:
                continue  # caught up after the start: an hour-before reminder is too late
            branch = await meetings.branch_of(session, m)
            done = await meetings.answered(session, m.id)
            today = until.astimezone(ZoneInfo(branch.timezone)).date()
            expected = await meetings.expected(session, m)
            await directory.ready(session, people=False)
            await directory.load_people(session, {p.org_id for p in expected})
            for person in expected:
                r = directory.account(person)
                if person.id in done or r.telegram_id is None or person.away_on(today):
                    continue
                text = t(
                    r.lang,
                    "meet.reminder",
                    name=html.escape(obligation_name(m.obligation, r.lang)),
                    when=fmt_moment(r.lang, m.starts_at, branch.timezone),
                    place=html.escape(m.place),
                )
                found.append(
                    NewMessage(
                        # the start time is part of the key: a moved meeting is reminded again
                        outbox_key(
                            "meet",
                            m.id,
                            "remind",
                            int(before.total_seconds()),
                            m.starts_at.isoformat(),
                            person.id,
                        ),
                        "meeting",
                        r.telegram_id,
                        text,
                        send_after(
                            until, branch.timezone, policy.with_rule(branch.reminder_rule), cal
                        ),
                        org_id=branch.id,
                    )
                )
    found += await code_messages(session, since, until, directory=directory)
    for m in await meetings.due_to_close(session, until):
        branch = await meetings.branch_of(session, m)
        result = await meetings.close(session, m, now=until)
        people = await directory.people_of(session, branch.id)
        targets = [(r.telegram_id, r.lang) for r in people.managers() if r.telegram_id is not None]
        if m.group_chat_id is not None and m.group_message_id is not None:
            # the group's card becomes the tally at once: an edit notifies nobody
            found.append(
                NewMessage(
                    outbox_key("meet", m.id, "card", "closed"),
                    EDIT,
                    m.group_chat_id,
                    meeting_texts.tally_text(people.default, m, branch.timezone, result),
                    until,
                    org_id=branch.id,
                    edits=m.group_message_id,
                )
            )
        elif m.group_chat_id is not None:
            targets.append((m.group_chat_id, people.default))
        for chat, lang in targets:
            found.append(
                NewMessage(
                    outbox_key("meet", m.id, "tally", chat),
                    "tally",
                    chat,
                    meeting_texts.tally_text(lang, m, branch.timezone, result),
                    send_after(until, branch.timezone, policy.with_rule(branch.reminder_rule), cal),
                    org_id=branch.id,
                )
            )
    return found


async def code_messages(
    session: AsyncSession, since: datetime, until: datetime, *, directory: Directory
) -> list[NewMessage]:
    """The check-in code of a code-mode meeting, to its managers when check-in opens (SPEC §6):
    an event, sent at once, with a button for the large print to show in the room."""
    found: list[NewMessage] = []
    for m in await meetings.code_opening_between(session, since, until):
        branch = await meetings.branch_of(session, m)
        for r in (await directory.people_of(session, branch.id)).managers():
            if r.telegram_id is None or m.code is None:
                continue
            text = meeting_texts.code_notice(r.lang, meetings.info_of(m), branch.timezone, m.code)
            found.append(
                NewMessage(
                    outbox_key("meet", m.id, "code", m.starts_at.isoformat(), r.telegram_id),
                    "meeting",
                    r.telegram_id,
                    text,
                    until,
                    org_id=branch.id,
                    reply_markup=stored(meeting_texts.code_buttons(r.lang, m.id)),
                )
            )
    return found


async def collection_messages(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    *,
    directory: Directory,
    policy: ReminderPolicy,
    cal: WorkdayCalendar,
) -> list[NewMessage]:
    """/ask: at the deadline the summary to the branch's managers and whoever asked (the
    nudges are in the briefing)."""
    found: list[NewMessage] = []
    for c in await collections.due_between(session, since):
        branch = await session.get(Org, c.org_id)
        if branch is None:
            continue
        tz = branch.timezone
        if since < c.deadline <= until:
            people = await directory.people_of(session, c.org_id)
            progress = await collections.progress(session, c.id, tz)
            targets = {
                r.telegram_id: r.lang for r in people.managers() if r.telegram_id is not None
            }
            targets.setdefault(c.created_by, directory.default)
            for chat, lang in targets.items():
                found.append(
                    NewMessage(
                        outbox_key("ask", c.id, "summary", chat),
                        "collection_summary",
                        chat,
                        collections.progress_text(lang, progress, tz, title_key="ask.summary"),
                        send_after(until, tz, policy.with_rule(branch.reminder_rule), cal),
                        org_id=c.org_id,
                    )
                )
            c.summary_at = until
    return found


def next_minute(now: datetime) -> float:
    """Seconds until the next whole minute, for lining the tick up with the clock."""
    return 60 - now.second - now.microsecond / 1_000_000 + 0.5
