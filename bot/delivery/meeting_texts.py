"""How meetings read in chat: cards, tallies, reminders. Plain strings, HTML-escaped.
Also the manager use-cases whose notice is the card itself: ``schedule`` and ``reschedule``."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_moment, normalise_lang, t
from bot.rules.buttons import CheckIn, Leave, Rows, ShowCode
from bot.services import meetings
from bot.services.access import Actor, NotAllowed, branch_managers, require_manager
from bot.services.meetings import MeetingInfo, Tally, info_of
from bot.services.obligations import Reach, obligation_name, reach_of
from bot.store import audit, conversations, outbox
from bot.store.conversations import load_draft
from bot.store.db import Database
from bot.store.models import Meeting, Org, OrgKind, TelegramUser


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


BY_HAND = {"proxy": "tally.proxy", "makeup": "tally.makeup"}  # how a manager's entry is marked


def card_buttons(lang: Lang, meeting_id: int) -> Rows:
    """签到 and 请假 under a meeting's card, wherever the card is shown."""
    return [
        [(t(lang, "card.checkin"), CheckIn(meeting_id)), (t(lang, "card.leave"), Leave(meeting_id))]
    ]


def code_buttons(lang: Lang, meeting_id: int) -> Rows:
    """Under a check-in code: the code as a large image, to project in the room."""
    return [[(t(lang, "meet.code_image"), ShowCode(meeting_id))]]


def code_notice(lang: Lang, meeting: MeetingInfo, tz: str, code: str) -> str:
    """What a manager of a code-mode meeting is sent when check-in opens."""
    return t(
        lang,
        "meet.code_notice",
        name=_e(obligation_name(meeting.obligation, lang)),
        when=fmt_moment(lang, meeting.starts_at, tz),
        code=code,
    )


def card(
    lang: Lang,
    meeting: Meeting | MeetingInfo,
    tz: str,
    counts: tuple[int, int, int],
    mine: str | None = None,
) -> str:
    expected, present, leave = counts
    lines = [
        f"📅 <b>{_e(obligation_name(meeting.obligation, lang))}</b>",
        t(lang, "card.when", when=fmt_moment(lang, meeting.starts_at, tz)),
        t(lang, "card.place", place=_e(meeting.place)),
    ]
    if meeting.topic:
        lines.append(t(lang, "card.topic", topic=_e(meeting.topic)))
    if meeting.status == "cancelled":
        lines.append(t(lang, "card.cancelled"))
    else:
        lines.append(t(lang, "card.counts", expected=expected, present=present, leave=leave))
    if mine:
        lines.append(t(lang, names.MY_ATTENDANCE[mine]))
    return "\n".join(lines)


def group_card(lang: Lang, now: meetings.CardState) -> tuple[str, Rows | None]:
    """The group's card as it reads now: live counts with 签到/请假 while the meeting is on,
    the tally (no buttons) once its window has closed, no buttons once cancelled."""
    meeting = now.meeting
    if now.final is not None:
        return tally_text(lang, meeting, now.timezone, now.final), None
    buttons = card_buttons(lang, meeting.id) if meeting.status == "scheduled" else None
    return card(lang, meeting, now.timezone, now.counts), buttons


def tally_text(lang: Lang, meeting: Meeting | MeetingInfo, tz: str, result: Tally) -> str:
    lines = [
        t(
            lang,
            "tally.title",
            name=_e(obligation_name(meeting.obligation, lang)),
            when=fmt_moment(lang, meeting.starts_at, tz),
        ),
        t(
            lang,
            "tally.counts",
            expected=len(result.expected),
            present=len(result.present),
            leave=len(result.leave),
            absent=len(result.absent),
        ),
    ]
    sep = "、" if lang == "zh" else ", "
    if result.present:
        names = [
            _e(p.name) + (t(lang, BY_HAND[via]) if via in BY_HAND else "")
            for p, via, _ in result.present
        ]
        lines.append(t(lang, "tally.present", names=sep.join(names)))
    if result.leave:
        lines.append(
            t(
                lang,
                "tally.leave",
                names=sep.join(f"{_e(p.name)}（{_e(r)}）" for p, r in result.leave),
            )
        )
    if result.absent:
        lines.append(t(lang, "tally.absent", names=sep.join(_e(p.name) for p in result.absent)))
    if result.needs_quorum:
        key = "tally.quorum_met" if result.quorum_met else "tally.quorum_failed"
        lines.append(t(lang, key, present=result.voting_present, base=result.voting_base))
    return "\n".join(lines)


