"""/meet, meeting cards, 签到 and 请假 buttons, /checkin, /leave, proxy attendance (SPEC §6)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    JobQueue,
)

from bot.delivery import meeting_texts
from bot.delivery.meeting_texts import MeetDraft, reschedule
from bot.exports import charts
from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, fmt_moment, t
from bot.rules.buttons import (
    Button,
    CancelMeeting,
    ChangeDay,
    ChangePlace,
    ChangeTime,
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
    MeetManage,
    MeetOnline,
    MeetSkipTopic,
    MeetTime,
    ProxyPage,
    ProxySignIn,
    RecordMeeting,
    Row,
    Rows,
    ShowCode,
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
from handlers.invite import unreached_note
from handlers.kit.common import (
    actor_of,
    answer_in_group,
    bad_button,
    declined,
    deps,
    edit_or_send,
    ensure_private,
    esc,
    keyboard,
    pressed,
    refuse,
    reply,
    send_private,
    toast,
    typed,
)
from handlers.kit.flow import Flow
from handlers.kit.pickers import days_ahead, times_of_day

log = logging.getLogger("zhibu.meetings")
ALSO = (*meetings.MEETING_KINDS, "democratic_review")


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
    d = deps(context)
    kinds, groups = await meetings.choices(d.db, actor, org.id)
    coming, held = await meetings.of_branch(d.db, actor, org.id, now=d.clock.now())
    MEET.start(context, actor.telegram_id, MeetDraft(org.id, groups=list(groups)))
    lang = actor.lang
    buttons: Row = [(obligation_name(k, lang), MeetKind(k)) for k in kinds]
    buttons.append((t(lang, "meet.other"), MeetKind("other")))
    rows = rows_of(buttons, 2)
    text = t(lang, "meet.choose_type")
    if coming or held:  # and the meetings already arranged, to move, cancel or record
        text += "\n\n" + t(lang, "meet.listed", n=len(coming) + len(held))
        tz = d.settings.timezone
        rows += [[(_listed(lang, m, tz), MeetManage(m.id))] for m in [*coming, *held]]
    await reply(update, text, keyboard(rows))


def _listed(lang: Lang, m: MeetingInfo, tz: str) -> str:
    """A meeting's button in /meet: ⚙️ to manage one not over yet, 📝 one held."""
    key = "meet.listed_held" if m.status == "closed" else "meet.listed_coming"
    when = fmt_moment(lang, m.starts_at, tz)
    return t(lang, key, when=when, name=obligation_name(m.obligation, lang))[:60]


async def meet_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    state = MEET.draft(context)
    button = pressed(update)
    if state is None:  # a stale button, or one nobody sent this person: refused, audited
        await refuse(update, context, actor, action="meet", key="meet.expired")
        return
    if button is None or button.prefix != "mk":
        await bad_button(update, context, actor)
        return
    if await button_branch(update, context, actor, state.org_id, "meet") is None:
        return  # no longer a manager of that branch
    await toast(update)
    await _meet_step(update, context, actor, state, button)


async def _meet_step(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    state: MeetDraft,
    button: Button,
) -> None:
    lang, me = actor.lang, actor.telegram_id
    match button:
        case MeetKind(kind=kind) if kind in (*meetings.MEETING_KINDS, "other"):
            await _chose_kind(update, context, actor, state, kind)
        case MeetGroup(group_id=group_id) if group_id in {g for g, _ in state.groups}:
            state.meeting_org = group_id
            await _to_when(update, context, actor)
        case MeetDay(day=day):
            state.day = day
            rows = times_of_day(MeetTime)
            MEET.wait(context, me, "time")
            text = t(lang, "meet.ask_time", day=fmt_date(lang, day))
            await edit_or_send(update, text, keyboard(rows))
        case MeetTime(hhmm=hhmm) if (at := _hhmm(hhmm)) and state.day is not None:
            await _set_when(update, context, actor, state, datetime.combine(state.day, at))
        case MeetOnline() if state.starts_at:  # each button only at its own step: an
            await _set_place(update, context, actor, state, t(lang, "meet.online"))
        case MeetSkipTopic() if state.starts_at and state.place:  # old message's 跳过 or 线上
            state.topic = None  # must not skip the time and the place
            await _to_also(update, context, actor, state)
        case MeetAlso(code=code) if code in ALSO and state.starts_at and state.place:
            state.also = sorted(set(state.also) ^ {code})
            await _to_also(update, context, actor, state)
        case MeetAlsoDone() if state.starts_at and state.place:
            await _to_confirm(update, context, actor, state)
        case MeetConfirm() if state.starts_at and state.place:
            await _create(update, context, actor, state)
        case MeetAbandon():
            MEET.finish(context, me)
            await edit_or_send(update, t(lang, "common.cancelled"))
        case _:  # the press is answered already (meet_button): say it in the chat
            await reply(update, t(lang, "common.button_invalid"))


