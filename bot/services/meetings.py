"""Meetings (SPEC §6): scheduling, check-in, leave, proxy attendance, tallies and quorum."""

from __future__ import annotations

import dataclasses
import enum
import functools
import html
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, Select, Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.i18n.texts import Lang, fmt_moment, t
from bot.rules.buttons import Rows, stored
from bot.rules.workdays import WorkdayCalendar
from bot.services.access import Actor, Declined, NotAllowed, branch_managers, require_manager
from bot.services.obligations import (
    PERSON_COLUMNS,
    RECORD_WORKDAYS,
    Person,
    load_workdays,
    obligation_name,
    obligations_for,
)
from bot.store import audit, outbox
from bot.store.db import Database, insert_skipping
from bot.store.models import (
    COMMITTEE_ROLES,
    NON_FULL_ROLES,
    Attendance,
    CodeAttempt,
    MakeupTask,
    Meeting,
    Member,
    Org,
    OrgKind,
    OutboxMessage,
    Record,
    RecordObligation,
    Role,
    TelegramLink,
)

WINDOW_BEFORE = timedelta(minutes=30)
WINDOW_AFTER = timedelta(hours=2)
MAX_AHEAD = timedelta(days=180)
PLACE_MAX, TOPIC_MAX = 100, 200
REASON_MIN, REASON_MAX = 2, 200
MAKEUP_FOR = frozenset({"general_meeting", "party_lecture", "theme_day"})
MAKEUP_WORKDAYS = 5
QUORUM_FOR = frozenset({"general_meeting", "committee_meeting"})
CODE_TRIES = 5
CODE_LOCK = timedelta(minutes=10)
MEETING_KINDS = (
    "general_meeting",
    "committee_meeting",
    "group_meeting",
    "party_lecture",
    "secretary_lecture",
    "theme_day",
    "org_life_meeting",
)


class MeetingError(Declined):
    pass


def check_when(starts_at: datetime, now: datetime) -> None:
    """A meeting may not be in the past nor more than 180 days ahead."""
    if starts_at <= now:
        raise MeetingError("meet.past")
    if starts_at > now + MAX_AHEAD:
        raise MeetingError("meet.too_far", days=MAX_AHEAD.days)


def check_text(value: str, limit: int, key: str) -> str:
    text = value.strip()
    if not 1 <= len(text) <= limit or any(ord(c) < 32 for c in text):
        raise MeetingError(key, limit=limit, count=len(text))
    return text


async def create(
    session: AsyncSession,
    *,
    org_id: int,
    obligation: str,
    also: list[str],
    starts_at: datetime,
    place: str,
    topic: str | None,
    by: int,
    now: datetime,
) -> Meeting:
    check_when(starts_at, now)
    org = await session.get_one(Org, org_id)
    branch = org if org.kind == OrgKind.BRANCH.value else await session.get_one(Org, org.parent_id)
    meeting = Meeting(
        org_id=org_id,
        obligation=obligation,
        also=sorted(set(also) - {obligation}),
        starts_at=starts_at,
        place=check_text(place, PLACE_MAX, "meet.bad_place"),
        topic=check_text(topic, TOPIC_MAX, "meet.bad_topic") if topic else None,
        status="scheduled",
        checkin_mode=branch.checkin_mode,
        code=f"{secrets.randbelow(10**6):06d}" if branch.checkin_mode == "code" else None,
        group_chat_id=branch.group_chat_id,
        created_by=by,
        created_at=now,
    )
    session.add(meeting)
    await session.flush()
    return meeting


async def branch_of(session: AsyncSession, meeting: Meeting) -> Org:
    org = await session.get_one(Org, meeting.org_id)
    if org.kind == OrgKind.GROUP.value and org.parent_id is not None:
        return await session.get_one(Org, org.parent_id)
    return org


async def expected(session: AsyncSession, meeting: Meeting) -> list[Person]:
    """Who should come: the 支委 for 支委会, the 党小组 for its meeting, else the whole branch."""
    org = await session.get_one(Org, meeting.org_id)
    query = select(*PERSON_COLUMNS).where(Member.active).order_by(Member.id)
    if org.kind == OrgKind.GROUP.value:
        query = query.where(Member.group_id == org.id)
    else:
        query = query.where(Member.org_id == org.id)
    people = [Person(*row) for row in await session.execute(query)]
    if meeting.obligation == "committee_meeting":
        people = [p for p in people if Role(p.role) in COMMITTEE_ROLES]
    return people


