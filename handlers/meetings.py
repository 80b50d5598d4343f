"""/meet, meeting cards, 签到 and 请假 buttons, /checkin, /leave, proxy attendance (SPEC §6)."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.delivery import meeting_texts
from bot.delivery.meeting_texts import reschedule
from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, fmt_moment, t
from bot.rules.buttons import (
    Button,
    CancelMeeting,
    ChangePlace,
    ChangeWhen,
    CheckIn,
    Leave,
    MeetAbandon,
    MeetAlso,
    MeetAlsoDone,
    MeetConfirm,
    MeetDay,
    MeetGroup,
    MeetKind,
    MeetOnline,
    MeetSkipTopic,
    MeetTime,
    ProxyPage,
    ProxySignIn,
    Row,
    Rows,
    family,
    pager,
    rows_of,
)
from bot.rules.dates import parse_time, parse_when
from bot.services import meetings
from bot.services.access import Actor, NotAllowed
from bot.services.meetings import Answer, MeetingError, MeetingInfo
from bot.services.obligations import obligation_name
from handlers.branch import button_branch, target_branch
from handlers.kit.common import (
    actor_of,
    await_text,
    awaiting,
    bad_button,
    deps,
    edit_or_send,
    ensure_private,
    esc,
    keyboard,
    pressed,
    refuse,
    reply,
    send_private,
    stop_awaiting,
    toast,
)

log = logging.getLogger("zhibu.meetings")
TIMES = ("08:30", "09:00", "10:00", "14:00", "14:30", "15:00", "16:00")
ALSO = (*meetings.MEETING_KINDS, "democratic_review")
PICKER_DAYS = 14


def _state(context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any] | None:
    value = (context.user_data or {}).get("meet")
    return value if isinstance(value, dict) else None


def _tz(context: ContextTypes.DEFAULT_TYPE) -> ZoneInfo:
    return ZoneInfo(deps(context).settings.timezone)


def _today(context: ContextTypes.DEFAULT_TYPE) -> date:
    return deps(context).today()


# ---------------------------------------------------------------- /meet, step by step


async def meet_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    org = await target_branch(update, context, actor, "meet")
    if org is None:
        return
    kinds, groups = await meetings.choices(deps(context).db, actor, org.id)
    assert context.user_data is not None
    context.user_data["meet"] = {
        "org_id": org.id,
        "groups": [(g, n) for g, n in groups],
        "also": [],
    }
    stop_awaiting(context, actor.telegram_id)
    lang = actor.lang
    buttons: Row = [(obligation_name(k, lang), MeetKind(k)) for k in kinds]
    buttons.append((t(lang, "meet.other"), MeetKind("other")))
    rows = rows_of(buttons, 2)
    await reply(update, t(lang, "meet.choose_type"), keyboard(rows))


def _ask_when(lang: Lang, today: date) -> tuple[str, Rows]:
    days = [today + timedelta(days=i) for i in range(1, PICKER_DAYS + 1)]
    buttons = [
        (
            f"{d.month}/{d.day} {fmt_date(lang, d)[-3:-1] if lang == 'zh' else f'{d:%a}'}",
            MeetDay(d),
        )
        for d in days
    ]
    return t(lang, "meet.ask_when"), rows_of(buttons, 4)


async def meet_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    state = _state(context)
    button = pressed(update)
    if state is None:  # a stale button, or one nobody sent this person: refused, audited
        await refuse(update, context, actor, action="meet", key="meet.expired")
        return
    if button is None or button.prefix != "mk":
        await bad_button(update, context, actor)
        return
    if await button_branch(update, context, actor, state.get("org_id"), "meet") is None:
        return  # no longer a manager of that branch
    await toast(update)
    await _meet_step(update, context, actor, state, button)


async def _meet_step(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    state: dict[str, Any],
    button: Button,
) -> None:
    lang = actor.lang
    if isinstance(button, MeetKind) and (
        button.kind in meetings.MEETING_KINDS or button.kind == "other"
    ):
        state["obligation"] = button.kind
        if button.kind == "group_meeting":
            rows: Rows = [[(n, MeetGroup(g))] for g, n in state["groups"]]
            await edit_or_send(update, t(lang, "meet.choose_group"), keyboard(rows))
            return
        state["meeting_org"] = state["org_id"]
        await _to_when(update, context, actor)
    elif isinstance(button, MeetGroup) and button.group_id in {g for g, _ in state["groups"]}:
        state["meeting_org"] = button.group_id
        await _to_when(update, context, actor)
    elif isinstance(button, MeetDay):
        state["day"] = button.day.isoformat()
        rows = rows_of([(x, MeetTime(x.replace(":", ""))) for x in TIMES], 4)
        await_text(context, actor.telegram_id, "meet.time")
        await edit_or_send(
            update,
            t(lang, "meet.ask_time", day=fmt_date(lang, date.fromisoformat(state["day"]))),
            keyboard(rows),
        )
    elif isinstance(button, MeetTime) and (at := _hhmm(button.hhmm)) and "day" in state:
        await _set_when(
            update, context, actor, datetime.combine(date.fromisoformat(state["day"]), at)
        )
    elif isinstance(button, MeetOnline):
        await _set_place(update, context, actor, t(lang, "meet.online"))
    elif isinstance(button, MeetSkipTopic):
        state["topic"] = None
        await _to_also(update, context, actor)
    elif isinstance(button, MeetAlso) and button.code in ALSO:
        chosen = set(state["also"]) ^ {button.code}
        state["also"] = sorted(chosen)
        await _to_also(update, context, actor)
    elif isinstance(button, MeetAlsoDone):
        await _to_confirm(update, context, actor)
    elif isinstance(button, MeetConfirm) and "starts_at" in state and "place" in state:
        await _create(update, context, actor, state)
    elif isinstance(button, MeetAbandon):
        context.user_data.pop("meet", None) if context.user_data is not None else None
        stop_awaiting(context, actor.telegram_id)
        await edit_or_send(update, t(lang, "common.cancelled"))
    else:
        await toast(update, t(lang, "common.button_invalid"), alert=True)


def _hhmm(text: str) -> time | None:
    """``1430`` from a time button as 14:30; None if it is not a time of day."""
    if len(text) != 4 or not (text.isascii() and text.isdigit()):
        return None
    hour, minute = int(text[:2]), int(text[2:])
    return time(hour, minute) if hour < 24 and minute < 60 else None


async def _to_when(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    text, rows = _ask_when(actor.lang, _today(context))
    await_text(context, actor.telegram_id, "meet.when")
    await edit_or_send(update, text, keyboard(rows))


async def _set_when(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, local: datetime
) -> None:
    state = _state(context)
    assert state is not None
    starts_at = local.replace(tzinfo=_tz(context))
    try:
        meetings.check_when(starts_at, deps(context).clock.now())
    except MeetingError as exc:
        await reply(update, t(actor.lang, exc.key, **exc.params))
        return
    state["starts_at"] = starts_at.isoformat()
    await_text(context, actor.telegram_id, "meet.place")
    await _say(
        update, t(actor.lang, "meet.ask_place"), [[(t(actor.lang, "meet.online"), MeetOnline())]]
    )


async def _set_place(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, place: str
) -> None:
    state = _state(context)
    assert state is not None
    try:
        state["place"] = meetings.check_text(place, meetings.PLACE_MAX, "meet.bad_place")
    except MeetingError as exc:
        await reply(update, t(actor.lang, exc.key, **exc.params))
        return
    await_text(context, actor.telegram_id, "meet.topic")
    await _say(
        update, t(actor.lang, "meet.ask_topic"), [[(t(actor.lang, "meet.skip"), MeetSkipTopic())]]
    )


async def _to_also(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    state = _state(context)
    assert state is not None
    stop_awaiting(context, actor.telegram_id)
    lang = actor.lang
    options = [k for k in ALSO if k != state["obligation"]]
    buttons = [
        (("☑️ " if k in state["also"] else "") + obligation_name(k, lang), MeetAlso(k))
        for k in options
    ]
    rows = rows_of(buttons, 2)
    rows.append([(t(lang, "meet.done_choosing"), MeetAlsoDone())])
    await _say(update, t(lang, "meet.ask_also"), rows)


async def _to_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    state = _state(context)
    assert state is not None
    lang = actor.lang
    draft = meetings.MeetingInfo(
        id=0,
        org_id=state["org_id"],
        obligation=state["obligation"],
        starts_at=datetime.fromisoformat(state["starts_at"]),
        place=state["place"],
        topic=state.get("topic"),
        status="scheduled",
        group_chat_id=None,
        group_message_id=None,
    )
    summary = meeting_texts.card(lang, draft, deps(context).settings.timezone, (0, 0, 0)).split(
        "\n"
    )
    also = "、".join(obligation_name(k, lang) for k in state["also"]) or t(lang, "meet.also_none")
    text = t(lang, "meet.confirm", summary="\n".join(summary[:-1]), also=esc(also))
    await _say(
        update, text, [[(t(lang, "meet.yes"), MeetConfirm()), (t(lang, "meet.no"), MeetAbandon())]]
    )


async def _say(update: Update, text: str, rows: Rows) -> None:
    if update.callback_query is not None:
        await edit_or_send(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


async def meet_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed answers for the /meet steps."""
    pending = awaiting(context, "meet.")
    state = _state(context)
    message = update.effective_message
    if pending is None or state is None or message is None:
        return
    actor = await actor_of(update, context)
    text = message.text or ""
    lang = actor.lang
    if pending.kind == "meet.when":
        local = parse_when(text, _today(context))
        if local is None:
            await reply(update, t(lang, "meet.bad_when", value=esc(text[:50])))
            return
        await _set_when(update, context, actor, local)
    elif pending.kind == "meet.time":
        moment = parse_time(text)
        if moment is None or "day" not in state:
            await reply(update, t(lang, "meet.bad_time", value=esc(text[:50])))
            return
        await _set_when(
            update, context, actor, datetime.combine(date.fromisoformat(state["day"]), moment)
        )
    elif pending.kind == "meet.place":
        await _set_place(update, context, actor, text)
    elif pending.kind == "meet.topic":
        try:
            state["topic"] = meetings.check_text(text, meetings.TOPIC_MAX, "meet.bad_topic")
        except MeetingError as exc:
            await reply(update, t(lang, exc.key, **exc.params))
            return
        await _to_also(update, context, actor)