async def _chose_kind(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, state: MeetDraft, kind: str
) -> None:
    """The kind of meeting; a 党小组会 asks which 党小组 first."""
    state.obligation = kind
    if kind == "group_meeting":
        rows: Rows = [[(n, MeetGroup(g))] for g, n in state.groups]
        await edit_or_send(update, t(actor.lang, "meet.choose_group"), keyboard(rows))
        return
    state.meeting_org = state.org_id
    await _to_when(update, context, actor)


def _hhmm(text: str) -> time | None:
    """``1430`` from a time button as 14:30; None if it is not a time of day."""
    if len(text) != 4 or not (text.isascii() and text.isdigit()):
        return None
    hour, minute = int(text[:2]), int(text[2:])
    return time(hour, minute) if hour < 24 and minute < 60 else None


async def _to_when(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    text, rows = t(actor.lang, "meet.ask_when"), days_ahead(actor.lang, _today(context), MeetDay)
    MEET.wait(context, actor.telegram_id, "when")
    await edit_or_send(update, text, keyboard(rows))


async def _set_when(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    state: MeetDraft,
    local: datetime,
) -> None:
    starts_at = local.replace(tzinfo=_tz(context))
    try:
        meetings.check_when(starts_at, deps(context).clock.now())
    except MeetingError as exc:
        await declined(update, actor.lang, exc)
        return
    state.starts_at = starts_at
    MEET.wait(context, actor.telegram_id, "place")
    await _say(
        update, t(actor.lang, "meet.ask_place"), [[(t(actor.lang, "meet.online"), MeetOnline())]]
    )


async def _set_place(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, state: MeetDraft, place: str
) -> None:
    try:
        state.place = meetings.check_text(place, meetings.PLACE_MAX, "meet.bad_place")
    except MeetingError as exc:
        await declined(update, actor.lang, exc)
        return
    MEET.wait(context, actor.telegram_id, "topic")
    await _say(
        update, t(actor.lang, "meet.ask_topic"), [[(t(actor.lang, "meet.skip"), MeetSkipTopic())]]
    )


async def _to_also(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, state: MeetDraft
) -> None:
    MEET.pause(context, actor.telegram_id)
    lang = actor.lang
    options = [k for k in ALSO if k != state.obligation and (k != "group_meeting" or state.groups)]
    buttons = [
        (("☑️ " if k in state.also else "") + obligation_name(k, lang), MeetAlso(k)) for k in options
    ]
    rows = rows_of(buttons, 2)
    rows.append([(t(lang, "meet.done_choosing"), MeetAlsoDone())])
    await _say(update, t(lang, "meet.ask_also"), rows)


async def _to_confirm(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, state: MeetDraft
) -> None:
    lang = actor.lang
    assert state.starts_at is not None and state.place is not None
    draft = meetings.MeetingInfo(
        id=0,
        org_id=state.org_id,
        obligation=state.obligation or "other",
        starts_at=state.starts_at,
        place=state.place,
        topic=state.topic,
        status="scheduled",
        group_chat_id=None,
        group_message_id=None,
    )
    summary = meeting_texts.card(lang, draft, deps(context).settings.timezone, (0, 0, 0)).split(
        "\n"
    )
    also = "、".join(obligation_name(k, lang) for k in state.also) or t(lang, "meet.also_none")
    text = t(lang, "meet.confirm", summary="\n".join(summary[:-1]), also=esc(also))
    await _say(
        update, text, [[(t(lang, "meet.yes"), MeetConfirm()), (t(lang, "meet.no"), MeetAbandon())]]
    )


async def _say(update: Update, text: str, rows: Rows) -> None:
    if update.callback_query is not None:
        await edit_or_send(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


async def when_text(update: Update, context: ContextTypes.DEFAULT_TYPE, state: MeetDraft) -> None:
    """The day and time of the meeting, typed (``明天 14:30``, ``9月30日 9:00``)."""
    actor, text = await actor_of(update, context), typed(update)
    local = parse_when(text, _today(context))
    if local is None:
        await reply(update, t(actor.lang, "meet.bad_when", value=esc(text[:50])))
        return
    await _set_when(update, context, actor, state, local)


async def time_text(update: Update, context: ContextTypes.DEFAULT_TYPE, state: MeetDraft) -> None:
    """The time of day, typed after the day was picked."""
    actor, text = await actor_of(update, context), typed(update)
    moment = parse_time(text)
    if moment is None or state.day is None:
        await reply(update, t(actor.lang, "meet.bad_time", value=esc(text[:50])))
        return
    await _set_when(update, context, actor, state, datetime.combine(state.day, moment))


async def place_text(update: Update, context: ContextTypes.DEFAULT_TYPE, state: MeetDraft) -> None:
    await _set_place(update, context, await actor_of(update, context), state, typed(update))


async def topic_text(update: Update, context: ContextTypes.DEFAULT_TYPE, state: MeetDraft) -> None:
    actor = await actor_of(update, context)
    try:
        state.topic = meetings.check_text(typed(update), meetings.TOPIC_MAX, "meet.bad_topic")
    except MeetingError as exc:
        await declined(update, actor.lang, exc)
        return
    await _to_also(update, context, actor, state)


MEET = Flow(
    meeting_texts.DRAFT,
    MeetDraft,
    {"when": when_text, "time": time_text, "place": place_text, "topic": topic_text},
)


async def _create(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, state: MeetDraft
) -> None:
    d = deps(context)
    try:
        meeting, reach = await meeting_texts.schedule(
            d.db, actor, state.org_id, now=d.clock.now(), lang=d.settings.language
        )
    except NotAllowed as exc:
        await refuse(update, context, actor, action="meet", key=exc.key, org_id=exc.org_id)
        return
    except MeetingError as exc:
        await edit_or_send(update, t(actor.lang, exc.key, **exc.params))
        return
    MEET.finish(context, actor.telegram_id)
    d.wake_sender()
    posted = await _post_group_card(context, meeting.id, meeting.group_chat_id)
    text = t(
        actor.lang,
        "meet.created",
        n=reach.sent,
        group=t(actor.lang, "meet.created_group") if posted else "",
    )
    if meeting.checkin_mode == "code":
        shown = await meetings.code_of(d.db, actor, meeting.id)
        is_open = d.clock.now() >= meeting.starts_at - meetings.WINDOW_BEFORE
        key = "meet.created_code_open" if is_open else "meet.created_code"
        text += t(actor.lang, key, code=shown.code)
    note, invite_rows = unreached_note(actor.lang, reach)
    rows = manage_rows(actor.lang, meeting) + invite_rows
    await edit_or_send(update, text + note, keyboard(rows))


def manage_rows(lang: Lang, meeting: MeetingInfo) -> Rows:
    """A manager's buttons for one meeting: move it, 代签/补签, cancel, and its code."""
    rows: Rows = [
        [
            (t(lang, "meet.change_when"), ChangeWhen(meeting.id)),
            (t(lang, "meet.change_place"), ChangePlace(meeting.id)),
        ],
        [
            (t(lang, "meet.proxy"), ProxyPage(meeting.id, 0)),
            (t(lang, "meet.cancel_meeting"), CancelMeeting(meeting.id)),
        ],
    ]
    if meeting.checkin_mode == "code":
        rows.append([(t(lang, "meet.show_code"), ShowCode(meeting.id))])
    return rows


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


def refresh_group_card_soon(queue: JobQueue[Any] | None, meeting_id: int) -> None:
    """Counts on the group card change with every answer; edit it at most every few seconds
    (the chat's and the Mini App's answers alike)."""
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
    text, rows = meeting_texts.group_card(deps(context).settings.language, now)
    try:
        await context.bot.edit_message_text(
            text,
            chat_id=meeting.group_chat_id,
            message_id=meeting.group_message_id,
            reply_markup=keyboard(rows) if rows else None,
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
    if isinstance(button, CheckIn):  # the busiest button: one unit of work, no lookup first
        await _check_in(update, context, actor, button.meeting_id, None)
        return
    meeting = await _member_meeting(update, context, actor, button.meeting_id)
    if meeting is None:
        return
    match button:
        case Leave():
            await _ask_leave(update, context, actor, meeting)
        case ChangeWhen():
            await _ask_change(update, context, actor, meeting, "when")
        case ChangePlace():
            await _ask_change(update, context, actor, meeting, "place")
        case ChangeDay() | ChangeTime():
            await _change_picked(update, context, actor, button)
        case ProxySignIn() | ProxyPage() | CancelMeeting() | ShowCode():
            await _manager_action(update, context, actor, meeting, button)
        case MeetManage():
            await _manage_panel(update, context, actor, meeting)


async def _manage_panel(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, meeting: MeetingInfo
) -> None:
    """A meeting picked in /meet: its card, with 改时间, 改地点, 代签, 取消 while it is to
    come, and 纪要 and 补签 once it is over."""
    d = deps(context)
    try:
        await meetings.require_manages_meeting(d.db, actor, meeting.id)
    except NotAllowed as exc:
        await refuse(update, context, actor, action="meet.manage", key=exc.key)
        return
    now = await meetings.card_state(d.db, meeting.id)
    lang = actor.lang
    if meeting.status == "closed":
        rows: Rows = [
            [
                (t(lang, "tasks.file_record"), RecordMeeting(meeting.id)),
                (t(lang, "tasks.makeup_button"), ProxyPage(meeting.id, 0)),
            ]
        ]
    else:
        rows = manage_rows(lang, now.meeting)
    await toast(update)
    await reply(
        update, meeting_texts.card(lang, now.meeting, now.timezone, now.counts), keyboard(rows)
    )


CARD_BUTTONS = (
    ChangeDay,
    ChangeTime,
    CheckIn,
    Leave,
    ChangeWhen,
    ChangePlace,
    ProxySignIn,
    ProxyPage,
    CancelMeeting,
    ShowCode,
    MeetManage,
)


async def _check_in(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    meeting_id: int,
    code: str | None,
) -> Answer | None:
    d = deps(context)
    waiting = CHECKIN.draft(context)
    same = waiting is not None and waiting.meeting_id == meeting_id
    card = _private_card(update) or (waiting.card if waiting is not None and same else None)
    signed = await meetings.sign_in(
        d.db, actor, meeting_id, now=d.clock.now(), code=code, counts=card is not None
    )
    if signed is None:  # no such meeting (any more)
        CHECKIN.finish(context, actor.telegram_id)
        if update.callback_query is not None:
            await bad_button(update, context, actor)
        return None
    answer = signed.answer
    text = t(actor.lang, names.CHECKIN_ANSWER[answer.value])
    if answer is Answer.NOT_EXPECTED:  # not this person's meeting: refused and audited
        await refuse(
            update, context, actor, action="checkin", key=names.CHECKIN_ANSWER[answer.value]
        )
        return answer
    if answer is Answer.NEED_CODE or answer is Answer.WRONG_CODE:
        CHECKIN.start(context, actor.telegram_id, AtMeeting(meeting_id, card=card), "code")
    if update.callback_query is not None:
        await toast(update, text, alert=answer not in (Answer.OK, Answer.ALREADY))
    else:
        await answer_in_group(update, context, text, actor.telegram_id)
    if answer is Answer.OK:
        CHECKIN.finish(context, actor.telegram_id)
        if card is not None:  # the private card the member pressed 签到 on now says so
            await _mark_present(context, actor, signed, card)
        refresh_group_card_soon(context.job_queue, meeting_id)
    return answer


def _private_card(update: Update) -> int | None:
    """The private message a button was pressed on (a meeting card), if any."""
    query = update.callback_query
    if query is None or not _is_private(update) or not isinstance(query.message, Message):
        return None
    return query.message.message_id


async def _mark_present(
    context: ContextTypes.DEFAULT_TYPE, actor: Actor, signed: meetings.SignedIn, message_id: int
) -> None:
    await mark_present(context.bot, actor, signed, message_id)


async def mark_present(bot: Bot, actor: Actor, signed: meetings.SignedIn, message_id: int) -> None:
    """Show a member's private card as checked in (counts as they are now, no buttons)."""
    meeting = signed.meeting
    text = meeting_texts.card(actor.lang, meeting, signed.timezone, signed.counts, "present")
    try:
        await bot.edit_message_text(text, chat_id=actor.telegram_id, message_id=message_id)
    except TelegramError as exc:  # deleted, or too old to edit: the answer said it anyway
        log.info("could not mark the card of meeting %s: %s", meeting.id, exc)


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
        await declined(update, lang, exc)
    else:
        await toast(update)
        LEAVE.start(context, actor.telegram_id, AtMeeting(meeting.id), "reason")
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
    button: CancelMeeting | ProxySignIn | ProxyPage | ShowCode,
) -> None:
    """取消会议, 代签 and the 代签 list, the code: the services decide, this shows what they did."""
    try:
        await _as_manager(update, context, actor, meeting, button)
    except NotAllowed as exc:
        action = f"meet.{button.action}"
        await refuse(update, context, actor, action=action, key=exc.key, org_id=meeting.org_id)
    except MeetingError as exc:
        await declined(update, actor.lang, exc)


async def _as_manager(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    meeting: MeetingInfo,
    button: CancelMeeting | ProxySignIn | ProxyPage | ShowCode,
) -> None:
    d = deps(context)
    lang = actor.lang
    if isinstance(button, ShowCode):
        await _show_code(update, context, actor, meeting.id)
        return
    if isinstance(button, CancelMeeting):
        await meetings.cancel(d.db, actor, meeting.id, now=d.clock.now(), lang=d.settings.language)
        await toast(update)
        await edit_or_send(update, t(lang, "meet.cancelled"))
        d.wake_sender()
        refresh_group_card_soon(context.job_queue, meeting.id)
        return
    said = None
    if isinstance(button, ProxySignIn):
        answer, name, late = await meetings.sign_in_for(
            d.db, actor, meeting.id, button.member_id, now=d.clock.now()
        )
        said = _proxy_said(lang, answer, name, late)
        if late and answer is Answer.OK:
            await meeting_texts.retell_tally(d.db, meeting.id, default=d.settings.language)
        refresh_group_card_soon(context.job_queue, meeting.id)
    waiting = await meetings.still_to_answer(d.db, actor, meeting.id)
    await toast(update, said)
    page = button.page if isinstance(button, ProxyPage) else 0
    title, rows = _proxy_page(lang, waiting, page)
    await edit_or_send(update, title, keyboard(rows) if rows else None)


async def _show_code(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, meeting_id: int
) -> None:
    """The check-in code as a large image to project, with the code in words below it."""
    shown = await meetings.code_of(deps(context).db, actor, meeting_id)
    await toast(update)
    lang, m = actor.lang, shown.meeting
    title = t(lang, "meet.code_title", name=obligation_name(m.obligation, lang))
    image = await asyncio.to_thread(charts.big_code, title, shown.code)
    caption = meeting_texts.code_notice(lang, m, shown.timezone, shown.code)
    await context.bot.send_photo(actor.telegram_id, image.png, caption=caption)


def _proxy_said(lang: Lang, answer: Answer, name: str | None, late: bool) -> str:
    """What a 代签 or 补签 press answers."""
    if answer is Answer.OK and name is not None:
        return t(lang, "meet.makeup_done" if late else "meet.proxy_done", name=name)
    if answer is Answer.TOO_LATE:
        return t(lang, "meet.makeup_closed")
    return t(lang, names.CHECKIN_ANSWER[answer.value])


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
    key = "meet.makeup_title" if waiting.late else "meet.proxy_title"
    return t(lang, key, name=name, when=when), rows


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
    CHANGE.start(context, actor.telegram_id, AtMeeting(meeting.id), what)
    lang = actor.lang
    if what == "place":
        await send_private(context, actor.telegram_id, t(lang, "meet.ask_place"))
        return
    rows = days_ahead(lang, _today(context), lambda day: ChangeDay(meeting.id, day))
    await send_private(context, actor.telegram_id, t(lang, "meet.ask_when"), keyboard(rows))


async def _change_picked(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    button: ChangeDay | ChangeTime,
) -> None:
    """改时间 by the picker: a day, then a time of day (or one typed)."""
    draft = CHANGE.draft(context)
    if draft is None or draft.meeting_id != button.meeting_id:
        await toast(update, t(actor.lang, "meet.expired"), alert=True)
        return
    if isinstance(button, ChangeDay):
        draft.day = button.day
        CHANGE.wait(context, actor.telegram_id, "time")
        await toast(update)
        rows = times_of_day(lambda hhmm: ChangeTime(draft.meeting_id, hhmm))
        text = t(actor.lang, "meet.ask_time", day=fmt_date(actor.lang, button.day))
        await edit_or_send(update, text, keyboard(rows))
        return
    at = _hhmm(button.hhmm)
    if at is None or draft.day is None:
        await bad_button(update, context, actor)
        return
    await toast(update)
    moment = datetime.combine(draft.day, at).replace(tzinfo=_tz(context))
    await _change(update, context, actor, draft, starts_at=moment)


@dataclass
class AtMeeting:
    meeting_id: int  # the meeting a typed answer is about
    day: date | None = None  # 改时间: the day picked, before the time of day
    card: int | None = None  # the private card 签到 was pressed on (code mode)


async def new_when_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, draft: AtMeeting
) -> None:
    """A manager typed the new time of a meeting."""
    actor, text = await actor_of(update, context), typed(update)
    local = parse_when(text, _today(context))
    if local is None:
        await reply(update, t(actor.lang, "meet.bad_when", value=esc(text[:50])))
        return
    await _change(update, context, actor, draft, starts_at=local.replace(tzinfo=_tz(context)))


async def new_time_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, draft: AtMeeting
) -> None:
    """A manager typed the time of day after picking the new day."""
    actor, text = await actor_of(update, context), typed(update)
    moment = parse_time(text)
    if moment is None or draft.day is None:
        await reply(update, t(actor.lang, "meet.bad_time", value=esc(text[:50])))
        return
    starts_at = datetime.combine(draft.day, moment).replace(tzinfo=_tz(context))
    await _change(update, context, actor, draft, starts_at=starts_at)


