"""A fake Telegram Bot API server: real HTTP on 127.0.0.1, modelled users, chats and limits.

The bot under test talks to it exactly as to Telegram (``ZHIBU_API_BASE_URL``). Tests act
as users through ``FakeTelegram.add_user(...)`` handles, or over HTTP under ``/_fake/``
when the server runs as its own process (``python -m tests.fakegram``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import deque
from typing import Any

from aiohttp import web

from tests.fakegram.api import BotApi
from tests.fakegram.control import Control, UserHandle
from tests.fakegram.faults import FaultChecks, Faults, Limits
from tests.fakegram.state import CallbackAnswer, Chat, Msg, State, User

__all__ = [
    "CallbackAnswer",
    "Chat",
    "FakeTelegram",
    "Faults",
    "Limits",
    "Msg",
    "User",
    "UserHandle",
]


class FakeTelegram(BotApi, Control, FaultChecks, State):
    """The server plus the state a test reads and changes."""

    def __init__(
        self,
        *,
        bot_username: str = "zhibu_test_bot",
        bot_id: int = 7_000_000_001,
        limits: Limits | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.bot = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "支部助手",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.limits = limits or Limits()
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)
        self._burst_left = 0
        self.fault_counts: dict[str, int] = {}
        self.flood_429 = 0  # answers refused by the flood limits
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.messages: dict[int, list[Msg]] = {}
        self.updates: deque[dict[str, Any]] = deque()
        self.update_log: list[dict[str, Any]] = []
        self.commands: dict[tuple[str, int | None, str], list[dict[str, str]]] = {}
        self.menu_buttons: dict[Any, dict[str, Any]] = {}  # chat id (None: the default) → button
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.said: list[str] = []  # every text the bot showed anyone (see api._heard)
        self.open_queries: set[str] = set()
        self.files: dict[str, tuple[str, bytes]] = {}
        self.tokens_seen: set[str] = set()
        self.rejected_tokens: set[str] = set()  # answered 401 Unauthorized, as a revoked token
        self.calls: list[str] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_attempts: list[tuple[int, int]] = []  # (update_id, HTTP status; 0: no answer)
        self._webhook_task: asyncio.Task[None] | None = None
        self._update_ids = itertools.count(100_001)
        self._user_ids = itertools.count(10_001)
        self._group_ids = itertools.count(1_000_000_001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller = 0
        self._sent: deque[float] = deque()
        self._sent_per_chat: dict[int, deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        app.router.add_route("*", "/_fake/{action}", self._control)
        # a long poll still open when the test ends is cut, not waited for
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = host

    async def stop(self) -> None:
        self.webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"
