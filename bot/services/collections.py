"""/ask collections (SPEC §7): a manager asks part of the branch for one kind of report by a
deadline; members submit by button or by replying to the prompt; nudges halfway and on the
last workday go to those who have not submitted and are not away; at the deadline the
managers get the summary. Late submissions are accepted and marked late.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_moment, normalise_lang, t
from bot.rules.buttons import AskSubmit, Rows, stored
from bot.rules.catalogue import ReminderPolicy
from bot.rules.workdays import WorkdayCalendar
from bot.services.access import Actor, Declined, NotAllowed, require_manager
from bot.services.obligations import PERSON_COLUMNS, Person, Reach, add_record
from bot.services.reports import KINDS, check_text
from bot.store import audit, conversations, outbox
from bot.store.conversations import load_draft
from bot.store.db import Database
from bot.store.models import (
    COMMITTEE_ROLES,
    NON_FULL_ROLES,
    Collection,
    CollectionTarget,
    Member,
    OutboxMessage,
    Role,
    TelegramLink,
    TelegramUser,
)

COLLECT_KINDS = ("study_note", "thought_report", "work_report")
AUDIENCES = ("all", "full", "committee", "path")
PROMPT_LOW, PROMPT_HIGH = 5, 500
MIN_AHEAD = timedelta(hours=1)
MAX_AHEAD = timedelta(days=90)
DEFAULT_HOUR = time(18, 0)  # a deadline picked as a day ends at 18:00
SUBMIT_AFTER = timedelta(days=30)  # late submissions are taken for this long after the deadline


class CollectionError(Declined):
    pass


def in_audience(person: Person, audience: str) -> bool:
    role = Role(person.role)
    if audience == "all":
        return True
    if audience == "full":
        return role not in NON_FULL_ROLES
    if audience == "committee":
        return role in COMMITTEE_ROLES
    if audience == "path":
        return role in NON_FULL_ROLES
    return False


def check_prompt(text: str) -> str:
    value = text.strip()
    if not PROMPT_LOW <= len(value) <= PROMPT_HIGH:
        raise CollectionError(
            "ask.prompt_length", low=PROMPT_LOW, high=PROMPT_HIGH, count=len(value)
        )
    return value


def check_deadline(deadline: datetime | None, now: datetime) -> datetime:
    if deadline is None:
        raise CollectionError("ask.bad_deadline")
    if deadline < now + MIN_AHEAD:
        raise CollectionError("ask.deadline_soon")
    if deadline > now + MAX_AHEAD:
        raise CollectionError("ask.deadline_far")
    return deadline


async def audience_of(session: AsyncSession, branch_id: int, audience: str) -> list[Person]:
    rows = await session.execute(
        select(*PERSON_COLUMNS).where(Member.org_id == branch_id, Member.active).order_by(Member.id)
    )
    return [p for p in (Person(*r) for r in rows) if in_audience(p, audience)]


def prompt_text(lang: Lang, c: Collection, tz: str, *, in_group: bool = False) -> str:
    """A collection's prompt, with how to answer it there: privately, 提交 or a reply; in the
    group, the 提交 that opens the private chat, or a reply in the group."""
    return t(
        lang,
        "ask.prompt",
        kind=t(lang, names.REPORT_KIND[c.kind]),
        prompt=html.escape(c.prompt, quote=False),
        deadline=fmt_moment(lang, c.deadline, tz),
        low=KINDS[c.kind].low,
        high=KINDS[c.kind].high,
        how=t(lang, "ask.group_hint" if in_group else "ask.private_hint"),
    )


def submit_buttons(lang: Lang, collection_id: int) -> Rows:
    """The 提交 button under a collection's prompt."""
    return [[(t(lang, "ask.submit"), AskSubmit(collection_id))]]