async def new_place_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, draft: AtMeeting
) -> None:
    """A manager typed the new place of a meeting."""
    await _change(update, context, await actor_of(update, context), draft, place=typed(update))


async def _change(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    draft: AtMeeting,
    *,
    starts_at: datetime | None = None,
    place: str | None = None,
) -> None:
    """Change the meeting and tell the attendees; a bad time or place may be typed again."""
    d = deps(context)
    lang = actor.lang
    try:
        await reschedule(
            d.db,
            actor,
            draft.meeting_id,
            now=d.clock.now(),
            starts_at=starts_at,
            place=place,
            lang=d.settings.language,
        )
    except NotAllowed as exc:
        await reply(update, t(lang, exc.key))
        CHANGE.finish(context, actor.telegram_id)
        return
    except MeetingError as exc:
        await declined(update, lang, exc)
        if exc.key not in ("meet.bad_place", "meet.past", "meet.too_far"):
            CHANGE.finish(context, actor.telegram_id)
        return
    CHANGE.finish(context, actor.telegram_id)
    d.wake_sender()
    refresh_group_card_soon(context.job_queue, draft.meeting_id)
    await reply(update, t(lang, "meet.changed"))


async def code_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: AtMeeting) -> None:
    """A member typed the check-in code shown in the room."""
    actor = await actor_of(update, context)
    await _check_in(update, context, actor, draft.meeting_id, typed(update))


