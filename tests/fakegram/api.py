"""The Bot API methods the fake answers, with Telegram's checks of their parameters."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from tests.fakegram.faults import _too_many
from tests.fakegram.markup import (
    CAPTION_MAX,
    ApiError,
    check_keyboard,
    check_text,
    visible_text,
)
from tests.fakegram.state import CallbackAnswer, Chat, Msg

JSON_FIELDS = {
    "reply_markup",
    "menu_button",
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


class BotApi:
    """Mixed into the server: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``."""

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
            self._heard(params)
            if sending:
                self._count_sent(int(params.get("chat_id", 0)))
        except ApiError as exc:
            return _error(exc)
        finally:
            self._notify()
        if fault == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        return web.json_response({"ok": True, "result": result})

    def _heard(self, params: dict[str, Any]) -> None:
        """Keep every text the bot showed a person (messages, edits, captions, toasts and
        button labels), for checks over everything a test made the bot say."""
        for key in ("text", "caption"):
            if isinstance(params.get(key), str):
                self.said.append(params[key])
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                self.said += [str(b.get("text", "")) for b in row if isinstance(b, dict)]

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

    async def m_setChatMenuButton(self, params: dict[str, Any]) -> Any:
        button = params.get("menu_button") or {"type": "default"}
        if button.get("type") == "web_app":
            if not str(button.get("web_app", {}).get("url", "")).startswith("https://"):
                raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            if not button.get("text"):
                raise ApiError(400, "Bad Request: BUTTON_TEXT_EMPTY")
        self.menu_buttons[params.get("chat_id")] = button
        return True

    async def m_getChatMenuButton(self, params: dict[str, Any]) -> Any:
        return self.menu_buttons.get(params.get("chat_id"), {"type": "default"})

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

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        parts = path.split("/")
        if len(parts) < 2 or parts[1] not in self.files:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.files[parts[1]][1])


def _scope_key(params: dict[str, Any]) -> tuple[str, int | None, str]:
    scope = params.get("scope") or {"type": "default"}
    return scope.get("type", "default"), scope.get("chat_id"), params.get("language_code") or ""


def _inline(markup: Any) -> dict[str, Any] | None:
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)
