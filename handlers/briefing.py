"""/settings, the personal part: one's own morning briefing (#16) — how often, at what time,
muted until a day. Anyone may choose for themselves: ``/settings me`` (members without a
branch to manage get it from ``/settings`` directly; managers by its button)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, t
from bot.rules.buttons import (
    BriefAt,
    BriefMode,
    BriefMute,
    BriefMuteAsk,
    BriefShow,
    BriefUnmute,
    Button,
    Rows,
    family,
    rows_of,
)
from bot.rules.catalogue import BRIEFING_TIMES, BriefingMode, Prefs
from bot.services import briefings
from bot.services.access import Actor
from bot.services.briefings import MAX_MUTE_DAYS, BriefingError
from handlers.kit.common import (
    actor_of,
    bad_button,
    declined,
    deps,
    edit_or_send,
    keyboard,
    pressed,
    refuse,
    reply,
    toast,
    typed,
)
from handlers.kit.flow import Flow

MARK = "☑️ "
BRANCH = "branch"  # BriefAt: back to the branch's reminder time
MUTE_CHOICES = (7, 14, 30)  # days, as buttons; any day up to MAX_MUTE_DAYS typed


def view(lang: Lang, prefs: Prefs, muted_day: str) -> tuple[str, Rows]:
    """One's briefing choices, the current ones marked."""
    at = f"{prefs.at:%H:%M}" if prefs.at else t(lang, "brief.at_branch")
    muted = (
        t(lang, "brief.muted_until", day=muted_day)
        if prefs.muted_until is not None
        else t(lang, "brief.not_muted")
    )
    text = t(
        lang,
        "brief.settings",
        mode=t(lang, names.BRIEFING_MODE[prefs.mode.value]),
        at=at,
        muted=muted,
    )

    def marked(label: str, on: bool) -> str:
        return (MARK if on else "") + label

    rows: Rows = [
        [
            (
                marked(t(lang, names.BRIEFING_MODE_SHORT[m.value]), m is prefs.mode),
                BriefMode(m.value),
            )
            for m in BriefingMode
        ]
    ]
    chosen = f"{prefs.at:%H:%M}" if prefs.at else None
    times = [(marked(x, x == chosen), BriefAt(x.replace(":", ""))) for x in BRIEFING_TIMES]
    times.append((marked(t(lang, "brief.at_branch_button"), chosen is None), BriefAt(BRANCH)))
    rows += rows_of(times, 4)
    mutes: list[tuple[str, Button]] = [
        (t(lang, "brief.mute_days", n=n), BriefMute(n)) for n in MUTE_CHOICES
    ]
    mutes.append((t(lang, "brief.mute_until_button"), BriefMuteAsk()))
    rows += rows_of(mutes, 4)
    if prefs.muted_until is not None:
        rows.append([(t(lang, "brief.unmute"), BriefUnmute())])
    return text, rows


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> None:
    """The personal view, in place of the message a button sits on, or as a reply."""
    if not may_choose(actor):
        await refuse(update, context, actor, action="briefing", key="calendar.unlinked")
        return
    prefs = await briefings.prefs_of(deps(context).db, actor.telegram_id)
    day = fmt_date(actor.lang, prefs.muted_until) if prefs.muted_until else ""
    text, rows = view(actor.lang, prefs, day)
    if update.callback_query is not None:
        await edit_or_send(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


async def _choose(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, **chosen: object
) -> bool:
    """Save a choice (the service checks it); False, with the reason said, if refused."""
    d = deps(context)
    now = d.clock.now()
    try:
        await briefings.choose(d.db, actor, now=now, today=d.today(), **chosen)  # type: ignore[arg-type]
    except BriefingError as exc:
        await declined(update, actor.lang, exc)
        return False
    return True


def chosen_by(button: object, today: date) -> dict[str, object] | None:
    """What a choice button asks the service to save (None: not a choice)."""
    match button:
        case BriefMode(mode=mode):
            return {"mode": mode}
        case BriefAt(hhmm=hhmm):
            at = None if hhmm == BRANCH else f"{hhmm[:2]}:{hhmm[2:]}"
            return {"at": at, "own_time": at is not None}
        case BriefMute(days=days) if days in MUTE_CHOICES:
            return {"muted_until": today + timedelta(days=days - 1)}
        case BriefUnmute():
            return {"unmute": True}
    return None


def may_choose(actor: Actor) -> bool:
    """Members and admins get briefings; an account with no role has none to choose for."""
    return actor.member is not None or actor.is_admin


async def briefing_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if not may_choose(actor):
        await refuse(update, context, actor, action="briefing", key="calendar.unlinked")
        return
    if isinstance(button, BriefMuteAsk):
        await toast(update)
        MUTE.start(context, actor.telegram_id, MuteDraft(), "day")
        await reply(update, t(actor.lang, "brief.mute_ask", days=MAX_MUTE_DAYS))
        return
    if isinstance(button, BriefShow):
        await toast(update)
    else:
        chosen = chosen_by(button, deps(context).today())
        if chosen is None:
            await bad_button(update, context, actor)
            return
        if not await _choose(update, context, actor, **chosen):
            return
        await toast(update, t(actor.lang, "brief.saved"))
    await show(update, context, actor)


@dataclass
class MuteDraft:
    """Waiting for the last day of a mute, typed."""


async def mute_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: MuteDraft) -> None:
    actor = await actor_of(update, context)
    d = deps(context)
    try:
        until = briefings.mute_until(typed(update), d.today())
    except BriefingError as exc:
        await declined(update, actor.lang, exc)
        return
    if not await _choose(update, context, actor, muted_until=until):
        return
    MUTE.finish(context, actor.telegram_id)
    await reply(update, t(actor.lang, "brief.saved"))
    await show(update, context, actor)


MUTE = Flow("briefing_mute", MuteDraft, {"day": mute_text})

HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    CallbackQueryHandler(briefing_button, pattern=family("bf")),
]