async def reason_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: AtMeeting) -> None:
    """A member typed why they ask for leave."""
    actor = await actor_of(update, context)
    meeting = await meetings.find(deps(context).db, draft.meeting_id)
    if meeting is None:
        LEAVE.finish(context, actor.telegram_id)
        return
    await _leave(update, context, actor, meeting, typed(update))


CHANGE = Flow(
    "meetedit",
    AtMeeting,
    {"when": new_when_text, "time": new_time_text, "place": new_place_text},
)
CHECKIN = Flow("checkin", AtMeeting, {"code": code_text})
LEAVE = Flow("leave", AtMeeting, {"reason": reason_text})


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
        taken = await meetings.ask_leave(
            d.db, actor, meeting.id, reason, now=d.clock.now(), lang=d.settings.language
        )
    except MeetingError as exc:
        await declined(update, lang, exc)
        return
    LEAVE.finish(context, actor.telegram_id)
    await reply(update, leave_answer(lang, taken))
    if taken.answer is Answer.OK:
        d.wake_sender()  # the managers' notices are in the outbox
        refresh_group_card_soon(context.job_queue, meeting.id)


def leave_answer(lang: Lang, taken: meetings.LeaveTaken) -> str:
    """What a leave asked for is answered (the chat's and the board's)."""
    answer = taken.answer
    if answer is Answer.OK:
        makeup = t(lang, "leave.makeup") if taken.meeting.obligation in meetings.MAKEUP_FOR else ""
        return t(lang, "leave.ok", makeup=makeup)
    if answer.value in ("already", "started", "present"):
        return t(lang, names.LEAVE_ANSWER[answer.value])
    return t(lang, names.CHECKIN_ANSWER[answer.value])


