"""Reports and records filed in chat (SPEC §7): short reports, meeting records, special records.

Every function here checks what it is given again (a draft comes back from the database and
buttons can be forged) and says what was wrong with a ``ReportError`` carrying a text key.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.access import Actor, Declined, NotAllowed
from bot.services.meetings import MEETING_KINDS, QUORUM_FOR, tally
from bot.services.meetings import kinds_for as kinds_for_branch
from bot.services.obligations import add_record
from bot.store import audit, conversations
from bot.store.conversations import load_draft
from bot.store.db import Database
from bot.store.models import (
    MANAGER_ROLES,
    NON_FULL_ROLES,
    CollectionTarget,
    MakeupTask,
    Meeting,
    Member,
    Org,
    OrgKind,
    Record,
    Role,
)

EDIT_WINDOW = timedelta(hours=24)
PHOTOS_MAX = 9
TOPIC_MAX = 200
ATTENDANCE_MAX = 2000
FILE_BACK = timedelta(days=366)  # how far back a held meeting or a special record may be dated


@dataclass(frozen=True)
class ReportKind:
    code: str
    low: int
    high: int
    obligations: tuple[str, ...]  # what a report of this kind counts toward


KINDS: dict[str, ReportKind] = {
    "study_note": ReportKind("study_note", 50, 2000, ("study_note",)),
    "thought_report": ReportKind("thought_report", 100, 4000, ("thought_report",)),
    "work_report": ReportKind("work_report", 20, 4000, ("work_report",)),
    "meeting_record": ReportKind("meeting_record", 20, 2000, ()),
    "democratic_review": ReportKind("democratic_review", 20, 2000, ("democratic_review",)),
    "heart_talk": ReportKind("heart_talk", 5, 500, ("heart_talks",)),
    "ideology_report": ReportKind("ideology_report", 20, 2000, ("ideology_report",)),
    "secretary_review": ReportKind("secretary_review", 20, 2000, ("secretary_review",)),
    "ideology_study": ReportKind("ideology_study", 20, 2000, ("ideology_study",)),
    "mass_org_report": ReportKind("mass_org_report", 20, 2000, ("mass_org_report",)),
}
TEXT_KINDS = ("study_note", "thought_report", "work_report")
BRANCH_RECORDS = ("meeting_record", "democratic_review", "heart_talk", "ideology_report")
SECRETARY_RECORDS = ("secretary_review",)
COMMITTEE_RECORDS = ("ideology_study", "mass_org_report")
DATED_KINDS = frozenset({*BRANCH_RECORDS, *SECRETARY_RECORDS, *COMMITTEE_RECORDS})
# what a meeting record may be ticked as fulfilling (合并召开, 分别记录)
MEETING_TICKS = (*MEETING_KINDS, "democratic_review")


class ReportError(Declined):
    pass


def kinds_for(role: str | None, *, committee_admin: bool = False) -> list[str]:
    """What a caller may file: study notes anyone; thought reports those on the path to
    membership; work reports and the branch's records its managers; the committee's own
    records (意识形态专题研究, 听取群团汇报) the committee's admins."""
    found: list[str] = []
    if role is not None:
        found.append("study_note")
        if Role(role) in NON_FULL_ROLES:
            found.append("thought_report")
        if Role(role) in MANAGER_ROLES:
            found += ["work_report", *BRANCH_RECORDS]
            if Role(role) is Role.SECRETARY:
                found += SECRETARY_RECORDS
    if committee_admin:
        found += COMMITTEE_RECORDS
    return found


def check_text(kind: str, text: str) -> str:
    spec = KINDS[kind]
    value = text.strip()
    if not spec.low <= len(value) <= spec.high:
        raise ReportError("report.length", low=spec.low, high=spec.high, count=len(value))
    return value


def check_topic(text: str) -> str:
    value = " ".join(text.split())
    if not 1 <= len(value) <= TOPIC_MAX:
        raise ReportError("report.bad_topic", high=TOPIC_MAX, count=len(value))
    return value