async def _create(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, state: dict[str, Any]
) -> None:
    d = deps(context)
    plan = meeting_texts.Plan(
        org_id=state["org_id"],
        meeting_org=state.get("meeting_org", state["org_id"]),
        obligation=state["obligation"],
        also=state["also"],
        starts_at=datetime.fromisoformat(state["starts_at"]),
        place=state["place"],
        topic=state.get("topic"),
    )
    try:
        meeting, sent = await meeting_texts.schedule(
            d.db, actor, plan, now=d.clock.now(), lang=d.settings.language
        )
    except NotAllowed as exc:
        await refuse(update, context, actor, action="meet", key=exc.key, org_id=exc.org_id)
        return
    except MeetingError as exc:
        await edit_or_send(update, t(actor.lang, exc.key, **exc.params))
        return
    meeting_id, group_chat = meeting.id, meeting.group_chat_id
    if context.user_data is not None:
        context.user_data.pop("meet", None)
    stop_awaiting(context, actor.telegram_id)
    d.wake_sender()
    posted = await _post_group_card(context, meeting_id, group_chat)
    text = t(
        actor.lang,
        "meet.created",
        n=sent,
        group=t(actor.lang, "meet.created_group") if posted else "",
    )
    rows: Rows = [
        [
            (t(actor.lang, "meet.change_when"), ChangeWhen(meeting_id)),
            (t(actor.lang, "meet.change_place"), ChangePlace(meeting_id)),
        ],
        [
            (t(actor.lang, "meet.proxy"), ProxyPage(meeting_id, 0)),
            (t(actor.lang, "meet.cancel_meeting"), CancelMeeting(meeting_id)),
        ],
    ]
    await edit_or_send(update, text, keyboard(rows))


