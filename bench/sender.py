"""The outbox sender's own ceiling, as a ratio of a bare python-telegram-bot sender (#15).

With paid broadcasts Telegram lets a bot send up to 1,000 messages a second; zhibu must not be
its own bottleneck. Both senders send the same messages, one to each of N users, with the same
number of workers, to the same fake Bot API running in its own process with flood limits off:

- bare: N workers each take a chat from a queue and call ``send_message``; nothing else;
- zhibu: the messages are outbox rows; the OutboxSender claims them, sends them through the
  throttle (set to 1,000/s), and marks each one sent in the database.

Each sender runs 3 times, alternating; the verdict is the ratio of the medians (goal ≥ 0.9).
Run: ``.venv/bin/python -m bench.sender [--messages N] [--workers W]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.request import HTTPXRequest

from bench.outbox import drain, start_fake
from bench.report import RUNS, figure, median, spread

PAID_LIMIT = 1000  # messages a second with paid broadcasts
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def bare(base: str, chats: list[int], workers: int) -> float:
    """Seconds for a bare PTB bot's ``workers`` to send one message to each chat."""
    request = HTTPXRequest(connection_pool_size=max(workers, 8))
    bot = Bot("1:bare", base_url=base, request=request)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for chat in chats:
        queue.put_nowait(chat)

    async def work() -> None:
        while not queue.empty():
            chat = queue.get_nowait()
            await bot.send_message(  # the same request as zhibu's (its Defaults)
                chat, f"提醒 {chat}", parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
            )

    async with bot:
        started = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(workers)))
        return time.perf_counter() - started


async def main(messages: int, workers: int) -> None:
    fake, base, control = await start_fake("--no-limits")
    rates: dict[str, list[float]] = {"bare": [], "zhibu": []}
    try:
        async with httpx.AsyncClient(base_url=control, timeout=60) as client:
            chats = (await client.post("users", json={"count": messages, "started": True})).json()[
                "result"
            ]
            for run in range(RUNS):  # alternating which goes first
                for name in ("bare", "zhibu") if run % 2 == 0 else ("zhibu", "bare"):
                    took = (
                        await bare(base, chats, workers)
                        if name == "bare"
                        else await drain(base, chats, limit=PAID_LIMIT, workers=workers, run=run)
                    )
                    rates[name].append(messages / took)
            stats = (await client.post("stats")).json()["result"]
    finally:
        fake.terminate()
        await fake.wait()
    print(
        f"inputs: {messages} messages to {messages} users, {workers} workers, fake Bot API in "
        f"its own process with flood limits off; zhibu's throttle at {PAID_LIMIT}/s; {RUNS} runs"
    )
    print(f"messages the fake received: {stats['messages']} (expected {2 * RUNS * messages})")
    for name, values in rates.items():
        print(f"{name:>6}: {spread(values, 'messages/s', 0)}")
    ratio = median(rates["zhibu"]) / median(rates["bare"])
    complete = stats["messages"] == 2 * RUNS * messages
    figure(
        f"sender: {workers} workers, rate / bare PTB",
        f"{ratio:.2f} ({median(rates['zhibu']):.0f} vs {median(rates['bare']):.0f}/s)",
        "≥ 0.9",
        "ok" if ratio >= 0.9 and complete else "MISSED",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.workers))
