"""/settings, the obligation part: switch obligations off (with a reason) or on, fix the 主题党日."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.i18n import names
from bot.i18n.texts import Lang, t
from bot.rules.buttons import (
    BriefShow,
    Button,
    Rows,
    SettingsCheckinMode,
    SettingsMain,
    SettingsObligation,
    SettingsQuiet,
    SettingsRemindAt,
    SettingsReminders,
    SettingsRemindOffsets,
    SettingsThemeDay,
    SettingsThemeDayClear,
    SettingsTurnOff,
    SettingsTurnOn,
    family,
    rows_of,
)
from bot.rules.calendar import DayRule, parse_day_rule
from bot.rules.catalogue import (
    OFFSET_CHOICES,
    QUIET_CHOICES,
    REMINDER_TIMES,
    Period,
    ReminderPolicy,
)
from bot.services.access import Actor, OrgInfo
from bot.services.obligations import (
    MAX_REASON,
    MIN_REASON,
    BranchView,
    Effective,
    ObligationError,
    choose_theme_rule,
    set_reminders,
    switch,
    toggle_checkin_mode,
    view_of,
)
from handlers import briefing
from handlers.branch import button_branch, target_branch
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
    reply,
    toast,
    typed,
)
from handlers.kit.flow import Flow


def _rule_text(lang: Lang, view: BranchView) -> str:
    if view.theme_rule is None:
        return t(lang, "settings.theme_unset")
    return t(lang, "settings.theme_set", rule=view.theme_rule.describe(lang))


def _how_often(lang: Lang, e: Effective) -> str:
    if e.ob.period is Period.ONCE:
        return t(lang, "settings.once", day=e.due_on.isoformat() if e.due_on else "-")
    if e.ob.coverage:
        return t(lang, "settings.coverage")
    return t(lang, names.PER_PERIOD[e.ob.period.value], n=e.ob.min_count)


def main_view(lang: Lang, view: BranchView) -> tuple[str, Rows]:
    lines = [t(lang, "settings.title", org=esc(view.org_name)), t(lang, "settings.hint"), ""]
    for e in view.obligations:
        if e.enabled:
            lines.append(f"✅ {esc(e.ob.name(lang))} · {_how_often(lang, e)}")
        else:
            lines.append(
                f"➖ {esc(e.ob.name(lang))} · {t(lang, 'settings.off_because', reason=esc(e.reason or ''))}"
            )
    lines += [
        "",
        _rule_text(lang, view),
        t(lang, names.CHECKIN_MODE[view.checkin_mode]),
        reminders_line(lang, view.reminders),
    ]
    buttons = [
        (e.ob.name(lang)[:24], SettingsObligation(view.org_id, e.ob.code)) for e in view.obligations
    ]
    rows = rows_of(buttons, 2)
    rows.append([(t(lang, "settings.theme_button"), SettingsThemeDay(view.org_id))])
    rows.append([(t(lang, "settings.checkin_toggle"), SettingsCheckinMode(view.org_id))])
    rows.append([(t(lang, "settings.reminders_button"), SettingsReminders(view.org_id))])
    rows.append([(t(lang, "brief.mine_button"), BriefShow())])
    return "\n".join(lines), rows


def _hm(value: object) -> str:
    return f"{value:%H:%M}"


def _offsets(lang: Lang, offsets: tuple[int, ...]) -> str:
    sep = "、" if lang == "zh" else ", "
    return t(lang, "settings.offsets", days=sep.join(str(k) for k in offsets))


def reminders_line(lang: Lang, p: ReminderPolicy) -> str:
    """The branch's reminder settings in one line."""
    return t(
        lang,
        "settings.reminders_now",
        at=_hm(p.at),
        offsets=_offsets(lang, p.offsets),
        quiet=f"{_hm(p.quiet_start)}–{_hm(p.quiet_end)}",
    )


def reminders_view(lang: Lang, view: BranchView) -> tuple[str, Rows]:
    """The reminder time, the offsets and the quiet hours: the current one marked."""
    p, org = view.reminders, view.org_id
    mark = "☑️ "

    def marked(label: str, on: bool) -> str:
        return (mark if on else "") + label

    rows: Rows = rows_of(
        [
            (marked(x, x == _hm(p.at)), SettingsRemindAt(org, x.replace(":", "")))
            for x in REMINDER_TIMES
        ],
        3,
    )
    rows += rows_of(
        [
            (
                marked(_offsets(lang, o), o == p.offsets),
                SettingsRemindOffsets(org, "-".join(map(str, o))),
            )
            for o in OFFSET_CHOICES
        ],
        2,
    )
    quiet = (_hm(p.quiet_start), _hm(p.quiet_end))
    rows += rows_of(
        [
            (
                marked(f"🌙 {a}–{b}", (a, b) == quiet),
                SettingsQuiet(org, f"{a}-{b}".replace(":", "")),
            )
            for a, b in QUIET_CHOICES
        ],
        2,
    )
    rows.append([(t(lang, "settings.back"), SettingsMain(org))])
    text = t(lang, "settings.reminders_title", org=esc(view.org_name), now=reminders_line(lang, p))
    return text, rows


