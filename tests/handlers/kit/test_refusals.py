"""A refusal or a declined request that a handler does not catch still reaches the person
as such — in their words, audited when it is a refusal — never as "something went wrong"."""

from __future__ import annotations

from sqlalchemy import select
from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from bot.i18n.texts import t
from bot.services.access import Declined, NotAllowed
from bot.store.db import Database
from bot.store.models import AuditEntry
from tests.fakegram import FakeTelegram
from tests.helpers import RunningBot


async def test_an_uncaught_refusal_is_answered_and_audited(
    bot: RunningBot, fake: FakeTelegram, db: Database
) -> None:
    async def refused(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise NotAllowed("common.admins_only", org_id=None)

    async def declined(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise Declined("invite.no_such_branch", code="<ZB>")

    # first among the features (after the update is recorded, before "unknown command")
    bot.app.handlers[0][:0] = [
        CommandHandler("refusedhere", refused),
        CommandHandler("declinedhere", declined),
    ]
    user = fake.add_user("路人")

    answer = await user.ask("/refusedhere")
    assert answer.content == t("zh", "common.admins_only")
    async with db.read() as session:
        entry = await session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
    assert entry is not None
    assert (entry.action, entry.outcome, entry.actor_telegram_id) == (
        "refusedhere",
        "denied",
        user.id,
    )

    answer = await user.ask("/declinedhere")
    assert answer.content == t(
        "zh", "invite.no_such_branch", code="<ZB>"
    )  # escaped, shown as typed
    assert t("zh", "common.error") not in answer.content
