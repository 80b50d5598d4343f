"""How tests drive the fake: users and groups added in-process (``UserHandle``), or over HTTP
under ``/_fake/`` when the fake runs as its own process (``python -m tests.fakegram``)."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakegram.faults import Faults, Limits
from tests.fakegram.state import CallbackAnswer, Chat, Msg, User

if TYPE_CHECKING:
    from tests.fakegram.server import FakeTelegram


class Control:
    """Mixed into the server: the test-side API and the ``/_fake/`` endpoint."""

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