def check_day(day: date | None, today: date) -> date:
    if day is None:
        raise ReportError("report.bad_day")
    if day > today:
        raise ReportError("report.future_day")
    if today - day > FILE_BACK:
        raise ReportError("report.old_day")
    return day


ATTENDANCE_RE = re.compile(r"^(\d{1,4})\s+(\d{1,4})\s+(\d{1,4})$")


def check_attendance(text: str) -> tuple[int, int, int]:
    """``应到 实到 请假`` as three numbers (缺席 is what is left)."""
    value = unicodedata.normalize("NFKC", text).strip()
    value = re.sub(r"[,，、/]", " ", value)
    m = ATTENDANCE_RE.match(" ".join(value.split()))
    if m is None:
        raise ReportError("report.bad_attendance")
    expected, present, leave = int(m[1]), int(m[2]), int(m[3])
    if not 1 <= expected <= ATTENDANCE_MAX or present + leave > expected:
        raise ReportError("report.bad_attendance")
    return expected, present, leave


def quorum(expected: int, present: int) -> bool:
    """More than half present (by-hand records: the typed 应到 stands for the voting base)."""
    return present * 2 > expected


# ---------------------------------------------------------------- held meetings


@dataclass(frozen=True)
class HeldMeeting:
    id: int
    org_id: int
    obligation: str
    also: tuple[str, ...]
    starts_at: datetime
    topic: str | None
    quorum_met: bool
    expected: int
    present: int
    leave: int
    still_on: bool = False  # check-in is still open: the record follows the tally

    @property
    def absent(self) -> int:
        return self.expected - self.present - self.leave

    def counts(self) -> list[str]:
        """What the record of this meeting counts toward, before the manager's ticks (while
        it is still on, the quorum is decided by its tally)."""
        codes = [c for c in (self.obligation, *self.also) if c in MEETING_TICKS]
        return [c for c in codes if self.quorum_met or self.still_on or c not in QUORUM_FOR]


async def _branch_orgs(session: AsyncSession, branch_id: int) -> list[int]:
    groups = await session.execute(
        select(Org.id).where(Org.parent_id == branch_id, Org.kind == OrgKind.GROUP.value)
    )
    return [branch_id, *groups.scalars()]


def _recordable(now: datetime) -> ColumnElement[bool]:
    """A meeting may be recorded from its start: held (closed), or on now."""
    return or_(
        Meeting.status == "closed",
        and_(Meeting.status == "scheduled", Meeting.starts_at <= now),
    )


async def _held(session: AsyncSession, meeting: Meeting) -> HeldMeeting:
    """A meeting as its record sees it; while it is still on, with the counts so far (the
    record follows the tally when the window closes)."""
    result = await tally(session, meeting)
    quorum = meeting.quorum_met if meeting.status == "closed" else result.quorum_met
    return HeldMeeting(
        meeting.id,
        meeting.org_id,
        meeting.obligation,
        tuple(meeting.also),
        meeting.starts_at,
        meeting.topic,
        bool(quorum),
        len(result.expected),
        len(result.present),
        len(result.leave),
        meeting.status != "closed",
    )


async def meetings_to_file(
    session: AsyncSession, branch_id: int, *, now: datetime, limit: int = 8
) -> list[HeldMeeting]:
    """The branch's (and its 党小组') held meetings whose record is not filed yet, latest first."""
    rows = await session.execute(
        select(Meeting)
        .where(
            Meeting.org_id.in_(await _branch_orgs(session, branch_id)),
            _recordable(now),
            Meeting.record_id.is_(None),
            Meeting.starts_at >= now - FILE_BACK,
        )
        .order_by(Meeting.starts_at.desc())
        .limit(limit)
    )
    return [await _held(session, m) for m in rows.scalars()]


async def held_meeting(
    session: AsyncSession, branch_id: int, meeting_id: int, *, now: datetime
) -> HeldMeeting:
    meeting = await session.get(Meeting, meeting_id)
    started = meeting is not None and meeting.status == "scheduled" and meeting.starts_at <= now
    if (
        meeting is None
        or meeting.org_id not in await _branch_orgs(session, branch_id)
        or not (meeting.status == "closed" or started)
    ):
        raise ReportError("report.meeting_gone")
    if meeting.record_id is not None:
        raise ReportError("report.meeting_filed")
    return await _held(session, meeting)