async def _post_group_card(
    context: ContextTypes.DEFAULT_TYPE, meeting_id: int, chat_id: int | None
) -> bool:
    if chat_id is None:
        return False
    d = deps(context)
    now = await meetings.card_state(d.db, meeting_id)
    lang = d.settings.language
    try:
        sent = await context.bot.send_message(
            chat_id,
            meeting_texts.card(lang, now.meeting, now.timezone, now.counts),
            reply_markup=keyboard(meeting_texts.card_buttons(lang, meeting_id)),
        )
    except TelegramError:
        log.warning("could not post the meeting card to group %s", chat_id, exc_info=True)
        return False
    await meetings.remember_group_card(d.db, meeting_id, sent.message_id)
    return True


def _refresh_group_card_soon(context: ContextTypes.DEFAULT_TYPE, meeting_id: int) -> None:
    """Counts on the group card change with every answer; edit it at most every few seconds."""
    queue = context.job_queue
    name = f"CARD {meeting_id}"
    if queue is None or queue.get_jobs_by_name(name):
        return
    queue.run_once(_refresh_group_card, 2, name=name, data=meeting_id)


async def _refresh_group_card(context: ContextTypes.DEFAULT_TYPE) -> None:
    assert context.job is not None
    meeting_id = context.job.data
    assert isinstance(meeting_id, int)
    now = await meetings.card_state(deps(context).db, meeting_id)
    meeting = now.meeting
    if meeting.group_chat_id is None or meeting.group_message_id is None:
        return
    lang = deps(context).settings.language
    markup = (
        None
        if meeting.status != "scheduled"
        else keyboard(meeting_texts.card_buttons(lang, meeting_id))
    )
    try:
        await context.bot.edit_message_text(
            meeting_texts.card(lang, meeting, now.timezone, now.counts),
            chat_id=meeting.group_chat_id,
            message_id=meeting.group_message_id,
            reply_markup=markup,
        )
    except TelegramError as exc:
        if "not modified" not in str(exc):
            log.warning("could not refresh the card of meeting %s: %s", meeting_id, exc)


