"""The one HTTP server of ``zhibu run`` (SPEC §10, issue #17), on ``ZHIBU_WEB_LISTEN``.

It serves the Mini App (``/app``), its JSON API (``/api/…``), ``/healthz`` and, in webhook
mode, Telegram's updates on the webhook URL's path. Starlette routes it and uvicorn serves it
(the pair python-telegram-bot documents for a custom webhook server): an ASGI stack that is
well kept, small, and runs on the bot's own event loop. Updates need Telegram's secret header
(403 without it); ``/healthz`` says whether the tasks and the database answer (200) or not
(503).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from telegram import MenuButtonWebApp, Update, WebAppInfo
from telegram.error import TelegramError
from telegram.ext import Application

from bot.i18n.texts import t
from bot.ops.deps import Deps
from bot.store import outbox
from bot.store.db import UNAVAILABLE
from bot.store.liveness import Backoff, Liveness
from handlers.kit.intake import hand_over_backlog, parse_update, store_updates
from handlers.web import api

log = logging.getLogger("zhibu.web")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
APP_PATH = "/app"
MAX_BODY = 1024 * 1024
STATIC = Path(__file__).resolve().parent / "static"


def app_url(base: str) -> str:
    """The address Telegram opens for the Mini App under ``ZHIBU_WEB_URL``."""
    return base.rstrip("/") + APP_PATH


async def _update(request: Request) -> Response:
    """An update from Telegram: stored before the 200 (a crash after it loses nothing)."""
    state = request.app.state
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), state.secret.encode()):
        log.warning("webhook request without the right secret from %s", _peer(request))
        return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
    body = await api.body_within(request, MAX_BODY)
    if body is None:
        log.warning("webhook body over %s bytes; answered 413", MAX_BODY)
        return JSONResponse({"ok": False, "error": "too large"}, status_code=413)
    parsed = parse_update(body, state.web.app)
    if parsed is None:
        log.warning("webhook body is not an update (%s bytes); answered 400", len(body))
        return JSONResponse({"ok": False, "error": "not an update"}, status_code=400)
    update, data = parsed
    web: api.Web = state.web
    try:
        fresh = await store_updates(web.deps.db, web.deps.clock, [data])
    except UNAVAILABLE as exc:
        log.warning(
            "webhook update not stored (%s); Telegram will send it again", type(exc).__name__
        )
        return JSONResponse({"ok": False, "error": "unavailable"}, status_code=503)
    if fresh:
        await web.app.update_queue.put(update)
    return JSONResponse({"ok": True})


def _peer(request: Request) -> str:
    return request.client.host if request.client is not None else "?"


async def _health(request: Request) -> Response:
    web: api.Web = request.app.state.web
    liveness: Liveness = request.app.state.liveness
    body: dict[str, Any] = {"status": "ok", "tasks": liveness.report()}
    status = 200
    if not liveness.healthy():
        body["status"], status = "stalled", 503
    try:
        body["outbox_pending"] = await outbox.waiting(web.deps.db)
        body["database"] = "ok"
    except Exception as exc:  # never a traceback to a health check
        state = "unavailable" if isinstance(exc, UNAVAILABLE) else "error"
        body |= {"status": state, "database": type(exc).__name__}
        status = 503
    return JSONResponse(body, status_code=status)


async def _page(request: Request) -> Response:
    """The Mini App's one page (its script reads the launch data from the address)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


# the page runs only its own script and talks only to its own API; nothing is framed by others
# than Telegram's web clients, nothing is sniffed, no address leaves in a Referer
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Guarded(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response


def build_web(
    web: api.Web, liveness: Liveness, *, webhook_path: str | None, secret: str | None
) -> Starlette:
    routes: list[BaseRoute] = [
        Route(HEALTH_PATH, _health, methods=["GET"]),
        Route(APP_PATH, _page, methods=["GET"]),
        Mount(APP_PATH + "/static", StaticFiles(directory=STATIC), name="static"),
        *api.ROUTES,
    ]
    if webhook_path is not None:
        routes.append(Route(webhook_path, _update, methods=["POST"]))
    found = Starlette(
        routes=routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=1024), Middleware(_Guarded)],
    )
    found.state.web = web
    found.state.liveness = liveness
    found.state.secret = secret or ""
    return found


