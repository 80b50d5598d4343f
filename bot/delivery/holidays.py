"""Committee admins hear once when this or next year's workdays are only guessed by rule
(no official holiday data imported), through the outbox like every other notice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n.texts import Lang, t
from bot.rules.workdays import Source
from bot.services.obligations import load_workdays
from bot.store.models import Notice, OrgAdmin
from bot.store.outbox import NewMessage, enqueue, outbox_key


async def announce_guessed_years(
    session: AsyncSession, *, now: datetime, year: int, bootstrap_ids: frozenset[int], lang: Lang
) -> list[int]:
    """Queue the notice for ``year`` and ``year + 1`` where they are guessed and nobody was
    told yet; the years announced now."""
    cal = await load_workdays(session)
    missing = []
    for y in (year, year + 1):
        key = f"holidays.fallback.{y}"
        if cal.source(y) is Source.FALLBACK and await session.get(Notice, key) is None:
            session.add(Notice(key=key, sent_at=now))
            missing.append(y)
    if not missing:
        return []
    admins = set((await session.execute(select(OrgAdmin.telegram_user_id))).scalars())
    admins |= bootstrap_ids
    await enqueue(
        session,
        [
            NewMessage(
                key=outbox_key("holidays.fallback", y, admin),
                kind="holidays",
                chat_id=admin,
                text=t(lang, "holidays.fallback_notice", year=y),
                not_before=now,
            )
            for y in missing
            for admin in sorted(admins)
        ],
        now=now,
    )
    return missing
