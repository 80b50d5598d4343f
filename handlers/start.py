"""/start: the home screen, personal invite links (m_) and branch join links (b_)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from bot.i18n import names
from bot.i18n.texts import Lang, role_name, t
from bot.rules.buttons import JoinApprove, JoinReject, LinkNo, LinkYes, Rows, family
from bot.services import branches, linking
from bot.services.access import Actor, MemberInfo, NotAllowed, OrgInfo
from bot.services.obligations import due_items
from bot.services.todo import of_member
from handlers import ask
from handlers.calendar import upcoming_lines
from handlers.help import refresh_menu
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
    send_private,
    toast,
    with_board,
)
from handlers.kit.flow import Flow
from handlers.tasks import task_lines

TOKEN_TEXT = {
    linking.TokenState.UNKNOWN: "link.unknown",
    linking.TokenState.USED: "link.used",
    linking.TokenState.EXPIRED: "link.expired",
    linking.TokenState.MEMBER_LINKED: "link.member_linked",
    linking.TokenState.MEMBER_INACTIVE: "link.member_inactive",
    linking.TokenState.ACCOUNT_LINKED: "link.account_linked",
}


def _who(lang: Lang, key: str, member: MemberInfo, org: OrgInfo) -> str:
    """A text about a member of an org: name, org and role filled in."""
    return t(lang, key, name=esc(member.name), org=esc(org.name), role=role_name(lang, member.role))


def _token_problem(lang: Lang, check: linking.TokenCheck) -> str:
    name = esc(check.member.name) if check.member else ""
    return t(lang, TOKEN_TEXT[check.state], name=name)


async def stray_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, waits_for_button: bool
) -> None:
    """Private text that answers nothing is never dropped: mid-conversation, the buttons are
    pointed to; a text that fits the member's one open collection is offered as its answer;
    anything else gets the home screen with what is open."""
    actor = await actor_of(update, context)
    if waits_for_button:
        await reply(update, t(actor.lang, "common.press_buttons"))
        return
    if await ask.offer(update, context, actor):
        return
    text, rows = await home(update, context, actor)
    await reply(update, text, keyboard(rows) if rows else None)


async def home(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor
) -> tuple[str, Rows]:
    """The home screen: who I am, what I still have to do (with its buttons), what is next."""
    lang = actor.lang
    d = deps(context)
    rows: Rows = []
    if actor.member is not None and actor.branch is not None:
        lines = [
            t(
                lang,
                "home.member",
                name=esc(actor.member.name),
                org=esc(actor.branch.name),
                role=role_name(lang, actor.member.role),
            ),
        ]
        now = d.clock.now()
        todo = await of_member(d.db, actor, now=now)
        tasks, rows = task_lines(actor, todo, now=now, tz=d.settings.timezone)
        due = due_items(todo.view, actor) if todo.view else []
        if tasks:
            lines.append("\n".join([t(lang, "tasks.title"), *tasks]))
        elif not (due and actor.is_manager):  # a manager's due items are theirs to do
            lines.append(t(lang, "home.no_tasks"))
        if due and todo.view:  # the same items as /due, soonest first
            upcoming = upcoming_lines(lang, todo.view, actor)
            lines.append("\n".join([t(lang, "home.upcoming", n=len(due)), *upcoming]))
    elif actor.is_admin:
        names = await branches.admin_org_names(d.db, actor)
        scope = t(lang, "home.all_orgs") if actor.is_bootstrap else "、".join(esc(n) for n in names)
        lines = [t(lang, "home.admin", orgs=scope), t(lang, "help.import_hint")]
    else:
        lines = [t(lang, "home.unlinked")]
    lines.append(t(lang, "home.help_hint"))
    lines.append(t(lang, "home.your_id", id=actor.telegram_id))
    return "\n\n".join(lines), rows


async def whoami(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/whoami: the Telegram id (what `zhibu admins add --user` needs) and who I am here."""
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    lang, user = actor.lang, update.effective_user
    if user is None:
        return
    lines = [t(lang, "whoami.title", id=user.id)]
    if actor.member is not None and actor.branch is not None:
        member, org = esc(actor.member.name), esc(actor.branch.name)
        role = role_name(lang, actor.member.role)
        lines.append(t(lang, "whoami.member", member=member, org=org, role=role))
    else:
        lines.append(t(lang, "whoami.unlinked"))
    if actor.is_admin:
        names = await branches.admin_org_names(deps(context).db, actor)
        scope = t(lang, "home.all_orgs") if actor.is_bootstrap else "、".join(esc(n) for n in names)
        lines.append(t(lang, "whoami.admin", orgs=scope))
    else:
        lines.append(t(lang, "whoami.add_hint", id=user.id))
    await reply(update, "\n".join(lines))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    if context.args:
        await _start_with_payload(update, context, actor, context.args[0])
        return
    text, rows = await home(update, context, actor)
    markup = with_board(update, context, actor.lang, keyboard(rows) if rows else None)
    await reply(update, text, markup)
    await refresh_menu(context.bot, actor)


