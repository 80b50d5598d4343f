"""/report (SPEC §7): pick a kind, answer its steps, see a preview, save on confirm.

The draft (``reports.Draft``) is the ``report`` conversation's; saving takes it out of the
database in the same transaction that files the record, so a draft is filed once even when
保存 is pressed twice or the bot restarts.
Steps: a short report is just its text; a meeting record picks a held meeting (or takes type,
day, attendance and topic by hand), asks about 第一议题, the summary and up to 9 photos, then
shows which obligations it counts toward as buttons to tick; the special records take a day
(heart talks first the two members) and a summary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, fmt_moment, t
from bot.rules.buttons import (
    Button,
    RecordByHand,
    RecordCounts,
    RecordDay,
    RecordFirstTopic,
    RecordMeeting,
    RecordType,
    ReportAbandon,
    ReportConfirm,
    ReportEdit,
    ReportFromBriefing,
    ReportKind,
    ReportPreview,
    ReportWithdraw,
    ReportWithdrawConfirm,
    Row,
    Rows,
    family,
    rows_of,
)
from bot.rules.dates import parse_past_day
from bot.services import meetings, reports
from bot.services.access import Actor, NotAllowed
from bot.services.obligations import obligation_name
from bot.services.reports import Draft, ReportError
from handlers.kit import flow
from handlers.kit.common import (
    actor_of,
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
    toast,
    typed,
)
from handlers.kit.flow import Flow
from handlers.kit.pickers import days_back

PREVIEW_CHARS = 300


def kind_name(lang: Lang, kind: str) -> str:
    return t(lang, names.REPORT_KIND[kind])


def _today(context: ContextTypes.DEFAULT_TYPE) -> date:
    return deps(context).today()


# ---------------------------------------------------------------- /report and the kind


async def report_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    author = await reports.author_for(deps(context).db, actor)
    kinds = author.kinds()
    if not kinds:
        await reply(update, t(actor.lang, "calendar.unlinked"))
        return
    flow.end(context, actor.telegram_id)
    rows = rows_of([(kind_name(actor.lang, k), ReportKind(k)) for k in kinds], 2)
    await reply(update, t(actor.lang, "report.choose"), keyboard(rows))


async def _choose_kind(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, kind: str, fresh: bool
) -> None:
    """A kind chosen in /report (its message changes) or a briefing (``fresh``: it stays)."""
    lang, say = actor.lang, _replying if fresh else edit_or_send
    author = await reports.author_for(deps(context).db, actor)
    if kind not in author.kinds():
        await refuse(update, context, actor, action="report.kind", key="report.not_allowed")
        return
    await toast(update)
    REPORT.start(context, actor.telegram_id, Draft(kind))
    if kind in reports.TEXT_KINDS:
        await _ask_text(update, context, actor, kind, fresh)
    elif kind == "meeting_record":
        d = deps(context)
        held = await reports.to_file(d.db, actor, now=d.clock.now())
        rows: Rows = [
            [
                (
                    fmt_moment(lang, m.starts_at, d.settings.timezone)
                    + " "
                    + obligation_name(m.obligation, lang),
                    RecordMeeting(m.id),
                )
            ]
            for m in held
        ]
        rows.append([(t(lang, "report.by_hand"), RecordByHand())])
        intro = t(lang, "report.pick_meeting" if held else "report.no_held")
        await say(update, intro, keyboard(rows))
    elif kind == "heart_talk":
        REPORT.wait(context, actor.telegram_id, "pair")
        await say(update, t(lang, "report.ask_pair"))
    else:
        REPORT.wait(context, actor.telegram_id, "day")
        await say(
            update,
            t(lang, "report.ask_day", kind=kind_name(lang, kind)),
            _day_picker(context, lang),
        )


async def _ask_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, kind: str, fresh: bool = False
) -> None:
    spec = reports.KINDS[kind]
    REPORT.wait(context, actor.telegram_id, "text")
    key = "report.ask_summary" if kind in reports.DATED_KINDS else "report.ask"
    text = t(actor.lang, key, kind=kind_name(actor.lang, kind), low=spec.low, high=spec.high)
    if update.callback_query is not None and not fresh:
        await edit_or_send(update, text)
    else:
        await reply(update, text)


async def _replying(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    await reply(update, text, markup)


# ---------------------------------------------------------------- buttons


async def report_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if isinstance(button, ReportKind | ReportFromBriefing):
        await _choose_kind(
            update, context, actor, button.kind, isinstance(button, ReportFromBriefing)
        )
        return
    if isinstance(button, ReportEdit | ReportWithdraw | ReportWithdrawConfirm):
        await _after_filing(update, context, actor, button)
        return
    if isinstance(button, RecordDay):
        await _picked_day(update, context, actor, button.day)
        return
    if not isinstance(button, (*REPORT_STEPS, ReportConfirm, ReportAbandon)):
        await bad_button(update, context, actor)
        return
    if isinstance(button, ReportAbandon):
        REPORT.finish(context, actor.telegram_id)
        await toast(update)
        await edit_or_send(update, t(actor.lang, "common.cancelled"))
        return
    draft = REPORT.draft(context)
    if draft is None and isinstance(button, RecordMeeting):  # from /tasks: a record to file
        draft = REPORT.start(context, actor.telegram_id, Draft("meeting_record"))
    if draft is None:
        await toast(update, t(actor.lang, "report.expired"), alert=True)
        return
    kind = draft.kind
    if isinstance(button, ReportConfirm):
        await _save(update, context, actor)
    elif kind == "meeting_record" and isinstance(button, REPORT_STEPS):
        await _meeting_step(update, context, actor, draft, button)
    else:
        await bad_button(update, context, actor)


REPORT_STEPS = (
    RecordMeeting,
    RecordByHand,
    RecordType,
    RecordFirstTopic,
    ReportPreview,
    RecordCounts,
    RecordDay,
)


async def _meeting_step(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    draft: Draft,
    button: Button,
) -> None:
    lang = actor.lang
    try:
        await reports.may_record(deps(context).db, actor)
        await _meeting_step_of(update, context, actor, draft, button)
    except NotAllowed as exc:
        await refuse(update, context, actor, action="report.meeting", key=exc.key)
    except ReportError as exc:
        await declined(update, lang, exc)


async def _meeting_step_of(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    draft: Draft,
    button: Button,
) -> None:
    lang = actor.lang
    match button:
        case RecordByHand():
            await _by_hand(update, context, actor)
        case RecordMeeting(meeting_id=meeting_id):
            await _held_meeting(update, context, actor, draft, meeting_id)
        case RecordType(kind=kind) if kind in (*meetings.MEETING_KINDS, "other"):
            draft.obligation, draft.codes, draft.meeting_id = (
                kind,
                [] if kind == "other" else [kind],
                None,
            )
            await toast(update)
            REPORT.wait(context, actor.telegram_id, "day")
            text = t(lang, "report.ask_day", kind=obligation_name(kind, lang))
            await edit_or_send(update, text, _day_picker(context, lang))
        case RecordFirstTopic(yes=yes) if yes in (1, 0) and draft.obligation:
            draft.first_topic = yes == 1
            await toast(update)
            await _ask_text(update, context, actor, "meeting_record")
        case ReportPreview() if draft.text is not None:
            REPORT.pause(context, actor.telegram_id)
            await toast(update)
            await _preview(update, context, actor, draft)
        case RecordCounts(code=code) if code in reports.MEETING_TICKS and draft.text is not None:
            draft.codes = sorted(set(draft.codes) ^ {code})
            await toast(update)
            await _preview(update, context, actor, draft)
        case _:
            await bad_button(update, context, actor)


async def _by_hand(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """A record of a meeting the bot did not schedule: which kind of meeting."""
    lang = actor.lang
    kinds = await reports.record_kinds(deps(context).db, actor)
    buttons: Row = [(obligation_name(k, lang), RecordType(k)) for k in kinds]
    buttons.append((t(lang, "meet.other"), RecordType("other")))
    await toast(update)
    await edit_or_send(update, t(lang, "report.pick_type"), keyboard(rows_of(buttons, 2)))


async def _held_meeting(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, draft: Draft, meeting_id: int
) -> None:
    """The record of a held meeting: what it counts toward comes from the meeting."""
    lang = actor.lang
    d = deps(context)
    held = await reports.held_for(d.db, actor, meeting_id, now=d.clock.now())
    draft.meeting_id, draft.codes, draft.obligation = held.id, held.counts(), held.obligation
    await toast(update)
    note = (
        t(lang, "report.still_on")
        if held.still_on
        else ""
        if held.quorum_met
        else t(lang, "report.no_quorum")
    )
    await edit_or_send(update, note + t(lang, "report.ask_first_topic"), _first_topic(lang))


def _first_topic(lang: Lang) -> Any:
    return keyboard(
        [
            [
                (t(lang, "report.first_topic_yes"), RecordFirstTopic(1)),
                (t(lang, "report.first_topic_no"), RecordFirstTopic(0)),
            ]
        ]
    )


async def _save(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    lang = actor.lang
    d = deps(context)
    try:
        kind, saved = await reports.save(d.db, actor, today=_today(context), now=d.clock.now())
    except ReportError as exc:
        await declined(update, lang, exc)
        if exc.key == "report.expired":
            REPORT.finish(context, actor.telegram_id)
        return
    REPORT.finish(context, actor.telegram_id)
    await toast(update)
    lines = [t(lang, "report.saved", kind=kind_name(lang, kind))]
    if saved.counted:
        names = "、".join(obligation_name(c, lang) for c in saved.counted)
        lines.append(t(lang, "report.counted", names=esc(names)))
    elif kind == "meeting_record" and not saved.pending:
        lines.append(t(lang, "report.counted_none"))
    if saved.pending:
        names = "、".join(obligation_name(c, lang) for c in saved.pending)
        lines.append(t(lang, "report.counted_pending", names=esc(names)))
    if saved.makeup_closed:
        lines.append(t(lang, "report.makeup_closed"))
    await edit_or_send(update, "\n".join(lines))


# ---------------------------------------------------------------- typed steps


Accept = Callable[[Actor, str], Awaitable[None]]


async def _step(
    update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft, step: str, accept: Accept
) -> None:
    """A typed answer at ``step``: taken into the draft (or refused, saying why), then the
    next step is asked."""
    actor = await actor_of(update, context)
    try:
        await accept(actor, typed(update))
    except (ReportError, NotAllowed) as exc:
        await reply(update, t(actor.lang, exc.key, **getattr(exc, "params", {})))
        return
    await _next_step(update, context, actor, draft, step)


async def text_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    async def accept(actor: Actor, text: str) -> None:
        draft.text = reports.check_text(draft.kind, text)

    await _step(update, context, draft, "text", accept)


def _day_picker(context: ContextTypes.DEFAULT_TYPE, lang: Lang) -> InlineKeyboardMarkup:
    return keyboard(days_back(lang, _today(context), RecordDay))


async def _picked_day(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, day: date
) -> None:
    """A day from the picker: as if it had been typed."""
    draft = REPORT.at(context, "day")
    if draft is None:
        await toast(update, t(actor.lang, "report.expired"), alert=True)
        return
    try:
        draft.held_on = reports.check_day(day, _today(context))
    except ReportError as exc:
        await declined(update, actor.lang, exc)
        return
    await toast(update)
    await _next_step(update, context, actor, draft, "day")


async def day_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    async def accept(actor: Actor, text: str) -> None:
        today = _today(context)
        draft.held_on = reports.check_day(parse_past_day(text, today), today)

    await _step(update, context, draft, "day", accept)


async def attendance_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    async def accept(actor: Actor, text: str) -> None:
        draft.attendance = list(reports.check_attendance(text))

    await _step(update, context, draft, "attendance", accept)


async def topic_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    async def accept(actor: Actor, text: str) -> None:
        draft.topic = reports.check_topic(text)

    await _step(update, context, draft, "topic", accept)


async def pair_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    async def accept(actor: Actor, text: str) -> None:
        draft.pair = await reports.pair_named(deps(context).db, actor, text)

    await _step(update, context, draft, "pair", accept)


async def photos_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    """Text where photos are asked: say what is expected."""

    async def accept(actor: Actor, text: str) -> None:
        raise ReportError("report.photo_expected", high=reports.PHOTOS_MAX)

    await _step(update, context, draft, "photos", accept)


async def _next_step(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    draft: Draft,
    done: str,
) -> None:
    """After a typed step was accepted: ask the next one, or show the preview."""
    lang = actor.lang
    kind = draft.kind
    if kind == "meeting_record" and done == "day":
        REPORT.wait(context, actor.telegram_id, "attendance")
        await reply(update, t(lang, "report.ask_attendance"))
    elif kind == "meeting_record" and done == "attendance":
        REPORT.wait(context, actor.telegram_id, "topic")
        await reply(update, t(lang, "report.ask_topic", high=reports.TOPIC_MAX))
    elif kind == "meeting_record" and done == "topic":
        REPORT.pause(context, actor.telegram_id)
        await reply(update, t(lang, "report.ask_first_topic"), _first_topic(lang))
    elif kind == "meeting_record" and done == "text":
        REPORT.wait(context, actor.telegram_id, "photos")
        await reply(
            update,
            t(lang, "report.ask_photos", high=reports.PHOTOS_MAX),
            keyboard([[(t(lang, "report.photos_done"), ReportPreview())]]),
        )
    elif kind == "heart_talk" and done == "pair":
        REPORT.wait(context, actor.telegram_id, "day")
        await reply(
            update,
            t(lang, "report.ask_day", kind=kind_name(lang, kind)),
            _day_picker(context, lang),
        )
    elif done == "day":
        await _ask_text(update, context, actor, kind)
    else:
        REPORT.pause(context, actor.telegram_id)
        await _preview(update, context, actor, draft)


async def report_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo for the meeting record being filed; anything else is refused at that step."""
    message = update.effective_message
    draft = REPORT.at(context, "photos")
    if message is None or draft is None:
        return
    actor = await actor_of(update, context)
    lang = actor.lang
    photos = list(draft.photos)
    if not message.photo:
        await reply(update, t(lang, "report.photo_expected", high=reports.PHOTOS_MAX))
        return
    if len(photos) >= reports.PHOTOS_MAX:
        await reply(update, t(lang, "report.too_many_photos", high=reports.PHOTOS_MAX))
        return
    photos.append(message.photo[-1].file_id)
    draft.photos = photos
    text = t(lang, "report.photo_count", count=len(photos), high=reports.PHOTOS_MAX)
    markup = keyboard([[(t(lang, "report.photos_done"), ReportPreview())]])
    status = draft.photo_status
    if isinstance(status, int) and message.chat is not None:
        try:
            await context.bot.edit_message_text(
                text, chat_id=message.chat.id, message_id=status, reply_markup=markup
            )
            return
        except BadRequest:
            pass
    sent = await reply(update, text, markup)
    if isinstance(sent, Message):
        draft.photo_status = sent.message_id