START_WITHIN = 30.0  # seconds the server may take to start listening
LIVE_EVERY = 50  # uvicorn's ticks (0.1 s each) between two liveness marks


class _Server(uvicorn.Server):
    """uvicorn on the bot's loop: the process's own SIGTERM handling stays in charge, and
    its main loop says it is alive (``/healthz`` and ``zhibu doctor`` show it)."""

    def __init__(self, config: uvicorn.Config, liveness: Liveness) -> None:
        super().__init__(config)
        self.liveness = liveness

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        if counter % LIVE_EVERY == 0:
            self.liveness.ok("web")
        return await super().on_tick(counter)


class WebServer:
    """Serves the Mini App, its API, /healthz and (``webhook_url`` given) the webhook, on
    ``listen`` (host:port). With a webhook, it is also the bot's intake of updates."""

    def __init__(
        self,
        app: Application,  # type: ignore[type-arg]
        deps: Deps,
        *,
        listen: str,
        liveness: Liveness,
        web_url: str | None,
        webhook_url: str | None = None,
        secret: str | None = None,
    ) -> None:
        token = app.bot.token
        self.app = app
        self.deps = deps
        self.web_url = web_url
        self.webhook_url = webhook_url
        self.secret = secret
        where = urlparse(f"//{listen}")
        self.host = where.hostname or "127.0.0.1"
        self.port = where.port if where.port is not None else 8080
        path = (urlparse(webhook_url).path or "/") if webhook_url else None
        asgi = build_web(api.Web(deps, app, token), liveness, webhook_path=path, secret=secret)
        config = uvicorn.Config(
            asgi,
            log_config=None,  # the bot's own logging (and its redaction of secrets)
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self.config = config
        self.liveness = liveness
        self.server = _Server(config, liveness)
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))  # a port taken fails here, loudly
        self.port = sock.getsockname()[1]
        return sock

    async def start(self) -> None:
        sock = self._bind()
        self.liveness.register("web")
        self.task = asyncio.create_task(self._serve(sock), name="web")
        deadline = asyncio.get_running_loop().time() + START_WITHIN
        while not self.server.started:
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise RuntimeError(f"the web server did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        log.info("web served on %s:%s", self.host, self.port)
        if self.webhook_url is not None:
            await hand_over_backlog(self.app, self.deps.db)
            await self.app.bot.set_webhook(
                url=self.webhook_url, secret_token=self.secret, allowed_updates=Update.ALL_TYPES
            )
        if self.web_url is not None:
            await self._menu_button()

    async def _serve(self, sock: socket.socket | None) -> None:
        """Serve until stopped; a failure is logged and the server started again (backing
        off), so no error ends it silently."""
        pause = Backoff()
        while not self.stopping:
            try:
                if sock is None:  # the last one was closed with its server
                    sock = self._bind()
                await self.server.serve(sockets=[sock])
            except Exception as exc:
                self.liveness.failed("web", exc)
                wait = pause.next()
                log.warning("web server failed (%s); again in %.1f s", type(exc).__name__, wait)
                await asyncio.sleep(wait)
            else:
                if self.stopping:
                    return
                log.warning("web server ended by itself; starting it again")
                await asyncio.sleep(pause.next())
            self.server = _Server(self.config, self.liveness)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
            sock = None

    async def _menu_button(self) -> None:
        """Private chats' menu button opens the Mini App (a failure is said, not fatal)."""
        text = t(self.deps.settings.language, "web.menu")
        button = MenuButtonWebApp(text, WebAppInfo(app_url(str(self.web_url))))
        try:
            await self.app.bot.set_chat_menu_button(menu_button=button)
        except TelegramError as exc:
            log.warning("could not set the menu button (%s)", type(exc).__name__)

    async def stop(self) -> None:
        """Stop serving; a webhook stays set so Telegram keeps updates until we are back."""
        self.stopping = True
        self.server.should_exit = True
        if self.task is not None:
            if not self.server.started:  # waiting to start again: nothing to finish
                self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
