"""A fake Telegram Bot API server: real HTTP on 127.0.0.1, modelled users, chats and limits.

The bot under test talks to it exactly as to Telegram (``ZHIBU_API_BASE_URL``). Tests act
as users through ``FakeTelegram.add_user(...)`` handles, or over HTTP under ``/_fake/``
when the server runs as its own process (``python -m tests.fakegram``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from tests.fakegram.markup import (
    CAPTION_MAX,
    ApiError,
    check_keyboard,
    check_text,
    visible_text,
)

JSON_FIELDS = {
    "reply_markup",
    "entities",
    "caption_entities",
    "link_preview_options",
    "reply_parameters",
    "commands",
    "scope",
    "allowed_updates",
    "media",
}
INT_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
    "reply_to_message_id",
    "cache_time",
}
SENDING_METHODS = {"sendMessage", "sendPhoto", "sendDocument"}


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


@dataclass
class User:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "zh-hans"
    started: bool = False  # has a private chat with the bot
    blocked: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class Chat:
    id: int
    type: str
    title: str | None = None
    user: User | None = None
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    bot_member: bool = True

    def as_dict(self) -> dict[str, Any]:
        if self.type == "private" and self.user is not None:
            data: dict[str, Any] = {"id": self.id, "type": "private"}
            data["first_name"] = self.user.first_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        return {"id": self.id, "type": self.type, "title": self.title}


@dataclass
class Msg:
    """A message as the chat shows it now (after edits)."""

    chat_id: int
    message_id: int
    from_id: int
    date: int
    text: str | None = None
    raw_text: str | None = None
    caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    photo: bytes | None = None
    document: tuple[str, bytes] | None = None
    file_id: str | None = None
    edits: int = 0
    from_bot: bool = False

    @property
    def content(self) -> str:
        return self.text if self.text is not None else (self.caption or "")

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        if not self.reply_markup:
            return []
        return list(self.reply_markup.get("inline_keyboard", []))

    @property
    def button_labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def button(self, label: str) -> dict[str, Any]:
        matches = [b for row in self.buttons for b in row if label in b["text"]]
        if not matches:
            raise LookupError(f"no button {label!r} in {self.button_labels}")
        return matches[0]


@dataclass
class CallbackAnswer:
    text: str | None
    show_alert: bool


class FakeTelegram:
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
        self.callback_answers: dict[str, CallbackAnswer] = {}
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

    # ------------------------------------------------------------ lifecycle

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

    # ------------------------------------------------------------ test-side API

    def add_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        user_id: int | None = None,
    ) -> UserHandle:
        user = User(user_id or next(self._user_ids), first_name, username, language_code)
        self.users[user.id] = user
        chat = Chat(user.id, "private", user=user)
        self.chats[chat.id] = chat
        return UserHandle(self, user)

    def add_group(self, title: str, members: list[UserHandle], *, bot_member: bool = True) -> Chat:
        chat = Chat(-next(self._group_ids), "supergroup", title=title, bot_member=bot_member)
        chat.members = {m.id: "member" for m in members}
        self.chats[chat.id] = chat
        return chat

    def remove_bot(self, chat: Chat, by: UserHandle) -> None:
        """A group admin removes the bot from the group."""
        chat.bot_member = False
        bot_user = {
            k: v for k, v in self.bot.items() if k in ("id", "is_bot", "first_name", "username")
        }
        self.push_update(
            "my_chat_member",
            {
                "chat": chat.as_dict(),
                "from": by.user.as_dict(),
                "date": int(time.time()),
                "old_chat_member": {"status": "member", "user": bot_user},
                "new_chat_member": {"status": "left", "user": bot_user},
            },
        )

    def chat_messages(self, chat_id: int) -> list[Msg]:
        return list(self.messages.get(chat_id, []))

    def bot_messages(self, chat_id: int) -> list[Msg]:
        return [m for m in self.messages.get(chat_id, []) if m.from_bot]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy; return its value."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        value = predicate()
                        if value:
                            return value
                        await self._changed.wait()
            except TimeoutError:
                raise AssertionError(f"fake Telegram: condition not met in {timeout}s") from None

    def push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        self.update_log.append(update)
        self._notify()
        return update

    def redeliver(self, update: dict[str, Any]) -> None:
        """Put an update back as unconfirmed, as Telegram does when a bot dies mid-batch."""
        if all(u["update_id"] != update["update_id"] for u in self.updates):
            self.updates.appendleft(update)
            self._notify()

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        task = asyncio.get_running_loop().create_task(notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def new_message(
        self, chat: Chat, from_id: int, *, from_bot: bool = False, **fields: Any
    ) -> Msg:
        counter = self._message_ids.setdefault(chat.id, itertools.count(1))
        msg = Msg(chat.id, next(counter), from_id, int(time.time()), from_bot=from_bot, **fields)
        self.messages.setdefault(chat.id, []).append(msg)
        return msg

    def find_message(self, chat_id: int, message_id: int) -> Msg | None:
        for msg in self.messages.get(chat_id, []):
            if msg.message_id == message_id:
                return msg
        return None

    def message_dict(self, msg: Msg, *, with_reply: bool = True) -> dict[str, Any]:
        chat = self.chats[msg.chat_id]
        data: dict[str, Any] = {
            "message_id": msg.message_id,
            "date": msg.date,
            "chat": chat.as_dict(),
            "from": self.bot if msg.from_bot else self.users[msg.from_id].as_dict(),
        }
        if msg.edits:
            data["edit_date"] = msg.date
        if msg.text is not None:
            data["text"] = msg.text
            if not msg.from_bot and msg.text.startswith("/"):
                command = msg.text.split()[0]
                data["entities"] = [
                    {
                        "type": "bot_command",
                        "offset": 0,
                        "length": len(command.encode("utf-16-le")) // 2,
                    }
                ]
        if msg.caption is not None:
            data["caption"] = msg.caption
        if msg.reply_markup:
            data["reply_markup"] = msg.reply_markup
        if msg.photo is not None and msg.file_id:
            data["photo"] = [
                {
                    "file_id": msg.file_id,
                    "file_unique_id": msg.file_id,
                    "width": 512,
                    "height": 512,
                    "file_size": len(msg.photo),
                }
            ]
        if msg.document is not None and msg.file_id:
            name, content = msg.document
            data["document"] = {
                "file_id": msg.file_id,
                "file_unique_id": msg.file_id,
                "file_name": name,
                "mime_type": _mime(name),
                "file_size": len(content),
            }
        if with_reply and msg.reply_to is not None:
            replied = self.find_message(msg.chat_id, msg.reply_to)
            if replied is not None:
                data["reply_to_message"] = self.message_dict(replied, with_reply=False)
        return data

    def store_file(self, name: str, content: bytes) -> str:
        file_id = f"F{next(self._file_ids):06d}"
        self.files[file_id] = (name, content)
        return file_id

    # ------------------------------------------------------------ HTTP: Bot API

    async def _api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        self.tokens_seen.add(token)
        self.calls.append(method)
        self._notify()
        if token in self.rejected_tokens:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        try:
            params = await self._params(request)
        except ValueError:
            return _error(ApiError(400, "Bad Request: can't parse request parameters"))
        fault = self._fault(method)
        if fault is not None:
            self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
        if fault == "throttle":
            return _error(_too_many(1))
        if fault == "error":
            return web.json_response(
                {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502
            )
        if fault == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return _error(ApiError(404, "Not Found: method not found"))
        try:
            sending = method in SENDING_METHODS
            if sending:
                try:
                    self._check_flood(int(params.get("chat_id", 0)))
                except ApiError:
                    self.flood_429 += 1
                    raise
            result = await handler(params)
            if sending:
                self._count_sent(int(params.get("chat_id", 0)))
        except ApiError as exc:
            return _error(exc)
        finally:
            self._notify()
        if fault == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body)
            return params
        if request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = (value.filename, value.file.read())
                else:
                    params[key] = value
        for key in list(params):
            value = params[key]
            if isinstance(value, str):
                if key in JSON_FIELDS:
                    params[key] = json.loads(value)
                elif key in INT_FIELDS and value.lstrip("-").isdigit():
                    params[key] = int(value)
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.get(value[len("attach://") :])
        return params

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

    def _target_chat(self, params: dict[str, Any]) -> Chat:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            raise ApiError(400, "Bad Request: chat not found")
        chat = self.chats.get(int(chat_id)) if chat_id is not None else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.type == "private":
            assert chat.user is not None
            if chat.user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif not chat.bot_member:
            raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return chat

    def _reply_to(self, chat: Chat, params: dict[str, Any]) -> int | None:
        reply = params.get("reply_parameters") or {}
        target = reply.get("message_id") or params.get("reply_to_message_id")
        if target is None:
            return None
        if self.find_message(chat.id, int(target)) is None and not reply.get(
            "allow_sending_without_reply"
        ):
            raise ApiError(400, "Bad Request: message to be replied not found")
        return int(target)

    # --- methods (named m_<method>)

    async def m_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot

    async def m_logOut(self, params: dict[str, Any]) -> Any:
        return True

    async def m_close(self, params: dict[str, Any]) -> Any:
        return True

    async def m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self.updates.clear()
        return True

    async def m_setWebhook(self, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: an HTTPS URL must be provided")
        self.webhook = {"url": url, "secret_token": params.get("secret_token")}
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver())
        return True

    async def _deliver(self) -> None:
        """As Telegram does with a webhook: POST each update in order, with the secret header;
        an update that is not answered with 2xx is tried again a little later."""
        async with ClientSession(timeout=ClientTimeout(total=5)) as http:
            while self.webhook is not None:
                if not self.updates:
                    async with self._changed:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.5):
                                await self._changed.wait()
                    continue
                update = self.updates[0]
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
                try:
                    async with http.post(self.webhook["url"], json=update, headers=headers) as r:
                        status = r.status
                except (ClientError, OSError, TimeoutError):
                    status = 0
                self.webhook_attempts.append((update["update_id"], status))
                if 200 <= status < 300:
                    if self.updates and self.updates[0] is update:
                        self.updates.popleft()
                    self._notify()
                else:
                    await asyncio.sleep(0.2)

    async def m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    async def m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0.0, float(params.get("timeout") or 0))
        if offset > 0:
            while self.updates and self.updates[0]["update_id"] < offset:
                self.updates.popleft()
        elif offset < 0:
            while len(self.updates) > -offset:
                self.updates.popleft()
        self._poller += 1
        me = self._poller
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                if me != self._poller:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
                if self.updates:
                    return list(itertools.islice(self.updates, limit))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                try:
                    async with asyncio.timeout(remaining):
                        await self._changed.wait()
                except TimeoutError:
                    return []

    async def m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands") or []
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands")
        for cmd in commands:
            name = cmd.get("command", "")
            if not (1 <= len(name) <= 32) or not all(
                c.islower() or c.isdigit() or c == "_" for c in name
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(cmd.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[_scope_key(params)] = commands
        return True

    async def m_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(_scope_key(params), [])

    async def m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(_scope_key(params), None)
        return True

    async def m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = self._target_chat(params)
        raw = params.get("text")
        check_text(raw)
        text = visible_text(str(raw), params.get("parse_mode"))
        check_text(text)
        markup = params.get("reply_markup")
        check_keyboard(markup)
        msg = self.new_message(
            chat,
            int(self.bot["id"]),
            from_bot=True,
            text=text,
            raw_text=str(raw),
            reply_markup=_inline(markup),
            reply_to=self._reply_to(chat, params),
        )
        return self.message_dict(msg)

    async def m_sendPhoto(self, params: dict[str, Any]) -> Any:
        return await self._send_file(params, "photo")

    async def m_sendDocument(self, params: dict[str, Any]) -> Any:
        return await self._send_file(params, "document")

    async def _send_file(self, params: dict[str, Any], kind: str) -> Any:
        chat = self._target_chat(params)
        upload = params.get(kind)
        if isinstance(upload, str) and upload in self.files:
            name, content = self.files[upload]
        elif isinstance(upload, tuple):
            name, content = upload
        else:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        if not content:
            raise ApiError(400, "Bad Request: file must be non-empty")
        if kind == "photo" and not content.startswith((b"\x89PNG", b"\xff\xd8")):
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        caption = params.get("caption")
        if caption:
            caption = visible_text(str(caption), params.get("parse_mode"))
            check_text(caption, limit=CAPTION_MAX)
        markup = params.get("reply_markup")
        check_keyboard(markup)
        file_id = self.store_file(name or kind, content)
        msg = self.new_message(
            chat,
            int(self.bot["id"]),
            from_bot=True,
            caption=caption,
            reply_markup=_inline(markup),
            photo=content if kind == "photo" else None,
            document=(name or "file", content) if kind == "document" else None,
            file_id=file_id,
            reply_to=self._reply_to(chat, params),
        )
        return self.message_dict(msg)

    def _bot_message(self, params: dict[str, Any]) -> Msg:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported here")
        chat = self.chats.get(int(params.get("chat_id", 0)))
        msg = self.find_message(chat.id, int(params.get("message_id", 0))) if chat else None
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return msg

    async def m_editMessageText(self, params: dict[str, Any]) -> Any:
        msg = self._bot_message(params)
        raw = params.get("text")
        check_text(raw)
        text = visible_text(str(raw), params.get("parse_mode"))
        check_text(text)
        markup = params.get("reply_markup")
        check_keyboard(markup)
        markup = _inline(markup)
        if msg.text is None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if text == msg.text and markup == msg.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        msg.text, msg.raw_text, msg.reply_markup = text, str(raw), markup
        msg.edits += 1
        return self.message_dict(msg)

    async def m_editMessageCaption(self, params: dict[str, Any]) -> Any:
        msg = self._bot_message(params)
        caption = visible_text(str(params.get("caption") or ""), params.get("parse_mode"))
        check_text(caption, limit=CAPTION_MAX, allow_empty=True)
        markup = _inline(params.get("reply_markup"))
        msg.caption, msg.reply_markup = caption, markup
        msg.edits += 1
        return self.message_dict(msg)

    async def m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        msg = self._bot_message(params)
        markup = params.get("reply_markup")
        check_keyboard(markup)
        markup = _inline(markup)
        if markup == msg.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        msg.reply_markup = markup
        msg.edits += 1
        return self.message_dict(msg)

    async def m_deleteMessage(self, params: dict[str, Any]) -> Any:
        msg = self._bot_message(params)
        self.messages[msg.chat_id].remove(msg)
        return True

    async def m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id"))
        if query_id not in self.open_queries or query_id in self.callback_answers:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        text = params.get("text")
        if text and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        show_alert = params.get("show_alert") in (True, "true", "True")
        self.callback_answers[query_id] = CallbackAnswer(text, show_alert)
        return True

    async def m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        name, content = self.files[file_id]
        if len(content) > 20 * 1024 * 1024:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(content),
            "file_path": f"documents/{file_id}/{name}",
        }

    async def m_getChat(self, params: dict[str, Any]) -> Any:
        chat = self.chats.get(int(params.get("chat_id", 0)))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat.as_dict() | {"accent_color_id": 0, "max_reaction_count": 11}

    async def m_getChatMember(self, params: dict[str, Any]) -> Any:
        chat = self.chats.get(int(params.get("chat_id", 0)))
        user = self.users.get(int(params.get("user_id", 0)))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        status = chat.members.get(user.id, "left") if chat.type != "private" else "member"
        return {"status": status, "user": user.as_dict()}

    # ------------------------------------------------------------ HTTP: files

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        parts = path.split("/")
        if len(parts) < 2 or parts[1] not in self.files:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.files[parts[1]][1])

    # ------------------------------------------------------------ HTTP: control (other process)

    async def _control(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        try:
            result = self._control_action(action, body)
        except (KeyError, LookupError, ValueError) as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": result})

    def _control_action(self, action: str, body: dict[str, Any]) -> Any:
        if action == "users":
            if "count" in body:  # many users at once, for benchmarks
                made = [
                    self.add_user(f"{body.get('first_name', 'U')}{i}")
                    for i in range(int(body["count"]))
                ]
                for handle in made:
                    handle.user.started = bool(body.get("started", True))
                return [h.id for h in made]
            handle = self.add_user(
                body["first_name"],
                username=body.get("username"),
                language_code=body.get("language_code", "zh-hans"),
            )
            return handle.user.as_dict()
        if action == "groups":
            members = [UserHandle(self, self.users[int(i)]) for i in body.get("member_ids", [])]
            return self.add_group(body["title"], members).as_dict()
        if action == "send":
            user = UserHandle(self, self.users[int(body["user_id"])])
            msg = user.send(
                body["text"], chat_id=body.get("chat_id"), reply_to=body.get("reply_to")
            )
            return self.message_dict(msg)
        if action == "press":
            user = UserHandle(self, self.users[int(body["user_id"])])
            target = self.find_message(int(body["chat_id"]), int(body["message_id"]))
            if target is None:
                raise LookupError("no such message")
            query_id = (
                user.press_data(target, body["data"])
                if "data" in body
                else user.press(target, body["label"])
            )
            return {"callback_query_id": query_id}
        if action == "messages":
            return [self.message_dict(m) for m in self.chat_messages(int(body["chat_id"]))]
        if action == "faults":
            self.faults = Faults(**{k: v for k, v in body.items() if k != "methods"})
            self._random = random.Random(self.faults.seed)
            return True
        if action == "limits":
            self.limits = Limits(**body)
            return True
        if action == "stats":
            return {
                "pending_updates": len(self.updates),
                "calls": len(self.calls),
                "messages": sum(len(v) for v in self.messages.values()),
                "flood_429": self.flood_429,
                "faults": self.fault_counts,
            }
        raise KeyError(f"unknown action {action}")


class UserHandle:
    """A test's hands on one user: type, reply, press, upload, read."""

    def __init__(self, fake: FakeTelegram, user: User) -> None:
        self.fake = fake
        self.user = user

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def chat(self) -> Chat:
        return self.fake.chats[self.user.id]

    def _chat(self, chat_id: int | None) -> Chat:
        chat = self.fake.chats[chat_id if chat_id is not None else self.user.id]
        if chat.type == "private":
            self.user.started = True
            self.user.blocked = False
        return chat

    def send(self, text: str, *, chat_id: int | None = None, reply_to: int | None = None) -> Msg:
        chat = self._chat(chat_id)
        msg = self.fake.new_message(chat, self.user.id, text=text, reply_to=reply_to)
        self.fake.push_update("message", self.fake.message_dict(msg))
        return msg

    def reply(self, msg: Msg, text: str) -> Msg:
        """Reply to a message (swipe-to-reply in the client)."""
        return self.send(text, chat_id=msg.chat_id, reply_to=msg.message_id)

    def upload(
        self, name: str, content: bytes, *, caption: str | None = None, chat_id: int | None = None
    ) -> Msg:
        chat = self._chat(chat_id)
        file_id = self.fake.store_file(name, content)
        msg = self.fake.new_message(
            chat, self.user.id, caption=caption, document=(name, content), file_id=file_id
        )
        self.fake.push_update("message", self.fake.message_dict(msg))
        return msg

    def send_photo(
        self, content: bytes, *, caption: str | None = None, chat_id: int | None = None
    ) -> Msg:
        chat = self._chat(chat_id)
        file_id = self.fake.store_file("photo.jpg", content)
        msg = self.fake.new_message(
            chat, self.user.id, caption=caption, photo=content, file_id=file_id
        )
        self.fake.push_update("message", self.fake.message_dict(msg))
        return msg

    def press(self, msg: Msg, label: str) -> str:
        data = msg.button(label).get("callback_data")
        if data is None:
            raise LookupError(f"button {label!r} has no callback data")
        return self.press_data(msg, data)

    def press_data(self, msg: Msg, data: str) -> str:
        """Press a button with any data at all, as a modified client could."""
        query_id = f"Q{next(self.fake._query_ids)}"
        self.fake.open_queries.add(query_id)
        payload = {
            "id": query_id,
            "from": self.user.as_dict(),
            "message": self.fake.message_dict(msg),
            "chat_instance": str(msg.chat_id),
            "data": data,
        }
        self.fake.push_update("callback_query", payload)
        return query_id

    def block_bot(self) -> None:
        self.user.blocked = True

    # --- reading what this user sees

    def bot_messages(self, chat_id: int | None = None) -> list[Msg]:
        return self.fake.bot_messages(chat_id if chat_id is not None else self.user.id)

    async def ask(self, text: str, *, chat_id: int | None = None, timeout: float = 5.0) -> Msg:
        """Send ``text`` and return the bot's first new message in that chat."""
        target = chat_id if chat_id is not None else self.user.id
        before = len(self.fake.bot_messages(target))
        self.send(text, chat_id=chat_id)
        return await self.next_message(before, chat_id=target, timeout=timeout)

    async def next_message(
        self, before: int, *, chat_id: int | None = None, timeout: float = 5.0
    ) -> Msg:
        target = chat_id if chat_id is not None else self.user.id

        def newer() -> Msg | None:
            msgs = self.fake.bot_messages(target)
            return msgs[before] if len(msgs) > before else None

        result: Msg = await self.fake.wait_for(newer, timeout)
        return result

    async def click(self, msg: Msg, label: str, *, timeout: float = 5.0) -> CallbackAnswer:
        """Press a button and wait for the bot's answer to the press."""
        return await self.answer_of(self.press(msg, label), timeout=timeout)

    async def click_data(self, msg: Msg, data: str, *, timeout: float = 5.0) -> CallbackAnswer:
        return await self.answer_of(self.press_data(msg, data), timeout=timeout)

    async def answer_of(self, query_id: str, *, timeout: float = 5.0) -> CallbackAnswer:
        answer: CallbackAnswer = await self.fake.wait_for(
            lambda: self.fake.callback_answers.get(query_id), timeout
        )
        return answer


def _scope_key(params: dict[str, Any]) -> tuple[str, int | None, str]:
    scope = params.get("scope") or {"type": "default"}
    return scope.get("type", "default"), scope.get("chat_id"), params.get("language_code") or ""


def _inline(markup: Any) -> dict[str, Any] | None:
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


def _trim(window: deque[float], before: float) -> None:
    while window and window[0] <= before:
        window.popleft()


def _too_many(wait: float) -> ApiError:
    retry = max(1, int(wait + 0.999))
    return ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)


def _mime(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".xlsx"):
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if lower.endswith(".csv"):
        return "text/csv"
    if lower.endswith(".png"):
        return "image/png"
    return "application/octet-stream"
