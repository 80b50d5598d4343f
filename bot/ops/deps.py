"""The long-lived services of a running bot, handed to handlers and jobs alike.

Built once in ``handlers/app.py``; handlers find it in ``bot_data``, jobs get it as their
job data. No ORM objects and no sessions live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.delivery.scheduler import Ahead
from bot.rules.clock import Clock
from bot.store.db import Database
from bot.store.liveness import Liveness
from settings import Settings


class Sender(Protocol):
    """The outbox sender as the rest of the bot sees it (jobs/sender.py is the real one)."""

    def wake(self) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Finisher(Protocol):
    """Marks updates finished, in batches (bot/store/inbox.py's Finishing)."""

    async def finished(
        self, update_id: int, *, marked: bool, now: datetime, alone: bool
    ) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Deps:
    """Long-lived services every handler and job may use."""

    settings: Settings
    db: Database
    clock: Clock
    sender: Sender | None = None
    liveness: Liveness | None = None
    finishing: Finisher | None = None  # None: each update is marked on its own
    ahead: Ahead = field(default_factory=Ahead)  # the tick's briefings worked out ahead

    @property
    def bootstrap_ids(self) -> frozenset[int]:
        return frozenset(self.settings.admin_ids)

    def today(self) -> date:
        """Today in the bot's time zone, by the one clock."""
        return self.clock.now().astimezone(ZoneInfo(self.settings.timezone)).date()

    def wake_sender(self) -> None:
        """New rows are in the outbox: the sender looks now rather than at its next poll."""
        if self.sender is not None:
            self.sender.wake()