async def _start_with_payload(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, payload: str
) -> None:
    parsed = linking.parse_payload(payload)
    if parsed is None or parsed[0] != "m":
        await reply(update, t(actor.lang, "link.malformed"))
        return
    d = deps(context)
    check = await linking.check_invite(
        d.db, "m", parsed[1], telegram_id=actor.telegram_id, now=d.clock.now()
    )
    if check.state is not linking.TokenState.OK or check.member is None or check.org is None:
        await reply(update, _token_problem(actor.lang, check))
        return
    await reply(
        update,
        _who(actor.lang, "link.confirm", check.member, check.org),
        keyboard(
            [
                [
                    (t(actor.lang, "link.yes"), LinkYes(parsed[1])),
                    (t(actor.lang, "link.no"), LinkNo()),
                ]
            ]
        ),
    )


async def link_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    button = pressed(update)
    if isinstance(button, LinkNo):
        await toast(update)
        await edit_or_send(update, t(actor.lang, "link.cancelled"))
        return
    if not isinstance(button, LinkYes) or not linking.TOKEN_RE.match(button.token):
        await bad_button(update, context, actor)
        return
    d = deps(context)
    check = await linking.redeem(d.db, actor, button.token, now=d.clock.now())
    await toast(update)
    if check.state is not linking.TokenState.OK or check.member is None or check.org is None:
        await edit_or_send(update, _token_problem(actor.lang, check))
        return
    await edit_or_send(update, _who(actor.lang, "link.done", check.member, check.org))
    await refresh_menu(context.bot, await actor_of(update, context))


# ---------------------------------------------------------------- join by branch link


async def join_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    parsed = linking.parse_payload((context.args or [""])[0])
    if parsed is None:
        await reply(update, t(actor.lang, "link.malformed"))
        return
    d = deps(context)
    check = await linking.check_invite(
        d.db, "b", parsed[1], telegram_id=actor.telegram_id, now=d.clock.now()
    )
    if check.state is not linking.TokenState.OK or check.org is None:
        await reply(update, _token_problem(actor.lang, check))
        return
    JOIN.start(context, actor.telegram_id, Joining(parsed[1]), "name")
    await reply(update, t(actor.lang, "join.ask_name", org=esc(check.org.name)))


@dataclass
class Joining:
    token: str  # the branch join link's token


