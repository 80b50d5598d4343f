"""Who is acting, and what they may do. Checked at the moment of every action."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.i18n.texts import Lang, normalise_lang
from bot.store.models import (
    MANAGER_ROLES,
    Member,
    Org,
    OrgAdmin,
    OutboxStatus,
    Role,
    TelegramLink,
    TelegramUser,
)
from bot.store.outbox import EDIT, OUTBOX


@dataclass(frozen=True)
class MemberInfo:
    id: int
    name: str
    role: str
    org_id: int
    group_id: int | None
    member_code: str | None
    active: bool


@dataclass(frozen=True)
class OrgInfo:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    group_chat_id: int | None


@dataclass(frozen=True)
class Actor:
    telegram_id: int
    lang: Lang
    member: MemberInfo | None
    branch: OrgInfo | None
    admin_org_ids: frozenset[int]
    is_bootstrap: bool

    @property
    def is_manager(self) -> bool:
        return self.member is not None and Role(self.member.role) in MANAGER_ROLES

    @property
    def is_admin(self) -> bool:
        return self.is_bootstrap or bool(self.admin_org_ids)


class NotAllowed(Exception):
    """The actor may not do this. ``key`` names the reason in the catalogue; the caller
    tells the person and audits the refusal."""

    def __init__(self, key: str = "common.managers_only", *, org_id: int | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.org_id = org_id


class Declined(ValueError):
    """The request cannot be done as asked (not a permission matter). ``key`` and ``params``
    name the answer in the catalogue; nothing was changed."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


async def require_manager(
    session: AsyncSession, actor: Actor, org_id: int, *, key: str = "common.managers_only"
) -> None:
    """Raise NotAllowed unless the actor manages this branch (or administers above it)."""
    if not await manages_branch(session, actor, org_id):
        raise NotAllowed(key, org_id=org_id)


def require_admin(actor: Actor) -> None:
    """Raise NotAllowed unless the actor administers some part of the org tree."""
    if not actor.is_admin:
        raise NotAllowed("common.admins_only")


# the columns of MemberInfo and OrgInfo, in order (rows read straight into them)
MEMBER_COLUMNS = (
    Member.id,
    Member.name,
    Member.role,
    Member.org_id,
    Member.group_id,
    Member.member_code,
    Member.active,
)
ORG_COLUMNS = (Org.id, Org.code, Org.name, Org.kind, Org.parent_id, Org.group_chat_id)


class Unknown(enum.Enum):
    """Not read yet (a language of None means: not chosen)."""

    TOKEN = 0


UNKNOWN = Unknown.TOKEN


def member_info(m: Member) -> MemberInfo:
    return MemberInfo(m.id, m.name, m.role, m.org_id, m.group_id, m.member_code, m.active)


def org_info(o: Org) -> OrgInfo:
    return OrgInfo(o.id, o.code, o.name, o.kind, o.parent_id, o.group_chat_id)


USERS = cast(Table, TelegramUser.__table__)
# Statements on the path of every update, built once (building one costs more than running it)
_USER = select(
    USERS.c.first_name,
    USERS.c.username,
    USERS.c.telegram_language,
    USERS.c.blocked_at,
    USERS.c.language,
).where(USERS.c.id == bindparam("tg"))
_USER_NOW = (
    update(USERS)
    .where(USERS.c.id == bindparam("tg"))
    .values(
        first_name=bindparam("first_name"),
        username=bindparam("username"),
        telegram_language=bindparam("telegram_language"),
        updated_at=bindparam("now"),
    )
)
# they write to the bot privately again, so they have unblocked it (in a group they may not)
_UNBLOCKED = (
    update(USERS)
    .where(USERS.c.id == bindparam("tg"))
    .values(blocked_at=None, updated_at=bindparam("now"))
)
_LINKED = (
    select(*MEMBER_COLUMNS, *ORG_COLUMNS)
    .join(TelegramLink, TelegramLink.member_id == Member.id)
    .join(Org, Org.id == Member.org_id)
    .where(TelegramLink.telegram_user_id == bindparam("tg"), Member.active.is_(True))
)
_ADMIN_OF = select(OrgAdmin.org_id).where(OrgAdmin.telegram_user_id == bindparam("tg"))


