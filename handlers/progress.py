"""/status, /overview, /assess, /export and /ics (SPEC §8, §9): progress as text and charts,
the assessment, and the files an inspector or a phone calendar takes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram import InlineKeyboardMarkup, InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.exports import charts, ics, ledger
from bot.exports.tables import part_values
from bot.i18n import names
from bot.i18n.texts import Lang, fmt_date, grade_name, t
from bot.rules.buttons import AssessPage, Button, OverviewPage, family, pager
from bot.rules.calendar import Status
from bot.services.access import Actor, Declined, NotAllowed
from bot.services.assessment import GRADES, Result, assessed_for, quarter_of
from bot.services.collections import Progress
from bot.services.obligations import obligation_name
from bot.services.progress import STATE_OF, BranchStatus, overview_for, status_of
from bot.services.progress import Line as StatusLine
from handlers.branch import offer_branches, target_branch
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
    with_board,
)

log = logging.getLogger("zhibu.progress")
PAGE = 25
MARKS = {
    Status.DONE: "✅",
    Status.OPEN: "⏳",
    Status.OVERDUE: "⚠️",
    Status.MISSED: "❌",
    Status.NOT_APPLICABLE: "➖",
    Status.NOT_TRACKED: "▫️",
}
HEATMAP_ROWS = 60


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


# ---------------------------------------------------------------- /status


async def status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    info = await target_branch(update, context, actor, "status")
    if info is None:
        return
    d = deps(context)
    lang = actor.lang
    view = await status_of(d.db, actor, info.id, now=d.clock.now())
    lines = [t(lang, "status.title", branch=esc(view.name), day=fmt_date(lang, view.today))]
    lines += [_status_line(lang, view, line) for line in view.lines]
    if view.attendance is None:
        lines.append(t(lang, "status.no_meetings"))
    else:
        rate = _percent(view.attendance)
        lines.append(t(lang, "status.attendance", n=view.meetings_held, rate=rate))
    lines += [_collection_line(lang, p) for p in view.collections]
    await reply(
        update, "\n".join(lines), with_board(update, context, lang, None, "branch", info.code)
    )
    if view.lines and update.effective_chat is not None:
        chart, caption = status_chart(lang, view)
        await update.effective_chat.send_photo(
            InputFile(chart.png, filename="status.png"), caption=caption
        )


def chart_legend(lang: Lang) -> dict[str, str]:
    return {state: t(lang, names.CHART_STATE[state]) for state in charts.STATES}


def status_chart(lang: Lang, view: BranchStatus) -> tuple[charts.Chart, str]:
    """/status's bars: each line coloured by its state with its count and last workday,
    and a caption saying what to do next."""
    notes = [
        t(
            lang,
            "chart.note",
            count=x.count,
            required=x.required,
            day=fmt_date(lang, x.last_workday),
        )
        for x in view.lines
    ]
    chart = charts.bars(
        t(lang, "status.chart_title", branch=view.name, year=view.today.year),
        [_owned_name(lang, view, line) for line in view.lines],
        [line.share for line in view.lines],
        notes,
        [STATE_OF.get(line.status, "open") for line in view.lines],
        chart_legend(lang),
        t(lang, "chart.required"),
    )
    todo = [x for x in view.lines if x.status in (Status.OPEN, Status.OVERDUE)]
    todo.sort(key=lambda x: (x.status is not Status.OVERDUE, x.last_workday))
    if not todo:
        return chart, t(lang, "chart.next_none")
    first = todo[0]
    key = "chart.next_overdue" if first.status is Status.OVERDUE else "chart.next_open"
    name, day = _owned_name(lang, view, first), fmt_date(lang, first.last_workday)
    return chart, t(lang, key, name=esc(name), day=day, more=len(todo) - 1)


def _owned_name(lang: Lang, view: BranchStatus, line: StatusLine) -> str:
    """The obligation's name, with the 党小组 (or member) it is owed by when not the branch."""
    owner = "" if line.owner in ("", view.code) else f" · {line.owner}"
    return obligation_name(line.obligation, lang) + owner


def _status_line(lang: Lang, view: BranchStatus, line: StatusLine) -> str:
    key = "status.members_line" if line.owner == "" else "status.line"
    text = t(
        lang,
        key,
        mark=MARKS[line.status],
        name=esc(_owned_name(lang, view, line)),
        count=line.count,
        required=line.required,
        due=fmt_date(lang, line.last_workday),
    )
    return text + (t(lang, "status.to_file") if line.to_file else "")