# ---------------------------------------------------------------- answering: 签到, 请假, proxy


async def _member_meeting(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, meeting_id: int
) -> MeetingInfo | None:
    meeting = await meetings.find(deps(context).db, meeting_id)
    if meeting is None:
        await bad_button(update, context, actor)
    return meeting


async def card_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if not isinstance(button, CARD_BUTTONS):
        await bad_button(update, context, actor)
        return
    meeting = await _member_meeting(update, context, actor, button.meeting_id)
    if meeting is None:
        return
    match button:
        case CheckIn():
            await _check_in(update, context, actor, meeting, None)
        case Leave():
            await _ask_leave(update, context, actor, meeting)
        case ChangeWhen():
            await _ask_change(update, context, actor, meeting, "when")
        case ChangePlace():
            await _ask_change(update, context, actor, meeting, "place")
        case ProxySignIn() | ProxyPage() | CancelMeeting():
            await _manager_action(update, context, actor, meeting, button)


CARD_BUTTONS = (CheckIn, Leave, ChangeWhen, ChangePlace, ProxySignIn, ProxyPage, CancelMeeting)


async def _check_in(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    meeting: MeetingInfo,
    code: str | None,
) -> Answer:
    d = deps(context)
    answer = await meetings.sign_in(d.db, actor, meeting.id, now=d.clock.now(), code=code)
    text = t(actor.lang, names.CHECKIN_ANSWER[answer.value])
    if answer is Answer.NOT_EXPECTED:  # not this person's meeting: refused and audited
        await refuse(
            update, context, actor, action="checkin", key=names.CHECKIN_ANSWER[answer.value]
        )
        return answer
    if answer is Answer.NEED_CODE or answer is Answer.WRONG_CODE:
        await_text(context, actor.telegram_id, "checkin.code", meeting_id=meeting.id)
    if update.callback_query is not None:
        await toast(update, text, alert=answer not in (Answer.OK, Answer.ALREADY))
        if answer is Answer.OK and _is_private(update):
            fresh = await meetings.card_state(d.db, meeting.id)
            text = meeting_texts.card(
                actor.lang, fresh.meeting, fresh.timezone, fresh.counts, "present"
            )
            await edit_or_send(update, text)
    else:
        await reply(update, text)
    if answer is Answer.OK:
        stop_awaiting(context, actor.telegram_id)
        _refresh_group_card_soon(context, meeting.id)
    return answer


def _is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def _ask_leave(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, meeting: MeetingInfo
) -> None:
    d = deps(context)
    lang = actor.lang
    try:
        await meetings.may_ask_leave(d.db, actor, meeting.id, now=d.clock.now())
    except NotAllowed as exc:
        await refuse(update, context, actor, action="leave", key=exc.key)
    except MeetingError as exc:
        await toast(update, t(lang, exc.key, **exc.params), alert=True)
    else:
        await toast(update)
        await_text(context, actor.telegram_id, "leave.reason", meeting_id=meeting.id)
        await send_private(
            context,
            actor.telegram_id,
            t(lang, "leave.ask", min=meetings.REASON_MIN, max=meetings.REASON_MAX),
        )