async def _preview(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, draft: Draft
) -> None:
    lang = actor.lang
    kind = draft.kind
    text = draft.text or ""
    shown = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
    lines = [
        t(lang, "report.preview", kind=kind_name(lang, kind), text=esc(shown), count=len(text))
    ]
    rows: Rows = []
    d = deps(context)
    if draft.held_on is not None:
        lines.append(t(lang, "report.preview_day", day=fmt_date(lang, draft.held_on)))
    if kind == "heart_talk" and draft.pair:
        names = await reports.names_of(d.db, [int(i) for i in draft.pair])
        lines.append(t(lang, "report.preview_pair", names=esc("、".join(names.values()))))
    if kind == "meeting_record":
        lines += await _meeting_lines(context, actor, draft)
        ticked = set(draft.codes)
        buttons = [
            (("☑️ " if c in ticked else "▫️ ") + obligation_name(c, lang), RecordCounts(c))
            for c in reports.MEETING_TICKS
        ]
        rows += rows_of(buttons, 2)
    rows.append(
        [(t(lang, "report.save"), ReportConfirm()), (t(lang, "report.cancel"), ReportAbandon())]
    )
    if update.callback_query is not None:
        await edit_or_send(update, "\n".join(lines), keyboard(rows))
    else:
        await reply(update, "\n".join(lines), keyboard(rows))


