"""The scheduler's tick (SPEC §4): what became due since the last tick goes into the outbox.

The tick asks the database; nothing important lives only in memory. Running it twice for
the same minute adds nothing. After downtime it catches up: per occurrence and recipient
only the newest due reminder is sent, and only while the occurrence is still open; older
ones are recorded as skipped. Nothing is sent in quiet hours: it waits for their end.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import meeting_texts
from bot.delivery.reminders import Directory, Planned, Recipient, digests_at, planned_at
from bot.i18n.texts import Lang, fmt_moment, t
from bot.rules.buttons import stored
from bot.rules.catalogue import ReminderPolicy
from bot.rules.workdays import WorkdayCalendar
from bot.services import collections, meetings
from bot.services.obligations import RECORD_WORKDAYS, load_workdays, obligation_name
from bot.store.db import Database, collecting_after, let_others_run
from bot.store.models import Collection, Org, OutboxStatus, TickState
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


def candidate_instants(
    since: datetime,
    until: datetime,
    timezones: set[str],
    policy: ReminderPolicy,
    own: frozenset[tuple[str, time]] = frozenset(),
) -> list[datetime]:
    """Every moment in (since, until] at which something can be due, in any org's time zone
    (``own``: the times branches chose for themselves, with their zones)."""
    default = {policy.at, policy.quiet_end, policy.greeting_at, policy.digest_at}
    found: set[datetime] = set()
    for name in timezones | {zone for zone, _ in own}:
        tz = ZoneInfo(name)
        times = default | {moment for zone, moment in own if zone == name}
        day = since.astimezone(tz).date()
        last = until.astimezone(tz).date()
        while day <= last:
            for moment in times:
                instant = datetime.combine(day, moment, tzinfo=tz)
                if since < instant <= until:
                    found.add(instant)
            day += timedelta(days=1)
    return sorted(found)


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


def planned_key(p: Planned) -> str:
    occ = p.occurrence
    parts = occ if occ is not None else (None, p.org, None, None)
    return outbox_key(p.kind, *parts, p.recipient.key, p.at.isoformat())


def choose(
    planned: list[Planned],
    *,
    now: datetime,
    policy: ReminderPolicy,
    cal: WorkdayCalendar,
    own: Mapping[int, ReminderPolicy] | None = None,
) -> list[NewMessage]:
    """The catch-up rule: the newest item per occurrence (or digest) and recipient is sent,
    the older ones recorded as skipped; items for unlinked recipients cannot be sent."""
    newest: dict[tuple[object, ...], Planned] = {}
    for p in planned:
        group = (
            p.kind if p.occurrence is None else "occurrence",
            p.occurrence,
            p.org,
            p.recipient.key,
        )
        if group not in newest or p.at > newest[group].at:
            newest[group] = p
    chosen = {id(p) for p in newest.values()}
    messages = []
    times: dict[tuple[datetime, str, int | None], datetime] = {}
    for p in planned:
        if p.recipient.telegram_id is None:
            continue  # unlinked: `zhibu reminders` shows it; there is nobody to send to
        moment = (max(p.at, now), p.tz, p.org_id)
        if moment not in times:
            rule = (own or {}).get(p.org_id or 0, policy)
            times[moment] = send_after(moment[0], p.tz, rule, cal)
        when = times[moment]
        note = None
        if id(p) not in chosen:
            note = "catch-up: a newer one was due"
        elif (
            p.occurrence is None
            and when.astimezone(ZoneInfo(p.tz)).date() != p.at.astimezone(ZoneInfo(p.tz)).date()
        ):
            note = "catch-up: a day's digest or greeting is stale the next day"
        messages.append(
            NewMessage(
                key=planned_key(p),
                kind=p.kind,
                chat_id=p.recipient.telegram_id,
                text=p.text,
                not_before=when,
                org_id=p.org_id,
                status=OutboxStatus.PENDING if note is None else OutboxStatus.SKIPPED,
                note=note,
            )
        )
    return messages


ENQUEUE_CHUNK = 500  # rows per write transaction: a button waits for at most one chunk


@collecting_after
async def tick(
    db: Database,
    *,
    now: datetime,
    policy: ReminderPolicy,
    bootstrap_ids: frozenset[int],
    default_lang: Lang,
) -> TickResult:
    """Look at (last tick, now]; put what became due into the outbox, once.

    The reminders and digests are worked out in a read transaction (holding no write lock,
    and letting other work run between branches) and queued in chunks of short write
    transactions; the meetings' and collections' news, which change what they read, and the
    tick's own mark come last, in one. A crash half-way leaves the mark where it was: the next
    tick works the minute out again, and the keys already queued are skipped (exactly once).
    The garbage collector waits until the tick is over (``full_collections_later``: its full
    passes over the tick's objects paused every button press for 0.3 s at scale).
    """
    until = floor_minute(now)
    async with db.read() as session:
        state = await session.get(TickState, 1)
        since = state.last_minute if state is not None else until - FIRST_LOOK_BACK
        if until <= since:
            return TickResult(since, until, 0, 0)
        since = max(since, until - MAX_LOOK_BACK)
        zones = set((await session.execute(select(Org.timezone).distinct())).scalars())
        cal = await load_workdays(session)
        # the org tree and the people are read only when something turns out to be due
        directory = Directory.later(default_lang, bootstrap_ids)
        own_rows = await session.execute(
            select(Org.id, Org.timezone, Org.reminder_rule).where(Org.reminder_rule.is_not(None))
        )
        own, moments = {}, set()
        for org_id, zone, rule in own_rows:
            own[org_id] = policy.with_rule(rule)
            moments |= {(zone, own[org_id].at), (zone, own[org_id].quiet_end)}
        planned: list[Planned] = []
        for instant in candidate_instants(since, until, zones, policy, frozenset(moments)):
            for find in (planned_at, digests_at):
                planned += await find(
                    session,
                    instant,
                    policy=policy,
                    bootstrap_ids=bootstrap_ids,
                    default_lang=default_lang,
                    now=until,
                    directory=directory,
                    cal=cal,
                )
    by_org: dict[int | None, list[Planned]] = {}
    for p in planned:  # the catch-up rule compares items of one org only: chosen org by org
        by_org.setdefault(p.org_id, []).append(p)
    messages: list[NewMessage] = []
    for items in by_org.values():
        messages += choose(items, now=until, policy=policy, cal=cal, own=own)
        await let_others_run()  # a button press goes in between
    added = 0
    for first in range(0, len(messages), ENQUEUE_CHUNK):
        async with db.write() as session:
            added += await enqueue(session, messages[first : first + ENQUEUE_CHUNK], now=until)
        await let_others_run()  # what waits for the database goes in between
    async with db.write() as session:
        state = await session.get(TickState, 1)
        if state is not None and state.last_minute >= until:
            return TickResult(since, until, added, 0)  # another tick did this minute meanwhile
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
    skipped = sum(1 for m in messages if m.status is OutboxStatus.SKIPPED)
    return TickResult(since, until, added, skipped)


async def meeting_messages(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    *,
    directory: Directory,
    policy: ReminderPolicy,
    cal: WorkdayCalendar,
) -> list[NewMessage]:
    """Meeting reminders (1 day and 1 hour before, to those who have not answered) and the
    tally when a meeting's check-in window has closed (to managers and the group)."""
    found: list[NewMessage] = []
    for before in meetings.REMINDER_BEFORE:
        for m in await meetings.upcoming_between(session, since + before, until + before):
            branch = await meetings.branch_of(session, m)
            done = await meetings.answered(session, m.id)
            today = until.astimezone(ZoneInfo(branch.timezone)).date()
            await directory.ready(session)
            for person in await meetings.expected(session, m):
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
    for m in await meetings.records_due(session):
        branch = await meetings.branch_of(session, m)
        tz = ZoneInfo(branch.timezone)
        due_day = cal.shift(m.starts_at.astimezone(tz).date(), RECORD_WORKDAYS)
        moment = datetime.combine(due_day, policy.with_rule(branch.reminder_rule).at, tzinfo=tz)
        if not since < moment <= until:
            continue
        await directory.ready(session)
        for r in directory.people[branch.id].managers():
            if r.telegram_id is None:
                continue
            text = t(
                r.lang,
                "meet.record_due",
                name=html.escape(obligation_name(m.obligation, r.lang)),
                when=fmt_moment(r.lang, m.starts_at, branch.timezone),
            )
            found.append(
                NewMessage(
                    outbox_key("meet", m.id, "record_due", r.telegram_id),
                    "meeting",
                    r.telegram_id,
                    text,
                    send_after(until, branch.timezone, policy.with_rule(branch.reminder_rule), cal),
                    org_id=branch.id,
                )
            )
    for m in await meetings.due_to_close(session, until):
        branch = await meetings.branch_of(session, m)
        result = await meetings.close(session, m, now=until)
        people = (await directory.ready(session)).people[branch.id]
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
        await directory.ready(session)
        for r in directory.people[branch.id].managers():
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


@dataclass(frozen=True)
class Nudge:
    """One /ask nudge due in a window: to a member who has not submitted and is not away."""

    collection: Collection
    label: str  # half | last
    member_id: int
    recipient: Recipient
    org: Org
    text: str


async def nudges_between(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    *,
    directory: Directory,
    policy: ReminderPolicy,
    cal: WorkdayCalendar,
) -> list[Nudge]:
    """The nudges due in (since, until], unlinked recipients included (the preview shows them).
    Reads only: the tick and ``zhibu reminders`` both use it."""
    found: list[Nudge] = []
    for c in await collections.due_between(session, since):
        branch = await session.get(Org, c.org_id)
        if branch is None:
            continue
        tz = branch.timezone
        rule = policy.with_rule(branch.reminder_rule)
        for label, moment in collections.nudge_moments(c, tz, rule, cal):
            if not since < moment <= until:
                continue
            await directory.ready(session)
            people = {p.id: p for p, _, _ in directory.people[c.org_id].rows}
            today = moment.astimezone(ZoneInfo(tz)).date()
            for member_id in await collections.waiting(session, c.id):
                person = people.get(member_id)
                if person is None or person.away_on(today):
                    continue
                r = directory.account(person)
                text = t(r.lang, "ask.nudge") + collections.prompt_text(r.lang, c, tz)
                found.append(Nudge(c, label, member_id, r, branch, text))
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
    """/ask: nudges halfway and on the last workday to those who have not submitted and are not
    away; at the deadline the summary to the branch's managers and whoever asked."""
    found = [
        NewMessage(
            outbox_key("ask", n.collection.id, n.label, n.member_id),
            "nudge",
            n.recipient.telegram_id,
            n.text,
            send_after(until, n.org.timezone, policy.with_rule(n.org.reminder_rule), cal),
            org_id=n.org.id,
            reply_markup=stored(collections.submit_buttons(n.recipient.lang, n.collection.id)),
        )
        for n in await nudges_between(
            session, since, until, directory=directory, policy=policy, cal=cal
        )
        if n.recipient.telegram_id is not None
    ]
    for c in await collections.due_between(session, since):
        branch = await session.get(Org, c.org_id)
        if branch is None:
            continue
        tz = branch.timezone
        if since < c.deadline <= until:
            await directory.ready(session)
            progress = await collections.progress(session, c.id, tz)
            targets = {
                r.telegram_id: r.lang
                for r in directory.people[c.org_id].managers()
                if r.telegram_id is not None
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


async def nudges_planned(
    session: AsyncSession,
    at: datetime,
    *,
    policy: ReminderPolicy,
    bootstrap_ids: frozenset[int],
    default_lang: Lang,
) -> list[Planned]:
    """The /ask nudges due at ``at`` (to the minute), as ``zhibu reminders`` lists them."""
    minute = floor_minute(at)
    directory = await Directory.load(session, default_lang, bootstrap_ids)
    cal = await load_workdays(session)
    return [
        Planned(
            "nudge",
            n.collection.kind,
            n.org.code,
            n.recipient,
            n.text,
            minute,
            n.org.timezone,
            org_id=n.org.id,
        )
        for n in await nudges_between(
            session,
            minute - timedelta(minutes=1),
            minute,
            directory=directory,
            policy=policy,
            cal=cal,
        )
    ]