async def create(
    session: AsyncSession,
    *,
    branch_id: int,
    kind: str,
    prompt: str,
    deadline: datetime,
    audience: str,
    by: int,
    now: datetime,
    tz: str,
    group_chat_id: int | None,
    default_lang: Lang,
    bot_username: str | None = None,
) -> tuple[int, Reach]:
    """Create the collection and queue its prompts; (collection id, how many were sent to).
    The group's copy has a 提交 button that opens the private chat's (``/start s_<id>``)."""
    if kind not in COLLECT_KINDS or audience not in AUDIENCES:
        raise CollectionError("ask.bad_choice")
    people = await audience_of(session, branch_id, audience)
    if not people:
        raise CollectionError("ask.nobody")
    c = Collection(
        org_id=branch_id,
        kind=kind,
        prompt=check_prompt(prompt),
        audience=audience,
        deadline=check_deadline(deadline, now),
        created_by=by,
        created_at=now,
    )
    session.add(c)
    await session.flush()
    accounts = await _accounts(session, [p.id for p in people])
    today = now.astimezone(ZoneInfo(tz)).date()
    for p in people:  # away or not linked: not judged on it unless they answer anyway
        reached = p.id in accounts and not (p.away_until and p.away_until >= today)
        session.add(CollectionTarget(collection_id=c.id, member_id=p.id, reached=reached))
    langs = {m: normalise_lang(lang, default_lang) for m, (_, lang) in accounts.items()}
    messages = [
        outbox.NewMessage(
            outbox.outbox_key("ask", c.id, "prompt", p.id),
            "collection",
            accounts[p.id][0],
            prompt_text(langs[p.id], c, tz),
            now,
            org_id=branch_id,
            reply_markup=stored(submit_buttons(langs[p.id], c.id)),
        )
        for p in people
        if p.id in accounts
    ]
    if group_chat_id is not None:
        messages.append(
            outbox.NewMessage(
                outbox.outbox_key("ask", c.id, "group", group_chat_id),
                "collection",
                group_chat_id,
                prompt_text(default_lang, c, tz, in_group=True),
                now,
                org_id=branch_id,
                reply_markup=submit_link(default_lang, c.id, bot_username),
            )
        )
    await outbox.enqueue(session, messages, now=now)
    await audit.record(
        session,
        at=now,
        action="ask.create",
        actor_telegram_id=by,
        org_id=branch_id,
        detail={"collection": c.id, "kind": kind, "audience": audience, "targets": len(people)},
    )
    return c.id, Reach(
        sum(1 for p in people if p.id in accounts),
        tuple((p.id, p.name) for p in people if p.id not in accounts),
    )


async def _accounts(
    session: AsyncSession, member_ids: list[int]
) -> dict[int, tuple[int, str | None]]:
    """Linked members: their Telegram id and the language they chose or Telegram reports."""
    rows = await session.execute(
        select(
            TelegramLink.member_id,
            TelegramLink.telegram_user_id,
            TelegramUser.language,
            TelegramUser.telegram_language,
        )
        .outerjoin(TelegramUser, TelegramUser.id == TelegramLink.telegram_user_id)
        .where(TelegramLink.member_id.in_(member_ids))
    )
    return {m: (tg, chosen or told) for m, tg, chosen, told in rows}


# ---------------------------------------------------------------- submitting


@dataclass(frozen=True)
class Submitted:
    collection_id: int
    kind: str
    late: bool
    record_id: int


async def submittable(
    session: AsyncSession, collection_id: int, member_id: int, *, now: datetime
) -> Collection:
    """The collection, if this member was asked, has not submitted and it still takes answers."""
    c = await session.get(Collection, collection_id)
    if c is None:
        raise CollectionError("ask.gone")
    target = await session.scalar(
        select(CollectionTarget).where(
            CollectionTarget.collection_id == c.id, CollectionTarget.member_id == member_id
        )
    )
    if target is None:
        raise CollectionError("ask.not_asked")
    if target.submitted_at is not None:
        raise CollectionError("ask.already")
    if now > c.deadline + SUBMIT_AFTER:
        raise CollectionError("ask.closed")
    return c


async def submit(
    session: AsyncSession,
    collection_id: int,
    member_id: int,
    text: str,
    *,
    now: datetime,
    by: int,
    today: date,
) -> Submitted:
    c = await submittable(session, collection_id, member_id, now=now)
    value = check_text(c.kind, text)
    record_id = await add_record(
        session,
        org_id=c.org_id,
        kind=c.kind,
        held_on=today,
        codes=list(KINDS[c.kind].obligations),
        filed_at=now,
        filed_by=by,
        member_id=member_id,
        summary=value,
    )
    target = await session.scalar(
        select(CollectionTarget).where(
            CollectionTarget.collection_id == c.id, CollectionTarget.member_id == member_id
        )
    )
    assert target is not None
    late = now > c.deadline
    target.submitted_at, target.record_id, target.late = now, record_id, late
    await audit.record(
        session,
        at=now,
        action="ask.submit",
        actor_telegram_id=by,
        actor_member_id=member_id,
        org_id=c.org_id,
        detail={"collection": c.id, "record": record_id, "late": late},
    )
    return Submitted(c.id, c.kind, late, record_id)