async def _meeting_lines(
    context: ContextTypes.DEFAULT_TYPE, actor: Actor, draft: Draft
) -> list[str]:
    """The meeting part of a record's preview: which meeting, attendance, 第一议题, photos."""
    lang = actor.lang
    try:
        head, (e, p, lv) = await _meeting_head(context, actor, draft)
    except ReportError as exc:
        return [t(lang, exc.key, **exc.params)]
    except NotAllowed as exc:
        return [t(lang, exc.key)]
    first = "report.first_topic_yes" if draft.first_topic else "report.first_topic_no"
    return [
        head,
        t(lang, "report.preview_attendance", expected=e, present=p, leave=lv, absent=e - p - lv),
        t(lang, "report.preview_first_topic", answer=t(lang, first), photos=len(draft.photos)),
        t(lang, "report.preview_ticks"),
    ]


async def _meeting_head(
    context: ContextTypes.DEFAULT_TYPE, actor: Actor, draft: Draft
) -> tuple[str, tuple[int, int, int]]:
    """Which meeting (the held one picked, or as typed by hand) and its attendance."""
    lang = actor.lang
    if draft.meeting_id is not None and actor.branch is not None:
        d = deps(context)
        held = await reports.held_for(d.db, actor, draft.meeting_id, now=d.clock.now())
        name, topic = held.obligation, held.topic
        when = fmt_moment(lang, held.starts_at, d.settings.timezone)
        counts = (held.expected, held.present, held.leave)
    else:
        name, topic = str(draft.obligation), draft.topic
        when = fmt_date(lang, draft.held_on) if draft.held_on else "—"
        e, p, lv = (int(x) for x in draft.attendance or (0, 0, 0))
        counts = (e, p, lv)
    name = esc(obligation_name(name, lang))
    head = t(lang, "report.preview_meeting", name=name, when=when, topic=esc(topic or "—"))
    return head, counts


