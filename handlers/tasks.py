"""/tasks: what I still have to do — meetings to answer, 补学 owed, my thought reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.delivery import meeting_texts
from bot.i18n import names
from bot.i18n.texts import fmt_date, fmt_moment, period_label, t
from bot.rules.buttons import AskSubmit, ReportEdit, ReportWithdraw, Rows
from bot.rules.calendar import Status
from bot.services.access import Actor
from bot.services.obligations import obligation_name
from bot.services.todo import Todo, of_member
from handlers.kit.common import actor_of, deps, ensure_private, esc, keyboard, reply


def task_lines(actor: Actor, todo: Todo, *, now: datetime, tz: str) -> tuple[list[str], Rows]:
    """The lines of /tasks and the buttons for the meetings to answer."""
    assert actor.member is not None
    lang = actor.lang
    mine, view = todo.meetings, todo.view
    lines: list[str] = []
    rows: Rows = []
    for m in mine.to_answer:
        name = obligation_name(m.obligation, lang)
        lines.append(
            t(lang, "tasks.meeting", name=esc(name), when=fmt_moment(lang, m.starts_at, tz))
        )
        rows += meeting_texts.card_buttons(lang, m.id)
    for m, due in mine.makeup:
        name = obligation_name(m.obligation, lang)
        lines.append(
            t(
                lang,
                "tasks.makeup",
                name=esc(name),
                when=fmt_moment(lang, m.starts_at, tz),
                due=fmt_date(lang, due),
            )
        )
    keys = {actor.member.member_code, actor.member.name}
    occurrences = view.occurrences if view is not None else []
    today = view.today if view is not None else None
    for occ in occurrences:
        due_now = today is not None and occ.start <= today
        if occ.member in keys and due_now and occ.status in (Status.OPEN, Status.OVERDUE):
            lines.append(
                t(
                    lang,
                    "tasks.thought_report",
                    period=period_label(lang, occ.start, occ.end),
                    due=fmt_date(lang, occ.last_workday),
                )
            )
    for c in todo.asked:
        kind = t(lang, names.REPORT_KIND[c.kind])
        key = "tasks.collection_late" if c.deadline < now else "tasks.collection"
        lines.append(
            t(
                lang,
                key,
                kind=kind,
                prompt=esc(c.prompt[:40]),
                deadline=fmt_moment(lang, c.deadline, tz),
            )
        )
        rows.append([(f"{t(lang, 'ask.submit')} · {kind}", AskSubmit(c.id))])
    for r in todo.recent:
        kind = t(lang, names.REPORT_KIND[r.kind])
        lines.append(t(lang, "tasks.recent", kind=kind, when=fmt_moment(lang, r.filed_at, tz)))
        rows.append(
            [
                (f"{t(lang, 'tasks.edit')} · {kind}", ReportEdit(r.id)),
                (t(lang, "tasks.withdraw"), ReportWithdraw(r.id)),
            ]
        )
    return lines, rows


async def tasks_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    if actor.member is None or actor.branch is None:
        await reply(update, t(actor.lang, "calendar.unlinked"))
        return
    d = deps(context)
    now = d.clock.now()
    todo = await of_member(d.db, actor, now=now)
    lines, rows = task_lines(actor, todo, now=now, tz=d.settings.timezone)
    text = "\n".join([t(actor.lang, "tasks.title"), *(lines or [t(actor.lang, "home.no_tasks")])])
    await reply(update, text, keyboard(rows) if rows else None)


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    CommandHandler("tasks", tasks_command),
]