async def same_meeting(
    session: AsyncSession, branch_id: int, obligation: str, day: date, *, now: datetime
) -> Meeting | None:
    """The started meeting without a record that a record filed by hand is of: same branch
    (or one of its 党小组), same kind, same day."""
    tz = ZoneInfo((await session.get_one(Org, branch_id)).timezone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    rows = await session.execute(
        select(Meeting)
        .where(
            Meeting.org_id.in_(await _branch_orgs(session, branch_id)),
            Meeting.obligation == obligation,
            _recordable(now),
            Meeting.record_id.is_(None),
            Meeting.starts_at >= start,
            Meeting.starts_at < start + timedelta(days=1),
        )
        .order_by(Meeting.starts_at)
    )
    return rows.scalars().first()


# ---------------------------------------------------------------- heart talks


NAME_SPLIT_RE = re.compile(r"[\s,，、;；和与]+")


async def talk_pair(session: AsyncSession, branch_id: int, text: str) -> tuple[int, int]:
    """Two members of the branch named by name or member code (``张三 李四``)."""
    names = [n for n in NAME_SPLIT_RE.split(unicodedata.normalize("NFKC", text).strip()) if n]
    if len(names) != 2 or names[0] == names[1]:
        raise ReportError("report.talk_names")
    found: list[int] = []
    for name in names:
        rows = (
            await session.execute(
                select(Member.id).where(
                    Member.org_id == branch_id,
                    Member.active,
                    or_(Member.name == name, Member.member_code == name),
                )
            )
        ).scalars()
        ids = list(rows)
        if not ids:
            raise ReportError("report.talk_unknown", name=name[:50])
        if len(ids) > 1:
            raise ReportError("report.talk_ambiguous", name=name[:50])
        found.append(ids[0])
    if found[0] == found[1]:
        raise ReportError("report.talk_names")
    return found[0], found[1]


async def _talk_members(session: AsyncSession, branch_id: int, pair: object) -> tuple[int, int]:
    """A draft's two talk partners, still two different active members of the branch."""
    if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(i, int) for i in pair):
        raise ReportError("report.talk_names")
    found = await session.scalar(
        select(func.count()).where(Member.id.in_(pair), Member.org_id == branch_id, Member.active)
    )
    if pair[0] == pair[1] or found != 2:
        raise ReportError("report.talk_names")
    return pair[0], pair[1]


async def member_names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    rows = dict(
        (await session.execute(select(Member.id, Member.name).where(Member.id.in_(ids)))).all()
    )
    return {i: rows[i] for i in ids if i in rows}


# ---------------------------------------------------------------- filing


@dataclass(frozen=True)
class Author:
    """Who files: a member (with their branch) and/or the committee they administer."""

    telegram_id: int
    member_id: int | None
    role: str | None
    branch_id: int | None
    committee_id: int | None = None

    def kinds(self) -> list[str]:
        return kinds_for(self.role, committee_admin=self.committee_id is not None)


DRAFT = "report"  # the conversation whose draft ``save`` files


@dataclass
class Draft:
    """What /report has collected so far: the draft of the ``report`` conversation. Every
    field is checked again when it is filed."""

    kind: str
    text: str | None = None
    held_on: date | None = None
    attendance: list[int] | None = None  # expected, present, on leave (a record by hand)
    topic: str | None = None
    pair: list[int] | None = None  # the two members of a heart talk
    photos: list[str] = field(default_factory=list)  # Telegram file ids
    photo_status: int | None = None  # the message counting the photos, edited as more come
    meeting_id: int | None = None  # the held meeting the record is of
    obligation: str | None = None  # the kind of meeting, when filed by hand
    codes: list[str] = field(default_factory=list)  # what the record counts toward
    first_topic: bool | None = None  # 第一议题 studied first


@dataclass(frozen=True)
class Saved:
    record_id: int
    makeup_closed: bool
    counted: tuple[str, ...]
    pending: tuple[str, ...] = ()  # counted once the meeting's tally shows a quorum