async def join_name(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Joining) -> None:
    """The name the newcomer gives: matched to the branch's unlinked members, then asked."""
    actor = await actor_of(update, context)
    message = update.effective_message
    assert message is not None
    typed = message.text or ""
    if not linking.valid_typed_name(typed):
        await reply(update, t(actor.lang, "join.bad_name", limit=linking.MAX_TYPED_NAME))
        return
    raw = draft.token
    d = deps(context)
    ask = await linking.request_join(
        d.db,
        actor,
        raw,
        typed,
        now=d.clock.now(),
        bootstrap_ids=d.bootstrap_ids,
        default_lang=d.settings.language,
    )
    org = ask.check.org
    if ask.check.state is not linking.TokenState.OK or org is None:
        JOIN.finish(context, actor.telegram_id)
        await reply(update, _token_problem(actor.lang, ask.check))
        return
    if ask.request_id is None:
        name = esc(linking.normalise_name(typed))
        await reply(update, t(actor.lang, "join.no_match", name=name, org=esc(org.name)))
        return
    JOIN.finish(context, actor.telegram_id)
    if ask.state is linking.JoinState.PENDING_EXISTS:
        await reply(update, t(actor.lang, "join.already_pending"))
        return
    user = update.effective_user
    assert user is not None
    account = esc(user.full_name) + (f" (@{esc(user.username)})" if user.username else "")
    for telegram_id, lang in ask.deciders:
        text, rows = _join_notice(lang, ask, typed, account)
        await send_private(context, telegram_id, text, keyboard(rows))
    await reply(update, t(actor.lang, "join.submitted", org=esc(org.name)))


JOIN = Flow("join", Joining, {"name": join_name})


def _join_notice(lang: Lang, ask: linking.JoinAsk, typed: str, account: str) -> tuple[str, Rows]:
    """What a decider is sent: who asks to join as whom, a button per matching member."""
    assert ask.request_id is not None and ask.check.org is not None
    request_id = ask.request_id
    rows: Rows = [
        [
            (
                t(lang, "join.approve_as", name=m.name, code=m.member_code or "-"),
                JoinApprove(request_id, m.id),
            )
        ]
        for m in ask.matches[:5]
    ]
    rows.append([(t(lang, "join.reject"), JoinReject(request_id))])
    name = esc(linking.normalise_name(typed))
    org = esc(ask.check.org.name)
    return t(lang, "join.request", org=org, name=name, account=account), rows


def _parse_join_button(update: Update) -> tuple[bool, int, int | None] | None:
    """(approve, request, member) of a join-request button."""
    match pressed(update):
        case JoinApprove(request_id=request_id, member_id=member_id):
            return True, request_id, member_id
        case JoinReject(request_id=request_id):
            return False, request_id, None
    return None


async def join_decision(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    parsed = _parse_join_button(update)
    if parsed is None:
        await bad_button(update, context, actor)
        return
    approve, request_id, member_id = parsed
    d = deps(context)
    try:
        decided = await linking.decide(
            d.db,
            actor,
            request_id,
            approve=approve,
            member_id=member_id,
            now=d.clock.now(),
            default_lang=d.settings.language,
        )
    except NotAllowed as exc:
        await refuse(update, context, actor, action="join.decide", key=exc.key, org_id=exc.org_id)
        return
    decision, org = decided.decision, decided.org
    await toast(update)
    lang = decided.requester_lang
    org_name = esc(org.name if org else "")
    if decision.state is linking.JoinState.APPROVED and decision.member is not None and org:
        member = decision.member
        await edit_or_send(update, t(actor.lang, "join.approved_by_you", name=esc(member.name)))
        await send_private(context, decision.telegram_id, _who(lang, "link.done", member, org))
    elif decision.state is linking.JoinState.REJECTED:
        await edit_or_send(
            update, t(actor.lang, "join.rejected_by_you", name=esc(decision.typed_name))
        )
        await send_private(context, decision.telegram_id, t(lang, "join.rejected", org=org_name))
    else:
        await edit_or_send(update, t(actor.lang, names.JOIN_UNDECIDED[decision.state.value]))


HANDLERS: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]] = [
    # order matters: the join link's /start b_… before the plain /start
    CommandHandler(
        "start", join_start, filters=filters.ChatType.PRIVATE & filters.Regex(r"^/start b_")
    ),
    CommandHandler(
        "start", ask.submit_start, filters=filters.ChatType.PRIVATE & filters.Regex(r"^/start s_")
    ),
    CommandHandler("start", start),
    CommandHandler("whoami", whoami),
    CallbackQueryHandler(link_button, pattern=family("lk")),
    CallbackQueryHandler(join_decision, pattern=family("jr")),
]
