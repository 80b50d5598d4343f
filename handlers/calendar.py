"""/calendar and /due: what the branch owes now, and what falls due in the next 30 days."""

from __future__ import annotations

from datetime import timedelta

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, period_label, t
from bot.rules.calendar import Occurrence, Status, period_containing
from bot.rules.catalogue import Period
from bot.services.access import Actor, Declined, NotAllowed, OrgInfo
from bot.services.branches import calendar_of
from bot.services.obligations import DUE_DAYS, BranchView, due_items, sees, view_of
from handlers.branch import offer_branches, picked_or_offered
from handlers.kit.common import actor_of, declined, deps, esc, refuse, reply, with_board

ICONS = {
    Status.DONE: "✅",
    Status.OPEN: "⏳",
    Status.OVERDUE: "⚠️",
    Status.MISSED: "❌",
    Status.NOT_APPLICABLE: "➖",
    Status.NOT_TRACKED: "▫️",
}


async def _branch_for(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, action: str
) -> OrgInfo | None:
    """Whose calendar: the group's bound branch, the caller's branch, or ``CODE`` for admins."""
    chat = update.effective_chat
    in_group = chat is not None and chat.type != ChatType.PRIVATE
    code = context.args[0][:120] if context.args else None
    if not in_group and actor.is_admin and code is None and actor.branch is None:
        await offer_branches(update, context, actor, action)  # two taps to any branch
        return None
    try:
        return await calendar_of(
            deps(context).db,
            actor,
            group_chat_id=chat.id if in_group and chat is not None else None,
            code=code,
            command=action,
        )
    except Declined as exc:
        if exc.key == "invite.no_such_branch" and code is not None:  # part of a name?
            org = await picked_or_offered(update, context, actor, action, code)
            if org is not None:
                context.args = [org.code]
                return await _branch_for(update, context, actor, action)
            return None
        await declined(update, actor.lang, exc)
    except NotAllowed as exc:
        await refuse(update, context, actor, action=action, key=exc.key, org_id=exc.org_id)
    return None


def _line(lang: Lang, view: BranchView, occ: Occurrence, *, with_period: bool = False) -> str:
    name = esc(view.name(occ.obligation, lang))
    if occ.member is not None:
        name += f" · {esc(view.member_names.get(occ.member, occ.member))}"
    elif occ.org != view.org_code:
        name += f" · {esc(view.group_names.get(occ.org, occ.org))}"
    if with_period:
        name += (
            f"（{period_label(lang, occ.start, occ.end)}）"
            if lang == "zh"
            else f" ({period_label(lang, occ.start, occ.end)})"
        )
    if occ.status in (Status.NOT_APPLICABLE, Status.NOT_TRACKED):  # greyed: nothing owed
        return f"{ICONS[occ.status]} {name} · {t(lang, names.STATUS[occ.status.value])}"
    parts = [f"{ICONS[occ.status]} {name} {occ.count}/{occ.required}"]
    if occ.planned_on and occ.status is not Status.DONE:
        parts.append(t(lang, "calendar.planned", day=fmt_date(lang, occ.planned_on)))
    parts.append(t(lang, "calendar.last_workday", day=fmt_date(lang, occ.last_workday)))
    if occ.to_file is not None:
        parts.append(t(lang, "calendar.to_file", day=fmt_date(lang, occ.to_file)))
    if occ.status in (Status.OVERDUE, Status.MISSED):
        parts.append(t(lang, names.STATUS[occ.status.value]))
    if occ.late:
        parts.append(t(lang, "calendar.late", n=occ.late))
    return " · ".join(parts)


def calendar_text(lang: Lang, view: BranchView, actor: Actor) -> str:
    today = view.today
    current = [o for o in view.occurrences if o.start <= today <= o.end and sees(view, actor, o)]
    lines = [t(lang, "calendar.title", org=esc(view.org_name), today=fmt_date(lang, today))]
    # by the length of the period: a month, a quarter, a half-year, a year (or a one-off)
    sections = (
        (Period.MONTH, 0, 31),
        (Period.QUARTER, 31, 92),
        (Period.HALF, 92, 184),
        (Period.YEAR, 184, 10**6),
    )
    for period, shorter, longest in sections:
        chosen = [o for o in current if shorter < (o.end - o.start).days + 1 <= longest]
        if not chosen:
            continue
        start, end = period_containing(period, today)
        lines.append("")
        lines.append(
            f"<b>{t(lang, names.PERIOD_HEADING[period.value])} · {period_label(lang, start, end)}</b>"
        )
        lines += _compact(lang, view, chosen, actor)
    if len(lines) == 1:
        lines.append(t(lang, "calendar.nothing"))
    lines.append("")
    lines.append(t(lang, "calendar.legend"))
    return "\n".join(lines)


def _compact(lang: Lang, view: BranchView, occs: list[Occurrence], actor: Actor) -> list[str]:
    """One line each, except many members' thought reports, which a manager sees as a count."""
    personal = [o for o in occs if o.member is not None]
    others = [_line(lang, view, o) for o in occs if o.member is None]
    if personal and (actor.is_manager or actor.is_admin) and len(personal) > 3:
        done = sum(1 for o in personal if o.status is Status.DONE)
        name = esc(view.name(personal[0].obligation, lang))
        others.append(t(lang, "calendar.members_done", name=name, done=done, total=len(personal),
                        day=fmt_date(lang, personal[0].last_workday)))  # fmt: skip
    else:
        others += [_line(lang, view, o) for o in personal]
    return others


def upcoming_lines(lang: Lang, view: BranchView, actor: Actor, limit: int = 3) -> list[str]:
    """The next few deadlines, for the home screen."""
    return [_line(lang, view, o, with_period=True) for o in due_items(view, actor)[:limit]]


def due_text(lang: Lang, view: BranchView, actor: Actor) -> str:
    due = due_items(view, actor)
    lines = [t(lang, "due.title", org=esc(view.org_name), days=DUE_DAYS)]
    if not due:
        lines.append(t(lang, "due.nothing"))
    lines += [_line(lang, view, o, with_period=True) for o in due[:60]]
    if len(due) > 60:
        lines.append(t(lang, "due.more", n=len(due) - 60))
    return "\n".join(lines)


async def _view(
    context: ContextTypes.DEFAULT_TYPE, org: OrgInfo, years: tuple[int, ...] = ()
) -> BranchView:
    d = deps(context)
    return await view_of(d.db, org.id, now=d.clock.now(), years=years)


async def calendar_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    org = await _branch_for(update, context, actor, "calendar")
    if org is not None:
        text = calendar_text(actor.lang, await _view(context, org), actor)
        await reply(update, text, with_board(update, context, actor.lang, None, "branch", org.code))


async def due_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    org = await _branch_for(update, context, actor, "due")
    if org is None:
        return
    d = deps(context)
    today = d.today()
    years = tuple(sorted({today.year - 1, today.year, (today + timedelta(days=DUE_DAYS + 1)).year}))
    await reply(update, due_text(actor.lang, await _view(context, org, years), actor))


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    CommandHandler("calendar", calendar_command),
    CommandHandler("due", due_command),
]
