"""How meetings read in chat: cards, tallies, reminders. Plain strings, HTML-escaped.
Also the manager use-cases whose notice is the card itself: ``schedule`` and ``reschedule``."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_moment, t
from bot.rules.buttons import CheckIn, Leave, Rows
from bot.services import meetings
from bot.services.access import Actor, NotAllowed, require_manager
from bot.services.meetings import MeetingInfo, Tally, info_of
from bot.services.obligations import obligation_name
from bot.store import audit
from bot.store.db import Database
from bot.store.models import Meeting, Org, OrgKind


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


def card_buttons(lang: Lang, meeting_id: int) -> Rows:
    """签到 and 请假 under a meeting's card, wherever the card is shown."""
    return [
        [(t(lang, "card.checkin"), CheckIn(meeting_id)), (t(lang, "card.leave"), Leave(meeting_id))]
    ]


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


def tally_text(lang: Lang, meeting: Meeting, tz: str, result: Tally) -> str:
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
            _e(p.name) + (t(lang, "tally.proxy") if via == "proxy" else "")
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


@dataclass(frozen=True)
class Plan:
    """A meeting as /meet collected it, before it exists."""

    org_id: int  # the branch whose managers schedule it
    meeting_org: int  # the branch, or one of its 党小组s (a 党小组会)
    obligation: str
    also: list[str]
    starts_at: datetime
    place: str
    topic: str | None


async def schedule(
    db: Database, actor: Actor, plan: Plan, *, now: datetime, lang: Lang
) -> tuple[MeetingInfo, int]:
    """A manager schedules a meeting; its card goes to every attendee. The meeting and how
    many were sent the card."""
    async with db.write() as session:
        await require_manager(session, actor, plan.org_id)
        if plan.meeting_org != plan.org_id:
            group = await session.get(Org, plan.meeting_org)
            if group is None or group.kind != OrgKind.GROUP.value or group.parent_id != plan.org_id:
                raise NotAllowed("common.not_allowed", org_id=plan.org_id)
        branch = await session.get_one(Org, plan.org_id)
        meeting = await meetings.create(
            session,
            org_id=plan.meeting_org,
            obligation=plan.obligation,
            also=plan.also,
            starts_at=plan.starts_at,
            place=plan.place,
            topic=plan.topic,
            by=actor.telegram_id,
            now=now,
        )
        people = await meetings.expected(session, meeting)
        sent = await meetings.notify_attendees(
            session,
            meeting,
            key="card",
            text=card(lang, meeting, branch.timezone, (len(people), 0, 0), "none"),
            now=now,
            buttons=card_buttons(lang, meeting.id),
        )
        return info_of(meeting), sent
