"""Requests to the Bot API over lanes (#15): at most one request per connection at a time, the
connections reused, a wait for a free lane bounded by the pool timeout, and a lane given back
whatever happened to its request. Against a real HTTP server that notes each connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from telegram.error import TimedOut
from telegram.request import HTTPXRequest

from handlers.kit.lanes import LaneRequest
from tests.helpers import RunningBot, free_port


@dataclass
class Seen:
    """What the server saw: requests in flight at most, the client connections used, and the
    requests per connection in flight at once (never more than one on HTTP/1.1)."""

    now: int = 0
    most: int = 0
    connections: set[tuple[str, int]] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    delay: float = 0.05


@contextlib.asynccontextmanager
async def server(seen: Seen) -> AsyncIterator[str]:
    async def method(request: Request) -> JSONResponse:
        assert request.client is not None
        seen.connections.add((request.client.host, request.client.port))
        seen.requests.append(request.path_params["name"])
        seen.now += 1
        seen.most = max(seen.most, seen.now)
        try:
            await asyncio.sleep(float(request.query_params.get("delay", seen.delay)))
        finally:
            seen.now -= 1
        return JSONResponse({"ok": True, "result": True})

    port = free_port()
    app = Starlette(routes=[Route("/{name}", method, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        await task


@contextlib.asynccontextmanager
async def lanes_to(
    seen: Seen, lanes: int, pool_timeout: float | None
) -> AsyncIterator[tuple[LaneRequest, str]]:
    """``lanes`` lanes to a server noting into ``seen``, initialised and shut down after."""
    request = LaneRequest(lanes, pool_timeout=pool_timeout)
    async with server(seen) as base:
        await request.initialize()
        try:
            yield request, base
        finally:
            await request.shutdown()


async def call(lanes: LaneRequest, base: str, name: str, **kwargs: float) -> bytes:
    status, body = await lanes.do_request(f"{base}/{name}", "POST", **kwargs)
    assert status == 200 and json.loads(body)["ok"], body
    return body


async def test_many_requests_share_a_few_connections_one_request_each_at_a_time() -> None:
    seen = Seen()
    async with lanes_to(seen, 4, None) as (lanes, base):
        await asyncio.gather(*(call(lanes, base, f"m{k}") for k in range(40)))
    assert sorted(seen.requests) == sorted(f"m{k}" for k in range(40))  # each sent once
    assert seen.most == 4  # four lanes, all used, never more at once
    assert len(seen.connections) == 4  # each lane kept its one connection, request after request


async def test_lanes_are_made_only_when_requests_overlap() -> None:
    seen = Seen(delay=0.0)
    async with lanes_to(seen, 8, None) as (lanes, base):
        for k in range(10):  # one after another: one lane, one connection
            await call(lanes, base, f"s{k}")
        assert len(seen.connections) == 1
        seen.delay = 0.05
        await asyncio.gather(*(call(lanes, base, f"p{k}") for k in range(3)))
    assert len(seen.connections) == 3 and seen.most == 3  # three at once: two more lanes


async def test_a_request_waits_for_a_lane_at_most_the_pool_timeout_and_is_not_sent() -> None:
    seen = Seen(delay=1.0)
    async with lanes_to(seen, 1, 0.2) as (lanes, base):
        slow = asyncio.create_task(call(lanes, base, "slow"))
        await asyncio.sleep(0.1)
        with pytest.raises(TimedOut, match="not sent"):
            await call(lanes, base, "late")
        await slow
        await call(lanes, base, "after", pool_timeout=5.0)  # its own timeout, a free lane
    assert seen.requests == ["slow", "after"]


async def test_a_lane_comes_back_after_a_failed_or_cancelled_request() -> None:
    seen = Seen(delay=0.5)
    async with lanes_to(seen, 1, 0.2) as (lanes, base):
        with pytest.raises(TimedOut):  # the server is slower than the read timeout
            await call(lanes, base, "times-out", read_timeout=0.05)
        cancelled = asyncio.create_task(call(lanes, base, "cancelled"))
        await asyncio.sleep(0.1)
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        await call(lanes, base, "fine", read_timeout=2.0)  # the one lane is free again
    assert seen.requests[-1] == "fine"


def test_no_lanes_is_refused() -> None:
    with pytest.raises(ValueError, match="lane"):
        LaneRequest(0)


async def test_the_bot_calls_over_its_lanes_and_polls_on_a_connection_of_its_own(
    bot: RunningBot,
) -> None:
    """Every Bot API call of the running bot goes over lanes, one per sender worker and per
    update handled at once and a few more; getUpdates keeps its own connection."""
    calls, polls = bot.app.bot.request, bot.app.bot._request[0]  # PTB names only the first
    assert isinstance(calls, LaneRequest)
    settings = bot.settings
    assert calls.lanes == settings.sender_workers + settings.concurrent_updates + 8
    assert isinstance(polls, HTTPXRequest) and not isinstance(polls, LaneRequest)
    assert polls.read_timeout == settings.request_timeout_seconds + 30
    user = bot.fake.add_user("Eve", language_code="en")
    assert "not linked" in (await user.ask("/start")).content  # answered through the lanes