async def file(
    session: AsyncSession, author: Author, draft: Draft, *, today: date, now: datetime
) -> Saved:
    """Save a draft as a record, after checking every field of it again."""
    kind = draft.kind
    if kind not in author.kinds():
        raise ReportError("report.not_allowed")
    text = check_text(kind, draft.text or "")
    details: dict[str, Any] | None = None
    member_id = author.member_id if kind in TEXT_KINDS else None
    partner_id: int | None = None
    org_id = author.committee_id if kind in COMMITTEE_RECORDS else author.branch_id
    assert org_id is not None
    meeting: Meeting | None = None
    if kind in TEXT_KINDS:
        held_on, codes = today, list(KINDS[kind].obligations)
    elif kind == "meeting_record":
        assert author.branch_id is not None
        held_on, codes, details, meeting = await _meeting_fields(
            session, author.branch_id, draft, today, now
        )
        org_id = meeting.org_id if meeting is not None else org_id
    else:
        held_on = check_day(draft.held_on, today)
        codes = list(KINDS[kind].obligations)
        if kind == "heart_talk":
            assert author.branch_id is not None
            member_id, partner_id = await _talk_members(session, author.branch_id, draft.pair)
    record_id = await add_record(
        session,
        org_id=org_id,
        kind=kind,
        held_on=held_on,
        codes=codes,
        filed_at=now,
        filed_by=author.telegram_id,
        member_id=member_id,
        partner_id=partner_id,
        summary=text,
        allow_none=kind == "meeting_record",
    )
    record = await session.get_one(Record, record_id)
    if meeting is not None:
        meeting.record_id = record_id
    closed: int | None = None
    if kind == "study_note" and author.member_id is not None:
        task = await session.scalar(
            select(MakeupTask)
            .where(MakeupTask.member_id == author.member_id, MakeupTask.done_at.is_(None))
            .order_by(MakeupTask.due_on)
        )
        if task is not None:
            task.done_at, closed = now, task.id
            details = {"makeup_task": task.id}
    record.details = details
    await audit.record(
        session,
        at=now,
        action=f"report.{kind}",
        actor_telegram_id=author.telegram_id,
        actor_member_id=author.member_id,
        org_id=org_id,
        detail={"record": record_id, "codes": sorted(set(codes)), "makeup": closed},
    )
    still_on = meeting is not None and meeting.status == "scheduled"
    pending = set((details or {}).get("ticked", [])) - set(codes) if still_on else set()
    return Saved(record_id, closed is not None, tuple(sorted(set(codes))), tuple(sorted(pending)))


async def _meeting_fields(
    session: AsyncSession, branch_id: int, draft: Draft, today: date, now: datetime
) -> tuple[date, list[str], dict[str, Any], Meeting | None]:
    photos = draft.photos
    if not isinstance(photos, list) or len(photos) > PHOTOS_MAX:
        raise ReportError("report.too_many_photos", high=PHOTOS_MAX)
    first_topic = draft.first_topic
    if not isinstance(first_topic, bool):
        raise ReportError("report.first_topic_missing")
    ticked = draft.codes
    if not isinstance(ticked, list) or any(c not in MEETING_TICKS for c in ticked):
        raise ReportError("report.bad_codes")
    details: dict[str, Any] = {
        "first_topic": first_topic,
        "photos": [str(p) for p in photos],
        "ticked": sorted(set(ticked)),
    }
    meeting: Meeting | None = None
    if draft.meeting_id is not None:
        held = await held_meeting(session, branch_id, int(draft.meeting_id), now=now)
        meeting = await session.get_one(Meeting, held.id)
        tz = ZoneInfo((await session.get_one(Org, branch_id)).timezone)
        held_on = held.starts_at.astimezone(tz).date()
        allowed = set(held.counts()) | {c for c in ticked if c not in QUORUM_FOR}
        codes = [c for c in ticked if c in allowed and (held.quorum_met or c not in QUORUM_FOR)]
        details["ticked"] = sorted(set(ticked) & allowed)
        details |= {
            "meeting_id": held.id,
            "obligation": held.obligation,
            "topic": held.topic,
            "expected": held.expected,
            "present": held.present,
            "leave": held.leave,
            "quorum": held.quorum_met,
        }
    else:
        obligation = str(draft.obligation)
        if obligation not in (*MEETING_KINDS, "other"):
            raise ReportError("report.bad_codes")
        held_on = check_day(draft.held_on, today)
        counts = draft.attendance
        if not isinstance(counts, list) or len(counts) != 3:
            raise ReportError("report.bad_attendance")
        expected, present, leave = check_attendance(" ".join(str(c) for c in counts))
        met = quorum(expected, present) if obligation in QUORUM_FOR else True
        codes = [c for c in ticked if met or c not in QUORUM_FOR]
        meeting = await same_meeting(session, branch_id, obligation, held_on, now=now)
        if meeting is not None:  # the meeting the bot knows of: the record closes it
            details["meeting_id"] = meeting.id
            details.pop("ticked")  # typed counts stand: the tally does not replace them
        details |= {
            "obligation": obligation,
            "topic": check_topic(draft.topic or ""),
            "expected": expected,
            "present": present,
            "leave": leave,
            "quorum": met,
        }
    return held_on, codes, details, meeting


