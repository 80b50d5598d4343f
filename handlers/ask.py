"""/ask (SPEC §7): kind → prompt → deadline → audience → confirm; then 提交 and replies.

A manager's /ask also lists the branch's recent collections with who submitted, late and
missing. Members submit with the 提交 button on the prompt (then type the text) or by
replying to the prompt (or a nudge) in private or in the bound group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_moment, t
from bot.rules.buttons import (
    AskAbandon,
    AskAudience,
    AskConfirm,
    AskDay,
    AskKind,
    AskNotThis,
    AskRemind,
    AskSubmit,
    AskTake,
    AskView,
    Button,
    Rows,
    family,
    rows_of,
)
from bot.rules.dates import parse_day, parse_when
from bot.services import collections
from bot.services.access import Actor, Declined, NotAllowed, OrgInfo
from bot.services.collections import CollectionError, Request
from bot.services.reports import KINDS, ReportError
from handlers.branch import button_branch, target_branch
from handlers.invite import unreached_note
from handlers.kit.common import (
    actor_of,
    bad_button,
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

PICKER_DAYS = 14


def _tz(context: ContextTypes.DEFAULT_TYPE) -> str:
    return deps(context).settings.timezone


def _today(context: ContextTypes.DEFAULT_TYPE) -> date:
    return deps(context).today()


def _error(lang: Lang, exc: CollectionError | ReportError) -> str:
    return t(lang, exc.key, **exc.params)


# ---------------------------------------------------------------- /ask


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    org = await target_branch(update, context, actor, "ask")
    if org is None:
        return
    d = deps(context)
    lang = actor.lang
    recent = await collections.recent_for(d.db, actor, org.id, now=d.clock.now(), tz=_tz(context))
    ASK.start(context, actor.telegram_id, Request(org.id))
    lines = [t(lang, "ask.title", branch=esc(org.name))]
    rows: Rows = []
    for p in recent:
        lines.append(
            t(
                lang,
                "ask.recent",
                kind=t(lang, names.REPORT_KIND[p.kind]),
                prompt=esc(p.prompt[:30]),
                deadline=fmt_moment(lang, p.deadline, _tz(context)),
                done=len(p.on_time),
                late=len(p.late),
                total=p.total,
            )
        )
        rows.append([(t(lang, "ask.view", prompt=p.prompt[:20]), AskView(p.id))])
    lines.append(t(lang, "ask.choose_kind"))
    rows.append([(t(lang, names.REPORT_KIND[k]), AskKind(k)) for k in collections.COLLECT_KINDS])
    await reply(update, "\n".join(lines), keyboard(rows))


def _picker(lang: Lang, today: date) -> Rows:
    days = [today + timedelta(days=i) for i in range(1, PICKER_DAYS + 1)]
    return rows_of([(f"{d.month}/{d.day}", AskDay(d)) for d in days], 7)


async def ask_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    match button:
        case AskSubmit(collection_id=cid):
            await _start_submit(update, context, actor.lang, cid)
        case AskTake() | AskNotThis():
            await _offered(update, context, actor, button)
        case AskView(collection_id=cid):
            ASK.finish(context, actor.telegram_id)  # looking opens no conversation
            await _view(update, context, cid)
        case AskRemind(collection_id=cid):
            await _remind(update, context, actor, cid)
        case AskAbandon():
            ASK.finish(context, actor.telegram_id)
            await toast(update)
            await edit_or_send(update, t(actor.lang, "common.cancelled"))
        case AskKind() | AskDay() | AskAudience() | AskConfirm():
            draft = ASK.draft(context)
            if draft is None:
                await toast(update, t(actor.lang, "ask.expired"), alert=True)
                return
            org = await button_branch(update, context, actor, draft.org_id, "ask")
            if org is not None:
                await _ask_step(update, context, actor, org, draft, button)
        case _:
            await bad_button(update, context, actor)


async def _ask_step(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    org: OrgInfo,
    draft: Request,
    button: Button,
) -> None:
    """The next answer to /ask: the kind, a deadline day, the audience, or 发送."""
    match button:
        case AskKind(kind=kind) if kind in collections.COLLECT_KINDS:
            await _chose_kind(update, context, actor, draft, kind)
        case AskDay(day=day) if draft.prompt is not None:
            await _take_deadline(update, context, actor.lang, draft, day, None)
        case AskAudience(audience=audience) if (
            audience in collections.AUDIENCES and draft.deadline and draft.kind
        ):
            draft.audience = audience
            ASK.pause(context, actor.telegram_id)
            await toast(update)
            text, rows = _confirmation(actor.lang, draft, _tz(context))
            await edit_or_send(update, text, keyboard(rows))
        case AskConfirm():
            await _send(update, context, actor, org)
        case _:
            await bad_button(update, context, actor)


async def _chose_kind(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, draft: Request, kind: str
) -> None:
    draft.kind = kind
    await toast(update)
    ASK.wait(context, actor.telegram_id, "prompt")
    text = t(
        actor.lang,
        "ask.ask_prompt",
        kind=t(actor.lang, names.REPORT_KIND[kind]),
        low=collections.PROMPT_LOW,
        high=collections.PROMPT_HIGH,
    )
    await edit_or_send(update, text)


def _confirmation(lang: Lang, draft: Request, tz: str) -> tuple[str, Rows]:
    """What will be sent, to whom, by when; 发送 and 取消."""
    assert draft.kind is not None and draft.deadline is not None and draft.audience is not None
    text = t(
        lang,
        "ask.confirm",
        kind=t(lang, names.REPORT_KIND[draft.kind]),
        prompt=esc(draft.prompt or ""),
        deadline=fmt_moment(lang, draft.deadline, tz),
        audience=t(lang, names.AUDIENCE[draft.audience]),
    )
    return text, [[(t(lang, "ask.send"), AskConfirm()), (t(lang, "report.cancel"), AskAbandon())]]


async def _send(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, org: OrgInfo
) -> None:
    d = deps(context)
    try:
        reach = await collections.send(
            d.db,
            actor,
            org.id,
            group_chat_id=org.group_chat_id,
            now=d.clock.now(),
            tz=_tz(context),
            default_lang=d.settings.language,
            bot_username=context.bot.username,
        )
    except CollectionError as exc:
        await toast(update, _error(actor.lang, exc), alert=True)
        return
    ASK.finish(context, actor.telegram_id)
    d.wake_sender()
    await toast(update)
    extra = t(actor.lang, "ask.sent_group") if org.group_chat_id else ""
    note, rows = unreached_note(actor.lang, reach)
    text = t(actor.lang, "ask.sent", count=reach.sent) + extra + note
    await edit_or_send(update, text, keyboard(rows) if rows else None)


async def _take_deadline(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    lang: Lang,
    draft: Request,
    day: date | None,
    moment: datetime | None,
) -> None:
    """A deadline picked (a day, at 18:00) or typed (a day, or a day and time)."""
    d = deps(context)
    zone = ZoneInfo(_tz(context))
    if moment is None and day is not None:
        moment = datetime.combine(day, collections.DEFAULT_HOUR)
    try:
        deadline = collections.check_deadline(
            moment.replace(tzinfo=zone) if moment is not None else None, d.clock.now()
        )
    except CollectionError as exc:
        if update.callback_query is not None:
            await toast(update, _error(lang, exc), alert=True)
        else:
            await reply(update, _error(lang, exc))
        return
    draft.deadline = deadline
    actor = await actor_of(update, context)
    counts = await collections.audience_counts(d.db, actor, draft.org_id)
    rows: Rows = [
        [(t(lang, names.AUDIENCE[a]) + f" ({counts[a]})", AskAudience(a))]
        for a in collections.AUDIENCES
        if counts[a]
    ]
    text = t(lang, "ask.ask_audience", deadline=fmt_moment(lang, deadline, _tz(context)))
    if update.callback_query is not None:
        await toast(update)
        await edit_or_send(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


async def _view(update: Update, context: ContextTypes.DEFAULT_TYPE, cid: int) -> None:
    actor = await actor_of(update, context)
    try:
        p = await collections.progress_for(deps(context).db, actor, cid, _tz(context))
    except NotAllowed as exc:
        await refuse(update, context, actor, action="ask.view", key=exc.key, org_id=exc.org_id)
        return
    await toast(update)
    rows: Rows = []
    if p.missing and p.deadline > deps(context).clock.now():
        rows.append([(t(actor.lang, "ask.remind_button", n=len(p.missing)), AskRemind(p.id))])
    text = collections.progress_text(actor.lang, p, _tz(context))
    await edit_or_send(update, text, keyboard(rows) if rows else None)


async def _remind(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, cid: int
) -> None:
    """提醒未交: the manager's reminder to those who have not answered yet."""
    d = deps(context)
    try:
        done = await collections.remind_missing(
            d.db, actor, cid, now=d.clock.now(), tz=_tz(context), default_lang=d.settings.language
        )
    except NotAllowed as exc:
        await refuse(update, context, actor, action="ask.remind", key=exc.key, org_id=exc.org_id)
        return
    except Declined as exc:
        await toast(update, t(actor.lang, exc.key, **exc.params), alert=True)
        return
    d.wake_sender()  # the reminders are in the outbox
    await toast(update, done.said(actor.lang), alert=True)


