"""The fake's faults and Telegram's flood limits: switchable errors, slow answers, dropped
connections and bursts of 429 on the bot's calls; 30 a second overall, 1 a second per private
chat (bursts of 5), 20 a minute per group."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from tests.fakegram.markup import (
    ApiError,
)


@dataclass
class Limits:
    """Telegram's flood limits; ``None`` switches a limit off."""

    overall_per_second: int | None = 30
    private_per_second: int | None = 5
    group_per_minute: int | None = 20


@dataclass
class Faults:
    """Switchable faults on the bot's API calls (getUpdates excepted unless listed)."""

    error_rate: float = 0.0  # answer 502 without doing anything
    slow_rate: float = 0.0  # do it, then answer only after ``slow_seconds``
    slow_seconds: float = 3.0
    drop_rate: float = 0.0  # close the connection without doing anything
    throttle_rate: float = 0.0  # start a burst of 429 answers (retry_after 1 s)
    throttle_burst: int = 20  # how many requests in a row such a burst refuses
    methods: set[str] | None = None
    seed: int = 1


class FaultChecks:
    """Mixed into the server: decides per call whether a fault or a flood limit answers."""

    def _fault(self, method: str) -> str | None:
        f = self.faults
        applies = method in f.methods if f.methods is not None else method != "getUpdates"
        if not applies:
            return None
        if self._burst_left > 0:
            self._burst_left -= 1
            return "throttle"
        roll = self._random.random()
        if roll < f.throttle_rate:
            self._burst_left = f.throttle_burst - 1
            return "throttle"
        roll = self._random.random()
        if roll < f.error_rate:
            return "error"
        if roll < f.error_rate + f.drop_rate:
            return "drop"
        if roll < f.error_rate + f.drop_rate + f.slow_rate:
            return "slow"
        return None

    def _check_flood(self, chat_id: int) -> None:
        now = time.monotonic()
        limits = self.limits
        _trim(self._sent, now - 1)
        if limits.overall_per_second is not None and len(self._sent) >= limits.overall_per_second:
            raise _too_many(self._sent[0] + 1 - now)
        per_chat = self._sent_per_chat.setdefault(chat_id, deque())
        if chat_id < 0:
            _trim(per_chat, now - 60)
            if limits.group_per_minute is not None and len(per_chat) >= limits.group_per_minute:
                raise _too_many(per_chat[0] + 60 - now)
        else:
            _trim(per_chat, now - 1)
            if limits.private_per_second is not None and len(per_chat) >= limits.private_per_second:
                raise _too_many(per_chat[0] + 1 - now)

    def _count_sent(self, chat_id: int) -> None:
        now = time.monotonic()
        self._sent.append(now)
        self._sent_per_chat.setdefault(chat_id, deque()).append(now)


def _trim(window: deque[float], before: float) -> None:
    while window and window[0] <= before:
        window.popleft()


def _too_many(wait: float) -> ApiError:
    retry = max(1, int(wait + 0.999))
    return ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
