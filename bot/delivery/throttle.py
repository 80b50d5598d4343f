"""Telegram's flood limits, kept strictly: sliding windows, not bursts (SPEC §11).

No Telegram types here: callers say which chat a message goes to, wait their turn, and say
when the answer came back. A message counts from when it was let go until its answer came
back: Telegram counts it somewhere in between, so the window always covers that moment.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    overall_per_second: int = 30
    private_interval: float = 1.0  # one private chat: one message a second, sustained …
    private_burst: int = 3  # … with short bursts: at most this many in as many seconds
    group_per_minute: int = 20
    margin: float = 0.005  # seconds added to each window, for clock granularity

    def scaled(self, factor: float) -> Limits:
        return Limits(
            max(1, round(self.overall_per_second * factor)),
            self.private_interval / factor,
            self.private_burst,
            max(1, round(self.group_per_minute * factor)),
            self.margin,
        )


class Slot:
    """One message's place in the windows; its time moves to when the answer came back."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


def _wait_for_window(slots: deque[Slot], limit: int, span: float, now: float) -> float:
    """How long until fewer than ``limit`` of ``slots`` lie within the last ``span`` seconds."""
    while slots and slots[0].at <= now - span:  # slots only move later, so the oldest go first
        slots.popleft()
    if len(slots) < limit:  # fewer than the limit at all: no need to look closer
        return 0.0
    inside = sorted(s.at for s in slots if s.at > now - span)
    if len(inside) < limit:
        return 0.0
    return inside[len(inside) - limit] + span - now


class Throttle:
    """Waits until a message may go: ≤ N a second overall, ≤ 1 a second per private chat (in
    bursts of a few), ≤ M a minute per group."""

    def __init__(
        self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._overall: deque[Slot] = deque()
        self._chats: dict[int, deque[Slot]] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nothing goes out until ``seconds`` have passed."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _chat_rule(self, chat_id: int) -> tuple[int, float]:
        lim = self.limits
        if chat_id < 0:
            return lim.group_per_minute, 60.0 + lim.margin
        return lim.private_burst, lim.private_interval * lim.private_burst + lim.margin

    def wait_time(self, chat_id: int | None) -> float:
        """How long the next message to ``chat_id`` must wait; 0 means it may go now."""
        now = self._clock()
        lim = self.limits
        waits = [self._paused_until - now]
        waits.append(_wait_for_window(self._overall, lim.overall_per_second, 1.0 + lim.margin, now))
        if chat_id is not None and chat_id in self._chats:
            limit, span = self._chat_rule(chat_id)
            waits.append(_wait_for_window(self._chats[chat_id], limit, span, now))
        return max(0.0, *waits)

    def room(self, chat_id: int) -> int:
        """How many messages to ``chat_id`` could go right now without waiting."""
        now = self._clock()
        if self._paused_until > now:
            return 0
        limit, span = self._chat_rule(chat_id)
        used = sum(1 for s in self._chats.get(chat_id, ()) if s.at > now - span)
        return max(0, limit - used)

    def record(self, chat_id: int | None) -> Slot:
        slot = Slot(self._clock())
        self._overall.append(slot)
        if chat_id is not None:
            self._chats.setdefault(chat_id, deque()).append(slot)
            if len(self._chats) > 100_000:  # forget the oldest chats; they are long past due
                for key in list(self._chats)[:50_000]:
                    del self._chats[key]
        return slot

    def done(self, slot: Slot) -> None:
        """The answer came back: the message counts until now."""
        slot.at = max(slot.at, self._clock())

    async def acquire(self, chat_id: int | None) -> Slot:
        """Wait for a free slot for ``chat_id`` and take it; call ``done`` with it afterwards."""
        while True:
            wait = self.wait_time(chat_id)
            if wait <= 0:
                return self.record(chat_id)
            await asyncio.sleep(wait)