async def _manager_action(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    meeting: MeetingInfo,
    button: CancelMeeting | ProxySignIn | ProxyPage,
) -> None:
    """取消会议, 代签 and the 代签 list: the services decide, this shows what they did."""
    d = deps(context)
    lang = actor.lang
    try:
        if isinstance(button, CancelMeeting):
            await meetings.cancel(
                d.db, actor, meeting.id, now=d.clock.now(), lang=d.settings.language
            )
        elif isinstance(button, ProxySignIn):
            answer, name = await meetings.sign_in_for(
                d.db, actor, meeting.id, button.member_id, now=d.clock.now()
            )
        waiting = await meetings.still_to_answer(d.db, actor, meeting.id)
    except NotAllowed as exc:
        await refuse(
            update,
            context,
            actor,
            action=f"meet.{button.action}",
            key=exc.key,
            org_id=meeting.org_id,
        )
        return
    except MeetingError as exc:
        await toast(update, t(lang, exc.key, **exc.params), alert=True)
        return
    if isinstance(button, CancelMeeting):
        await toast(update)
        await edit_or_send(update, t(lang, "meet.cancelled"))
        d.wake_sender()
        _refresh_group_card_soon(context, meeting.id)
        return
    if isinstance(button, ProxySignIn):
        done = answer is Answer.OK and name is not None
        said = t(lang, "meet.proxy_done", name=name) if done else None
        await toast(update, said or t(lang, names.CHECKIN_ANSWER[answer.value]))
        _refresh_group_card_soon(context, meeting.id)
    else:
        await toast(update)
    page = button.page if isinstance(button, ProxyPage) else 0
    title, rows = _proxy_page(lang, waiting, page)
    await edit_or_send(update, title, keyboard(rows) if rows else None)