RESEND_WITHIN = timedelta(days=7)  # messages refused this recently go out on their return
_RESEND = (
    update(OUTBOX)
    .where(
        OUTBOX.c.chat_id == bindparam("tg"),
        OUTBOX.c.status == OutboxStatus.FAILED.value,
        OUTBOX.c.last_error.like("Forbidden%"),
        OUTBOX.c.created_at >= bindparam("since"),
        OUTBOX.c.kind.not_in(("briefing", EDIT)),  # a day's briefing is stale the next
    )
    .values(status=OutboxStatus.PENDING.value, tries=0, not_before=bindparam("now"))
)


def remember_user(
    session: Session,
    *,
    telegram_id: int,
    first_name: str,
    username: str | None,
    telegram_language: str | None,
    now: datetime,
    private: bool = False,
) -> str | None:
    """Keep the account's name and language current; writes only when something changed.
    Someone Telegram refused messages to (they had not started the bot, or blocked it) who
    now writes to the bot privately gets the last week's refused messages after all (a
    committee admin added by id before they ever opened the chat: the holiday notice).
    Returns the language the person chose with /lang (None: not chosen)."""
    conn = session.connection()
    known = conn.execute(_USER, {"tg": telegram_id}).first()
    current = {
        "first_name": first_name[:128],
        "username": username,
        "telegram_language": telegram_language,
    }
    if known is None:
        conn.execute(insert(USERS), current | {"id": telegram_id, "updated_at": now})
        return None
    if tuple(known[:3]) != tuple(current.values()):
        conn.execute(_USER_NOW, current | {"tg": telegram_id, "now": now})
    if known.blocked_at is not None and private:
        conn.execute(_UNBLOCKED, {"tg": telegram_id, "now": now})
        conn.execute(_RESEND, {"tg": telegram_id, "since": now - RESEND_WITHIN, "now": now})
    return cast(str | None, known.language)


async def mark_blocked(session: AsyncSession, telegram_id: int, *, now: datetime) -> None:
    """Remember that this account has blocked the bot, so managers can see it in /roster."""
    user = await session.get(TelegramUser, telegram_id)
    if user is None:
        session.add(TelegramUser(id=telegram_id, first_name="", blocked_at=now, updated_at=now))
    elif user.blocked_at is None:
        user.blocked_at, user.updated_at = now, now


async def user_language(session: AsyncSession, telegram_id: int, default: Lang) -> Lang | None:
    user = await session.get(TelegramUser, telegram_id)
    if user is None:
        return None
    return normalise_lang(user.language or user.telegram_language, default)


def load_actor(
    session: Session,
    telegram_id: int,
    *,
    telegram_language: str | None,
    default_lang: Lang,
    bootstrap_ids: frozenset[int],
    chosen: str | Unknown | None = UNKNOWN,
) -> Actor:
    """Who this account is right now (plain SQLAlchemy: an async caller runs it with
    ``run_sync``; the update's arrival runs it in its one unit of work and passes the
    ``chosen`` language it has just read)."""
    conn = session.connection()
    if isinstance(chosen, Unknown):
        known = conn.execute(_USER, {"tg": telegram_id}).first()
        chosen = known.language if known is not None else None
    lang = normalise_lang(chosen or telegram_language, default_lang)
    row: Any = conn.execute(_LINKED, {"tg": telegram_id}).first()
    split = len(MEMBER_COLUMNS)
    member = MemberInfo(*row[:split]) if row else None
    branch = OrgInfo(*row[split:]) if row else None
    admin_ids = frozenset(conn.execute(_ADMIN_OF, {"tg": telegram_id}).scalars())
    return Actor(telegram_id, lang, member, branch, admin_ids, telegram_id in bootstrap_ids)


