"""How close the outbox comes to Telegram's limit: 10,000 recipients, limits scaled fivefold.

The fake Bot API runs in its own process with every flood limit ×5 (150 messages/s overall)
and judges strictly: no more than the limit in any sliding one-second window. The bot's
throttle is set to the same limit. Prints the achieved rate as a ratio of the limit
(target ≥ 0.95, median of 3 runs) and the number of 429 answers (target 0 in all runs).
By default another benchmark (``bench.checkin``, a CPU-bound burst of presses) runs over and
over alongside, so the sender keeps the limit while the machine is busy; ``--quiet`` runs
it alone.
Run: ``.venv/bin/python -m bench.broadcast [--recipients N] [--quiet]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx

from bench.outbox import drain, start_fake
from bench.report import RUNS, figure, median, spread

SCALE = 5
LIMIT = 30 * SCALE


async def load(stop: asyncio.Event, runs: list[int]) -> None:
    """Run ``bench.checkin`` again and again until ``stop``: the machine is busy meanwhile."""
    while not stop.is_set():
        other = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.checkin", "--presses", "300",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        ended = asyncio.create_task(other.wait())
        halted = asyncio.create_task(stop.wait())
        await asyncio.wait([ended, halted], return_when=asyncio.FIRST_COMPLETED)
        halted.cancel()
        if other.returncode is None:
            other.terminate()
            await other.wait()
        else:
            runs[0] += 1


async def main(recipients: int, *, loaded: bool) -> None:
    fake, base, control = await start_fake("--scale", str(SCALE))
    stop, load_runs = asyncio.Event(), [0]
    busy = asyncio.create_task(load(stop, load_runs)) if loaded else None
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
        stop.set()
        if busy is not None:
            await busy
        fake.terminate()
        await fake.wait()
    alongside = (
        f"; bench.checkin running alongside ({load_runs[0]} full runs of it finished meanwhile)"
        if loaded
        else "; nothing else running"
    )
    print(
        f"inputs: {recipients} recipients, limit {LIMIT}/s (30/s × {SCALE}), fake in its own "
        f"process, {RUNS} runs{alongside}"
    )
    print(f"messages the fake received: {stats['messages']} (expected {RUNS * recipients})")
    print(f"rate / limit per run: {', '.join(f'{r:.3f}' for r in ratios)}; 429s: {refused}")
    ok = median(ratios) >= 0.95 and stats["messages"] == RUNS * recipients
    under = ", machine busy" if loaded else ""
    figure(
        f"broadcast: {recipients} messages, rate / limit{under}",
        spread(ratios, "of the limit", 3),
        "≥ 0.95",
        "ok" if ok else "MISSED",
    )
    figure(
        f"broadcast: 429 answers{under}",
        str(sum(refused)),
        "0",
        "ok" if sum(refused) == 0 else "MISSED",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--quiet", action="store_true", help="nothing else runs meanwhile")
    args = parser.parse_args()
    asyncio.run(main(args.recipients, loaded=not args.quiet))
