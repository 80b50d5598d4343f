"""/tasks: what I still have to do — meetings to answer, 补学 owed, my thought reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot.delivery import meeting_texts
from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, fmt_moment, period_label, t
from bot.rules.buttons import (
    AskSubmit,
    InvitePage,
    JoinApprove,
    JoinReject,
    ProxyPage,
    RecordMeeting,
    ReportEdit,
    ReportWithdraw,
    Row,
    Rows,
)
from bot.rules.calendar import Status
from bot.services.access import Actor
from bot.services.collections import Open
from bot.services.linking import PendingJoin
from bot.services.obligations import obligation_name
from bot.services.todo import RecordToFile, Todo, of_member
from handlers.kit.common import actor_of, deps, ensure_private, esc, keyboard, reply


def task_lines(actor: Actor, todo: Todo, *, now: datetime, tz: str) -> tuple[list[str], Rows]:
    """The lines of /tasks and the buttons for what can be done from there."""
    assert actor.member is not None
    lines, rows = _meeting_lines(actor.lang, todo, tz)
    lines += _report_lines(actor, todo)
    for due in todo.to_record:
        line, row = _to_record(actor.lang, due, tz)
        lines.append(line)
        rows.append(row)
    for c in todo.asked:
        line, row = _asked(actor.lang, c, now=now, tz=tz)
        lines.append(line)
        rows.append(row)
    lang = actor.lang
    for join in todo.joins:
        line, join_rows = _join(lang, join)
        lines.append(line)
        rows += join_rows
    if todo.unlinked and actor.branch is not None:
        lines.append(t(lang, "tasks.unlinked", n=todo.unlinked))
        rows.append([(t(lang, "tasks.invite"), InvitePage(actor.branch.id, 0))])
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


def _meeting_lines(lang: Lang, todo: Todo, tz: str) -> tuple[list[str], Rows]:
    """Meetings to answer (with 签到/请假) and the 补学 owed for the ones missed."""
    lines: list[str] = []
    rows: Rows = []
    for m in todo.meetings.to_answer:
        when = fmt_moment(lang, m.starts_at, tz)
        name = esc(obligation_name(m.obligation, lang))
        lines.append(t(lang, "tasks.meeting", name=name, when=when))
        rows += meeting_texts.card_buttons(lang, m.id)
    for m, due in todo.meetings.makeup:
        when, day = fmt_moment(lang, m.starts_at, tz), fmt_date(lang, due)
        name = esc(obligation_name(m.obligation, lang))
        lines.append(t(lang, "tasks.makeup", name=name, when=when, due=day))
    return lines, rows


def _report_lines(actor: Actor, todo: Todo) -> list[str]:
    """The member's own thought reports due now."""
    assert actor.member is not None
    view = todo.view
    if view is None:
        return []
    keys = {actor.member.member_code, actor.member.name}
    return [
        t(
            actor.lang,
            "tasks.thought_report",
            period=period_label(actor.lang, occ.start, occ.end),
            due=fmt_date(actor.lang, occ.last_workday),
        )
        for occ in view.occurrences
        if occ.member in keys
        and occ.start <= view.today
        and occ.status in (Status.OPEN, Status.OVERDUE)
    ]


def _to_record(lang: Lang, r: RecordToFile, tz: str) -> tuple[str, Row]:
    """A meeting record a manager still has to file, with 提交记录 (and 补签 once over)."""
    name = esc(obligation_name(r.held.obligation, lang))
    when = fmt_moment(lang, r.held.starts_at, tz)
    key = "tasks.record_makeup" if r.makeup else "tasks.record"
    line = t(lang, key, name=name, when=when, due=fmt_date(lang, r.due))
    row: Row = [(t(lang, "tasks.file_record"), RecordMeeting(r.held.id))]
    if r.makeup:
        row.append((t(lang, "tasks.makeup_button"), ProxyPage(r.held.id, 0)))
    return line, row


def _join(lang: Lang, join: PendingJoin) -> tuple[str, Rows]:
    """A request to join the branch, with 批准 as each member of that name, and 拒绝."""
    line = t(lang, "tasks.join", name=esc(join.typed_name), account=esc(join.account))
    rows: Rows = [
        [
            (
                t(lang, "join.approve_as", name=m.name, code=m.member_code or "-"),
                JoinApprove(join.request_id, m.id),
            )
        ]
        for m in join.matches[:3]
    ]
    rows.append([(t(lang, "join.reject"), JoinReject(join.request_id))])
    return line, rows


def _asked(lang: Lang, c: Open, *, now: datetime, tz: str) -> tuple[str, Row]:
    """A collection waiting for the member's answer, with 提交."""
    kind = t(lang, names.REPORT_KIND[c.kind])
    key = "tasks.collection_late" if c.deadline < now else "tasks.collection"
    when = fmt_moment(lang, c.deadline, tz)
    line = t(lang, key, kind=kind, prompt=esc(c.prompt[:40]), deadline=when)
    return line, [(f"{t(lang, 'ask.submit')} · {kind}", AskSubmit(c.id))]


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