Choice = tuple[str | None, tuple[int, ...] | None, tuple[str, str] | None]


def _chosen(button: SettingsRemindAt | SettingsRemindOffsets | SettingsQuiet) -> Choice | None:
    """What a reminder button chooses (time, offsets, quiet hours); None if not a choice."""

    def hm(text: str) -> str:
        return f"{text[:2]}:{text[2:]}"

    if isinstance(button, SettingsRemindAt):
        return (hm(button.hhmm), None, None) if hm(button.hhmm) in REMINDER_TIMES else None
    if isinstance(button, SettingsRemindOffsets):
        parts = button.offsets.split("-")
        found = tuple(int(x) for x in parts if x.isdigit() and len(x) <= 2)
        ok = found in OFFSET_CHOICES and len(found) == len(parts)
        return (None, found, None) if ok else None
    start, _, end = button.span.partition("-")
    quiet = (hm(start), hm(end))
    return (None, None, quiet) if quiet in QUIET_CHOICES else None


def detail_view(lang: Lang, view: BranchView, e: Effective) -> tuple[str, Rows]:
    state = (
        t(lang, "settings.on")
        if e.enabled
        else t(lang, "settings.off_because", reason=esc(e.reason or ""))
    )
    text = t(
        lang,
        "settings.detail",
        name=esc(e.ob.name(lang)),
        source=esc(e.ob.source(lang)),
        often=_how_often(lang, e),
        state=state,
    )
    rows: Rows = []
    if not e.custom:
        if e.enabled:
            rows.append([(t(lang, "settings.turn_off"), SettingsTurnOff(view.org_id, e.ob.code))])
        else:
            rows.append([(t(lang, "settings.turn_on"), SettingsTurnOn(view.org_id, e.ob.code))])
    rows.append([(t(lang, "settings.back"), SettingsMain(view.org_id))])
    return text, rows


async def _load(context: ContextTypes.DEFAULT_TYPE, org_id: int) -> BranchView:
    d = deps(context)
    return await view_of(d.db, org_id, now=d.clock.now())


def personal(args: list[str], actor: Actor) -> bool:
    """``/settings me``, or anyone with no branch to manage: one's own briefing."""
    if args:
        return args[0].lower() in ("me", "我")
    return not (actor.is_manager or actor.is_admin)


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    if personal(context.args or [], actor):
        flow.end(context, actor.telegram_id)
        await briefing.show(update, context, actor)  # refuses an account with no role
        return
    org = await target_branch(update, context, actor, "settings")
    if org is None:
        return
    flow.end(context, actor.telegram_id)
    text, rows = main_view(actor.lang, await _load(context, org.id))
    await reply(update, text, keyboard(rows))


SETTINGS_BUTTONS = (
    SettingsObligation,
    SettingsTurnOff,
    SettingsTurnOn,
    SettingsMain,
    SettingsThemeDay,
    SettingsThemeDayClear,
    SettingsCheckinMode,
    SettingsReminders,
    SettingsRemindAt,
    SettingsRemindOffsets,
    SettingsQuiet,
)


async def _reminders_action(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, org: OrgInfo, button: Button
) -> None:
    """The reminder settings: shown, or one of them chosen (then shown again)."""
    lang = actor.lang
    if isinstance(button, SettingsRemindAt | SettingsRemindOffsets | SettingsQuiet):
        chosen = _chosen(button)
        if chosen is None:
            await bad_button(update, context, actor)
            return
        at, offsets, quiet = chosen
        d = deps(context)
        now = d.clock.now()
        await set_reminders(d.db, actor, org.id, at=at, offsets=offsets, quiet=quiet, now=now)
        await toast(update, t(lang, "settings.reminders_saved"))
        await _show(update, reminders_view(lang, await _load(context, org.id)))
        return
    await toast(update)
    await _show(update, reminders_view(lang, await _load(context, org.id)))


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if not isinstance(button, SETTINGS_BUTTONS):
        await bad_button(update, context, actor)
        return
    org = await button_branch(update, context, actor, button.org_id, f"settings.{button.action}")
    if org is None:
        return
    if isinstance(
        button, SettingsReminders | SettingsRemindAt | SettingsRemindOffsets | SettingsQuiet
    ):
        await _reminders_action(update, context, actor, org, button)
        return
    view = await _load(context, org.id)
    lang = actor.lang
    if isinstance(button, SettingsObligation | SettingsTurnOff | SettingsTurnOn):
        found = next((e for e in view.obligations if e.ob.code == button.code), None)
        if found is None:
            await bad_button(update, context, actor)
            return
        await _obligation_action(update, context, actor, org, view, found, button.action)
    elif isinstance(button, SettingsMain):
        await toast(update)
        await _show(update, main_view(lang, view))
    elif isinstance(button, SettingsCheckinMode):
        d = deps(context)
        mode = await toggle_checkin_mode(d.db, actor, org.id, now=d.clock.now())
        await toast(update, t(lang, names.CHECKIN_MODE[mode]))
        await _show(update, main_view(lang, await _load(context, org.id)))
    else:
        await _theme_action(update, context, actor, org, view, button)


