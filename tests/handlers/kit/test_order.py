"""ChatOrder: side by side across chats, in order within a chat or a person, and a flood in
one chat takes none of the places the other chats need."""

from __future__ import annotations

import asyncio

from telegram import CallbackQuery, Chat, Message, Update, User

from handlers.kit.order import ChatOrder


def update(update_id: int, chat_id: int, user_id: int) -> Update:
    chat = Chat(chat_id, "group" if chat_id < 0 else "private")
    user = User(user_id, f"U{user_id}", False)
    return Update(update_id, message=Message(update_id, None, chat, from_user=user, text="x"))


async def test_in_order_within_a_chat_side_by_side_across_chats() -> None:
    order = ChatOrder(running=2)
    done: list[int] = []
    group_gate = asyncio.Event()

    async def work(uid: int, wait: asyncio.Event | None) -> None:
        if wait is not None:
            await wait.wait()
        done.append(uid)

    group = [
        asyncio.create_task(order.process_update(update(i, -100, i), work(i, group_gate)))
        for i in range(1, 30)  # 29 updates of one busy group; the first waits at the gate
    ]
    await asyncio.sleep(0.01)
    private = asyncio.create_task(order.process_update(update(99, 500, 500), work(99, None)))
    await asyncio.wait_for(private, 1)  # answered while the whole group waits
    assert done == [99]
    group_gate.set()
    await asyncio.gather(*group)
    assert done[1:] == list(range(1, 30))  # the group's, in the order they came


async def test_one_person_in_two_chats_keeps_their_order() -> None:
    order = ChatOrder(running=4)
    seen: list[str] = []
    gate = asyncio.Event()

    async def first() -> None:
        await gate.wait()
        seen.append("group")

    async def second() -> None:
        seen.append("private")

    a = asyncio.create_task(order.process_update(update(1, -100, 7), first()))
    await asyncio.sleep(0.01)
    b = asyncio.create_task(order.process_update(update(2, 7, 7), second()))
    await asyncio.sleep(0.01)
    assert seen == []  # the person's second update waits for their first
    gate.set()
    await asyncio.gather(a, b)
    assert seen == ["group", "private"]


async def test_a_cancelled_update_does_not_block_its_chat() -> None:
    order = ChatOrder(running=1)
    gate = asyncio.Event()
    ran: list[int] = []

    async def work(uid: int) -> None:
        await gate.wait()
        ran.append(uid)

    first = asyncio.create_task(order.process_update(update(1, 3, 3), work(1)))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(order.process_update(update(2, 3, 3), work(2)))
    await asyncio.sleep(0.01)
    second.cancel()  # cancelled while waiting for its turn
    third = asyncio.create_task(order.process_update(update(3, 3, 3), work(3)))
    gate.set()
    await first
    await asyncio.wait_for(third, 1)
    assert ran == [1, 3]


def press(update_id: int, chat_id: int, user_id: int) -> Update:
    chat = Chat(chat_id, "group" if chat_id < 0 else "private")
    user = User(user_id, f"U{user_id}", False)
    card = Message(1, None, chat, text="card")
    query = CallbackQuery(str(update_id), user, "1", message=card, data="mt:c:1")
    return Update(update_id, callback_query=query)


async def test_presses_on_a_group_card_run_side_by_side_each_person_in_order() -> None:
    order = ChatOrder(running=8)
    gate = asyncio.Event()
    done: list[int] = []

    async def work(uid: int, wait: bool) -> None:
        if wait:
            await gate.wait()
        done.append(uid)

    first = asyncio.create_task(order.process_update(press(1, -100, 7), work(1, True)))
    await asyncio.sleep(0.01)
    others = [
        asyncio.create_task(order.process_update(press(i, -100, 100 + i), work(i, False)))
        for i in range(2, 6)
    ]
    again = asyncio.create_task(order.process_update(press(9, -100, 7), work(9, False)))
    await asyncio.wait_for(asyncio.gather(*others), 1)  # not held up by the first presser
    assert done == [2, 3, 4, 5]  # and the first presser's second press still waits
    gate.set()
    await asyncio.gather(first, again)
    assert done[4:] == [1, 9]
