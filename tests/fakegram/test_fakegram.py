"""The fake Telegram behaves like Telegram where the bot could tell the difference."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.fakegram import FakeTelegram, Faults, Limits

TOKEN = "1:fake"


async def call(
    fake: FakeTelegram, method: str, client_timeout: float = 10, **params: Any
) -> httpx.Response:
    data = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in params.items()}
    async with httpx.AsyncClient(timeout=client_timeout) as client:
        return await client.post(f"{fake.base_url}{TOKEN}/{method}", data=data)


async def started_chat(fake: FakeTelegram) -> int:
    user = fake.add_user("U")
    user.send("/start")
    return user.id


async def test_html_is_parsed_and_bad_markup_refused(fake: FakeTelegram) -> None:
    chat = await started_chat(fake)
    ok = await call(
        fake, "sendMessage", chat_id=chat, text="<b>粗</b> &lt;x&gt; &amp;", parse_mode="HTML"
    )
    assert ok.json()["result"]["text"] == "粗 <x> &"
    for text in ("<b>unclosed", "<x>tag</x>", "a < b", "a & b", "</i>"):
        bad = await call(fake, "sendMessage", chat_id=chat, text=text, parse_mode="HTML")
        assert bad.status_code == 400 and "can't parse entities" in bad.json()["description"], text
    plain = await call(fake, "sendMessage", chat_id=chat, text="a < b & c")
    assert plain.status_code == 200


async def test_length_and_keyboard_limits(fake: FakeTelegram) -> None:
    chat = await started_chat(fake)
    assert (await call(fake, "sendMessage", chat_id=chat, text="字" * 4096)).status_code == 200
    too_long = await call(fake, "sendMessage", chat_id=chat, text="字" * 4097)
    assert too_long.json()["description"] == "Bad Request: message is too long"
    emoji = await call(fake, "sendMessage", chat_id=chat, text="😀" * 2049)  # 4098 UTF-16 units
    assert emoji.status_code == 400
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]}
    bad = await call(fake, "sendMessage", chat_id=chat, text="hi", reply_markup=markup)
    assert bad.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "数" * 21}]]}  # 63 bytes
    assert (
        await call(fake, "sendMessage", chat_id=chat, text="hi", reply_markup=markup)
    ).status_code == 200


async def test_users_who_never_started_or_blocked_cannot_be_messaged(fake: FakeTelegram) -> None:
    user = fake.add_user("Quiet")
    never = await call(fake, "sendMessage", chat_id=user.id, text="hi")
    assert never.status_code == 403
    user.send("/start")
    assert (await call(fake, "sendMessage", chat_id=user.id, text="hi")).status_code == 200
    user.block_bot()
    blocked = await call(fake, "sendMessage", chat_id=user.id, text="hi")
    assert blocked.json()["description"] == "Forbidden: bot was blocked by the user"
    unknown = await call(fake, "sendMessage", chat_id=424242, text="hi")
    assert unknown.json()["description"] == "Bad Request: chat not found"


async def test_get_updates_offsets_and_long_polling(fake: FakeTelegram) -> None:
    user = fake.add_user("U")
    for i in range(3):
        user.send(f"m{i}")
    first = (await call(fake, "getUpdates")).json()["result"]
    assert [u["message"]["text"] for u in first] == ["m0", "m1", "m2"]
    again = (await call(fake, "getUpdates")).json()["result"]
    assert [u["update_id"] for u in again] == [u["update_id"] for u in first]  # not confirmed yet
    confirmed = (await call(fake, "getUpdates", offset=first[1]["update_id"] + 1)).json()["result"]
    assert [u["message"]["text"] for u in confirmed] == ["m2"]
    assert (await call(fake, "getUpdates", offset=first[2]["update_id"] + 1, limit=1)).json()[
        "result"
    ] == []

    async def later() -> None:
        await asyncio.sleep(0.2)
        user.send("wake")

    task = asyncio.create_task(later())
    woke = (await call(fake, "getUpdates", offset=first[2]["update_id"] + 1, timeout=5)).json()[
        "result"
    ]
    await task
    assert [u["message"]["text"] for u in woke] == ["wake"]


async def test_second_poller_conflicts(fake: FakeTelegram) -> None:
    first = asyncio.create_task(call(fake, "getUpdates", timeout=3))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(call(fake, "getUpdates", timeout=0))
    assert (await first).status_code == 409
    assert (await second).status_code == 200


async def test_flood_limits_answer_429_with_retry_after(fake: FakeTelegram) -> None:
    chat = await started_chat(fake)
    statuses = [
        (await call(fake, "sendMessage", chat_id=chat, text=f"{i}")).status_code for i in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    fake.limits = Limits(overall_per_second=None, private_per_second=None, group_per_minute=20)
    member = fake.add_user("M")
    group = fake.add_group("G", [member])
    codes = [(await call(fake, "sendMessage", chat_id=group.id, text=f"{i}")) for i in range(21)]
    assert [c.status_code for c in codes].count(429) == 1
    assert codes[-1].json()["parameters"]["retry_after"] >= 1


async def test_overall_limit(fake: FakeTelegram) -> None:
    fake.limits = Limits(overall_per_second=30, private_per_second=None, group_per_minute=None)
    users = [fake.add_user(f"U{i}") for i in range(31)]
    for user in users:
        user.send("/start")
    # all at once, so that a slow moment of a shared machine cannot spread them over two windows
    answers = await asyncio.gather(
        *(call(fake, "sendMessage", chat_id=u.id, text="x") for u in users)
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 30 + [429]


async def test_faults_errors_slow_answers_and_drops(fake: FakeTelegram) -> None:
    chat = await started_chat(fake)
    fake.faults = Faults(error_rate=1.0)
    assert (await call(fake, "sendMessage", chat_id=chat, text="x")).status_code == 502
    fake.faults = Faults(slow_rate=1.0, slow_seconds=1.0)
    before = len(fake.bot_messages(chat))
    with pytest.raises(httpx.ReadTimeout):
        await call(fake, "sendMessage", client_timeout=0.3, chat_id=chat, text="slow")
    assert len(fake.bot_messages(chat)) == before + 1  # it was delivered; the answer was late
    fake.faults = Faults(drop_rate=1.0)
    with pytest.raises(httpx.HTTPError):
        await call(fake, "sendMessage", chat_id=chat, text="dropped")
    assert len(fake.bot_messages(chat)) == before + 1
    fake.faults = Faults()
    assert (await call(fake, "sendMessage", chat_id=chat, text="fine")).status_code == 200


async def test_edits_callbacks_and_files(fake: FakeTelegram) -> None:
    user = fake.add_user("U")
    user.send("/start")
    markup = {"inline_keyboard": [[{"text": "按我", "callback_data": "p:1"}]]}
    sent = (
        await call(fake, "sendMessage", chat_id=user.id, text="one", reply_markup=markup)
    ).json()["result"]
    same = await call(
        fake,
        "editMessageText",
        chat_id=user.id,
        message_id=sent["message_id"],
        text="one",
        reply_markup=markup,
    )
    assert "message is not modified" in same.json()["description"]
    await call(fake, "editMessageText", chat_id=user.id, message_id=sent["message_id"], text="two")
    msg = fake.bot_messages(user.id)[-1]
    assert msg.text == "two" and msg.buttons == []
    missing = await call(fake, "editMessageText", chat_id=user.id, message_id=999, text="x")
    assert missing.json()["description"] == "Bad Request: message to edit not found"

    sent = (await call(fake, "sendMessage", chat_id=user.id, text="q", reply_markup=markup)).json()[
        "result"
    ]
    query = user.press(fake.bot_messages(user.id)[-1], "按我")
    assert (
        await call(fake, "answerCallbackQuery", callback_query_id=query, text="好")
    ).status_code == 200
    assert fake.callback_answers[query].text == "好"
    twice = await call(fake, "answerCallbackQuery", callback_query_id=query)
    assert twice.status_code == 400

    upload = user.upload("名册.xlsx", b"PK\x03\x04data")
    info = (await call(fake, "getFile", file_id=upload.file_id)).json()["result"]
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"{fake.file_url}{TOKEN}/{info['file_path']}")).content
    assert body == b"PK\x03\x04data"


async def test_control_api_for_other_processes(fake: FakeTelegram) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fake.port}/_fake/") as client:
        user = (await client.post("users", json={"first_name": "Remote"})).json()["result"]
        await client.post("send", json={"user_id": user["id"], "text": "/start"})
        updates = (await call(fake, "getUpdates")).json()["result"]
        assert updates[-1]["message"]["text"] == "/start"
        await call(fake, "sendMessage", chat_id=user["id"], text="hello")
        messages = (await client.post("messages", json={"chat_id": user["id"]})).json()["result"]
        assert [m.get("text") for m in messages] == ["/start", "hello"]
        stats = (await client.post("stats")).json()["result"]
        assert stats["messages"] == 2


async def test_a_reply_carries_the_message_it_answers(fake: FakeTelegram) -> None:
    user = fake.add_user("U")
    user.send("/start")
    sent = (await call(fake, "sendMessage", chat_id=user.id, text="请回复")).json()["result"]
    user.reply(fake.bot_messages(user.id)[-1], "我的回答")
    update = fake.update_log[-1]["message"]
    assert update["text"] == "我的回答"
    assert update["reply_to_message"]["message_id"] == sent["message_id"]
    assert update["reply_to_message"]["text"] == "请回复"
