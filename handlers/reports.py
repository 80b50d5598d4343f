"""/report (SPEC §7): pick a kind, answer its steps, see a preview, save on confirm.

The draft lives in ``user_data["report"]`` and, through the conversation store, in the
database; saving takes the draft out of the database in the same transaction that files the
record, so a draft is filed once even when 保存 is pressed twice or the bot restarts.
Steps: a short report is just its text; a meeting record picks a held meeting (or takes type,
day, attendance and topic by hand), asks about 第一议题, the summary and up to 9 photos, then
shows which obligations it counts toward as buttons to tick; the special records take a day
(heart talks first the two members) and a summary.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram import Message, Update
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
    RecordFirstTopic,
    RecordMeeting,
    RecordType,
    ReportAbandon,
    ReportConfirm,
    ReportEdit,
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
from bot.services.reports import ReportError
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
    stop_awaiting,
    toast,
)

PREVIEW_CHARS = 300


def kind_name(lang: Lang, kind: str) -> str:
    return t(lang, names.REPORT_KIND[kind])


def _today(context: ContextTypes.DEFAULT_TYPE) -> date:
    return deps(context).today()


def _draft(context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any] | None:
    value = (context.user_data or {}).get("report")
    return value if isinstance(value, dict) else None


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
    assert context.user_data is not None
    context.user_data.pop("report", None)
    stop_awaiting(context, actor.telegram_id)
    rows = rows_of([(kind_name(actor.lang, k), ReportKind(k)) for k in kinds], 2)
    await reply(update, t(actor.lang, "report.choose"), keyboard(rows))


async def _choose_kind(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, kind: str
) -> None:
    lang = actor.lang
    author = await reports.author_for(deps(context).db, actor)
    if kind not in author.kinds():
        await refuse(update, context, actor, action="report.kind", key="report.not_allowed")
        return
    await toast(update)
    assert context.user_data is not None
    context.user_data["report"] = {"kind": kind}
    if kind in reports.TEXT_KINDS:
        await _ask_text(update, context, actor, kind)
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
        await edit_or_send(update, intro, keyboard(rows))
    elif kind == "heart_talk":
        await_text(context, actor.telegram_id, "report.pair")
        await edit_or_send(update, t(lang, "report.ask_pair"))
    else:
        await_text(context, actor.telegram_id, "report.day")
        await edit_or_send(update, t(lang, "report.ask_day", kind=kind_name(lang, kind)))


async def _ask_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, kind: str
) -> None:
    spec = reports.KINDS[kind]
    await_text(context, actor.telegram_id, "report.text")
    key = "report.ask_summary" if kind in reports.DATED_KINDS else "report.ask"
    text = t(actor.lang, key, kind=kind_name(actor.lang, kind), low=spec.low, high=spec.high)
    if update.callback_query is not None:
        await edit_or_send(update, text)
    else:
        await reply(update, text)


# ---------------------------------------------------------------- buttons


async def report_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if isinstance(button, ReportKind):
        await _choose_kind(update, context, actor, button.kind)
        return
    if isinstance(button, ReportEdit | ReportWithdraw | ReportWithdrawConfirm):
        await _after_filing(update, context, actor, button)
        return
    if not isinstance(button, (*REPORT_STEPS, ReportConfirm, ReportAbandon)):
        await bad_button(update, context, actor)
        return
    if isinstance(button, ReportAbandon):
        assert context.user_data is not None
        context.user_data.pop("report", None)
        stop_awaiting(context, actor.telegram_id)
        await toast(update)
        await edit_or_send(update, t(actor.lang, "common.cancelled"))
        return
    draft = _draft(context)
    if draft is None:
        await toast(update, t(actor.lang, "report.expired"), alert=True)
        return
    kind = draft.get("kind")
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
)


async def _meeting_step(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    draft: dict[str, Any],
    button: Button,
) -> None:
    lang = actor.lang
    try:
        await reports.may_record(deps(context).db, actor)
        await _meeting_step_of(update, context, actor, draft, button)
    except NotAllowed as exc:
        await refuse(update, context, actor, action="report.meeting", key=exc.key)
    except ReportError as exc:
        await toast(update, t(lang, exc.key, **exc.params), alert=True)


async def _meeting_step_of(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    draft: dict[str, Any],
    button: Button,
) -> None:
    lang = actor.lang
    d = deps(context)
    if isinstance(button, RecordByHand):
        kinds = await reports.record_kinds(d.db, actor)
        buttons: Row = [(obligation_name(k, lang), RecordType(k)) for k in kinds]
        buttons.append((t(lang, "meet.other"), RecordType("other")))
        await toast(update)
        await edit_or_send(
            update,
            t(lang, "report.pick_type"),
            keyboard(rows_of(buttons, 2)),
        )
    elif isinstance(button, RecordMeeting):
        held = await reports.held_for(d.db, actor, button.meeting_id)
        draft.update(meeting_id=held.id, codes=held.counts(), obligation=held.obligation)
        await toast(update)
        note = "" if held.quorum_met else t(lang, "report.no_quorum")
        await edit_or_send(update, note + t(lang, "report.ask_first_topic"), _first_topic(lang))
    elif isinstance(button, RecordType) and button.kind in (*meetings.MEETING_KINDS, "other"):
        arg = button.kind
        draft.update(obligation=arg, codes=[] if arg == "other" else [arg], meeting_id=None)
        await toast(update)
        await_text(context, actor.telegram_id, "report.day")
        await edit_or_send(update, t(lang, "report.ask_day", kind=obligation_name(arg, lang)))
    elif isinstance(button, RecordFirstTopic) and button.yes in (1, 0) and "obligation" in draft:
        draft["first_topic"] = button.yes == 1
        await toast(update)
        await _ask_text(update, context, actor, "meeting_record")
    elif isinstance(button, ReportPreview) and "text" in draft:
        stop_awaiting(context, actor.telegram_id)
        await toast(update)
        await _preview(update, context, actor, draft)
    elif (
        isinstance(button, RecordCounts)
        and button.code in reports.MEETING_TICKS
        and "text" in draft
    ):
        draft["codes"] = sorted(set(draft.get("codes") or []) ^ {button.code})
        await toast(update)
        await _preview(update, context, actor, draft)
    else:
        await bad_button(update, context, actor)


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
        await toast(update, t(lang, exc.key, **exc.params), alert=True)
        if exc.key == "report.expired" and context.user_data is not None:
            context.user_data.pop("report", None)
        return
    assert context.user_data is not None
    context.user_data.pop("report", None)
    stop_awaiting(context, actor.telegram_id)
    await toast(update)
    lines = [t(lang, "report.saved", kind=kind_name(lang, kind))]
    if saved.counted:
        names = "、".join(obligation_name(c, lang) for c in saved.counted)
        lines.append(t(lang, "report.counted", names=esc(names)))
    elif kind == "meeting_record":
        lines.append(t(lang, "report.counted_none"))
    if saved.makeup_closed:
        lines.append(t(lang, "report.makeup_closed"))
    await edit_or_send(update, "\n".join(lines))


# ---------------------------------------------------------------- typed steps


async def report_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    pending = awaiting(context, "report.")
    message = update.effective_message
    if pending is None or message is None:
        return
    actor = await actor_of(update, context)
    lang = actor.lang
    if pending.kind == "report.edit":
        await _edit_text(update, context, actor, int(pending.data["record_id"]))
        return
    draft = _draft(context)
    if draft is None:
        stop_awaiting(context, actor.telegram_id)
        await reply(update, t(lang, "report.expired"))
        return
    kind = str(draft.get("kind"))
    text = message.text or ""
    try:
        if pending.kind == "report.text":
            draft["text"] = reports.check_text(kind, text)
        elif pending.kind == "report.day":
            draft["held_on"] = reports.check_day(
                parse_past_day(text, _today(context)), _today(context)
            ).isoformat()
        elif pending.kind == "report.attendance":
            draft["attendance"] = list(reports.check_attendance(text))
        elif pending.kind == "report.topic":
            draft["topic"] = reports.check_topic(text)
        elif pending.kind == "report.pair":
            draft["pair"] = await reports.pair_named(deps(context).db, actor, text)
        elif pending.kind == "report.photos":
            raise ReportError("report.photo_expected", high=reports.PHOTOS_MAX)
    except ReportError as exc:
        await reply(update, t(lang, exc.key, **exc.params))
        return
    await _next_step(update, context, actor, draft, pending.kind)


async def _next_step(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    draft: dict[str, Any],
    done: str,
) -> None:
    """After a typed step was accepted: ask the next one, or show the preview."""
    lang = actor.lang
    kind = str(draft["kind"])
    if kind == "meeting_record" and done == "report.day":
        await_text(context, actor.telegram_id, "report.attendance")
        await reply(update, t(lang, "report.ask_attendance"))
    elif kind == "meeting_record" and done == "report.attendance":
        await_text(context, actor.telegram_id, "report.topic")
        await reply(update, t(lang, "report.ask_topic", high=reports.TOPIC_MAX))
    elif kind == "meeting_record" and done == "report.topic":
        stop_awaiting(context, actor.telegram_id)
        await reply(update, t(lang, "report.ask_first_topic"), _first_topic(lang))
    elif kind == "meeting_record" and done == "report.text":
        draft.setdefault("photos", [])
        await_text(context, actor.telegram_id, "report.photos")
        await reply(
            update,
            t(lang, "report.ask_photos", high=reports.PHOTOS_MAX),
            keyboard([[(t(lang, "report.photos_done"), ReportPreview())]]),
        )
    elif kind == "heart_talk" and done == "report.pair":
        await_text(context, actor.telegram_id, "report.day")
        await reply(update, t(lang, "report.ask_day", kind=kind_name(lang, kind)))
    elif done == "report.day":
        await _ask_text(update, context, actor, kind)
    else:
        stop_awaiting(context, actor.telegram_id)
        await _preview(update, context, actor, draft)


async def report_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo for the meeting record being filed; anything else is refused at that step."""
    pending = awaiting(context, "report.photos")
    message = update.effective_message
    draft = _draft(context)
    if pending is None or message is None or draft is None:
        return
    actor = await actor_of(update, context)
    lang = actor.lang
    photos: list[str] = list(draft.get("photos") or [])
    if not message.photo:
        await reply(update, t(lang, "report.photo_expected", high=reports.PHOTOS_MAX))
        return
    if len(photos) >= reports.PHOTOS_MAX:
        await reply(update, t(lang, "report.too_many_photos", high=reports.PHOTOS_MAX))
        return
    photos.append(message.photo[-1].file_id)
    draft["photos"] = photos
    text = t(lang, "report.photo_count", count=len(photos), high=reports.PHOTOS_MAX)
    markup = keyboard([[(t(lang, "report.photos_done"), ReportPreview())]])
    status = draft.get("photo_status")
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
        draft["photo_status"] = sent.message_id