# ---------------------------------------------------------------- after filing: edit, withdraw


@dataclass(frozen=True)
class Recent:
    id: int
    kind: str
    held_on: date
    filed_at: datetime
    summary: str


async def recent_of(session: AsyncSession, telegram_id: int, *, now: datetime) -> list[Recent]:
    """What this user filed in the last 24 hours and has not withdrawn, latest first."""
    rows = await session.execute(
        select(Record)
        .where(
            Record.filed_by == telegram_id,
            Record.filed_at > now - EDIT_WINDOW,
            Record.withdrawn_at.is_(None),
        )
        .order_by(Record.filed_at.desc(), Record.id.desc())
    )
    return [Recent(r.id, r.kind, r.held_on, r.filed_at, r.summary or "") for r in rows.scalars()]


async def _own(session: AsyncSession, record_id: int, telegram_id: int, now: datetime) -> Record:
    record = await session.get(Record, record_id)
    if record is None or record.filed_by != telegram_id:
        raise ReportError("report.not_yours")
    if record.withdrawn_at is not None:
        raise ReportError("report.withdrawn_already")
    if now - record.filed_at > EDIT_WINDOW:
        raise ReportError("report.edit_closed")
    return record


async def editable(
    session: AsyncSession, record_id: int, telegram_id: int, *, now: datetime
) -> str:
    """The kind of a record this user may still change; ReportError why not."""
    return (await _own(session, record_id, telegram_id, now)).kind


async def edit(
    session: AsyncSession, record_id: int, text: str, *, telegram_id: int, now: datetime
) -> str:
    """Replace the text of one's own record within 24 hours (the old text goes to the audit)."""
    record = await _own(session, record_id, telegram_id, now)
    value = check_text(record.kind, text)
    before = record.summary
    record.summary, record.edited_at = value, now
    await audit.record(
        session,
        at=now,
        action="report.edit",
        actor_telegram_id=telegram_id,
        org_id=record.org_id,
        detail={"record": record.id, "before": before, "after": value},
    )
    return record.kind


async def withdraw(
    session: AsyncSession, record_id: int, *, telegram_id: int, now: datetime
) -> str:
    """Withdraw one's own record within 24 hours: it stops counting, and what it settled
    (a meeting's record, a collection submission, a 补学 task) is open again."""
    record = await _own(session, record_id, telegram_id, now)
    record.withdrawn_at = now
    await session.execute(
        update(Meeting).where(Meeting.record_id == record.id).values(record_id=None)
    )
    await session.execute(
        update(CollectionTarget)
        .where(CollectionTarget.record_id == record.id)
        .values(record_id=None, submitted_at=None, late=False)
    )
    task_id = (record.details or {}).get("makeup_task")
    if isinstance(task_id, int):
        await session.execute(
            update(MakeupTask).where(MakeupTask.id == task_id).values(done_at=None)
        )
    await audit.record(
        session,
        at=now,
        action="report.withdraw",
        actor_telegram_id=telegram_id,
        org_id=record.org_id,
        detail={"record": record.id, "kind": record.kind, "text": record.summary},
    )
    return record.kind