async def by_prompt(session: AsyncSession, chat_id: int, message_id: int) -> int | None:
    """The collection whose prompt this message is (in a private chat or the bound group)."""
    key = await session.scalar(
        select(OutboxMessage.key).where(
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.message_id == message_id,
            OutboxMessage.kind.in_(("collection", "nudge")),
        )
    )
    if key is None:
        return None
    parts = key.split("|")
    return int(parts[1]) if len(parts) >= 3 and parts[0] == "ask" and parts[1].isdigit() else None


@dataclass(frozen=True)
class Open:
    id: int
    kind: str
    prompt: str
    deadline: datetime


async def open_for(session: AsyncSession, member_id: int, *, now: datetime) -> list[Open]:
    """Collections this member still has to answer (late ones included, for a while)."""
    rows = await session.execute(
        select(Collection)
        .join(CollectionTarget, CollectionTarget.collection_id == Collection.id)
        .where(
            CollectionTarget.member_id == member_id,
            CollectionTarget.submitted_at.is_(None),
            Collection.deadline > now - SUBMIT_AFTER,
        )
        .order_by(Collection.deadline)
    )
    return [Open(c.id, c.kind, c.prompt, c.deadline) for c in rows.scalars()]


# ---------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    id: int
    kind: str
    prompt: str
    deadline: datetime
    on_time: list[str]
    late: list[str]
    missing: list[tuple[str, bool]]  # name, away at the deadline

    @property
    def total(self) -> int:
        return len(self.on_time) + len(self.late) + len(self.missing)


async def progress(session: AsyncSession, collection_id: int, tz: str) -> Progress:
    c = await session.get_one(Collection, collection_id)
    rows = await session.execute(
        select(CollectionTarget, *PERSON_COLUMNS)
        .join(Member, Member.id == CollectionTarget.member_id)
        .where(CollectionTarget.collection_id == c.id)
        .order_by(Member.id)
    )
    on_time: list[str] = []
    late: list[str] = []
    missing: list[tuple[str, bool]] = []
    deadline_day = c.deadline.astimezone(ZoneInfo(tz)).date()
    for row in rows:
        target, person = row[0], Person(*row[1:])
        if target.submitted_at is None:
            missing.append((person.name, person.away_on(deadline_day)))
        elif target.late:
            late.append(person.name)
        else:
            on_time.append(person.name)
    return Progress(c.id, c.kind, c.prompt, c.deadline, on_time, late, missing)


async def recent_of_branch(session: AsyncSession, branch_id: int, *, now: datetime) -> list[int]:
    rows = await session.execute(
        select(Collection.id)
        .where(Collection.org_id == branch_id, Collection.deadline > now - SUBMIT_AFTER)
        .order_by(Collection.deadline.desc())
        .limit(5)
    )
    return list(rows.scalars())


async def owner_branch(session: AsyncSession, collection_id: int) -> int | None:
    return await session.scalar(select(Collection.org_id).where(Collection.id == collection_id))


def progress_text(lang: Lang, p: Progress, tz: str, *, title_key: str = "ask.progress") -> str:
    sep = "、"
    away = t(lang, "ask.away_mark")
    missing = sep.join(html.escape(n) + (away if a else "") for n, a in p.missing)
    return "\n".join(
        [
            t(
                lang,
                title_key,
                kind=t(lang, names.REPORT_KIND[p.kind]),
                prompt=html.escape(p.prompt[:60]),
                deadline=fmt_moment(lang, p.deadline, tz),
            ),
            t(
                lang,
                "ask.on_time",
                n=len(p.on_time),
                total=p.total,
                names=html.escape(sep.join(p.on_time)) or "—",
            ),
            t(lang, "ask.late", n=len(p.late), names=html.escape(sep.join(p.late)) or "—"),
            t(lang, "ask.missing", n=len(p.missing), names=missing or "—"),
        ]
    )


# ---------------------------------------------------------------- the scheduler's part