def _proxy_page(lang: Lang, waiting: meetings.StillToAnswer, page: int) -> tuple[str, Rows]:
    """One page of the 代签 list: ten names, ‹ and ›."""
    rest = waiting.people
    shown = rest[page * 10 : page * 10 + 10]
    rows: Rows = [[(p.name, ProxySignIn(waiting.meeting_id, p.id))] for p in shown]
    nav = pager(page, -(-len(rest) // 10), lambda n: ProxyPage(waiting.meeting_id, n))
    if nav:
        rows.append(nav)
    if not rest:
        return t(lang, "meet.proxy_none"), rows
    name = esc(obligation_name(waiting.obligation, lang))
    when = fmt_moment(lang, waiting.starts_at, waiting.timezone)
    return t(lang, "meet.proxy_title", name=name, when=when), rows


async def _ask_change(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    meeting: MeetingInfo,
    what: str,
) -> None:
    try:
        await meetings.require_manages_meeting(deps(context).db, actor, meeting.id)
    except NotAllowed as exc:
        await refuse(
            update, context, actor, action="meet.change", key=exc.key, org_id=meeting.org_id
        )
        return
    await toast(update)
    await_text(context, actor.telegram_id, f"meetedit.{what}", meeting_id=meeting.id)
    await send_private(
        context,
        actor.telegram_id,
        t(actor.lang, "meet.ask_when" if what == "when" else "meet.ask_place"),
    )


async def change_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A manager typed the new time or place of a meeting: change it and tell the attendees."""
    pending = awaiting(context, "meetedit.")
    message = update.effective_message
    if pending is None or message is None:
        return
    actor = await actor_of(update, context)
    d = deps(context)
    lang, text, now = actor.lang, message.text or "", d.clock.now()
    starts_at = place = None
    if pending.kind == "meetedit.when":
        local = parse_when(text, _today(context))
        if local is None:
            await reply(update, t(lang, "meet.bad_when", value=esc(text[:50])))
            return
        starts_at = local.replace(tzinfo=_tz(context))
    else:
        place = text
    try:
        await reschedule(
            d.db,
            actor,
            pending.data["meeting_id"],
            now=now,
            starts_at=starts_at,
            place=place,
            lang=d.settings.language,
        )
    except NotAllowed as exc:
        await reply(update, t(lang, exc.key))
        stop_awaiting(context, actor.telegram_id)
        return
    except MeetingError as exc:
        await reply(update, t(lang, exc.key, **exc.params))
        if exc.key != "meet.bad_place" and exc.key not in ("meet.past", "meet.too_far"):
            stop_awaiting(context, actor.telegram_id)
        return
    stop_awaiting(context, actor.telegram_id)
    d.wake_sender()
    _refresh_group_card_soon(context, pending.data["meeting_id"])
    await reply(update, t(lang, "meet.changed"))


async def answer_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed answers: a check-in code, a reason for leave."""
    pending = awaiting(context, "checkin.") or awaiting(context, "leave.")
    message = update.effective_message
    if pending is None or message is None:
        return
    actor = await actor_of(update, context)
    meeting = await meetings.find(deps(context).db, pending.data["meeting_id"])
    if meeting is None:
        stop_awaiting(context, actor.telegram_id)
        return
    text = message.text or ""
    if pending.kind == "checkin.code":
        await _check_in(update, context, actor, meeting, text)
        return
    await _leave(update, context, actor, meeting, text)


async def _leave(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    meeting: MeetingInfo,
    reason: str,
) -> None:
    d = deps(context)
    lang = actor.lang
    assert actor.member is not None
    try:
        taken = await meetings.ask_leave(d.db, actor, meeting.id, reason, now=d.clock.now())
    except MeetingError as exc:
        await reply(update, t(lang, exc.key, **exc.params))
        return
    answer = taken.answer
    stop_awaiting(context, actor.telegram_id)
    if answer is Answer.OK:
        makeup = t(lang, "leave.makeup") if meeting.obligation in meetings.MAKEUP_FOR else ""
        await reply(update, t(lang, "leave.ok", makeup=makeup))
        notice = t(
            d.settings.language,
            "leave.notice",
            name=esc(actor.member.name),
            meeting=esc(obligation_name(meeting.obligation, d.settings.language)),
            when=fmt_moment(d.settings.language, meeting.starts_at, taken.timezone),
            reason=esc(reason.strip()),
        )
        for tg in taken.managers:
            await send_private(context, tg, notice)
        _refresh_group_card_soon(context, meeting.id)
    else:
        await reply(
            update,
            t(lang, names.LEAVE_ANSWER[answer.value])
            if answer.value in ("already", "started", "present")
            else t(lang, names.CHECKIN_ANSWER[answer.value]),
        )


# ---------------------------------------------------------------- /checkin and /leave


async def _my_meetings(context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> list[MeetingInfo]:
    """Scheduled meetings the actor is expected at, soonest first."""
    return await meetings.mine(deps(context).db, actor)


async def checkin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if actor.member is None:
        await reply(update, t(actor.lang, "calendar.unlinked"))
        return
    now = deps(context).clock.now()
    open_now = [
        m
        for m in await _my_meetings(context, actor)
        if m.starts_at - meetings.WINDOW_BEFORE <= now <= m.starts_at + meetings.WINDOW_AFTER
    ]
    if not open_now:
        await reply(update, t(actor.lang, "checkin.none"))
        return
    code = context.args[0] if context.args else None
    await _check_in(
        update, context, actor, min(open_now, key=lambda m: abs(m.starts_at - now)), code
    )


async def leave_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    if actor.member is None:
        await reply(update, t(actor.lang, "calendar.unlinked"))
        return
    now = deps(context).clock.now()
    upcoming = [m for m in await _my_meetings(context, actor) if m.starts_at > now][:10]
    if not upcoming:
        await reply(update, t(actor.lang, "leave.none"))
        return
    tz = deps(context).settings.timezone
    rows: Rows = [
        [
            (
                f"{obligation_name(m.obligation, actor.lang)} {fmt_moment(actor.lang, m.starts_at, tz)}",
                Leave(m.id),
            )
        ]
        for m in upcoming
    ]
    await reply(update, t(actor.lang, "leave.choose"), keyboard(rows))


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    CommandHandler("meet", meet_command),
    CommandHandler("checkin", checkin_command),
    CommandHandler("leave", leave_command),
    CallbackQueryHandler(meet_button, pattern=family("mk")),
    CallbackQueryHandler(card_button, pattern=family("mt")),
]

TEXT_STEPS = {
    "meet.": meet_text,
    "meetedit.": change_text,
    "checkin.": answer_text,
    "leave.": answer_text,
}