async def reschedule(
    db: Database,
    actor: Actor,
    meeting_id: int,
    *,
    now: datetime,
    starts_at: datetime | None,
    place: str | None,
    lang: Lang,
) -> None:
    """Move a meeting or change its place (a manager only) and tell its attendees, with the
    card as it now reads."""
    async with db.write() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        branch = await meetings.branch_of(session, meeting)
        await require_manager(session, actor, branch.id)
        await meetings.change(session, meeting, now=now, starts_at=starts_at, place=place)
        lines = card(lang, meeting, branch.timezone, (0, 0, 0))
        notice = t(
            lang,
            "meet.changed_notice",
            name=_e(obligation_name(meeting.obligation, lang)),
            card=lines.split("\n", 1)[1].rsplit("\n", 1)[0],
        )
        await meetings.notify_attendees(
            session, meeting, key=f"change|{now.isoformat()}", text=notice, now=now
        )
        await audit.record(
            session,
            at=now,
            action="meet.change",
            actor_telegram_id=actor.telegram_id,
            actor_member_id=actor.member.id if actor.member else None,
            org_id=branch.id,
            detail={
                "meeting": meeting.id,
                "starts_at": starts_at.isoformat() if starts_at else None,
                "place": place,
            },
        )


async def retell_tally(db: Database, meeting_id: int, *, default: Lang) -> int:
    """After a 补签: a tally that still waits for the end of quiet hours (the managers', and the
    group's where it has no card to edit) tells the tally as it is now. How many were brought
    up to date."""
    async with db.write() as session:
        meeting = await session.get_one(Meeting, meeting_id)
        if meeting.status != "closed":
            return 0
        branch = await meetings.branch_of(session, meeting)
        result = await meetings.tally(session, meeting)
        managers = [tg for _, tg in await branch_managers(session, branch.id)]
        langs = dict(
            (
                await session.execute(
                    select(
                        TelegramUser.id,
                        func.coalesce(TelegramUser.language, TelegramUser.telegram_language),
                    ).where(TelegramUser.id.in_(managers))
                )
            ).all()
        )
        chats = [(tg, normalise_lang(langs.get(tg), default)) for tg in managers]
        if meeting.group_chat_id is not None:  # a group without a card got the tally as a post
            chats.append((meeting.group_chat_id, default))
        told = 0
        for chat, lang in chats:
            text = tally_text(lang, meeting, branch.timezone, result)
            told += await outbox.retext_pending(
                session, outbox.outbox_key("meet", meeting.id, "tally", chat), text
            )
        return told


DRAFT = "meet"  # the conversation whose draft ``schedule`` consumes


@dataclass
class MeetDraft:
    """What a manager's /meet has collected so far: the draft of the ``meet`` conversation."""

    org_id: int  # the branch whose managers schedule it
    groups: list[tuple[int, str]] = field(default_factory=list)  # its 党小组s, for the picker
    also: list[str] = field(default_factory=list)  # other obligations the meeting serves
    obligation: str | None = None
    meeting_org: int | None = None  # the branch, or one of its 党小组s (a 党小组会)
    day: date | None = None  # picked before the time of day
    starts_at: datetime | None = None
    place: str | None = None
    topic: str | None = None


async def schedule(
    db: Database, actor: Actor, org_id: int, *, now: datetime, lang: Lang
) -> tuple[MeetingInfo, Reach]:
    """A manager schedules the meeting their /meet draft describes (taken out in the same
    transaction: a second 确认 schedules nothing); its card goes to every attendee. The
    meeting, and whom the card reached and whom it could not."""
    async with db.write() as session:
        await require_manager(session, actor, org_id)
        draft = load_draft(MeetDraft, await conversations.pop(session, actor.telegram_id, DRAFT))
        if (
            draft is None
            or draft.org_id != org_id
            or draft.obligation is None
            or draft.starts_at is None
            or draft.place is None
        ):
            raise meetings.MeetingError("meet.expired")
        meeting_org = draft.meeting_org or org_id
        if meeting_org != org_id:
            group = await session.get(Org, meeting_org)
            if group is None or group.kind != OrgKind.GROUP.value or group.parent_id != org_id:
                raise NotAllowed("common.not_allowed", org_id=org_id)
        branch = await session.get_one(Org, org_id)
        meeting = await meetings.create(
            session,
            org_id=meeting_org,
            obligation=draft.obligation,
            also=list(draft.also),
            starts_at=draft.starts_at,
            place=draft.place,
            topic=draft.topic,
            by=actor.telegram_id,
            now=now,
        )
        people = await meetings.expected(session, meeting)
        await meetings.notify_attendees(
            session,
            meeting,
            key="card",
            text=card(lang, meeting, branch.timezone, (len(people), 0, 0), "none"),
            now=now,
            buttons=card_buttons(lang, meeting.id),
        )
        return info_of(meeting), await reach_of(session, people)