def nudge_moments(
    c: Collection, tz: str, policy: ReminderPolicy, cal: WorkdayCalendar
) -> list[tuple[str, datetime]]:
    """When to nudge: halfway to the deadline, and on its last workday at the reminder time
    (when that is after the collection started and before the deadline)."""
    found = [("half", c.created_at + (c.deadline - c.created_at) / 2)]
    zone = ZoneInfo(tz)
    last = cal.on_or_before(c.deadline.astimezone(zone).date())
    moment = datetime.combine(last, policy.at, tzinfo=zone)
    if c.created_at < moment < c.deadline and moment != found[0][1]:
        found.append(("last", moment))
    return found


async def due_between(session: AsyncSession, since: datetime) -> list[Collection]:
    """Collections whose nudges or deadline may still come (all of them come by the deadline)."""
    rows = await session.execute(select(Collection).where(Collection.deadline > since))
    return list(rows.scalars())


async def waiting(session: AsyncSession, collection_id: int) -> list[int]:
    rows = await session.execute(
        select(CollectionTarget.member_id).where(
            CollectionTarget.collection_id == collection_id,
            CollectionTarget.submitted_at.is_(None),
        )
    )
    return list(rows.scalars())


# ---------------------------------------------------------------- use-cases
# One transaction each; the manager's or member's right checked here.


async def recent_for(
    db: Database, actor: Actor, branch_id: int, *, now: datetime, tz: str
) -> list[Progress]:
    """/ask: the branch's recent collections with their counts, for its managers."""
    async with db.read() as session:
        await require_manager(session, actor, branch_id)
        ids = await recent_of_branch(session, branch_id, now=now)
        return [await progress(session, cid, tz) for cid in ids]


async def audience_counts(db: Database, actor: Actor, branch_id: int) -> dict[str, int]:
    """How many people each audience of the branch holds (for the audience buttons)."""
    async with db.read() as session:
        await require_manager(session, actor, branch_id, key="common.not_allowed")
        return {a: len(await audience_of(session, branch_id, a)) for a in AUDIENCES}


DRAFT = "ask"  # the conversation whose draft ``send`` consumes


@dataclass
class Request:
    """What a manager's /ask has collected so far: the draft of the ``ask`` conversation."""

    org_id: int
    kind: str | None = None
    prompt: str | None = None
    deadline: datetime | None = None
    audience: str | None = None


SUBMIT_PAYLOAD = re.compile(r"^s_(\d{1,18})$")  # /start s_<collection id>: submit privately


def submit_link(lang: Lang, collection_id: int, bot_username: str | None) -> dict[str, Any] | None:
    """A URL button (Telegram's own form) that opens the bot's private chat on 提交."""
    if not bot_username:
        return None
    url = f"https://t.me/{bot_username}?start=s_{collection_id}"
    return {"inline_keyboard": [[{"text": t(lang, "ask.submit_private"), "url": url}]]}


async def send(
    db: Database,
    actor: Actor,
    branch_id: int,
    *,
    group_chat_id: int | None,
    now: datetime,
    tz: str,
    default_lang: Lang,
    bot_username: str | None = None,
) -> Reach:
    """Send the collection the manager's /ask draft describes; the draft is taken out in the
    same transaction, so a second 发送 sends nothing. Whom it reached and whom it could not."""
    async with db.write() as session:
        await require_manager(session, actor, branch_id, key="common.not_allowed")
        draft = load_draft(Request, await conversations.pop(session, actor.telegram_id, DRAFT))
        if draft is None or draft.org_id != branch_id or draft.deadline is None:
            raise CollectionError("ask.expired")
        _, reach = await create(
            session,
            branch_id=branch_id,
            kind=str(draft.kind),
            prompt=draft.prompt or "",
            deadline=draft.deadline,
            audience=str(draft.audience),
            by=actor.telegram_id,
            now=now,
            tz=tz,
            group_chat_id=group_chat_id,
            default_lang=default_lang,
            bot_username=bot_username,
        )
    return reach


async def progress_for(db: Database, actor: Actor, collection_id: int, tz: str) -> Progress:
    """Who has and has not answered one collection, for the managers of its branch."""
    async with db.read() as session:
        branch_id = await owner_branch(session, collection_id)
        if branch_id is None:
            raise NotAllowed("common.not_allowed")
        await require_manager(session, actor, branch_id, key="common.not_allowed")
        return await progress(session, collection_id, tz)