def _collection_line(lang: Lang, p: Progress) -> str:
    return t(
        lang,
        "status.collection",
        kind=t(lang, names.REPORT_KIND[p.kind]),
        prompt=esc(p.prompt[:30]),
        done=len(p.on_time) + len(p.late),
        total=p.total,
    )


# ---------------------------------------------------------------- /overview and /assess


def _pager(
    lang: Lang, page: int, pages: int, turn_to: Callable[[int], Button]
) -> InlineKeyboardMarkup | None:
    label = t(lang, "common.page", page=page + 1, pages=pages)
    row = pager(page, pages, turn_to, label=label)
    return keyboard([row]) if row else None


def _page(lines: list[str], page: int) -> tuple[list[str], int, int]:
    pages = max(1, -(-len(lines) // PAGE))
    page = min(max(page, 0), pages - 1)
    return lines[page * PAGE : (page + 1) * PAGE], page, pages


async def overview_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    await _overview(update, context, actor, 0, with_chart=True)


async def _overview(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, page: int, *, with_chart: bool
) -> None:
    d = deps(context)
    lang = actor.lang
    try:
        view = await overview_for(d.db, actor, now=d.clock.now())
    except NotAllowed as exc:
        await refuse(update, context, actor, action="overview", key=exc.key)
        return
    await toast(update)  # a page button pressed: answered
    if not view.rows:
        await reply(update, t(lang, "overview.none"))
        return
    quarter = t(lang, "overview.quarter", year=view.today.year, q=quarter_of(view.today))
    shown, page, pages = _page([_overview_line(lang, r, y) for r, y, _ in view.rows], page)
    text = "\n".join([t(lang, "overview.title", count=len(view.rows), quarter=quarter), *shown])
    markup = _pager(lang, page, pages, OverviewPage)
    if update.callback_query is not None:
        await edit_or_send(update, text, markup)
        return
    await reply(update, text, with_board(update, context, lang, markup, "committee"))
    if with_chart and update.effective_chat is not None:
        rows = view.rows[:HEATMAP_ROWS]
        chart = charts.heatmap(
            t(lang, "overview.chart_title", quarter=quarter, day=fmt_date(lang, view.today)),
            [r.name for r, _, _ in rows],
            [obligation_name(c, lang) for c in view.codes],
            [[(c.share, c.state) if c else None for c in cells] for _, _, cells in rows],
            chart_legend(lang),
        )
        late = sum(1 for _, _, cells in view.rows if any(c and c.state == "overdue" for c in cells))
        caption = (
            t(lang, "overview.chart_next", n=late) if late else t(lang, "overview.chart_none_late")
        )
        await update.effective_chat.send_photo(
            InputFile(chart.png, filename="overview.png"), caption=caption
        )


def _overview_line(lang: Lang, quarter: Result, year: Result | None) -> str:
    """One branch: its rank and score this quarter, and its score for the year so far."""
    year_score = f"{year.score:.1f}" if year is not None and year.score is not None else "—"
    if quarter.score is None:
        return t(lang, "overview.line_not_judged", name=esc(quarter.name), year=year_score)
    return t(
        lang,
        "overview.line",
        rank=quarter.rank,
        name=esc(quarter.name),
        score=f"{quarter.score:.1f}",
        year=year_score,
    )


def _year_arg(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None
    return value if value is not None and 2000 <= value <= 2100 else None


async def assess_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    d = deps(context)
    today = d.today()
    year = _year_arg(context.args[0] if context.args else None, today.year)
    if year is None:
        await reply(update, t(actor.lang, "assess.bad_year"))
        return
    await _assess(update, context, actor, year, 0)


async def _assess(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, year: int, page: int
) -> None:
    d = deps(context)
    lang = actor.lang
    try:
        results = await assessed_for(d.db, actor, year, now=d.clock.now())
    except NotAllowed as exc:
        await refuse(update, context, actor, action="assess", key=exc.key)
        return
    await toast(update)  # a page button pressed: answered
    if not results:
        await reply(update, t(lang, "overview.none"))
        return
    text, markup = assessment_page(lang, year, results, page)
    if update.callback_query is not None:
        await edit_or_send(update, text, markup)
    else:
        await reply(update, text, markup)


def assessment_page(
    lang: Lang, year: int, results: list[Result], page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    counts = {g: sum(1 for r in results if r.grade == g) for g in GRADES}
    body = [_assessed(lang, r) for r in results]
    shown, page, pages = _page(body, page)
    interviews = "、".join(esc(r.name) for r in results if r.interview) or "—"
    text = "\n".join(
        [
            t(
                lang,
                "assess.title",
                year=year,
                count=len(results),
                a=counts["优秀"],
                b=counts["良好"],
                c=counts["一般"],
                d=counts["较差"],
            )
            + _not_judged_count(lang, results),
            *shown,
            t(lang, "assess.interviews", names=interviews),
        ]
    )
    return text, _pager(lang, page, pages, lambda p: AssessPage(year, p))


def _assessed(lang: Lang, r: Result) -> str:
    """A branch's rank, score and grade with its four parts (points/maximum) below; one not
    judged yet says since when it is tracked."""
    if r.score is None:
        since = fmt_date(lang, r.tracking_since) if r.tracking_since else "—"
        return t(lang, "assess.not_judged_line", name=esc(r.name), since=since)
    head = t(
        lang,
        "assess.line",
        rank=r.rank,
        name=esc(r.name),
        score=f"{r.score:.1f}",
        grade=grade_name(lang, r.grade),
        mark=t(lang, "assess.interview_mark") if r.interview else "",
    )
    o, a, rec, c = part_values(lang, r.parts)
    return (
        head
        + "\n"
        + t(lang, "assess.parts", obligations=o, attendance=a, records=rec, collections=c)
    )


def _not_judged_count(lang: Lang, results: list[Result]) -> str:
    n = sum(1 for r in results if not r.judged)
    return t(lang, "assess.not_judged_count", n=n) if n else ""


async def page_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    match pressed(update):  # the services say whether the presser may see it
        case OverviewPage(page=page):
            await _overview(update, context, actor, page, with_chart=False)
        case AssessPage(year=year, page=page) if _year_arg(str(year), 0):
            await _assess(update, context, actor, year, page)
        case _:
            await bad_button(update, context, actor)


# ---------------------------------------------------------------- files


async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export [YEAR] [CODE]: a manager's own branch, or any org an admin administers."""
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    d = deps(context)
    lang = actor.lang
    today = d.today()
    args = list(context.args or [])
    year_text = next((a for a in args if a.isdigit()), None)
    codes = [a for a in args if not a.isdigit()]
    year = _year_arg(year_text, today.year)
    if year is None or len(codes) > 1 or len(args) > 2:
        await reply(update, t(lang, "export.usage"))
        return
    if not codes and actor.is_admin and not actor.is_manager:  # which branch: buttons
        return await offer_branches(update, context, actor, "export")
    try:
        code = codes[0][:120] if codes else None
        info, data = await ledger.workbook_for(d.db, actor, code, year, now=d.clock.now())
    except NotAllowed as exc:
        await refuse(update, context, actor, action="export", key=exc.key, org_id=exc.org_id)
        return
    except Declined as exc:
        await declined(update, lang, exc)
        return
    except OSError as exc:
        log.error("export of %s for %s failed: %s", code or "the own branch", year, exc)
        await reply(
            update, t(lang, "export.failed", reason=esc(exc.strerror or type(exc).__name__))
        )
        return
    message = update.effective_message
    assert message is not None
    await message.reply_document(
        InputFile(data, filename=f"台账-{info.code}-{year}.xlsx"),
        caption=t(lang, "export.caption", org=esc(info.name), year=year),
    )


async def ics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    d = deps(context)
    try:
        branch, data = await ics.of_member(d.db, actor, now=d.clock.now())
    except Declined as exc:
        await declined(update, actor.lang, exc)
        return
    message = update.effective_message
    assert message is not None
    await message.reply_document(
        InputFile(data, filename=f"zhibu-{branch.code}.ics"),
        caption=t(actor.lang, "ics.caption", org=esc(branch.name)),
    )


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    CommandHandler("status", status_command),
    CommandHandler("overview", overview_command),
    CommandHandler("assess", assess_command),
    CommandHandler("export", export_command),
    CommandHandler("ics", ics_command),
    CallbackQueryHandler(page_button, pattern=family("pg")),
]
