"""/invite and /roster: personal links, QR codes, the branch join link, the member list."""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.exports.qr import qr_png
from bot.i18n.texts import Lang, role_name, t
from bot.rules.buttons import (
    InviteJoinLink,
    InvitePage,
    InviteQr,
    RosterPage,
    Rows,
    family,
    pager,
    rows_of,
)
from bot.services import invites
from bot.services.access import Actor, NotAllowed, OrgInfo
from bot.services.obligations import Reach
from handlers.branch import button_branch, target_branch
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
)

INVITE_PAGE = 8
ROSTER_PAGE = 20


def _terms(context: ContextTypes.DEFAULT_TYPE) -> invites.Terms:
    d = deps(context)
    return invites.Terms(context.bot.username, d.clock.now(), d.settings.invite_ttl_days)


async def _send_qr(update: Update, link: str, caption: str) -> None:
    await toast(update)
    chat = update.effective_chat
    assert chat is not None
    await chat.send_photo(InputFile(qr_png(link), filename="invite.png"), caption=caption)


async def _invite_page(
    context: ContextTypes.DEFAULT_TYPE, actor: Actor, org: OrgInfo, page: int
) -> tuple[str, Rows]:
    """The text and buttons of one invite page; issues fresh personal tokens for it."""
    lang = actor.lang
    found = await invites.invite_page(
        deps(context).db, actor, org.id, page, size=INVITE_PAGE, terms=_terms(context)
    )
    title = t(
        lang,
        "invite.title",
        org=esc(org.name),
        count=found.total,
        page=found.page + 1,
        pages=found.pages,
    )
    lines = [title]
    first = found.page * INVITE_PAGE + 1
    for index, (m, link) in enumerate(found.shown, start=first):
        lines.append(f"{index}. <b>{esc(m.name)}</b> · {role_name(lang, m.role)}\n{esc(link)}")
    if not found.total:
        lines.append(t(lang, "invite.all_linked"))
    else:
        lines.append(t(lang, "invite.footer", days=deps(context).settings.invite_ttl_days))
    shown = [m for m, _ in found.shown]
    rows = rows_of([(t(lang, "invite.qr", name=m.name[:20]), InviteQr(m.id)) for m in shown], 2)
    turn = pager(found.page, found.pages, lambda p: InvitePage(org.id, p))
    if turn:
        rows.append(turn)
    rows.append([(t(lang, "invite.join_link"), InviteJoinLink(org.id))])
    return "\n\n".join(lines), rows


UNREACHED_BUTTONS = 6  # invite buttons offered under a broadcast; /invite lists the rest


def unreached_note(lang: Lang, reach: Reach) -> tuple[str, Rows]:
    """Who a broadcast could not reach, named, with a button for each one's invite (QR and
    link); an empty note when it reached everyone."""
    if not reach.unreached:
        return "", []
    sep = "、" if lang == "zh" else ", "
    names = sep.join(esc(name) for _, name in reach.unreached)
    note = t(lang, "reach.unreached", count=len(reach.unreached), names=names)
    shown = reach.unreached[:UNREACHED_BUTTONS]
    rows = rows_of([(t(lang, "invite.qr", name=n[:20]), InviteQr(m)) for m, n in shown], 2)
    return note, rows


async def invite_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    org = await target_branch(update, context, actor, "invite")
    if org is None:
        return
    text, rows = await _invite_page(context, actor, org, 0)
    await reply(update, text, keyboard(rows))


async def invite_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    match pressed(update):
        case InvitePage(org_id=org_id, page=page):
            org = await button_branch(update, context, actor, org_id, "invite.page")
            if org is not None:
                await toast(update)
                text, rows = await _invite_page(context, actor, org, page)
                await edit_or_send(update, text, keyboard(rows))
        case InviteQr(member_id=member_id):
            await _send_member_qr(update, context, actor, member_id)
        case InviteJoinLink(org_id=org_id):
            org = await button_branch(update, context, actor, org_id, "invite.join_link")
            if org is not None:
                await _send_join_link(update, context, actor, org)
        case _:
            await bad_button(update, context, actor)


async def _send_member_qr(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, member_id: int
) -> None:
    try:
        member, link = await invites.member_link(
            deps(context).db, actor, member_id, terms=_terms(context)
        )
    except NotAllowed as exc:
        await refuse(update, context, actor, action="invite.qr", key=exc.key, org_id=exc.org_id)
        return
    if link is None:
        await toast(update, t(actor.lang, "invite.already_linked", name=member.name), alert=True)
        return
    days = deps(context).settings.invite_ttl_days
    caption = t(actor.lang, "invite.qr_caption", name=esc(member.name), link=esc(link), days=days)
    await _send_qr(update, link, caption)


async def _send_join_link(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, org: OrgInfo
) -> None:
    link = await invites.join_link(deps(context).db, actor, org.id, terms=_terms(context))
    days = deps(context).settings.invite_ttl_days
    caption = t(actor.lang, "invite.join_caption", org=esc(org.name), link=esc(link), days=days)
    await _send_qr(update, link, caption)


# ---------------------------------------------------------------- /roster


async def _roster_page(
    context: ContextTypes.DEFAULT_TYPE, actor: Actor, org: OrgInfo, page: int
) -> tuple[str, Rows]:
    lang = actor.lang
    lines_all = await invites.roster(deps(context).db, actor, org.id)
    active = [r for r in lines_all if r.member.active]
    pages = invites.pages_of(len(lines_all), ROSTER_PAGE)
    page = min(max(page, 0), pages - 1)
    out = [
        t(
            lang,
            "roster.title",
            org=esc(org.name),
            count=len(active),
            linked=sum(1 for r in active if r.linked),
            page=page + 1,
            pages=pages,
        )
    ]
    start = page * ROSTER_PAGE
    for index, r in enumerate(lines_all[start : start + ROSTER_PAGE], start=start + 1):
        parts = [f"<b>{esc(r.member.name)}</b>", role_name(lang, r.member.role)]
        if r.group_name:
            parts.append(esc(r.group_name))
        if not r.member.active:
            parts.append(t(lang, "roster.inactive"))
        elif r.blocked:
            parts.append(t(lang, "roster.blocked"))
        else:
            parts.append(t(lang, "roster.linked" if r.linked else "roster.unlinked"))
        out.append(f"{index}. " + " · ".join(parts))
    turn = pager(page, pages, lambda p: RosterPage(org.id, p))
    return "\n".join(out), [turn] if turn else []


async def roster_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    org = await target_branch(update, context, actor, "roster")
    if org is None:
        return
    text, rows = await _roster_page(context, actor, org, 0)
    await reply(update, text, keyboard(rows) if rows else None)


async def roster_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if not isinstance(button, RosterPage):
        await bad_button(update, context, actor)
        return
    org = await button_branch(update, context, actor, button.org_id, "roster.page")
    if org is None:
        return
    await toast(update)
    text, rows = await _roster_page(context, actor, org, button.page)
    await edit_or_send(update, text, keyboard(rows) if rows else None)


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]] = [
    CommandHandler("invite", invite_command),
    CommandHandler("roster", roster_command),
    CallbackQueryHandler(invite_button, pattern=family("inv")),
    CallbackQueryHandler(roster_button, pattern=family("ros")),
]
