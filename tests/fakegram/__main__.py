"""Run the fake Bot API server as its own process: ``python -m tests.fakegram --port N``."""

from __future__ import annotations

import argparse
import asyncio
import signal

from tests.fakegram.server import FakeTelegram, Limits


async def _serve(host: str, port: int, no_limits: bool, scale: float) -> None:
    base = Limits()
    limits = (
        Limits(None, None, None)
        if no_limits
        else Limits(
            round((base.overall_per_second or 30) * scale),
            round((base.private_per_second or 5) * scale),
            round((base.group_per_minute or 20) * scale),
        )
    )
    fake = FakeTelegram(limits=limits)
    await fake.start(host, port)
    print(f"fakegram listening on http://{host}:{fake.port}/bot", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-limits", action="store_true", help="switch flood limits off")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every flood limit")
    args = parser.parse_args()
    asyncio.run(_serve(args.host, args.port, args.no_limits, args.scale))


if __name__ == "__main__":
    main()
