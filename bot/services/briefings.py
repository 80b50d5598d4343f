"""A person's choices for their morning briefing (#16): how often, when, muted until.

Anyone with a Telegram account may choose for themselves; the choices are checked here,
whatever button or command carried them, and audited. What the choices do is
``bot.delivery.briefing.kept_items``: a manager's escalations of overdue items come anyway.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.rules.catalogue import BRIEFING_TIMES, BriefingMode, Prefs
from bot.rules.dates import parse_day
from bot.services.access import Actor, Declined
from bot.store import audit
from bot.store.db import Database
from bot.store.models import TelegramUser

MAX_MUTE_DAYS = 92  # a quarter: longer is leaving, not muting


class BriefingError(Declined):
    pass


def _prefs(user: TelegramUser | None) -> Prefs:
    if user is None:
        return Prefs()
    return Prefs.parse(user.briefing_mode, user.briefing_at, user.briefing_muted_until)


async def prefs_of(db: Database, telegram_id: int) -> Prefs:
    async with db.read() as session:
        return _prefs(await session.get(TelegramUser, telegram_id))


def mute_until(text: str, today: date) -> date:
    """A mute's last day, typed (``2026-12-31``, ``12-31``, ``12月31日``): checked."""
    day = parse_day(text, today)
    if day is None:
        raise BriefingError("brief.mute_bad", value=text[:40])
    return day


async def choose(
    db: Database,
    actor: Actor,
    *,
    now: datetime,
    today: date,
    mode: str | None = None,
    at: str | None = None,
    own_time: bool = True,
    muted_until: date | None = None,
    unmute: bool = False,
) -> Prefs:
    """Change one's own briefing: ``mode`` (a BriefingMode), ``at`` (one of the times offered;
    ``own_time=False`` goes back to the branch's time), ``muted_until`` (today up to
    ``MAX_MUTE_DAYS`` ahead) or ``unmute``. Anything else is refused and changes nothing."""
    if mode is not None and mode not in set(BriefingMode):
        raise BriefingError("settings.bad_choice")
    if at is not None and at not in BRIEFING_TIMES:
        raise BriefingError("settings.bad_choice")
    if muted_until is not None and not today <= muted_until <= today + timedelta(
        days=MAX_MUTE_DAYS
    ):
        raise BriefingError("brief.mute_range", days=MAX_MUTE_DAYS)
    async with db.write() as session:
        user = await session.get(TelegramUser, actor.telegram_id)
        if user is None:  # an account known only by its link: the row is made now
            user = TelegramUser(id=actor.telegram_id, first_name="", updated_at=now)
            session.add(user)
        changed: dict[str, object] = {}
        if mode is not None:
            user.briefing_mode = changed["mode"] = mode
        if at is not None or not own_time:
            user.briefing_at = changed["at"] = at if own_time else None
        if muted_until is not None or unmute:
            user.briefing_muted_until = None if unmute else muted_until
            changed["muted_until"] = None if unmute else str(muted_until)
        await audit.record(
            session,
            at=now,
            action="briefing.choose",
            actor_telegram_id=actor.telegram_id,
            actor_member_id=actor.member.id if actor.member else None,
            org_id=None,
            detail=changed,
        )
        return _prefs(user)
