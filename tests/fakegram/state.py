"""The fake's world: users, chats, messages as the chats show them, the updates waiting for
the bot, files. Tests read it; the API and the control endpoint change it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


class State:
    """Mixed into the server: the world and its bookkeeping."""

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


def _mime(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".xlsx"):
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if lower.endswith(".csv"):
        return "text/csv"
    if lower.endswith(".png"):
        return "image/png"
    return "application/octet-stream"