# ---------------------------------------------------------------- submitting


async def submit_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/start s_<id>``: the 提交 button of a prompt in the group, opened in private."""
    actor = await actor_of(update, context)
    found = collections.SUBMIT_PAYLOAD.match((context.args or [""])[0])
    if found is None:
        await bad_button(update, context, actor)
        return
    await _start_submit(update, context, actor.lang, int(found[1]))


async def _start_submit(
    update: Update, context: ContextTypes.DEFAULT_TYPE, lang: Lang, cid: int
) -> None:
    actor = await actor_of(update, context)
    d = deps(context)
    try:
        kind = await collections.may_submit(d.db, actor, cid, now=d.clock.now())
    except (CollectionError, NotAllowed) as exc:
        await refuse(update, context, actor, action="ask.submit", key=exc.key)
        return
    await toast(update)
    spec = KINDS[kind]
    SUBMIT.start(context, actor.telegram_id, Answering(cid), "text")
    await context.bot.send_message(
        actor.telegram_id,
        t(
            lang,
            "ask.ask_text",
            kind=t(lang, names.REPORT_KIND[kind]),
            low=spec.low,
            high=spec.high,
        ),
    )


async def _submit(
    update: Update, context: ContextTypes.DEFAULT_TYPE, collection_id: int, *, by_reply: bool
) -> None:
    message = update.effective_message
    assert message is not None
    actor = await actor_of(update, context)
    lang = actor.lang
    d = deps(context)
    now = d.clock.now()
    try:
        done = await collections.answer(
            d.db, actor, collection_id, message.text or "", now=now, today=_today(context)
        )
    except NotAllowed as exc:
        await message.reply_text(t(lang, exc.key))
        return
    except (CollectionError, ReportError) as exc:
        if not isinstance(exc, ReportError) and not by_reply:
            SUBMIT.finish(context, actor.telegram_id)
        await message.reply_text(_error(lang, exc))
        return
    if not by_reply:
        SUBMIT.finish(context, actor.telegram_id)
    key = "ask.submitted_late" if done.late else "ask.submitted"
    await message.reply_text(t(lang, key, kind=t(lang, names.REPORT_KIND[done.kind])))


@dataclass
class Answering:
    collection_id: int  # the collection a member is typing their answer to


async def answer_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Answering) -> None:
    """A member typed their answer after pressing 提交."""
    await _submit(update, context, draft.collection_id, by_reply=False)


async def prompt_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Request) -> None:
    """The manager typed what the collection asks for."""
    actor = await actor_of(update, context)
    lang = actor.lang
    try:
        draft.prompt = collections.check_prompt(typed(update))
    except CollectionError as exc:
        await reply(update, _error(lang, exc))
        return
    ASK.wait(context, actor.telegram_id, "deadline")
    await reply(update, t(lang, "ask.ask_deadline"), keyboard(_picker(lang, _today(context))))


async def deadline_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Request) -> None:
    """The manager typed a deadline (a day, or a day and a time)."""
    actor = await actor_of(update, context)
    text = typed(update)
    moment = parse_when(text, _today(context))
    day = None if moment is not None else parse_day(text, _today(context))
    await _take_deadline(update, context, actor.lang, draft, day, moment)


ASK = Flow(collections.DRAFT, Request, {"prompt": prompt_text, "deadline": deadline_text})
SUBMIT = Flow("submit", Answering, {"text": answer_text})


# ---------------------------------------------------------------- a plain text, offered


@dataclass
class Offered:
    collection_id: int  # the member's one open collection
    text: str  # what they typed, not yet submitted


OFFER = Flow("offer", Offered, {})  # waits for 提交 or 不是


async def offer(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> bool:
    """A plain private text that may be the answer to the member's one open collection:
    asked whether to submit it (nothing is saved before they say so). False if it is not."""
    d = deps(context)
    text = typed(update)
    found = await collections.offer_for(d.db, actor, text, now=d.clock.now())
    if found is None:
        return False
    lang = actor.lang
    OFFER.start(context, actor.telegram_id, Offered(found.id, text))
    kind = t(lang, names.REPORT_KIND[found.kind])
    question = t(lang, "ask.offer", kind=kind, prompt=esc(found.prompt[:40]), count=len(text))
    rows: Rows = [
        [(t(lang, "ask.offer_yes", kind=kind), AskTake(found.id))],
        [(t(lang, "ask.offer_no"), AskNotThis())],
    ]
    await reply(update, question, keyboard(rows))
    return True


async def _offered(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, button: Button
) -> None:
    """提交 or 不是, under an offered text."""
    draft = OFFER.draft(context)
    lang = actor.lang
    if draft is None or (
        isinstance(button, AskTake) and button.collection_id != draft.collection_id
    ):
        await toast(update, t(lang, "ask.expired"), alert=True)
        return
    OFFER.finish(context, actor.telegram_id)
    await toast(update)
    if isinstance(button, AskNotThis):
        await edit_or_send(update, t(lang, "ask.offer_dropped"))
        return
    d = deps(context)
    try:
        done = await collections.answer(
            d.db, actor, draft.collection_id, draft.text, now=d.clock.now(), today=_today(context)
        )
    except NotAllowed as exc:
        await edit_or_send(update, t(lang, exc.key))
        return
    except (CollectionError, ReportError) as exc:
        await edit_or_send(update, _error(lang, exc))
        return
    key = "ask.submitted_late" if done.late else "ask.submitted"
    await edit_or_send(update, t(lang, key, kind=t(lang, names.REPORT_KIND[done.kind])))


async def prompt_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A reply to a collection prompt or nudge submits; False when it replies to anything else."""
    message = update.effective_message
    if message is None or message.reply_to_message is None or not message.text:
        return False
    replied = message.reply_to_message
    if replied.from_user is None or replied.from_user.id != context.bot.id:
        return False
    cid = await collections.prompted_by(deps(context).db, message.chat.id, replied.message_id)
    if cid is None:
        return False
    await _submit(update, context, cid, by_reply=True)
    return True


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    CommandHandler("ask", ask_command),
    CallbackQueryHandler(ask_button, pattern=family("ak")),
]
