"""/report: file a study note, a thought report or a work report — kind, text, preview, save."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import reports
from bot.reports import ReportError
from bot.texts import t
from handlers.common import (
    actor_of,
    await_text,
    awaiting,
    bad_button,
    deps,
    edit_or_send,
    ensure_private,
    esc,
    keyboard,
    reply,
    stop_awaiting,
    toast,
)

PREVIEW_CHARS = 300


async def report_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    if actor.member is None:
        await reply(update, t(actor.lang, "calendar.unlinked"))
        return
    kinds = reports.kinds_for(actor.member.role)
    rows = [[(t(actor.lang, f"report.kind_{k}"), f"rp:k:{k}")] for k in kinds]
    await reply(update, t(actor.lang, "report.choose"), keyboard(rows))


async def report_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    data = (update.callback_query.data if update.callback_query else "") or ""
    parts = data.split(":")
    lang = actor.lang
    if actor.member is None or len(parts) < 2 or parts[0] != "rp":
        await bad_button(update, context, actor)
        return
    if parts[1] == "k" and len(parts) == 3 and parts[2] in reports.kinds_for(actor.member.role):
        await toast(update)
        spec = reports.KINDS[parts[2]]
        await_text(context, actor.telegram_id, "report.text", report_kind=spec.code)
        await edit_or_send(
            update,
            t(
                lang,
                "report.ask",
                kind=t(lang, f"report.kind_{spec.code}"),
                low=spec.low,
                high=spec.high,
            ),
        )
        return
    draft = (context.user_data or {}).get("report")
    if parts[1] in ("y", "n") and not isinstance(draft, dict):
        await toast(update, t(lang, "report.expired"), alert=True)
        return
    if parts[1] == "n":
        context.user_data.pop("report", None)  # type: ignore[union-attr]
        await toast(update)
        await edit_or_send(update, t(lang, "common.cancelled"))
        return
    if parts[1] == "y" and isinstance(draft, dict):
        d = deps(context)
        now = d.clock.now()
        try:
            async with d.db.write() as session:
                saved = await reports.file_report(
                    session,
                    actor.member.id,
                    draft["kind"],
                    draft["text"],
                    today=now.astimezone(ZoneInfo(d.settings.timezone)).date(),
                    now=now,
                    by=actor.telegram_id,
                )
        except ReportError as exc:
            await toast(update, t(lang, exc.key, **exc.params), alert=True)
            return
        context.user_data.pop("report", None)  # type: ignore[union-attr]
        await toast(update)
        extra = t(lang, "report.makeup_closed") if saved.makeup_closed else ""
        await edit_or_send(
            update, t(lang, "report.saved", kind=t(lang, f"report.kind_{draft['kind']}")) + extra
        )
        return
    await bad_button(update, context, actor)


async def report_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    pending = awaiting(context, "report.")
    message = update.effective_message
    if pending is None or message is None or context.user_data is None:
        return
    actor = await actor_of(update, context)
    kind = pending.data["report_kind"]
    try:
        text = reports.check_text(kind, message.text or "")
    except ReportError as exc:
        await reply(update, t(actor.lang, exc.key, **exc.params))
        return
    stop_awaiting(context, actor.telegram_id)
    context.user_data["report"] = {"kind": kind, "text": text}
    shown = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
    await reply(
        update,
        t(
            actor.lang,
            "report.preview",
            kind=t(actor.lang, f"report.kind_{kind}"),
            text=esc(shown),
            count=len(text),
        ),
        keyboard(
            [[(t(actor.lang, "report.save"), "rp:y"), (t(actor.lang, "report.cancel"), "rp:n")]]
        ),
    )


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    CommandHandler("report", report_command),
    CallbackQueryHandler(report_button, pattern=r"^rp:"),
]

TEXT_STEPS = {"report.": report_text}