class MeetingHead(Protocol):
    """What a check-in reads of a meeting: the stored meeting, or its row read as columns."""

    @property
    def id(self) -> int: ...
    @property
    def org_id(self) -> int: ...
    @property
    def obligation(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def checkin_mode(self) -> str: ...
    @property
    def code(self) -> str | None: ...


def expects(
    session: Session, meeting: MeetingHead, member_id: int, *, org_kind: str | None = None
) -> bool:
    """Whether one member is expected, without loading everyone (``org_kind``: the kind of
    the meeting's org, when the caller has read it)."""
    member = session.connection().execute(_MEMBER_PLACE, {"mid": member_id}).first()
    if member is None or not member.active:
        return False
    kind = org_kind or session.get_one(Org, meeting.org_id).kind
    if kind == OrgKind.GROUP.value:
        if member.group_id != meeting.org_id:
            return False
    elif member.org_id != meeting.org_id:
        return False
    return meeting.obligation != "committee_meeting" or Role(member.role) in COMMITTEE_ROLES


_MEMBER_PLACE = select(Member.active, Member.org_id, Member.group_id, Member.role).where(
    Member.id == bindparam("mid")
)


async def is_expected(session: AsyncSession, meeting: Meeting, member_id: int) -> bool:
    return await session.run_sync(expects, meeting, member_id)


def voting(meeting: Meeting, people: list[Person]) -> list[Person]:
    """The quorum base: full members (the 支委 for 支委会); activists never vote."""
    return [p for p in people if Role(p.role) not in NON_FULL_ROLES]


class Answer(enum.StrEnum):
    OK = "ok"
    ALREADY = "already"
    NOT_EXPECTED = "not_expected"
    CANCELLED = "cancelled"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    NEED_CODE = "need_code"
    WRONG_CODE = "wrong_code"
    LOCKED = "locked"
    STARTED = "started"
    PRESENT = "present"


def _attendance(session: Session, meeting_id: int, member_id: int) -> Attendance | None:
    return session.scalar(
        select(Attendance).where(
            Attendance.meeting_id == meeting_id, Attendance.member_id == member_id
        )
    )


def check_in(
    session: Session,
    meeting: MeetingHead,
    member_id: int,
    *,
    now: datetime,
    code: str | None = None,
    via: str = "button",
    by: int | None = None,
    makeup_allowed: bool = False,
    org_kind: str | None = None,
) -> Answer:
    """Idempotent: a second check-in changes nothing. A manager's entries (``proxy`` 代签 in
    the window, ``makeup`` 补签 after it) skip the code; 补签 is taken after the tally when
    the caller found it still open (``makeup_allowed``, see ``makeup_open``). Plain SQLAlchemy: an async caller runs
    it with ``run_sync``."""
    by_hand = via in BY_HAND
    if meeting.status == "cancelled":
        return Answer.CANCELLED
    if not expects(session, meeting, member_id, org_kind=org_kind):
        return Answer.NOT_EXPECTED
    if now < meeting.starts_at - WINDOW_BEFORE:
        return Answer.TOO_EARLY
    if now > meeting.starts_at + WINDOW_AFTER and not by_hand:
        return Answer.TOO_LATE
    if meeting.status == "closed" and not (via == "makeup" and makeup_allowed):
        return Answer.TOO_LATE
    conn = session.connection()
    existing = conn.execute(_ANSWER_OF, {"meeting": meeting.id, "member": member_id}).first()
    if existing is not None and existing.status == "present":
        return Answer.ALREADY
    if meeting.checkin_mode == "code" and not by_hand:
        answer = _check_code(session, meeting, member_id, code, now)
        if answer is not Answer.OK:
            return answer
    entry = {"status": "present", "via": via, "by_telegram_id": by, "at": now}
    if existing is not None:  # on leave, but came after all
        conn.execute(_CAME_AFTER_ALL, entry | {"answer": existing.id})
        return Answer.OK
    went_in = conn.execute(
        insert_skipping(session.get_bind().dialect.name, ATTENDANCE, ("meeting_id", "member_id")),
        entry | {"meeting_id": meeting.id, "member_id": member_id},
    )
    # none went in: the same member, at the same moment, from another update
    return Answer.OK if went_in.rowcount else Answer.ALREADY


ATTENDANCE = cast(Table, Attendance.__table__)
_ANSWER_OF = select(ATTENDANCE.c.id, ATTENDANCE.c.status).where(
    ATTENDANCE.c.meeting_id == bindparam("meeting"), ATTENDANCE.c.member_id == bindparam("member")
)
_CAME_AFTER_ALL = (
    update(ATTENDANCE)
    .where(ATTENDANCE.c.id == bindparam("answer"))
    .values(
        status=bindparam("status"),
        via=bindparam("via"),
        by_telegram_id=bindparam("by_telegram_id"),
        at=bindparam("at"),
        reason=None,
    )
)
BY_HAND = frozenset({"proxy", "makeup"})  # a manager's entries: 代签 in the window, 补签 after


async def makeup_open(session: AsyncSession, meeting: Meeting, now: datetime) -> bool:
    """补签 after the tally: until the meeting's record is filed. A record filed while the
    meeting was still on follows the tally (see ``follow_tally``), so 补签 stays open until
    the record's due day has passed."""
    if meeting.status != "closed":
        return False
    if meeting.record_id is None:
        return True
    record = await session.get(Record, meeting.record_id)
    if record is None or meeting.closed_at is None or record.filed_at >= meeting.closed_at:
        return False
    cal = await load_workdays(session)
    tz = ZoneInfo((await branch_of(session, meeting)).timezone)
    due = cal.shift(meeting.starts_at.astimezone(tz).date(), RECORD_WORKDAYS)
    return now.astimezone(tz).date() <= due


async def follow_tally(session: AsyncSession, meeting: Meeting, result: Tally) -> None:
    """After the tally or a 补签: the quorum is decided again, and a record already filed for
    the meeting takes the final counts (and counts toward the meetings that need a quorum
    only if it is met)."""
    if meeting.status == "closed":
        meeting.quorum_met = result.quorum_met
    if meeting.record_id is None:
        return
    record = await session.get(Record, meeting.record_id)
    details = dict(record.details or {}) if record is not None else {}
    if record is None or "ticked" not in details:
        return
    details |= {
        "expected": len(result.expected),
        "present": len(result.present),
        "leave": len(result.leave),
        "quorum": result.quorum_met,
    }
    record.details = details
    codes = {c for c in details["ticked"] if result.quorum_met or c not in QUORUM_FOR}
    await session.execute(delete(RecordObligation).where(RecordObligation.record_id == record.id))
    for code in sorted(codes):
        session.add(RecordObligation(record_id=record.id, code=code))
    await session.flush()


def _check_code(
    session: Session, meeting: MeetingHead, member_id: int, code: str | None, now: datetime
) -> Answer:
    attempt = session.scalar(
        select(CodeAttempt).where(
            CodeAttempt.meeting_id == meeting.id, CodeAttempt.member_id == member_id
        )
    )
    if attempt is not None and attempt.locked_until is not None and attempt.locked_until > now:
        return Answer.LOCKED
    if code is None:
        return Answer.NEED_CODE
    if code.strip() == meeting.code:
        return Answer.OK
    if attempt is None:
        attempt = CodeAttempt(meeting_id=meeting.id, member_id=member_id, failures=0)
        session.add(attempt)
    attempt.failures += 1
    if attempt.failures >= CODE_TRIES:
        attempt.failures, attempt.locked_until = 0, now + CODE_LOCK
        return Answer.LOCKED
    return Answer.WRONG_CODE


async def take_leave(
    session: AsyncSession,
    meeting: Meeting,
    member_id: int,
    reason: str,
    *,
    now: datetime,
    cal: WorkdayCalendar,
) -> Answer:
    """Leave before the start, with a reason; 补学 for the meetings that call for it."""
    if meeting.status != "scheduled":
        return Answer.CANCELLED if meeting.status == "cancelled" else Answer.STARTED
    if not await is_expected(session, meeting, member_id):
        return Answer.NOT_EXPECTED
    if now >= meeting.starts_at:
        return Answer.STARTED
    text = reason.strip()
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise MeetingError("leave.reason_length", min=REASON_MIN, max=REASON_MAX, count=len(text))
    existing = await session.run_sync(_attendance, meeting.id, member_id)
    if existing is not None and existing.status == "present":
        return Answer.PRESENT
    if existing is not None:
        existing.reason, existing.at = text, now
        return Answer.ALREADY
    session.add(
        Attendance(
            meeting_id=meeting.id,
            member_id=member_id,
            status="leave",
            via="button",
            reason=text,
            at=now,
        )
    )
    if meeting.obligation in MAKEUP_FOR:
        tz = ZoneInfo((await branch_of(session, meeting)).timezone)
        due = cal.shift(meeting.starts_at.astimezone(tz).date(), MAKEUP_WORKDAYS)
        session.add(MakeupTask(meeting_id=meeting.id, member_id=member_id, due_on=due))
    await session.flush()
    return Answer.OK


@dataclass(frozen=True)
class Tally:
    expected: list[Person]
    present: list[tuple[Person, str, int | None]]  # person, via, by whom (proxy)
    leave: list[tuple[Person, str]]
    absent: list[Person]
    voting_base: int
    voting_present: int
    needs_quorum: bool

    @property
    def quorum_met(self) -> bool:
        return not self.needs_quorum or self.voting_present * 2 > self.voting_base


async def tally(session: AsyncSession, meeting: Meeting) -> Tally:
    people = await expected(session, meeting)
    answers = {
        a.member_id: a
        for a in (
            await session.execute(select(Attendance).where(Attendance.meeting_id == meeting.id))
        ).scalars()
    }
    present = [
        (p, answers[p.id].via, answers[p.id].by_telegram_id)
        for p in people
        if p.id in answers and answers[p.id].status == "present"
    ]
    leave = [
        (p, answers[p.id].reason or "")
        for p in people
        if p.id in answers and answers[p.id].status == "leave"
    ]
    absent = [p for p in people if p.id not in answers]
    base = voting(meeting, people)
    here = {p.id for p, _, _ in present}
    return Tally(
        people,
        present,
        leave,
        absent,
        len(base),
        sum(1 for p in base if p.id in here),
        meeting.obligation in QUORUM_FOR,
    )


async def close(session: AsyncSession, meeting: Meeting, *, now: datetime) -> Tally:
    """The window has closed: count, decide quorum, and stop taking answers (but 补签)."""
    result = await tally(session, meeting)
    meeting.status, meeting.closed_at = "closed", now
    await follow_tally(session, meeting, result)
    return result


async def due_to_close(session: AsyncSession, now: datetime) -> list[Meeting]:
    """Scheduled meetings whose check-in window has closed."""
    rows = await session.execute(
        select(Meeting).where(
            Meeting.status == "scheduled", Meeting.starts_at <= now - WINDOW_AFTER
        )
    )
    return list(rows.scalars())


# ---------------------------------------------------------------- what the scheduler sends

REMINDER_BEFORE = timedelta(hours=1)  # an event; the day before is in the briefing


async def answered(session: AsyncSession, meeting_id: int) -> set[int]:
    rows = await session.execute(
        select(Attendance.member_id).where(Attendance.meeting_id == meeting_id)
    )
    return set(rows.scalars())


async def code_opening_between(
    session: AsyncSession, since: datetime, until: datetime
) -> list[Meeting]:
    """Code-mode meetings whose managers are due the code in (since, until]: when check-in
    opens, or when the meeting was scheduled if it opened already."""
    rows = await session.execute(
        select(Meeting).where(
            Meeting.status == "scheduled",
            Meeting.checkin_mode == "code",
            Meeting.starts_at > since - WINDOW_AFTER,
            Meeting.starts_at <= until + WINDOW_BEFORE,
        )
    )
    return [
        m for m in rows.scalars() if since < max(m.starts_at - WINDOW_BEFORE, m.created_at) <= until
    ]


async def upcoming_between(session: AsyncSession, start: datetime, end: datetime) -> list[Meeting]:
    rows = await session.execute(
        select(Meeting).where(
            Meeting.status == "scheduled", Meeting.starts_at > start, Meeting.starts_at <= end
        )
    )
    return list(rows.scalars())


async def records_due(session: AsyncSession) -> list[Meeting]:
    """Held meetings with quorum whose record has not been filed yet."""
    rows = await session.execute(
        select(Meeting).where(
            Meeting.status == "closed", Meeting.quorum_met.is_(True), Meeting.record_id.is_(None)
        )
    )
    return list(rows.scalars())


async def change(
    session: AsyncSession,
    meeting: Meeting,
    *,
    now: datetime,
    starts_at: datetime | None = None,
    place: str | None = None,
) -> None:
    """Move a meeting or change its place, before it starts."""
    if meeting.status != "scheduled" or now >= meeting.starts_at:
        raise MeetingError("meet.not_changeable")
    if starts_at is not None:
        check_when(starts_at, now)
        meeting.starts_at = starts_at
    if place is not None:
        meeting.place = check_text(place, PLACE_MAX, "meet.bad_place")


async def notify_attendees(
    session: AsyncSession,
    meeting: Meeting,
    *,
    key: str,
    text: str,
    now: datetime,
    buttons: Rows | None = None,
) -> int:
    """Queue one message to every expected attendee with a linked account; how many."""
    people = await expected(session, meeting)
    links = dict(
        (
            await session.execute(
                select(TelegramLink.member_id, TelegramLink.telegram_user_id).where(
                    TelegramLink.member_id.in_([p.id for p in people])
                )
            )
        ).all()
    )
    branch = await branch_of(session, meeting)
    messages = [
        outbox.NewMessage(
            outbox.outbox_key("meet", meeting.id, key, p.id),
            "meeting",
            links[p.id],
            text,
            now,
            org_id=branch.id,
            reply_markup=stored(buttons) if buttons else None,
        )
        for p in people
        if p.id in links
    ]
    await outbox.enqueue(session, messages, now=now)
    return len(messages)


async def kinds_for(session: AsyncSession, org_id: int) -> list[str]:
    """The meeting kinds a branch may schedule: its attendance obligations that are on."""
    effective = {
        e.ob.code: e for e in await obligations_for(session, await session.get_one(Org, org_id))
    }
    kinds = [k for k in MEETING_KINDS if k in effective and effective[k].enabled]
    if "group_meeting" in kinds and not await groups_of(session, org_id):
        kinds.remove("group_meeting")
    return kinds


async def groups_of(session: AsyncSession, org_id: int) -> list[tuple[int, str]]:
    rows = await session.execute(
        select(Org.id, Org.name).where(Org.parent_id == org_id, Org.kind == OrgKind.GROUP.value)
    )
    return [(i, n) for i, n in rows]


async def scheduled_for(session: AsyncSession, member_id: int) -> list[Meeting]:
    """Scheduled meetings a member is expected at, soonest first."""
    rows = await session.execute(
        select(Meeting).where(Meeting.status == "scheduled").order_by(Meeting.starts_at)
    )
    return [m for m in rows.scalars() if await is_expected(session, m, member_id)]


AWAY_MAX_DAYS = 180


async def set_away(
    session: AsyncSession, member_id: int, until: date | None, *, today: date
) -> None:
    """/away: no nudges until ``until`` (inclusive); None ends it."""
    if until is not None and not today <= until <= today + timedelta(days=AWAY_MAX_DAYS):
        raise MeetingError("away.range", days=AWAY_MAX_DAYS)
    member = await session.get_one(Member, member_id)
    member.away_until = until


@dataclass(frozen=True)
class MemberTasks:
    """What one member still has to do about meetings."""

    to_answer: list[Meeting]  # upcoming meetings with no check-in or leave yet
    makeup: list[tuple[Meeting, date]]  # 补学 owed, with due dates


async def tasks_of(session: AsyncSession, member_id: int, *, now: datetime) -> MemberTasks:
    upcoming = [
        m for m in await scheduled_for(session, member_id) if m.starts_at + WINDOW_AFTER > now
    ]
    answered_ids = set(
        (
            await session.execute(
                select(Attendance.meeting_id).where(
                    Attendance.member_id == member_id,
                    Attendance.meeting_id.in_([m.id for m in upcoming]),
                )
            )
        ).scalars()
    )
    makeup = await session.execute(
        select(Meeting, MakeupTask.due_on)
        .join(MakeupTask, MakeupTask.meeting_id == Meeting.id)
        .where(MakeupTask.member_id == member_id, MakeupTask.done_at.is_(None))
        .order_by(MakeupTask.due_on)
    )
    return MemberTasks(
        [m for m in upcoming if m.id not in answered_ids], [(m, d) for m, d in makeup]
    )


# ---------------------------------------------------------------- what managers do
# Use-cases: one transaction each, the permission checked here, changes audited with them.


@dataclass(frozen=True)
class StillToAnswer:
    """A meeting's expected attendees who have neither checked in nor taken leave."""

    meeting_id: int
    obligation: str
    starts_at: datetime
    timezone: str
    people: list[Person]
    late: bool = False  # the window has passed: entries now are 补签


async def _managed(session: AsyncSession, actor: Actor, meeting_id: int) -> tuple[Meeting, Org]:
    meeting = await session.get_one(Meeting, meeting_id)
    branch = await branch_of(session, meeting)
    await require_manager(session, actor, branch.id)
    return meeting, branch


async def require_manages_meeting(db: Database, actor: Actor, meeting_id: int) -> None:
    """NotAllowed unless the actor manages the branch this meeting belongs to."""
    async with db.read() as session:
        await _managed(session, actor, meeting_id)


async def cancel(db: Database, actor: Actor, meeting_id: int, *, now: datetime, lang: Lang) -> None:
    """Cancel a scheduled meeting and tell its attendees (SPEC §6)."""
    async with db.write() as session:
        meeting, branch = await _managed(session, actor, meeting_id)
        if meeting.status != "scheduled":
            raise MeetingError("meet.not_changeable")
        meeting.status = "cancelled"
        text = t(
            lang,
            "meet.cancelled_notice",
            name=html.escape(obligation_name(meeting.obligation, lang), quote=False),
            when=fmt_moment(lang, meeting.starts_at, branch.timezone),
        )
        await notify_attendees(session, meeting, key="cancel", text=text, now=now)
        await audit.record(
            session,
            at=now,
            action="meet.cancel",
            actor_telegram_id=actor.telegram_id,
            actor_member_id=actor.member.id if actor.member else None,
            org_id=branch.id,
            detail={"meeting": meeting.id},
        )


async def sign_in_for(
    db: Database, actor: Actor, meeting_id: int, member_id: int, *, now: datetime
) -> tuple[Answer, str | None, bool]:
    """A manager's 代签 for an expected attendee (补签 once the window has passed, audited, the
    quorum decided again); the answer, the attendee's name and whether it was 补签."""
    async with db.write() as session:
        meeting, branch = await _managed(session, actor, meeting_id)
        late = meeting.status == "closed" or now > meeting.starts_at + WINDOW_AFTER
        via = "makeup" if late else "proxy"
        answer = await session.run_sync(
            check_in,
            meeting,
            member_id,
            now=now,
            via=via,
            by=actor.telegram_id,
            makeup_allowed=late and await makeup_open(session, meeting, now),
        )
        if answer is Answer.OK and late:
            await follow_tally(session, meeting, await tally(session, meeting))
            await audit.record(
                session,
                at=now,
                action="meet.makeup",
                actor_telegram_id=actor.telegram_id,
                actor_member_id=actor.member.id if actor.member else None,
                org_id=branch.id,
                detail={"meeting": meeting.id, "member": member_id},
            )
        people = await expected(session, meeting)
    return answer, next((p.name for p in people if p.id == member_id), None), late


async def still_to_answer(db: Database, actor: Actor, meeting_id: int) -> StillToAnswer:
    """Who a manager may still sign in for."""
    async with db.read() as session:
        meeting, branch = await _managed(session, actor, meeting_id)
        done = await answered(session, meeting.id)
        people = [p for p in await expected(session, meeting) if p.id not in done]
    late = meeting.status == "closed"
    return StillToAnswer(
        meeting.id, meeting.obligation, meeting.starts_at, branch.timezone, people, late
    )


@dataclass(frozen=True)
class ShownCode:
    """A code-mode meeting's check-in code, for its managers to show in the room."""

    meeting: MeetingInfo
    timezone: str  # the branch's
    code: str


async def code_of(db: Database, actor: Actor, meeting_id: int) -> ShownCode:
    """The check-in code, for a manager of the meeting's branch; MeetingError when the meeting
    takes no code or takes no check-ins any more."""
    async with db.read() as session:
        meeting, branch = await _managed(session, actor, meeting_id)
        if meeting.checkin_mode != "code" or meeting.code is None:
            raise MeetingError("meet.no_code")
        if meeting.status != "scheduled":
            raise MeetingError("meet.code_closed")
        return ShownCode(info_of(meeting), branch.timezone, meeting.code)


async def remember_group_card(db: Database, meeting_id: int, message_id: int) -> None:
    """The message in the branch group that shows this meeting's card (edited as it changes)."""
    async with db.write() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        meeting.group_message_id = message_id


def require_member(actor: Actor) -> int:
    """The acting member's id; NotAllowed for an account linked to nobody."""
    if actor.member is None:
        raise NotAllowed("calendar.unlinked")
    return actor.member.id


async def go_away(db: Database, actor: Actor, until: date | None, *, today: date) -> None:
    """/away for the acting member (出差/休假): no nudges until ``until``; None ends it."""
    member_id = require_member(actor)
    async with db.write() as session:
        await set_away(session, member_id, until, today=today)


# ---------------------------------------------------------------- what the chat shows


@dataclass(frozen=True)
class MeetingInfo:
    """A meeting as the front ends see it (no database object leaves the services)."""

    id: int
    org_id: int
    obligation: str
    starts_at: datetime
    place: str
    topic: str | None
    status: str
    group_chat_id: int | None
    group_message_id: int | None
    checkin_mode: str = "button"  # or "code": members type the code shown in the room


def info_of(m: Meeting) -> MeetingInfo:
    return MeetingInfo(
        m.id,
        m.org_id,
        m.obligation,
        m.starts_at,
        m.place,
        m.topic,
        m.status,
        m.group_chat_id,
        m.group_message_id,
        m.checkin_mode,
    )


@dataclass(frozen=True)
class CardState:
    meeting: MeetingInfo
    timezone: str  # the branch's
    counts: tuple[int, int, int]  # expected, present, on leave
    final: Tally | None = None  # once the window has closed: the tally the card has become


async def find(db: Database, meeting_id: int) -> MeetingInfo | None:
    async with db.read() as session:
        m = await session.get(Meeting, meeting_id)
        return info_of(m) if m is not None else None


async def card_state(db: Database, meeting_id: int) -> CardState:
    """What the meeting's card shows now."""
    async with db.read() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        branch = await branch_of(session, meeting)
        if meeting.status != "closed":
            org = await session.get_one(Org, meeting.org_id)
            counts = await session.run_sync(head_count, meeting, org.kind)
            return CardState(info_of(meeting), branch.timezone, counts)
        result = await tally(session, meeting)
    counts = (len(result.expected), len(result.present), len(result.leave))
    return CardState(info_of(meeting), branch.timezone, counts, result)


async def choices(
    db: Database, actor: Actor, org_id: int
) -> tuple[list[str], list[tuple[int, str]]]:
    """/meet: the meeting kinds the branch holds and its 党小组s, for its managers."""
    async with db.read() as session:
        await require_manager(session, actor, org_id)
        return await kinds_for(session, org_id), await groups_of(session, org_id)


@dataclass(frozen=True)
class SignedIn:
    """A member's check-in: the answer, the meeting, and the counts its card shows now."""

    answer: Answer
    meeting: MeetingInfo
    timezone: str  # the branch's
    counts: tuple[int, int, int]  # expected, present, on leave (after the answer)


async def sign_in(
    db: Database,
    actor: Actor,
    meeting_id: int,
    *,
    now: datetime,
    code: str | None,
    counts: bool = False,
) -> SignedIn | None:
    """The acting member checks in (by button, or with the code in the room), in one short
    unit of work; None when there is no such meeting. ``counts``: the card's counts after
    an accepted check-in are wanted (a private card shows them at once)."""

    def work(session: Session) -> SignedIn | None:
        meeting = session.connection().execute(_HEAD, {"meeting": meeting_id}).first()
        if meeting is None:
            return None
        answer = Answer.NOT_EXPECTED
        if actor.member is not None:
            via = "code" if meeting.checkin_mode == "code" else "button"
            answer = check_in(
                session,
                meeting,
                actor.member.id,
                now=now,
                code=code,
                via=via,
                org_kind=meeting.org_kind,
            )
        timezone = meeting.timezone
        if meeting.org_kind == OrgKind.GROUP.value and meeting.parent_id is not None:
            timezone = session.get_one(Org, meeting.parent_id).timezone
        shown = (0, 0, 0)
        if counts and answer is Answer.OK:
            shown = head_count(session, meeting, meeting.org_kind)
        info = MeetingInfo(*(getattr(meeting, f.name) for f in dataclasses.fields(MeetingInfo)))
        return SignedIn(answer, info, timezone, shown)

    return await db.unit(work, short=True)


# a meeting as a check-in reads it: MeetingInfo's fields, the code, and its org's place
_HEAD = (
    select(
        *(getattr(Meeting, f.name) for f in dataclasses.fields(MeetingInfo)),
        Meeting.code,
        Org.kind.label("org_kind"),
        Org.parent_id,
        Org.timezone,
    )
    .join(Org, Org.id == Meeting.org_id)
    .where(Meeting.id == bindparam("meeting"))
)


def head_count(session: Session, meeting: MeetingHead, org_kind: str) -> tuple[int, int, int]:
    """(expected, present, on leave) as ``tally`` counts them, counted by the database in one
    statement."""
    by_group = org_kind == OrgKind.GROUP.value
    counting = _head_count(by_group, meeting.obligation == "committee_meeting")
    params = {"org": meeting.org_id, "meeting": meeting.id}
    row = session.connection().execute(counting, params).one()
    return int(row[0]), int(row[1]), int(row[2])


@functools.cache
def _head_count(by_group: bool, committee: bool) -> Select[Any]:
    """The statement ``head_count`` runs for such a meeting (built once per kind)."""
    where = Member.group_id if by_group else Member.org_id
    who = [Member.active.is_(True), where == bindparam("org")]
    if committee:
        who.append(Member.role.in_([r.value for r in COMMITTEE_ROLES]))

    def answered(status: str) -> ScalarSelect[int]:
        return (
            select(func.count(Attendance.id))
            .join(Member, Member.id == Attendance.member_id)
            .where(Attendance.meeting_id == bindparam("meeting"), Attendance.status == status, *who)
            .scalar_subquery()
        )

    everyone = select(func.count(Member.id)).where(*who).scalar_subquery()
    return select(everyone, answered("present"), answered("leave"))


async def may_ask_leave(db: Database, actor: Actor, meeting_id: int, *, now: datetime) -> None:
    """NotAllowed unless the actor is expected at the meeting; MeetingError when leave can no
    longer be asked (cancelled, started)."""
    if actor.member is None:
        raise NotAllowed("checkin.not_expected")
    async with db.read() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        if meeting.status == "cancelled":
            raise MeetingError("checkin.cancelled")
        if not await is_expected(session, meeting, actor.member.id):
            raise NotAllowed("checkin.not_expected")
        if now >= meeting.starts_at:
            raise MeetingError("leave.started")


@dataclass(frozen=True)
class LeaveTaken:
    answer: Answer
    meeting: MeetingInfo
    timezone: str  # the branch's
    told: int  # how many of the branch's managers the notice was queued for


async def ask_leave(
    db: Database, actor: Actor, meeting_id: int, reason: str, *, now: datetime, lang: Lang
) -> LeaveTaken:
    """The acting member asks for leave (请假) with a reason; the branch's managers are told
    through the outbox, in the same transaction (a crash loses neither the leave nor the
    notice)."""
    member_id = require_member(actor)
    async with db.write() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        cal = await load_workdays(session)
        answer = await take_leave(session, meeting, member_id, reason, now=now, cal=cal)
        branch = await branch_of(session, meeting)
        told = 0
        if answer is Answer.OK:
            member = await session.get_one(Member, member_id)
            text = t(
                lang,
                "leave.notice",
                name=html.escape(member.name, quote=False),
                meeting=html.escape(obligation_name(meeting.obligation, lang), quote=False),
                when=fmt_moment(lang, meeting.starts_at, branch.timezone),
                reason=html.escape(reason.strip(), quote=False),
            )
            notices = [
                outbox.NewMessage(
                    outbox.outbox_key("meet", meeting.id, "leave", member_id, tg),
                    "meeting",
                    tg,
                    text,
                    now,
                    org_id=branch.id,
                )
                for _, tg in await branch_managers(session, branch.id)
            ]
            told = await outbox.enqueue(session, notices, now=now)
    return LeaveTaken(answer, info_of(meeting), branch.timezone, told)


async def leave_choices(db: Database, actor: Actor, *, now: datetime) -> list[MeetingInfo]:
    """/leave: the acting member's meetings not yet started that they have not checked in to
    (leave already asked may be asked again, with a new reason), soonest first."""
    if actor.member is None:
        return []
    async with db.read() as session:
        upcoming = [m for m in await scheduled_for(session, actor.member.id) if m.starts_at > now]
        here = set(
            (
                await session.execute(
                    select(Attendance.meeting_id).where(
                        Attendance.member_id == actor.member.id,
                        Attendance.status == "present",
                        Attendance.meeting_id.in_([m.id for m in upcoming]),
                    )
                )
            ).scalars()
        )
        return [info_of(m) for m in upcoming if m.id not in here]


LISTED = 6  # meetings of each kind /meet lists: not over yet, and held recently
RECENT = timedelta(days=30)


async def of_branch(
    db: Database, actor: Actor, org_id: int, *, now: datetime
) -> tuple[list[MeetingInfo], list[MeetingInfo]]:
    """/meet: a branch's (and its 党小组s') meetings to manage, for its managers: those not
    over yet, soonest first, and those held in the last 30 days, latest first."""
    async with db.read() as session:
        await require_manager(session, actor, org_id)
        ids = [org_id, *(g for g, _ in await groups_of(session, org_id))]
        found = (
            await session.execute(
                select(Meeting)
                .where(
                    Meeting.org_id.in_(ids),
                    Meeting.status != "cancelled",
                    Meeting.starts_at >= now - RECENT,
                )
                .order_by(Meeting.starts_at, Meeting.id)
            )
        ).scalars()
        meetings = [info_of(m) for m in found]
    coming = [m for m in meetings if m.status != "closed"]
    held = [m for m in meetings if m.status == "closed"]
    return coming[:LISTED], held[::-1][:LISTED]


async def mine(db: Database, actor: Actor) -> list[MeetingInfo]:
    """Scheduled meetings the acting member is expected at, soonest first."""
    if actor.member is None:
        return []
    async with db.read() as session:
        return [info_of(m) for m in await scheduled_for(session, actor.member.id)]


async def my_cards(db: Database, actor: Actor, meeting_id: int) -> list[int]:
    """The meeting's cards sent to the acting member's private chat (message ids), so an
    answer given elsewhere (the board) shows on them too."""
    if actor.member is None:
        return []
    key = outbox.outbox_key("meet", meeting_id, "card", actor.member.id)
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxMessage.message_id).where(
                OutboxMessage.key == key,
                OutboxMessage.chat_id == actor.telegram_id,
                OutboxMessage.message_id.is_not(None),
            )
        )
        return [m for m in rows.scalars() if m is not None]