# ---------------------------------------------------------------- /checkin and /leave


async def _my_meetings(context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> list[MeetingInfo]:
    """Scheduled meetings the actor is expected at, soonest first."""
    return await meetings.mine(deps(context).db, actor)


async def _member_or_say(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> bool:
    """Whether the actor is a linked member; if not, tell them so."""
    try:
        meetings.require_member(actor)
    except NotAllowed as exc:
        await answer_in_group(update, context, t(actor.lang, exc.key), actor.telegram_id)
        return False
    return True


async def checkin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await _member_or_say(update, context, actor):
        return
    now = deps(context).clock.now()
    open_now = [
        m
        for m in await _my_meetings(context, actor)
        if m.starts_at - meetings.WINDOW_BEFORE <= now <= m.starts_at + meetings.WINDOW_AFTER
    ]
    if not open_now:
        await answer_in_group(update, context, t(actor.lang, "checkin.none"), actor.telegram_id)
        return
    code = context.args[0] if context.args else None
    nearest = min(open_now, key=lambda m: abs(m.starts_at - now))
    await _check_in(update, context, actor, nearest.id, code)


async def leave_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    if not await _member_or_say(update, context, actor):
        return
    now = deps(context).clock.now()
    upcoming = (await meetings.leave_choices(deps(context).db, actor, now=now))[:10]
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
