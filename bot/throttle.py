"""Telegram's flood limits, kept strictly: sliding windows, not bursts (SPEC §11).

No Telegram types here: callers say which chat a message goes to, and wait their turn.
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
    margin: float = 0.02  # seconds added to each window: the server's clock sees us a little late

    def scaled(self, factor: float) -> Limits:
        return Limits(
            max(1, round(self.overall_per_second * factor)),
            self.private_interval / factor,
            self.private_burst,
            max(1, round(self.group_per_minute * factor)),
            self.margin,
        )


class Throttle:
    """Waits until a message may go: ≤ N a second overall, ≤ 1 a second per private chat (in
    bursts of a few), ≤ M a minute per group."""

    def __init__(
        self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._overall: deque[float] = deque()
        self._private: dict[int, deque[float]] = {}
        self._groups: dict[int, deque[float]] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nothing goes out until ``seconds`` have passed."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def wait_time(self, chat_id: int | None) -> float:
        """How long the next message to ``chat_id`` must wait; 0 means it may go now."""
        now = self._clock()
        lim = self.limits
        window = 1.0 + lim.margin
        while self._overall and self._overall[0] <= now - window:
            self._overall.popleft()
        waits = [self._paused_until - now]
        if len(self._overall) >= lim.overall_per_second:
            waits.append(self._overall[-lim.overall_per_second] + window - now)
        if chat_id is not None and chat_id < 0:
            sent = self._groups.get(chat_id)
            minute = 60.0 + lim.margin
            if sent:
                while sent and sent[0] <= now - minute:
                    sent.popleft()
                if len(sent) >= lim.group_per_minute:
                    waits.append(sent[-lim.group_per_minute] + minute - now)
        elif chat_id is not None and chat_id in self._private:
            sent = self._private[chat_id]
            span = lim.private_interval * lim.private_burst + lim.margin
            while sent and sent[0] <= now - span:
                sent.popleft()
            if len(sent) >= lim.private_burst:
                waits.append(sent[-lim.private_burst] + span - now)
        return max(0.0, *waits)

    def record(self, chat_id: int | None) -> None:
        now = self._clock()
        self._overall.append(now)
        if chat_id is not None and chat_id < 0:
            self._groups.setdefault(chat_id, deque()).append(now)
        elif chat_id is not None:
            self._private.setdefault(chat_id, deque()).append(now)
            if len(self._private) > 100_000:  # forget the oldest chats; they are long past due
                for key in list(self._private)[:50_000]:
                    del self._private[key]

    async def acquire(self, chat_id: int | None) -> None:
        """Wait for a free slot for ``chat_id`` and take it."""
        while True:
            wait = self.wait_time(chat_id)
            if wait <= 0:
                self.record(chat_id)
                return
            await asyncio.sleep(wait)
