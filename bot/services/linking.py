"""Linking Telegram accounts to members (SPEC §2): invite tokens, join requests, group binding."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n.texts import Lang
from bot.services.access import (
    Actor,
    MemberInfo,
    NotAllowed,
    OrgInfo,
    admins_above,
    branch_managers,
    manages_branch,
    member_info,
    org_by_id,
    org_info,
    user_language,
)
from bot.store import audit
from bot.store.db import Database
from bot.store.models import (
    InviteKind,
    InviteToken,
    JoinRequest,
    JoinStatus,
    Member,
    Org,
    OrgKind,
    TelegramLink,
    TelegramUser,
)

TOKEN_BYTES = 16  # 128 bits
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
PAYLOAD_RE = re.compile(r"^([mb])_(.*)$", re.S)
MAX_TYPED_NAME = 50


def new_token() -> tuple[str, str]:
    """A fresh random token and the hash we store instead of it."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    return raw, hash_token(raw)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def deep_link(bot_username: str, kind: str, raw: str) -> str:
    return f"https://t.me/{bot_username}?start={kind}_{raw}"


def parse_payload(payload: str) -> tuple[str, str] | None:
    """``m_<token>`` or ``b_<token>`` as (kind, token); None when malformed."""
    match = PAYLOAD_RE.match(payload)
    if not match or not TOKEN_RE.match(match[2]):
        return None
    return match[1], match[2]


async def issue_token(
    session: AsyncSession,
    *,
    kind: InviteKind,
    org_id: int,
    member_id: int | None,
    created_by: int,
    now: datetime,
    ttl_days: int,
) -> str:
    raw, digest = new_token()
    session.add(
        InviteToken(
            token_hash=digest,
            kind=kind.value,
            org_id=org_id,
            member_id=member_id,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(days=ttl_days),
        )
    )
    await session.flush()
    return raw