async def _preview(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, draft: dict[str, Any]
) -> None:
    lang = actor.lang
    kind = str(draft["kind"])
    text = str(draft.get("text", ""))
    shown = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
    lines = [
        t(lang, "report.preview", kind=kind_name(lang, kind), text=esc(shown), count=len(text))
    ]
    rows: Rows = []
    d = deps(context)
    if draft.get("held_on"):
        lines.append(
            t(lang, "report.preview_day", day=fmt_date(lang, date.fromisoformat(draft["held_on"])))
        )
    if kind == "heart_talk":
        names = await reports.names_of(d.db, [int(i) for i in draft["pair"]])
        lines.append(t(lang, "report.preview_pair", names=esc("、".join(names.values()))))
    if kind == "meeting_record":
        lines += await _meeting_lines(context, actor, draft)
        ticked = set(draft.get("codes") or [])
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
    context: ContextTypes.DEFAULT_TYPE, actor: Actor, draft: dict[str, Any]
) -> list[str]:
    lang = actor.lang
    d = deps(context)
    if draft.get("meeting_id") is not None and actor.branch is not None:
        try:
            held = await reports.held_for(d.db, actor, int(draft["meeting_id"]))
        except ReportError as exc:
            return [t(lang, exc.key, **exc.params)]
        except NotAllowed as exc:
            return [t(lang, exc.key)]
        head = t(
            lang,
            "report.preview_meeting",
            name=esc(obligation_name(held.obligation, lang)),
            when=fmt_moment(lang, held.starts_at, d.settings.timezone),
            topic=esc(held.topic or "—"),
        )
        counts = (held.expected, held.present, held.leave)
    else:
        head = t(
            lang,
            "report.preview_meeting",
            name=esc(obligation_name(str(draft.get("obligation")), lang)),
            when=fmt_date(lang, date.fromisoformat(draft["held_on"])),
            topic=esc(draft.get("topic") or "—"),
        )
        e, p, lv = (int(x) for x in draft.get("attendance") or (0, 0, 0))
        counts = (e, p, lv)
    e, p, lv = counts
    return [
        head,
        t(lang, "report.preview_attendance", expected=e, present=p, leave=lv, absent=e - p - lv),
        t(
            lang,
            "report.preview_first_topic",
            answer=t(
                lang,
                "report.first_topic_yes" if draft.get("first_topic") else "report.first_topic_no",
            ),
            photos=len(draft.get("photos") or []),
        ),
        t(lang, "report.preview_ticks"),
    ]


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
    await_text(context, actor.telegram_id, "report.edit", record_id=record_id)
    await edit_or_send(
        update, t(lang, "report.ask_edit", kind=kind_name(lang, kind), low=spec.low, high=spec.high)
    )


async def _edit_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, record_id: int
) -> None:
    message = update.effective_message
    assert message is not None
    d = deps(context)
    try:
        kind = await reports.rewrite(d.db, actor, record_id, message.text or "", now=d.clock.now())
    except ReportError as exc:
        if exc.key != "report.length":
            stop_awaiting(context, actor.telegram_id)
        await reply(update, t(actor.lang, exc.key, **exc.params))
        return
    stop_awaiting(context, actor.telegram_id)
    await reply(update, t(actor.lang, "report.edited", kind=kind_name(actor.lang, kind)))


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

TEXT_STEPS = {"report.": report_text}
