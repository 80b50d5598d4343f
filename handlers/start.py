"""/start: the home screen, personal invite links (m_) and branch join links (b_)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.i18n import names
from bot.i18n.texts import Lang, role_name, t
from bot.rules.buttons import JoinApprove, JoinReject, LinkNo, LinkYes, Rows, family
from bot.rules.catalogue import DEFAULT_POLICY
from bot.services import linking
from bot.services.access import (
    Actor,
    MemberInfo,
    OrgInfo,
    admins_above,
    branch_managers,
    manages_branch,
    org_by_id,
    org_names,
    user_language,
)
from bot.services.obligations import branch_view
from bot.store import audit
from bot.store.models import InviteKind
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
)
from handlers.tasks import task_lines

ASK_NAME = 1
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


async def home_text(update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor) -> str:
    lang = actor.lang
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
        tasks, _ = await task_lines(context, actor)
        lines.append(
            "\n".join([t(lang, "tasks.title"), *tasks]) if tasks else t(lang, "home.no_tasks")
        )
        d = deps(context)
        async with d.db.read() as session:
            view = await branch_view(
                session, actor.branch.id, now=d.clock.now(), policy=DEFAULT_POLICY
            )
        upcoming = upcoming_lines(lang, view, actor) if view else []
        if upcoming:
            lines.append("\n".join([t(lang, "home.upcoming"), *upcoming]))
    elif actor.is_admin:
        d = deps(context)
        async with d.db.read() as session:
            names = await org_names(session, sorted(actor.admin_org_ids))
        scope = t(lang, "home.all_orgs") if actor.is_bootstrap else "、".join(esc(n) for n in names)
        lines = [t(lang, "home.admin", orgs=scope), t(lang, "help.import_hint")]
    else:
        lines = [t(lang, "home.unlinked")]
    lines.append(t(lang, "home.help_hint"))
    return "\n\n".join(lines)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if not await ensure_private(update, context, actor):
        return
    if context.args:
        await _start_with_payload(update, context, actor, context.args[0])
        return
    await reply(update, await home_text(update, context, actor))
    await refresh_menu(context.bot, actor)


async def _start_with_payload(
    update: Update, context: ContextTypes.DEFAULT_TYPE, actor: Actor, payload: str
) -> None:
    parsed = linking.parse_payload(payload)
    if parsed is None or parsed[0] != "m":
        await reply(update, t(actor.lang, "link.malformed"))
        return
    d = deps(context)
    async with d.db.read() as session:
        check = await linking.check_token(
            session, InviteKind.MEMBER, parsed[1], telegram_id=actor.telegram_id, now=d.clock.now()
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
    now = d.clock.now()
    async with d.db.write() as session:
        check = await linking.redeem_member_token(
            session, button.token, telegram_id=actor.telegram_id, now=now
        )
        if check.state is linking.TokenState.OK and check.member is not None:
            await audit.record(
                session,
                at=now,
                action="link.invite",
                actor_telegram_id=actor.telegram_id,
                actor_member_id=check.member.id,
                org_id=check.member.org_id,
            )
    await toast(update)
    if check.state is not linking.TokenState.OK or check.member is None or check.org is None:
        await edit_or_send(update, _token_problem(actor.lang, check))
        return
    await edit_or_send(update, _who(actor.lang, "link.done", check.member, check.org))
    await refresh_menu(context.bot, await actor_of(update, context))


# ---------------------------------------------------------------- join by branch link


async def join_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    actor = await actor_of(update, context)
    parsed = linking.parse_payload((context.args or [""])[0])
    if parsed is None:
        await reply(update, t(actor.lang, "link.malformed"))
        return ConversationHandler.END
    d = deps(context)
    async with d.db.read() as session:
        check = await linking.check_token(
            session, InviteKind.BRANCH, parsed[1], telegram_id=actor.telegram_id, now=d.clock.now()
        )
    if check.state is not linking.TokenState.OK or check.org is None:
        await reply(update, _token_problem(actor.lang, check))
        return ConversationHandler.END
    assert context.user_data is not None
    context.user_data["join_token"] = parsed[1]
    await reply(update, t(actor.lang, "join.ask_name", org=esc(check.org.name)))
    return ASK_NAME


async def join_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    actor = await actor_of(update, context)
    message = update.effective_message
    assert message is not None and context.user_data is not None
    typed = message.text or ""
    if not linking.valid_typed_name(typed):
        await reply(update, t(actor.lang, "join.bad_name", limit=linking.MAX_TYPED_NAME))
        return ASK_NAME
    raw = context.user_data.get("join_token", "")
    d = deps(context)
    now = d.clock.now()
    async with d.db.write() as session:
        check = await linking.check_token(
            session, InviteKind.BRANCH, raw, telegram_id=actor.telegram_id, now=now
        )
        if check.state is not linking.TokenState.OK or check.org is None or check.token_id is None:
            await reply(update, _token_problem(actor.lang, check))
            return ConversationHandler.END
        org = check.org
        matches = await linking.match_unlinked(session, org.id, typed)
        if not matches:
            await reply(
                update,
                t(
                    actor.lang,
                    "join.no_match",
                    name=esc(linking.normalise_name(typed)),
                    org=esc(org.name),
                ),
            )
            return ASK_NAME
        state, request_id = await linking.create_join_request(
            session,
            token_id=check.token_id,
            org_id=org.id,
            telegram_id=actor.telegram_id,
            typed_name=typed,
            now=now,
        )
        managers = [tg for _, tg in await branch_managers(session, org.id)]
        if not managers:
            managers = await admins_above(session, org.id, d.bootstrap_ids)
        if state is linking.JoinState.CREATED:
            await audit.record(
                session,
                at=now,
                action="join.request",
                actor_telegram_id=actor.telegram_id,
                org_id=org.id,
                detail={"request": request_id, "name": linking.normalise_name(typed)},
            )
    context.user_data.pop("join_token", None)
    if state is linking.JoinState.PENDING_EXISTS:
        await reply(update, t(actor.lang, "join.already_pending"))
        return ConversationHandler.END
    user = update.effective_user
    assert user is not None
    await _notify_managers(
        context, managers, request_id, org.name, typed, user.full_name, user.username, matches
    )
    await reply(update, t(actor.lang, "join.submitted", org=esc(org.name)))
    return ConversationHandler.END


async def _notify_managers(
    context: ContextTypes.DEFAULT_TYPE,
    recipients: list[int],
    request_id: int,
    org_name: str,
    typed: str,
    full_name: str,
    username: str | None,
    matches: list[MemberInfo],
) -> None:
    d = deps(context)
    for telegram_id in recipients:
        async with d.db.read() as session:
            lang = (
                await user_language(session, telegram_id, d.settings.language)
                or d.settings.language
            )
        account = esc(full_name) + (f" (@{esc(username)})" if username else "")
        rows: Rows = [
            [
                (
                    t(lang, "join.approve_as", name=m.name, code=m.member_code or "-"),
                    JoinApprove(request_id, m.id),
                )
            ]
            for m in matches[:5]
        ]
        rows.append([(t(lang, "join.reject"), JoinReject(request_id))])
        text = t(
            lang,
            "join.request",
            org=esc(org_name),
            name=esc(linking.normalise_name(typed)),
            account=account,
        )
        await send_private(context, telegram_id, text, keyboard(rows))


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
    now = d.clock.now()
    decision: linking.JoinDecision | None = None
    denied_org: int | None = None
    async with d.db.write() as session:
        request = await linking.join_request(session, request_id)
        if request is None or not await manages_branch(session, actor, request.org_id):
            denied_org = request.org_id if request else None
        else:
            decision = await linking.decide_join(
                session,
                request,
                approve=approve,
                member_id=member_id,
                decided_by=actor.telegram_id,
                now=now,
            )
            if decision.state in (linking.JoinState.APPROVED, linking.JoinState.REJECTED):
                await audit.record(
                    session,
                    at=now,
                    action=f"join.{decision.state.value}",
                    actor_telegram_id=actor.telegram_id,
                    org_id=decision.org_id,
                    detail={"request": request_id, "member": member_id},
                )
            requester_lang = await user_language(session, decision.telegram_id, d.settings.language)
            org = await org_by_id(session, decision.org_id)
    if decision is None:
        await refuse(
            update,
            context,
            actor,
            action="join.decide",
            key="common.not_allowed",
            org_id=denied_org,
        )
        return
    await toast(update)
    lang = requester_lang or d.settings.language
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


async def join_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    actor = await actor_of(update, context)
    if context.user_data is not None:
        context.user_data.pop("join_token", None)
    await reply(update, t(actor.lang, "common.cancelled"))
    return ConversationHandler.END


async def join_timeout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    actor = await actor_of(update, context)
    if context.user_data is not None:
        context.user_data.pop("join_token", None)
    chat = update.effective_chat
    if chat is not None:
        await chat.send_message(t(actor.lang, "common.timed_out"))


def build_handlers(
    conversation_timeout: float,
) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]]:
    private = filters.ChatType.PRIVATE
    join = ConversationHandler[ContextTypes.DEFAULT_TYPE](
        entry_points=[
            CommandHandler("start", join_start, filters=private & filters.Regex(r"^/start b_"))
        ],
        states={
            ASK_NAME: [MessageHandler(private & filters.TEXT & ~filters.COMMAND, join_name)],
            ConversationHandler.TIMEOUT: [MessageHandler(filters.ALL, join_timeout)],
        },
        fallbacks=[CommandHandler("cancel", join_cancel)],
        conversation_timeout=conversation_timeout,
        allow_reentry=True,
        name="join",
    )
    return [
        join,  # order matters: it claims /start b_… before the plain /start below
        CommandHandler("start", start),
        CallbackQueryHandler(link_button, pattern=family("lk")),
        CallbackQueryHandler(join_decision, pattern=family("jr")),
    ]