def _member_id(actor: Actor) -> int:
    if actor.member is None:
        raise NotAllowed("ask.not_asked")
    return actor.member.id


async def may_submit(db: Database, actor: Actor, collection_id: int, *, now: datetime) -> str:
    """The kind of answer the member owes this collection; CollectionError when they may not
    answer it (not asked, answered, closed)."""
    member_id = _member_id(actor)
    async with db.read() as session:
        return (await submittable(session, collection_id, member_id, now=now)).kind


async def answer(
    db: Database, actor: Actor, collection_id: int, text: str, *, now: datetime, today: date
) -> Submitted:
    """A member's answer to a collection, filed as their record of that kind."""
    member_id = _member_id(actor)
    async with db.write() as session:
        return await submit(
            session, collection_id, member_id, text, now=now, by=actor.telegram_id, today=today
        )


async def offer_for(db: Database, actor: Actor, text: str, *, now: datetime) -> Open | None:
    """The collection a plain private text may be meant for: the member's only open one,
    when the text is of a length it accepts; None otherwise."""
    if actor.member is None:
        return None
    async with db.read() as session:
        found = await open_for(session, actor.member.id, now=now)
    if len(found) != 1:
        return None
    try:
        check_text(found[0].kind, text)
    except Declined:
        return None
    return found[0]


async def prompted_by(db: Database, chat_id: int, message_id: int) -> int | None:
    """The collection whose prompt or nudge this message is, if any."""
    async with db.read() as session:
        return await by_prompt(session, chat_id, message_id)


# ---------------------------------------------------------------- reminding the missing


@dataclass(frozen=True)
class Reminded:
    """What 提醒未交 did: reminders queued, those reminded already this hour (not again),
    and those missing it could not reach."""

    sent: int
    unreachable: int
    recently: int = 0

    def said(self, lang: Lang) -> str:
        """The answer to the manager (in the chat and on the board alike)."""
        if self.sent == 0 and self.recently:
            return t(lang, "ask.reminded_recently", n=self.recently, unreachable=self.unreachable)
        return t(lang, "ask.reminded", sent=self.sent, unreachable=self.unreachable)


async def remind_missing(
    db: Database,
    actor: Actor,
    collection_id: int,
    *,
    now: datetime,
    tz: str,
    default_lang: Lang,
) -> Reminded:
    """A manager reminds those who have not answered yet (not the away): once an hour at
    most (a second press in the same hour queues nothing new). Audited ``ask.remind``."""
    async with db.write() as session:
        branch_id = await owner_branch(session, collection_id)
        if branch_id is None:
            raise NotAllowed("common.not_allowed")
        await require_manager(session, actor, branch_id, key="common.not_allowed")
        c = await session.get_one(Collection, collection_id)
        if c.deadline <= now:
            raise CollectionError("ask.remind_over")
        today = now.astimezone(ZoneInfo(tz)).date()
        rows = await session.execute(
            select(*PERSON_COLUMNS).where(Member.id.in_(await waiting(session, c.id)))
        )
        missing = [p for p in (Person(*r) for r in rows) if not p.away_on(today)]
        accounts = await _accounts(session, [p.id for p in missing])
        hour = int(now.timestamp() // 3600)
        messages = []
        for p in missing:
            if p.id not in accounts:
                continue
            lang = normalise_lang(accounts[p.id][1], default_lang)
            text = t(lang, "ask.reminder") + "\n" + prompt_text(lang, c, tz)
            messages.append(
                outbox.NewMessage(
                    outbox.outbox_key("ask", c.id, "remind", hour, p.id),
                    "nudge",
                    accounts[p.id][0],
                    text,
                    now,
                    org_id=branch_id,
                    reply_markup=stored(submit_buttons(lang, c.id)),
                )
            )
        done = set(
            (
                await session.execute(
                    select(OutboxMessage.key).where(
                        OutboxMessage.key.in_([m.key for m in messages])
                    )
                )
            ).scalars()
        )
        fresh = [m for m in messages if m.key not in done]
        await outbox.enqueue(session, fresh, now=now)
        await audit.record(
            session,
            at=now,
            action="ask.remind",
            actor_telegram_id=actor.telegram_id,
            org_id=branch_id,
            detail={"collection": c.id, "sent": len(fresh), "missing": len(missing)},
        )
    return Reminded(len(fresh), len(missing) - len(messages), len(messages) - len(fresh))