class TokenState(enum.StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    MEMBER_LINKED = "member_linked"
    MEMBER_INACTIVE = "member_inactive"
    ACCOUNT_LINKED = "account_linked"


@dataclass(frozen=True)
class TokenCheck:
    state: TokenState
    token_id: int | None = None
    member: MemberInfo | None = None
    org: OrgInfo | None = None


async def check_token(
    session: AsyncSession, kind: InviteKind, raw: str, *, telegram_id: int, now: datetime
) -> TokenCheck:
    """Everything that could make a link fail, checked in the order a user would care."""
    token = await session.scalar(
        select(InviteToken).where(
            InviteToken.token_hash == hash_token(raw), InviteToken.kind == kind.value
        )
    )
    if token is None:
        return TokenCheck(TokenState.UNKNOWN)
    org = org_info(await session.get_one(Org, token.org_id))
    if kind is InviteKind.MEMBER and token.used_at is not None:
        return TokenCheck(TokenState.USED, token.id, org=org)
    if token.expires_at <= now:
        return TokenCheck(TokenState.EXPIRED, token.id, org=org)
    linked = await linked_member(session, telegram_id)
    if linked is not None:
        return TokenCheck(TokenState.ACCOUNT_LINKED, token.id, member=linked, org=org)
    if kind is InviteKind.BRANCH:
        return TokenCheck(TokenState.OK, token.id, org=org)
    member = await session.get_one(Member, token.member_id)
    info = member_info(member)
    if not member.active:
        return TokenCheck(TokenState.MEMBER_INACTIVE, token.id, info, org)
    if await session.scalar(select(TelegramLink.id).where(TelegramLink.member_id == member.id)):
        return TokenCheck(TokenState.MEMBER_LINKED, token.id, info, org)
    return TokenCheck(
        TokenState.OK, token.id, info, org_info(await session.get_one(Org, member.org_id))
    )


async def redeem_member_token(
    session: AsyncSession, raw: str, *, telegram_id: int, now: datetime
) -> TokenCheck:
    """Check again and, when still good, link the account and use the token up."""
    check = await check_token(session, InviteKind.MEMBER, raw, telegram_id=telegram_id, now=now)
    if check.state is not TokenState.OK or check.member is None:
        return check
    token = await session.get_one(InviteToken, check.token_id)
    token.used_at, token.used_by = now, telegram_id
    session.add(
        TelegramLink(
            member_id=check.member.id, telegram_user_id=telegram_id, linked_at=now, via="invite"
        )
    )
    await session.flush()
    return check


async def linked_member(session: AsyncSession, telegram_id: int) -> MemberInfo | None:
    member = await session.scalar(
        select(Member)
        .join(TelegramLink, TelegramLink.member_id == Member.id)
        .where(TelegramLink.telegram_user_id == telegram_id)
    )
    return member_info(member) if member else None


def normalise_name(text: str) -> str:
    """Names as people type them: full-width folded, spaces dropped."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def valid_typed_name(text: str) -> bool:
    name = normalise_name(text)
    return 1 <= len(name) <= MAX_TYPED_NAME and not any(
        unicodedata.category(ch).startswith("C") for ch in name
    )


async def unlinked_members(session: AsyncSession, org_id: int) -> list[MemberInfo]:
    rows = await session.execute(
        select(Member)
        .outerjoin(TelegramLink, TelegramLink.member_id == Member.id)
        .where(Member.org_id == org_id, Member.active.is_(True), TelegramLink.id.is_(None))
        .order_by(Member.id)
    )
    return [member_info(m) for m in rows.scalars()]


@dataclass(frozen=True)
class PendingJoin:
    """A join request waiting for a manager: who asked (their Telegram name), as whom, and
    the unlinked members of that name it may be approved as."""

    request_id: int
    typed_name: str
    account: str
    matches: list[MemberInfo]


async def pending_joins(session: AsyncSession, org_id: int, limit: int = 5) -> list[PendingJoin]:
    rows = await session.execute(
        select(JoinRequest, TelegramUser.first_name, TelegramUser.username)
        .outerjoin(TelegramUser, TelegramUser.id == JoinRequest.telegram_user_id)
        .where(JoinRequest.org_id == org_id, JoinRequest.status == JoinStatus.PENDING.value)
        .order_by(JoinRequest.created_at, JoinRequest.id)
        .limit(limit)
    )
    found = []
    for request, first_name, username in rows:
        account = (first_name or str(request.telegram_user_id)) + (
            f" (@{username})" if username else ""
        )
        matches = await match_unlinked(session, org_id, request.typed_name)
        found.append(PendingJoin(request.id, request.typed_name, account, matches))
    return found


async def match_unlinked(session: AsyncSession, org_id: int, typed: str) -> list[MemberInfo]:
    wanted = normalise_name(typed)
    return [m for m in await unlinked_members(session, org_id) if normalise_name(m.name) == wanted]


@dataclass(frozen=True)
class RosterLine:
    member: MemberInfo
    group_name: str | None
    linked: bool
    blocked: bool


async def roster_lines(session: AsyncSession, org_id: int) -> list[RosterLine]:
    group = Org.__table__.alias("grp")
    rows = await session.execute(
        select(Member, group.c.name, TelegramLink.id, TelegramUser.blocked_at)
        .outerjoin(group, group.c.id == Member.group_id)
        .outerjoin(TelegramLink, TelegramLink.member_id == Member.id)
        .outerjoin(TelegramUser, TelegramUser.id == TelegramLink.telegram_user_id)
        .where(Member.org_id == org_id)
        .order_by(Member.active.desc(), Member.id)
    )
    return [
        RosterLine(member_info(m), gname, link_id is not None, blocked is not None)
        for m, gname, link_id, blocked in rows
    ]


# ---------------------------------------------------------------- join requests


class JoinState(enum.StrEnum):
    CREATED = "created"
    PENDING_EXISTS = "pending_exists"
    APPROVED = "approved"
    REJECTED = "rejected"
    ALREADY_DECIDED = "already_decided"
    MEMBER_GONE = "member_gone"
    ACCOUNT_LINKED = "account_linked"


async def create_join_request(
    session: AsyncSession,
    *,
    token_id: int,
    org_id: int,
    telegram_id: int,
    typed_name: str,
    now: datetime,
) -> tuple[JoinState, int]:
    pending = await session.scalar(
        select(JoinRequest.id).where(
            JoinRequest.telegram_user_id == telegram_id,
            JoinRequest.org_id == org_id,
            JoinRequest.status == JoinStatus.PENDING.value,
        )
    )
    if pending is not None:
        return JoinState.PENDING_EXISTS, pending
    request = JoinRequest(
        org_id=org_id,
        token_id=token_id,
        telegram_user_id=telegram_id,
        typed_name=normalise_name(typed_name),
        status=JoinStatus.PENDING.value,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    return JoinState.CREATED, request.id


@dataclass(frozen=True)
class JoinDecision:
    state: JoinState
    org_id: int
    telegram_id: int
    typed_name: str
    member: MemberInfo | None = None


async def join_request(session: AsyncSession, request_id: int) -> JoinRequest | None:
    return await session.get(JoinRequest, request_id)


async def decide_join(
    session: AsyncSession,
    request: JoinRequest,
    *,
    approve: bool,
    member_id: int | None,
    decided_by: int,
    now: datetime,
) -> JoinDecision:
    """Approve (linking the chosen member) or reject a pending request, exactly once."""

    def outcome(state: JoinState, member: MemberInfo | None = None) -> JoinDecision:
        return JoinDecision(
            state, request.org_id, request.telegram_user_id, request.typed_name, member
        )

    def close(status: JoinStatus) -> None:
        request.status, request.decided_by, request.decided_at = status.value, decided_by, now

    if request.status != JoinStatus.PENDING.value:
        return outcome(JoinState.ALREADY_DECIDED)
    if not approve:
        close(JoinStatus.REJECTED)
        return outcome(JoinState.REJECTED)
    candidates = {
        m.id: m for m in await match_unlinked(session, request.org_id, request.typed_name)
    }
    member = candidates.get(member_id) if member_id is not None else None
    if member is None:
        return outcome(JoinState.MEMBER_GONE)
    if await linked_member(session, request.telegram_user_id) is not None:
        close(JoinStatus.REJECTED)
        return outcome(JoinState.ACCOUNT_LINKED)
    close(JoinStatus.APPROVED)
    request.member_id = member.id
    session.add(
        TelegramLink(
            member_id=member.id,
            telegram_user_id=request.telegram_user_id,
            linked_at=now,
            via="join",
        )
    )
    await session.flush()
    return outcome(JoinState.APPROVED, member)


# ---------------------------------------------------------------- group binding


class BindState(enum.StrEnum):
    BOUND = "bound"
    MOVED = "moved"
    ALREADY = "already"
    TAKEN = "taken"


@dataclass(frozen=True)
class BindResult:
    state: BindState
    other: OrgInfo | None = None


async def bind_group(
    session: AsyncSession, *, org_id: int, chat_id: int, now: datetime
) -> BindResult:
    org = await session.get_one(Org, org_id)
    if org.kind != OrgKind.BRANCH.value:
        raise ValueError("only branches bind groups")
    holder = await session.scalar(select(Org).where(Org.group_chat_id == chat_id))
    if holder is not None and holder.id == org.id:
        return BindResult(BindState.ALREADY)
    if holder is not None:
        return BindResult(BindState.TAKEN, org_info(holder))
    moved = org.group_chat_id is not None
    org.group_chat_id = chat_id
    org.updated_at = now
    await session.flush()
    return BindResult(BindState.MOVED if moved else BindState.BOUND)


async def bound_org(session: AsyncSession, chat_id: int) -> OrgInfo | None:
    org = await session.scalar(select(Org).where(Org.group_chat_id == chat_id))
    return org_info(org) if org else None


async def unbind_group(session: AsyncSession, *, chat_id: int, now: datetime) -> OrgInfo | None:
    org = await session.scalar(select(Org).where(Org.group_chat_id == chat_id))
    if org is None:
        return None
    org.group_chat_id = None
    org.updated_at = now
    await session.flush()
    return org_info(org)


# ---------------------------------------------------------------- the branch group
# Use-cases: one transaction each, the permission checked here, the change audited with it.


def branch_to_bind(actor: Actor) -> OrgInfo:
    """The branch whose group a manager may bind: their own (NotAllowed for anyone else)."""
    if not actor.is_manager or actor.branch is None:
        raise NotAllowed("bind.managers_only")
    return actor.branch


async def bind(
    db: Database, actor: Actor, org_id: int, chat_id: int, *, now: datetime
) -> BindResult:
    """A manager makes this group their branch's group (SPEC §2)."""
    async with db.write() as session:
        mine = branch_to_bind(actor).id == org_id
        if not mine or not await manages_branch(session, actor, org_id):
            raise NotAllowed("bind.managers_only", org_id=org_id)
        result = await bind_group(session, org_id=org_id, chat_id=chat_id, now=now)
        if result.state in (BindState.BOUND, BindState.MOVED):
            await audit.record(
                session,
                at=now,
                action="group.bind",
                actor_telegram_id=actor.telegram_id,
                org_id=org_id,
                detail={"chat_id": chat_id, "moved": result.state is BindState.MOVED},
            )
    return result


async def unbind(db: Database, actor: Actor, chat_id: int, *, now: datetime) -> OrgInfo | None:
    """A manager releases this group from their branch; the branch it was bound to, if any."""
    async with db.write() as session:
        org = await bound_org(session, chat_id)
        if org is None:
            return None
        if not await manages_branch(session, actor, org.id):
            raise NotAllowed("bind.managers_only", org_id=org.id)
        await unbind_group(session, chat_id=chat_id, now=now)
        await audit.record(
            session,
            at=now,
            action="group.unbind",
            actor_telegram_id=actor.telegram_id,
            org_id=org.id,
            detail={"chat_id": chat_id},
        )
    return org


async def bot_removed(db: Database, chat_id: int, *, by: int, now: datetime) -> None:
    """The bot was removed from a group: that group stops being a branch group."""
    async with db.write() as session:
        org = await unbind_group(session, chat_id=chat_id, now=now)
        if org is not None:
            await audit.record(
                session,
                at=now,
                action="group.unbind",
                actor_telegram_id=by,
                org_id=org.id,
                detail={"chat_id": chat_id, "reason": "bot removed from the group"},
            )


# ---------------------------------------------------------------- links and joining
# Use-cases for /start m_… and /start b_…: one transaction each, audited with the change.


LINK_KINDS = {"m": InviteKind.MEMBER, "b": InviteKind.BRANCH}  # the deep link's prefix


async def check_invite(
    db: Database, prefix: str, raw: str, *, telegram_id: int, now: datetime
) -> TokenCheck:
    """What a link (``m_``: personal, ``b_``: branch) would do for this account, changing
    nothing."""
    async with db.read() as session:
        return await check_token(session, LINK_KINDS[prefix], raw, telegram_id=telegram_id, now=now)


async def redeem(db: Database, actor: Actor, raw: str, *, now: datetime) -> TokenCheck:
    """Link the actor's account to the member a personal invite names, if it still may."""
    async with db.write() as session:
        check = await redeem_member_token(session, raw, telegram_id=actor.telegram_id, now=now)
        if check.state is TokenState.OK and check.member is not None:
            await audit.record(
                session,
                at=now,
                action="link.invite",
                actor_telegram_id=actor.telegram_id,
                actor_member_id=check.member.id,
                org_id=check.member.org_id,
            )
    return check


@dataclass(frozen=True)
class JoinAsk:
    check: TokenCheck  # the branch link; not OK: nothing was asked
    matches: list[MemberInfo]  # unlinked members with the typed name; none: nothing was asked
    state: JoinState | None = None  # CREATED, or PENDING_EXISTS (asked before)
    request_id: int | None = None
    deciders: list[tuple[int, Lang]] = dataclasses.field(default_factory=list)


async def request_join(
    db: Database,
    actor: Actor,
    raw: str,
    typed: str,
    *,
    now: datetime,
    bootstrap_ids: frozenset[int],
    default_lang: Lang,
) -> JoinAsk:
    """Ask to join the branch of a join link as the member ``typed`` names; the branch's
    managers (or, with none, the admins above) decide. Audited when created."""
    async with db.write() as session:
        check = await check_token(
            session, InviteKind.BRANCH, raw, telegram_id=actor.telegram_id, now=now
        )
        if check.state is not TokenState.OK or check.org is None or check.token_id is None:
            return JoinAsk(check, [])
        org = check.org
        matches = await match_unlinked(session, org.id, typed)
        if not matches:
            return JoinAsk(check, [])
        state, request_id = await create_join_request(
            session,
            token_id=check.token_id,
            org_id=org.id,
            telegram_id=actor.telegram_id,
            typed_name=typed,
            now=now,
        )
        ids = [tg for _, tg in await branch_managers(session, org.id)]
        if not ids:
            ids = await admins_above(session, org.id, bootstrap_ids)
        deciders = [
            (tg, await user_language(session, tg, default_lang) or default_lang) for tg in ids
        ]
        if state is JoinState.CREATED:
            await audit.record(
                session,
                at=now,
                action="join.request",
                actor_telegram_id=actor.telegram_id,
                org_id=org.id,
                detail={"request": request_id, "name": normalise_name(typed)},
            )
    return JoinAsk(check, matches, state, request_id, deciders)


@dataclass(frozen=True)
class Decided:
    decision: JoinDecision
    org: OrgInfo | None
    requester_lang: Lang


async def decide(
    db: Database,
    actor: Actor,
    request_id: int,
    *,
    approve: bool,
    member_id: int | None,
    now: datetime,
    default_lang: Lang,
) -> Decided:
    """A manager of the branch approves (as one member) or rejects a join request."""
    async with db.write() as session:
        request = await join_request(session, request_id)
        if request is None or not await manages_branch(session, actor, request.org_id):
            raise NotAllowed("common.not_allowed", org_id=request.org_id if request else None)
        decision = await decide_join(
            session,
            request,
            approve=approve,
            member_id=member_id,
            decided_by=actor.telegram_id,
            now=now,
        )
        if decision.state in (JoinState.APPROVED, JoinState.REJECTED):
            await audit.record(
                session,
                at=now,
                action=f"join.{decision.state.value}",
                actor_telegram_id=actor.telegram_id,
                org_id=decision.org_id,
                detail={"request": request_id, "member": member_id},
            )
        requester_lang = await user_language(session, decision.telegram_id, default_lang)
        org = await org_by_id(session, decision.org_id)
    return Decided(decision, org, requester_lang or default_lang)