async def committee_of(session: AsyncSession, org_ids: list[int]) -> int | None:
    """The 党委 among the orgs a user administers, whose own records they may file."""
    return await session.scalar(
        select(Org.id)
        .where(Org.id.in_(org_ids), Org.kind == OrgKind.COMMITTEE.value)
        .order_by(Org.id)
        .limit(1)
    )


# ---------------------------------------------------------------- use-cases
# One transaction each; who may file what is decided here, from the actor.


async def _author(session: AsyncSession, actor: Actor) -> Author:
    committee = None
    if actor.admin_org_ids:
        committee = await committee_of(session, sorted(actor.admin_org_ids))
    m = actor.member
    branch = actor.branch
    return Author(
        actor.telegram_id,
        m.id if m else None,
        m.role if m else None,
        branch.id if branch and branch.kind != OrgKind.GROUP.value else None,
        committee,
    )


async def author_for(db: Database, actor: Actor) -> Author:
    """Who the actor files as, and so which kinds they may file."""
    async with db.read() as session:
        return await _author(session, actor)


async def _recorder(session: AsyncSession, actor: Actor) -> int:
    """The branch whose meeting records the actor may file; NotAllowed if none."""
    author = await _author(session, actor)
    if author.branch_id is None or "meeting_record" not in author.kinds():
        raise NotAllowed("report.not_allowed")
    return author.branch_id


async def may_record(db: Database, actor: Actor) -> None:
    """NotAllowed unless the actor may file their branch's meeting records."""
    async with db.read() as session:
        await _recorder(session, actor)


async def to_file(db: Database, actor: Actor, *, now: datetime) -> list[HeldMeeting]:
    """The held meetings of the actor's branch whose record is still to be filed."""
    async with db.read() as session:
        return await meetings_to_file(session, await _recorder(session, actor), now=now)


async def held_for(db: Database, actor: Actor, meeting_id: int, *, now: datetime) -> HeldMeeting:
    """One held (or started) meeting of the actor's branch, to file its record."""
    async with db.read() as session:
        return await held_meeting(session, await _recorder(session, actor), meeting_id, now=now)


async def record_kinds(db: Database, actor: Actor) -> list[str]:
    """The meeting kinds the actor's branch holds, for a record filed by hand."""
    async with db.read() as session:
        return await kinds_for_branch(session, await _recorder(session, actor))


async def pair_named(db: Database, actor: Actor, text: str) -> list[int]:
    """The two members of the actor's branch a heart-talk record names."""
    if actor.branch is None:
        raise NotAllowed("report.not_allowed")
    async with db.read() as session:
        return list(await talk_pair(session, actor.branch.id, text))


async def names_of(db: Database, member_ids: list[int]) -> dict[int, str]:
    async with db.read() as session:
        return await member_names(session, member_ids)


async def save(db: Database, actor: Actor, *, today: date, now: datetime) -> tuple[str, Saved]:
    """File the actor's /report draft; the draft is taken out in the same transaction, so a
    second 保存 files nothing. The kind filed and what it counted toward."""
    async with db.write() as session:
        draft = load_draft(Draft, await conversations.pop(session, actor.telegram_id, DRAFT))
        if draft is None:
            raise ReportError("report.expired")
        saved = await file(session, await _author(session, actor), draft, today=today, now=now)
    return draft.kind, saved


async def may_change(db: Database, actor: Actor, record_id: int, *, now: datetime) -> str:
    """The kind of the actor's own record they may still edit or withdraw."""
    async with db.read() as session:
        return await editable(session, record_id, actor.telegram_id, now=now)


async def take_back(db: Database, actor: Actor, record_id: int, *, now: datetime) -> str:
    async with db.write() as session:
        return await withdraw(session, record_id, telegram_id=actor.telegram_id, now=now)


async def rewrite(db: Database, actor: Actor, record_id: int, text: str, *, now: datetime) -> str:
    async with db.write() as session:
        return await edit(session, record_id, text, telegram_id=actor.telegram_id, now=now)
