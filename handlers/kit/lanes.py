"""Requests to the Bot API over lanes: one connection each, one request on it at a time (#15).

PTB's ``HTTPXRequest`` shares one httpx pool between every request in flight. httpcore 1.0
places all the requests queued at one moment on the *first* connection that looks available;
all but one then find it busy and go round again, each round looking at every connection of the
pool (a poll of each idle socket). With 32 sender workers a message took 13 such rounds on
average and the pool's bookkeeping cost more than the sending. Here every request first takes
a free lane (first come, first served), and each lane is an ``HTTPXRequest`` with a single
connection that only ever carries one request at a time: nothing is queued inside httpcore, the
connection is reused request after request, and no round is ever repeated.

Waiting for a free lane keeps PTB's meaning of the pool timeout: longer than ``pool_timeout``
and the request is not sent (``TimedOut``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData


class LaneRequest(BaseRequest):
    """Up to ``lanes`` single-connection ``HTTPXRequest``s; a request takes a free one for its
    time. A lane is made when a request finds none free and there are fewer than ``lanes``:
    a bot that never has many requests at once never makes many."""

    def __init__(self, lanes: int, *, pool_timeout: float | None = 1.0, **options: Any) -> None:
        if lanes < 1:
            raise ValueError("at least one lane")
        # one TLS context for all (httpx's own default): making one per client cost 40 ms
        self._options = {
            "connection_pool_size": 1,
            "pool_timeout": pool_timeout,
            "httpx_kwargs": {"verify": httpx.create_ssl_context()},
            **options,
        }
        self._most = lanes
        self._lanes = [HTTPXRequest(**self._options)]
        self._pool_timeout = pool_timeout
        self._free: asyncio.Queue[HTTPXRequest] | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._lanes[0].read_timeout

    @property
    def lanes(self) -> int:
        """How many lanes there may be at most."""
        return self._most

    def _queue(self) -> asyncio.Queue[HTTPXRequest]:
        if self._free is None:  # made on the loop that uses it
            self._free = asyncio.Queue()
            for lane in self._lanes:
                self._free.put_nowait(lane)
        return self._free

    async def _take(self, waiting: float | None) -> HTTPXRequest:
        free = self._queue()
        if free.empty() and len(self._lanes) < self._most:
            lane = HTTPXRequest(**self._options)
            self._lanes.append(lane)
            await lane.initialize()
            return lane
        try:
            async with asyncio.timeout(waiting):
                return await free.get()
        except TimeoutError as exc:
            raise TimedOut(
                "Pool timeout: every connection to the Bot API is busy; the request was not sent"
            ) from exc

    async def initialize(self) -> None:
        self._free = None  # a queue of the loop this runs on
        for lane in self._lanes:
            await lane.initialize()

    async def shutdown(self) -> None:
        for lane in self._lanes:
            await lane.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        waiting = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        lane = await self._take(waiting)
        try:
            return await lane.do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        finally:
            self._queue().put_nowait(lane)