# ---------------------------------------------------------------- edit and withdraw (/tasks)


async def _after_filing(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    button: ReportEdit | ReportWithdraw | ReportWithdrawConfirm,
) -> None:
    lang = actor.lang
    record_id = button.record_id
    d = deps(context)
    now = d.clock.now()
    try:
        if isinstance(button, ReportWithdrawConfirm):
            kind = await reports.take_back(d.db, actor, record_id, now=now)
            await toast(update)
            await edit_or_send(update, t(lang, "report.withdrawn", kind=kind_name(lang, kind)))
            return
        kind = await reports.may_change(d.db, actor, record_id, now=now)
    except ReportError as exc:
        await refuse(update, context, actor, action=f"report.{button.action}", key=exc.key)
        return
    await toast(update)
    if isinstance(button, ReportWithdraw):
        rows: Rows = [
            [
                (t(lang, "report.withdraw_yes"), ReportWithdrawConfirm(record_id)),
                (t(lang, "report.cancel"), ReportAbandon()),
            ]
        ]
        await edit_or_send(
            update, t(lang, "report.withdraw_ask", kind=kind_name(lang, kind)), keyboard(rows)
        )
        return
    spec = reports.KINDS[kind]
    EDIT.start(context, actor.telegram_id, Editing(record_id), "text")
    await edit_or_send(
        update, t(lang, "report.ask_edit", kind=kind_name(lang, kind), low=spec.low, high=spec.high)
    )


