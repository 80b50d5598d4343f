"""How close the outbox comes to Telegram's limit: 10,000 recipients, limits scaled fivefold.

The fake Bot API runs in its own process with every flood limit ×5 (150 messages/s overall)
and judges strictly: no more than the limit in any sliding one-second window. The bot's
throttle is set to the same limit. Prints the achieved rate as a ratio of the limit
(target ≥ 0.95, median of 3 runs) and the number of 429 answers (target 0 in all runs).
Run: ``.venv/bin/python -m bench.broadcast [--recipients N]``.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx

from bench.outbox import drain, start_fake
from bench.report import RUNS, figure, median, spread

SCALE = 5
LIMIT = 30 * SCALE


async def main(recipients: int) -> None:
    fake, base, control = await start_fake("--scale", str(SCALE))
    try:
        async with httpx.AsyncClient(base_url=control, timeout=60) as client:
            ids = (await client.post("users", json={"count": recipients, "started": True})).json()[
                "result"
            ]
            ratios, refused = [], []
            for run in range(RUNS):
                before = (await client.post("stats")).json()["result"]["flood_429"]
                took = await drain(base, ids, limit=LIMIT, workers=32, run=run)
                ratios.append(recipients / took / LIMIT)
                refused.append((await client.post("stats")).json()["result"]["flood_429"] - before)
                await asyncio.sleep(1.1)  # the next run starts with an empty one-second window
            stats = (await client.post("stats")).json()["result"]
    finally:
        fake.terminate()
        await fake.wait()
    print(
        f"inputs: {recipients} recipients, limit {LIMIT}/s (30/s × {SCALE}), fake in its own "
        f"process, {RUNS} runs"
    )
    print(f"messages the fake received: {stats['messages']} (expected {RUNS * recipients})")
    print(f"rate / limit per run: {', '.join(f'{r:.3f}' for r in ratios)}; 429s: {refused}")
    ok = median(ratios) >= 0.95 and stats["messages"] == RUNS * recipients
    figure(
        f"broadcast: {recipients} messages, rate / limit",
        spread(ratios, "of the limit", 3),
        "≥ 0.95",
        "ok" if ok else "MISSED",
    )
    figure(
        "broadcast: 429 answers", str(sum(refused)), "0", "ok" if sum(refused) == 0 else "MISSED"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().recipients))
