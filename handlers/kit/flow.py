"""One engine for every multi-step conversation.

A conversation is declared once::

    MEET = Flow("meet", MeetDraft, {"when": meet_when, "place": meet_place})

with its name, a typed draft (a dataclass) and the handler of each step that waits for typed
text. Everything else comes from the declaration:

- *persistence*: the conversation (flow, step, draft) is loaded from the database before each
  update and written back after it when it changed (``store``), so it survives a restart; a
  use-case that consumes the draft ends the conversation in its own transaction
  (``bot/store/conversations.pop``);
- *routing*: typed text in private chat goes to the handler of the step the conversation
  waits at (``route_text``), buttons reach the flow's draft through ``Flow.draft``;
- *timeouts*: a step that waits for text ends the conversation after the idle timeout and
  says so;
- */cancel* ends whatever conversation is going on.

One conversation at a time: starting one ends the one before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.i18n.texts import t
from bot.services import visits
from bot.store.conversations import dump_draft, load_draft
from handlers.kit.common import actor_of, deps, reply, send_private

log = logging.getLogger("zhibu.flow")
D = TypeVar("D")
Step = Callable[[Update, ContextTypes.DEFAULT_TYPE, D], Awaitable[None]]
Replies = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[bool]]
# text in private chat that no step waits for; told whether a conversation waits for a button
Stray = Callable[[Update, ContextTypes.DEFAULT_TYPE, bool], Awaitable[None]]

_STORED = "_conversation_stored"  # the state as loaded for this update (JSON, for comparison)
_LIVE = "_conversation"  # the Going of this update, once read
FLOWS: dict[str, Flow[Any]] = {}


@dataclass
class Going:
    """The conversation going on: which flow, the step waiting for typed text (None: waiting
    for a button), and the draft so far."""

    flow: str
    step: str | None
    draft: Any


class Flow(Generic[D]):
    def __init__(self, name: str, draft: type[D], steps: Mapping[str, Step[D]]) -> None:
        if name in FLOWS:
            raise ValueError(f"two conversations are called {name!r}")
        self.name, self.draft_type, self.steps = name, draft, dict(steps)
        FLOWS[name] = self

    def start(
        self, context: ContextTypes.DEFAULT_TYPE, user_id: int, draft: D, step: str | None = None
    ) -> D:
        """Begin this conversation (ending any other) with ``draft``; wait at ``step``."""
        _set(context, Going(self.name, None, draft))
        if step is not None:
            self.wait(context, user_id, step)
        else:
            _stop_timer(context, user_id)
        return draft

    def draft(self, context: ContextTypes.DEFAULT_TYPE) -> D | None:
        """This flow's draft, if this conversation is the one going on."""
        now = going(context)
        return now.draft if now is not None and now.flow == self.name else None

    def at(self, context: ContextTypes.DEFAULT_TYPE, step: str) -> D | None:
        """The draft, if the conversation waits at ``step`` of this flow."""
        now = going(context)
        return now.draft if now is not None and now.flow == self.name and now.step == step else None

    def wait(self, context: ContextTypes.DEFAULT_TYPE, user_id: int, step: str) -> None:
        """Wait for typed text at ``step`` (one of the declared steps); the idle timeout starts
        again."""
        if step not in self.steps:
            raise KeyError(f"{self.name} declares no step {step!r}")
        now = going(context)
        if now is None or now.flow != self.name:  # a programming error, even under python -O
            raise RuntimeError(f"{self.name}.wait({step!r}) outside its conversation")
        now.step = step
        _start_timer(context, user_id, f"{self.name}.{step}")

    def pause(self, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
        """Keep the draft, but wait for a button rather than typed text."""
        now = going(context)
        if now is not None and now.flow == self.name:
            now.step = None
        _stop_timer(context, user_id)

    def finish(self, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
        """End this conversation, if it is the one going on."""
        if self.draft(context) is not None:
            end(context, user_id)


def going(context: ContextTypes.DEFAULT_TYPE) -> Going | None:
    """The conversation of the user this update is from (read from the stored state once)."""
    data = context.user_data
    if data is None:
        return None
    if _LIVE not in data:
        data[_LIVE] = _parse(json.loads(data.get(_STORED) or "{}"))
    value = data[_LIVE]
    return value if isinstance(value, Going) else None


def _parse(state: dict[str, Any]) -> Going | None:
    flow = FLOWS.get(str(state.get("flow")))
    if flow is None:
        return None
    draft = load_draft(flow.draft_type, state.get("draft"))
    step = state.get("step")
    if draft is None or (step is not None and step not in flow.steps):
        log.info("a stored %s conversation no longer fits its declaration; dropped", flow.name)
        return None
    return Going(flow.name, step, draft)


def _dumped(now: Going | None) -> str:
    if now is None:
        return "{}"
    state = {"flow": now.flow, "step": now.step, "draft": dump_draft(now.draft)}
    return json.dumps(state, sort_keys=True, ensure_ascii=False)


def _set(context: ContextTypes.DEFAULT_TYPE, value: Going | None) -> None:
    assert context.user_data is not None
    going(context)  # the stored state is read before it is replaced
    context.user_data[_LIVE] = value


def end(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool:
    """End whatever conversation is going on; whether there was one."""
    had = going(context) is not None
    if context.user_data is not None:
        _set(context, None)
    _stop_timer(context, user_id)
    return had


# ---------------------------------------------------------------- before and after each update


def arrived(context: ContextTypes.DEFAULT_TYPE, state: dict[str, Any]) -> None:
    """The stored conversation for this update (the database is the truth, not memory)."""
    if context.user_data is None:
        return
    context.user_data[_STORED] = json.dumps(state, sort_keys=True, ensure_ascii=False)
    context.user_data.pop(_LIVE, None)


async def store(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """After the handlers: write the conversation back if they changed it."""
    user = update.effective_user
    if user is None or user.is_bot or context.user_data is None or _LIVE not in context.user_data:
        return
    dumped = _dumped(going(context))
    if dumped == _dumped(_parse(json.loads(context.user_data.get(_STORED) or "{}"))):
        return
    d = deps(context)
    await visits.save_conversation(d.db, user.id, json.loads(dumped), now=d.clock.now())
    context.user_data[_STORED] = dumped


# ---------------------------------------------------------------- typed text, timeouts, /cancel


def text_handler(
    replies: Replies | None = None, stray: Stray | None = None
) -> MessageHandler[ContextTypes.DEFAULT_TYPE, None]:
    """One handler for typed answers: a reply to one of the bot's messages goes to ``replies``
    first (in private chats and groups); other text in private chat goes to the step the
    conversation waits at, or, when no step waits for text, to ``stray`` (never dropped)."""

    async def route_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        is_reply = message is not None and message.reply_to_message is not None
        if replies is not None and is_reply and await replies(update, context):
            return
        if update.effective_chat is None or update.effective_chat.type != ChatType.PRIVATE:
            return
        now = going(context)
        if now is None or now.step is None:
            if stray is not None:
                await stray(update, context, now is not None)
            return
        await FLOWS[now.flow].steps[now.step](update, context, now.draft)

    return MessageHandler(
        filters.TEXT
        & ~filters.COMMAND
        & (filters.ChatType.PRIVATE | (filters.ChatType.GROUPS & filters.REPLY)),
        route_text,
    )


def _timer(user_id: int) -> str:
    return f"AWAIT {user_id}"


def _start_timer(context: ContextTypes.DEFAULT_TYPE, user_id: int, where: str) -> None:
    queue = context.job_queue
    if queue is None:
        return
    _stop_timer(context, user_id)
    queue.run_once(
        _timed_out,
        deps(context).settings.conversation_timeout_seconds,
        name=_timer(user_id),
        chat_id=user_id,
        user_id=user_id,
        data=where,
    )


def _stop_timer(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
    if context.job_queue is not None:
        for job in context.job_queue.get_jobs_by_name(_timer(user_id)):
            job.schedule_removal()


async def _timed_out(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The idle timeout: the conversation ends, in memory and in the database."""
    job = context.job
    if job is None or job.user_id is None or context.user_data is None:
        return
    now = going(context)
    if now is None or now.step is None:
        return
    context.user_data[_LIVE] = None
    context.user_data[_STORED] = "{}"
    d = deps(context)
    lang = await visits.end_idle_conversation(d.db, job.user_id, default_lang=d.settings.language)
    await send_private(context, job.user_id, t(lang, "common.timed_out"))


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: end the conversation going on, if there is one."""
    actor = await actor_of(update, context)
    had = end(context, actor.telegram_id)
    await reply(update, t(actor.lang, "common.cancelled" if had else "common.nothing_to_cancel"))