@dataclass
class Editing:
    record_id: int  # the member's own record whose text they are replacing


async def edit_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Editing) -> None:
    """The new text of one's own record (within 24 hours)."""
    actor = await actor_of(update, context)
    d = deps(context)
    text = typed(update)
    try:
        kind = await reports.rewrite(d.db, actor, draft.record_id, text, now=d.clock.now())
    except ReportError as exc:
        if exc.key != "report.length":
            EDIT.finish(context, actor.telegram_id)
        await declined(update, actor.lang, exc)
        return
    EDIT.finish(context, actor.telegram_id)
    await reply(update, t(actor.lang, "report.edited", kind=kind_name(actor.lang, kind)))


REPORT = Flow(
    reports.DRAFT,
    Draft,
    {
        "text": text_text,
        "day": day_text,
        "attendance": attendance_text,
        "topic": topic_text,
        "pair": pair_text,
        "photos": photos_text,
    },
)
EDIT = Flow("edit", Editing, {"text": edit_text})


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    CommandHandler("report", report_command),
    CallbackQueryHandler(report_button, pattern=family("rp")),
    MessageHandler(
        filters.ChatType.PRIVATE
        & (
            filters.PHOTO
            | filters.VIDEO
            | filters.ANIMATION
            | filters.Sticker.ALL
            | filters.VOICE
            | filters.AUDIO
            | filters.VIDEO_NOTE
        ),
        report_photo,
    ),
]