async def _theme_action(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    org: OrgInfo,
    view: BranchView,
    button: Button,
) -> None:
    """主题党日: ask for its fixed day, or clear it."""
    lang = actor.lang
    if isinstance(button, SettingsThemeDay):
        await toast(update)
        SETTINGS.start(context, actor.telegram_id, SettingsDraft(org.id), "theme_rule")
        rows: Rows = [
            [(t(lang, "settings.theme_clear"), SettingsThemeDayClear(org.id))],
            [(t(lang, "settings.back"), SettingsMain(org.id))],
        ]
        await edit_or_send(
            update, t(lang, "settings.theme_ask", current=_rule_text(lang, view)), keyboard(rows)
        )
        return
    SETTINGS.finish(context, actor.telegram_id)  # tdx: no fixed day any more
    await _save_rule(context, actor, org, None)
    await toast(update, t(lang, "settings.theme_cleared"))
    await _show(update, main_view(lang, await _load(context, org.id)))


async def _show(update: Update, view: tuple[str, Rows]) -> None:
    """Show a settings view in place of the message the button sits on."""
    await edit_or_send(update, view[0], keyboard(view[1]))


async def _obligation_action(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    actor: Actor,
    org: OrgInfo,
    view: BranchView,
    e: Effective,
    action: str,
) -> None:
    lang = actor.lang
    if action == "o":
        await toast(update)
        await _show(update, detail_view(lang, view, e))
    elif action == "off" and e.enabled and not e.custom:
        await toast(update)
        SETTINGS.start(context, actor.telegram_id, SettingsDraft(org.id, e.ob.code), "reason")
        await edit_or_send(
            update,
            t(
                lang,
                "settings.reason_ask",
                name=esc(e.ob.name(lang)),
                min=MIN_REASON,
                max=MAX_REASON,
            ),
        )
    elif action == "on" and not e.enabled:
        d = deps(context)
        await switch(d.db, actor, org.id, e.ob.code, enabled=True, reason=None, now=d.clock.now())
        await toast(update, t(lang, "settings.turned_on", name=e.ob.name(lang)))
        fresh = await _load(context, org.id)
        current = next(x for x in fresh.obligations if x.ob.code == e.ob.code)
        await _show(update, detail_view(lang, fresh, current))
    else:  # the button no longer applies (already on, already off)
        await toast(update, t(lang, "settings.stale"), alert=True)
        await _show(update, detail_view(lang, view, e))


async def _save_rule(
    context: ContextTypes.DEFAULT_TYPE, actor: Actor, org: OrgInfo, rule: DayRule | None
) -> None:
    d = deps(context)
    await choose_theme_rule(d.db, actor, org.id, rule, now=d.clock.now())


@dataclass
class SettingsDraft:
    org_id: int  # the branch whose settings are changed
    code: str | None = None  # the obligation being switched off


async def _typed_for(
    update: Update, context: ContextTypes.DEFAULT_TYPE, draft: SettingsDraft, step: str
) -> tuple[Actor, OrgInfo] | None:
    """Who typed, and the branch, if they still manage it (else the conversation ends)."""
    actor = await actor_of(update, context)
    org = await button_branch(update, context, actor, draft.org_id, f"settings.{step}")
    if org is None:
        SETTINGS.finish(context, actor.telegram_id)
        return None
    return actor, org


async def theme_rule_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, draft: SettingsDraft
) -> None:
    """The day rule of the 主题党日, typed."""
    found = await _typed_for(update, context, draft, "theme_rule")
    if found is None:
        return
    actor, org = found
    text = typed(update)
    rule = parse_day_rule(text)
    if rule is None:
        await reply(update, t(actor.lang, "settings.theme_bad", value=esc(text[:50])))
        return
    await _save_rule(context, actor, org, rule)
    await _done(
        update,
        context,
        actor,
        org,
        t(actor.lang, "settings.theme_saved", rule=rule.describe(actor.lang)),
    )


async def reason_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, draft: SettingsDraft
) -> None:
    """Why an obligation is switched off, typed: then it is."""
    found = await _typed_for(update, context, draft, "reason")
    if found is None or draft.code is None:
        return
    actor, org = found
    try:
        d = deps(context)
        await switch(
            d.db, actor, org.id, draft.code, enabled=False, reason=typed(update), now=d.clock.now()
        )
    except ObligationError as exc:
        await declined(update, actor.lang, exc)
        return
    view = await _load(context, org.id)
    name = esc(view.name(draft.code, actor.lang))
    await _done(update, context, actor, org, t(actor.lang, "settings.turned_off", name=name))


async def _done(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, org: OrgInfo, said: str
) -> None:
    SETTINGS.finish(context, actor.telegram_id)
    await reply(update, said)
    text_out, rows = main_view(actor.lang, await _load(context, org.id))
    await reply(update, text_out, keyboard(rows))


SETTINGS = Flow("settings", SettingsDraft, {"theme_rule": theme_rule_text, "reason": reason_text})

HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    CommandHandler("settings", settings_command),
    CallbackQueryHandler(settings_button, pattern=family("set")),
]