async def ancestor_ids(session: AsyncSession, org_id: int) -> list[int]:
    """The org itself and every org above it, nearest first."""
    chain: list[int] = []
    current: int | None = org_id
    while current is not None and current not in chain:
        chain.append(current)
        current = await session.scalar(select(Org.parent_id).where(Org.id == current))
    return chain


async def administers(session: AsyncSession, actor: Actor, org_id: int) -> bool:
    """True when the actor is a committee admin of this org or of an org above it."""
    if actor.is_bootstrap:
        return True
    if not actor.admin_org_ids:
        return False
    return any(o in actor.admin_org_ids for o in await ancestor_ids(session, org_id))


def admin_roots(actor: Actor) -> list[int] | None:
    """The orgs whose subtrees an admin sees: theirs, or every root (None) for bootstrap admins."""
    return None if actor.is_bootstrap else sorted(actor.admin_org_ids)


async def manages_branch(session: AsyncSession, actor: Actor, org_id: int) -> bool:
    """Branch managers of this branch, and committee admins above it."""
    if actor.is_manager and actor.member is not None and actor.member.org_id == org_id:
        return True
    return await administers(session, actor, org_id)


async def admin_codes(session: AsyncSession, actor: Actor) -> set[str] | None:
    """Codes of the orgs whose subtrees the actor administers; None means everything."""
    if actor.is_bootstrap:
        return None
    if not actor.admin_org_ids:
        return set()
    rows = await session.execute(select(Org.code).where(Org.id.in_(actor.admin_org_ids)))
    return set(rows.scalars())


def by_code(code: str) -> Select[Org]:
    """The org with this code, whatever its case (``fgw-01`` finds ``FGW-01``); a code that
    matches exactly wins over one that differs only in case."""
    wanted = code.strip()
    return (
        select(Org)
        .where(func.lower(Org.code) == wanted.lower())
        .order_by((Org.code == wanted).desc(), Org.code)
        .limit(1)
    )


async def org_by_code(session: AsyncSession, code: str) -> OrgInfo | None:
    org = await session.scalar(by_code(code))
    return org_info(org) if org else None


async def org_by_id(session: AsyncSession, org_id: int) -> OrgInfo | None:
    org = await session.get(Org, org_id)
    return org_info(org) if org else None


async def branch_managers(session: AsyncSession, org_id: int) -> list[tuple[MemberInfo, int]]:
    """Active managers of a branch who have linked Telegram accounts, with their ids."""
    rows = await session.execute(
        select(Member, TelegramLink.telegram_user_id)
        .join(TelegramLink, TelegramLink.member_id == Member.id)
        .where(
            Member.org_id == org_id,
            Member.active.is_(True),
            Member.role.in_([r.value for r in MANAGER_ROLES]),
        )
        .order_by(Member.id)
    )
    return [(member_info(m), tg) for m, tg in rows]


async def admins_above(
    session: AsyncSession, org_id: int, bootstrap_ids: frozenset[int]
) -> list[int]:
    """Telegram ids of the admins of the nearest org above (or at) org_id that has any."""
    for oid in await ancestor_ids(session, org_id):
        ids = list(
            (
                await session.execute(
                    select(OrgAdmin.telegram_user_id)
                    .where(OrgAdmin.org_id == oid)
                    .order_by(OrgAdmin.id)
                )
            ).scalars()
        )
        if ids:
            return ids
    return sorted(bootstrap_ids)


async def set_language(
    session: AsyncSession, telegram_id: int, lang: Lang, *, now: datetime
) -> None:
    user = await session.get(TelegramUser, telegram_id)
    if user is None:
        user = TelegramUser(id=telegram_id, first_name="", updated_at=now)
        session.add(user)
    user.language = lang
    user.updated_at = now


async def org_names(session: AsyncSession, org_ids: list[int]) -> list[str]:
    rows = await session.execute(select(Org.name).where(Org.id.in_(org_ids)).order_by(Org.id))
    return list(rows.scalars())
