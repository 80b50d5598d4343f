"""Updates handled side by side across chats, in order within each chat.

python-telegram-bot handles one update at a time by default, so one slow chat (a group whose
20-a-minute budget is spent, a large upload) holds up every other chat of every branch.
``ChatOrder`` lets updates of different chats run concurrently (up to the application's
limit) while the updates of one chat, and of one person, keep their order: a conversation's
steps and a double press are still handled one after the other. A button pressed in a group
keeps only its presser's order: 60 members pressing 签到 on the group's card act each for
themselves and need not wait for one another (the card's counts are refreshed afterwards).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def lanes_of(update: object) -> tuple[int, ...]:
    """The lanes an update must keep its order in: its chat and its sender (only the sender
    for a button pressed in a group)."""
    if not isinstance(update, Update):
        return ()
    keys: set[int] = set()
    # a press's lane is its presser's (in a private chat that is the chat's lane too)
    pressed = update.callback_query is not None and update.effective_user is not None
    if update.effective_chat is not None and not pressed:
        keys.add(update.effective_chat.id)
    if update.effective_user is not None:
        keys.add(update.effective_user.id)
    return tuple(sorted(keys))


WAITING_MAX = 100_000  # updates taken in and waiting for their turn (PTB's own bound)


class ChatOrder(BaseUpdateProcessor):
    """Concurrent across chats and people; in arrival order within each. At most ``running``
    are handled at once; an update waiting behind an earlier one of its chat takes no place
    among them, so a flood in one chat never fills the places the others need."""

    def __init__(self, running: int) -> None:
        super().__init__(WAITING_MAX)
        self._tails: dict[int, asyncio.Future[None]] = {}
        self._running = asyncio.Semaphore(running)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        # Take this update's place at the end of each of its lanes before waiting for
        # anything, so a later update of the same chat or person queues behind it.
        lanes = lanes_of(update)
        before = [self._tails[k] for k in lanes if k in self._tails]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in lanes:
            self._tails[key] = done
        started = False
        try:
            for earlier in before:
                await asyncio.shield(earlier)
            async with self._running:
                started = True
                await coroutine
        finally:
            if not started and asyncio.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting its turn: it never ran
            done.set_result(None)
            for key in lanes:
                if self._tails.get(key) is done:
                    del self._tails[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
