"""Webhook mode (SPEC §10): a small HTTP server that takes Telegram's updates and answers health
checks. Telegram's secret header is required on every update; without it, or with a wrong
one, the answer is 403 and nothing is handled. ``GET /healthz`` says whether the database
answers (200) or not (503), for the reverse proxy or the process supervisor.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlparse

from telegram import Update
from telegram.ext import Application
from tornado.httpserver import HTTPServer
from tornado.web import Application as WebApplication
from tornado.web import RequestHandler

from bot.rules.clock import Clock
from bot.store import outbox
from bot.store.db import UNAVAILABLE, Database
from bot.store.liveness import Liveness
from handlers.kit.intake import hand_over_backlog, parse_update, store_updates

log = logging.getLogger("zhibu.webhook")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
MAX_BODY = 1024 * 1024


class _UpdateHandler(RequestHandler):
    def initialize(self, app: Application, secret: str, db: Database, clock: Clock) -> None:  # type: ignore[type-arg]
        self.bot_app = app
        self.secret = secret
        self.db = db
        self.clock = clock

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook request without the right secret from %s", self.request.remote_ip)
            self.set_status(403)
            self.finish({"ok": False, "error": "forbidden"})
            return
        parsed = parse_update(self.request.body, self.bot_app)
        if parsed is None:
            log.warning(
                "webhook body is not an update (%s bytes); answered 400", len(self.request.body)
            )
            self.set_status(400)
            self.finish({"ok": False, "error": "not an update"})
            return
        update, data = parsed
        try:  # stored before the 200: a crash after it loses nothing
            fresh = await store_updates(self.db, self.clock, [data])
        except UNAVAILABLE as exc:
            log.warning(
                "webhook update not stored (%s); Telegram will send it again", type(exc).__name__
            )
            self.set_status(503)
            self.finish({"ok": False, "error": "unavailable"})
            return
        self.finish({"ok": True})
        if fresh:
            await self.bot_app.update_queue.put(update)


class _HealthHandler(RequestHandler):
    def initialize(self, db: Database, liveness: Liveness) -> None:
        self.db = db
        self.liveness = liveness

    async def get(self) -> None:
        body: dict[str, Any] = {"status": "ok", "tasks": self.liveness.report()}
        if not self.liveness.healthy():
            body["status"] = "stalled"
            self.set_status(503)
        try:
            body["outbox_pending"] = await outbox.waiting(self.db)
            body["database"] = "ok"
        except UNAVAILABLE as exc:
            body |= {"status": "unavailable", "database": type(exc).__name__}
            self.set_status(503)
        except Exception as exc:  # never a traceback to a health check
            body |= {"status": "error", "database": type(exc).__name__}
            self.set_status(503)
        self.finish(body)


class WebhookServer:
    """Serves ``url``'s path (updates) and ``/healthz`` on ``listen`` (host:port)."""

    def __init__(
        self,
        app: Application,  # type: ignore[type-arg]
        db: Database,
        *,
        url: str,
        listen: str,
        secret: str,
        clock: Clock,
        liveness: Liveness,
    ) -> None:
        self.app = app
        self.db = db
        self.url = url
        self.secret = secret
        where = urlparse(f"//{listen}")
        self.host = where.hostname or "127.0.0.1"
        self.port = where.port or 8443
        path = urlparse(url).path or "/"
        web = WebApplication(
            [
                (path, _UpdateHandler, {"app": app, "secret": secret, "db": db, "clock": clock}),
                (HEALTH_PATH, _HealthHandler, {"db": db, "liveness": liveness}),
            ]
        )
        self.server = HTTPServer(web, max_body_size=MAX_BODY)

    async def start(self) -> None:
        self.server.listen(self.port, self.host)
        await hand_over_backlog(self.app, self.db)
        await self.app.bot.set_webhook(
            url=self.url, secret_token=self.secret, allowed_updates=Update.ALL_TYPES
        )
        log.info("webhook served on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop taking updates; the webhook stays set so Telegram keeps them until we are back."""
        self.server.stop()
        await self.server.close_all_connections()
