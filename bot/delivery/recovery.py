"""After a crash: the people whose action was saved but never answered are told so.

A process can die after an update's change was committed and before its answer went out
(bot/store/inbox.py keeps such updates' payloads). The next process queues one notice per
such update in the outbox, in the transaction that marks it answered, so the notice goes
out exactly once and nobody is left believing their action was lost.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n.texts import Lang, normalise_lang, t
from bot.services.access import user_language
from bot.store import inbox
from bot.store.db import Database
from bot.store.outbox import NewMessage, enqueue, outbox_key

WHAT_MAX = 40  # characters of the person's message quoted back to them


def _whom(payload: dict[str, Any]) -> tuple[int | None, dict[str, Any], str | None]:
    """(chat to tell, the sender as Telegram described them, what they sent) of an update."""
    query = payload.get("callback_query")
    if isinstance(query, dict):
        sender = query.get("from") or {}
        return sender.get("id"), sender, None  # a button: told in their private chat
    for kind in ("message", "edited_message"):
        message = payload.get(kind)
        if isinstance(message, dict):
            text = message.get("text") or message.get("caption")
            sender = message.get("from") or {}
            chat = (message.get("chat") or {}).get("id")
            return chat, sender, text if isinstance(text, str) else None
    return None, {}, None


async def tell_unanswered(db: Database, *, now: datetime, default_lang: Lang) -> int:
    """Queue the notices and mark the updates answered, in one transaction; how many."""
    async with db.write() as session:
        return await _tell(session, now=now, default_lang=default_lang)


async def _tell(session: AsyncSession, *, now: datetime, default_lang: Lang) -> int:
    owed = await inbox.unanswered(session)
    notices: list[NewMessage] = []
    for update_id, payload in owed:
        chat, sender, text = _whom(payload)
        if not isinstance(chat, int):
            continue
        person = sender.get("id")
        chosen = (
            await user_language(session, person, default_lang) if isinstance(person, int) else None
        )
        lang = chosen or normalise_lang(sender.get("language_code"), default_lang)
        what = (
            html.escape(text[:WHAT_MAX], quote=False)
            if text
            else t(lang, "common.unanswered_button")
        )
        notices.append(
            NewMessage(
                key=outbox_key("unanswered", update_id),
                kind="unanswered",
                chat_id=chat,
                text=t(lang, "common.unanswered", what=what),
                not_before=now,
            )
        )
    await enqueue(session, notices, now=now)
    await session.run_sync(inbox.mark_answered, [uid for uid, _ in owed])
    return len(notices)
