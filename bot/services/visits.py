"""What happens around every update, whatever it is: who is acting, the update's place in the
inbox, the person's conversation, refusals and blocked accounts. Each call is one
transaction; handlers/kit calls these and never opens a session itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.i18n.texts import Lang
from bot.services.access import (
    Actor,
    load_actor,
    mark_blocked,
    remember_user,
    set_language,
    user_language,
)
from bot.store import audit, conversations, inbox
from bot.store.db import Database


@dataclass(frozen=True)
class Person:
    """The sender of an update as Telegram describes them."""

    telegram_id: int
    first_name: str
    username: str | None
    language: str | None
    private: bool = False  # the update came from their private chat with the bot


@dataclass(frozen=True)
class Arrival:
    fresh: bool  # not handled before: go on
    state: dict[str, Any]  # the person's stored conversation
    expired: bool  # their conversation had been idle too long and was dropped
    actor: Actor | None = None  # who they are, as the update arrived (None: not a person)


async def acting(
    db: Database,
    telegram_id: int,
    *,
    telegram_language: str | None,
    default_lang: Lang,
    bootstrap_ids: frozenset[int],
) -> Actor:
    """Who this account is, what they may do, and in which language, right now."""
    return await db.unit(
        lambda session: load_actor(
            session,
            telegram_id,
            telegram_language=telegram_language,
            default_lang=default_lang,
            bootstrap_ids=bootstrap_ids,
        ),
        write=False,
        short=True,
    )


async def arrive(
    db: Database,
    update_id: int,
    person: Person | None,
    *,
    now: datetime,
    idle: timedelta,
    default_lang: Lang,
    bootstrap_ids: frozenset[int],
) -> Arrival:
    """An update comes in: seen before? Remember its sender, load their conversation and
    who they are — one short unit of work, whatever the update is."""

    def work(session: Session) -> Arrival:
        fresh = inbox.begin_handling(session, update_id, now=now)
        if not fresh or person is None:
            return Arrival(fresh, {}, False)
        chosen = remember_user(
            session,
            telegram_id=person.telegram_id,
            first_name=person.first_name,
            username=person.username,
            telegram_language=person.language,
            now=now,
            private=person.private,
        )
        state, expired = conversations.load(session, person.telegram_id, now=now, idle=idle)
        actor = load_actor(
            session,
            person.telegram_id,
            telegram_language=person.language,
            default_lang=default_lang,
            bootstrap_ids=bootstrap_ids,
            chosen=chosen,
        )
        return Arrival(True, state, expired, actor)

    try:
        return await db.unit(work, short=True)
    except IntegrityError:  # the same update handled side by side: the other one has it
        return Arrival(False, {}, False)


async def save_conversation(
    db: Database, telegram_id: int, state: dict[str, Any], *, now: datetime
) -> None:
    async with db.write() as session:
        await conversations.save(session, telegram_id, state, now=now)


async def end_idle_conversation(db: Database, telegram_id: int, *, default_lang: Lang) -> Lang:
    """Drop a conversation that timed out; the language to tell its owner in."""
    async with db.write() as session:
        await conversations.clear(session, telegram_id)
        return await user_language(session, telegram_id, default_lang) or default_lang


async def refused(
    db: Database,
    actor: Actor,
    *,
    action: str,
    org_id: int | None,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    """Write a refused action to the audit log."""
    async with db.write() as session:
        await audit.record(
            session,
            at=now,
            action=action,
            outcome="denied",
            actor_telegram_id=actor.telegram_id,
            actor_member_id=actor.member.id if actor.member else None,
            org_id=org_id,
            detail=detail,
        )


async def blocked(db: Database, telegram_id: int, *, now: datetime) -> None:
    """This account has blocked the bot (or never started it)."""
    async with db.write() as session:
        await mark_blocked(session, telegram_id, now=now)


async def choose_language(db: Database, telegram_id: int, lang: Lang, *, now: datetime) -> None:
    """/lang: the language this person reads the bot in from now on."""
    async with db.write() as session:
        await set_language(session, telegram_id, lang, now=now)
