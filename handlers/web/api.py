"""The Mini App's JSON API. Every request carries Telegram's signed launch data
(``Authorization: tma …``): unsigned, forged, expired or another bot's → 401 and nothing done.
The person is then the same actor as in the chat, and every read and write goes through the
chat's own use-cases, which check role and org scope (refusals audited as in the chat)."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram.ext import Application

from bot.exports import ics, ledger
from bot.i18n import names
from bot.i18n.texts import t
from bot.ops.deps import Deps
from bot.services import board, branches, collections, meetings, visits
from bot.services.access import Actor, Declined, NotAllowed
from bot.services.meetings import Answer
from bot.store.db import UNAVAILABLE
from handlers.meetings import leave_answer, mark_present, refresh_group_card_soon
from handlers.web import auth, shapes

log = logging.getLogger("zhibu.web")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Web:
    """What the endpoints use: the bot's services, its Application (job queue) and token."""

    deps: Deps
    app: Application  # type: ignore[type-arg]
    token: str

    @property
    def tz(self) -> str:
        return self.deps.settings.timezone

    def now(self) -> datetime:
        return self.deps.clock.now()


Handler = Callable[[Request, Web, Actor], Awaitable[Response]]


def endpoint(
    action: str, *, file: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """The launch data checked (401), the actor found, refusals answered and audited.
    ``file``: a download, which also takes a signed link (``POST /api/link``)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            web: Web = request.app.state.web
            who = _caller(request, web, file=file)
            if who is None:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            actor = await visits.acting(
                web.deps.db,
                who[0],
                telegram_language=who[1],
                default_lang=web.deps.settings.language,
                bootstrap_ids=web.deps.bootstrap_ids,
            )
            try:
                return await handler(request, web, actor)
            except NotAllowed as exc:
                await refuse(web, actor, action, exc.key, exc.org_id)
                return JSONResponse({"error": t(actor.lang, exc.key)}, status_code=403)
            except Declined as exc:
                return JSONResponse(
                    {"error": t(actor.lang, exc.key, **exc.params)}, status_code=400
                )
            except UNAVAILABLE as exc:  # busy or gone: the page may try again
                log.warning("%s: database unavailable (%s)", action, type(exc).__name__)
                return JSONResponse({"error": t(actor.lang, "web.busy")}, status_code=503)
            except Exception:  # a bug: said in the log, the server goes on
                log.exception("%s failed", action)
                return JSONResponse({"error": t(actor.lang, "common.error")}, status_code=500)

        return run

    return wrap


def _caller(request: Request, web: Web, *, file: bool) -> tuple[int, str | None] | None:
    """(Telegram id, language) proven by the launch data, or for a download by its link."""
    user = auth.verify(request.headers.get("authorization"), web.token, now=web.now())
    if user is not None:
        return user.telegram_id, user.language
    if file and "sig" in request.query_params:
        query = list(request.query_params.multi_items())
        found = auth.verify_link(request.url.path, query, web.token, now=web.now())
        return (found, None) if found is not None else None
    return None


async def refuse(web: Web, actor: Actor, action: str, key: str, org_id: int | None) -> None:
    detail = {"reason": key, "via": "web"}
    await visits.refused(
        web.deps.db, actor, action=action, org_id=org_id, detail=detail, now=web.now()
    )


def _year(request: Request, web: Web) -> int:
    raw = request.query_params.get("year")
    if raw is None:
        return web.now().astimezone(ZoneInfo(web.tz)).year
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise Declined("web.bad_year")
    return int(raw)


@endpoint("web.me")
async def me(request: Request, web: Web, actor: Actor) -> Response:
    found = await board.me_board(web.deps.db, actor, now=web.now())
    scope = await branches.admin_org_names(web.deps.db, actor) if actor.is_admin else []
    return JSONResponse(shapes.me(actor, found, tz=web.tz, admin_scope=scope))


@endpoint("web.branch")
async def branch(request: Request, web: Web, actor: Actor) -> Response:
    code, year = request.path_params["code"], _year(request, web)
    found = await board.branch_board(web.deps.db, actor, code, year, now=web.now(), tz=web.tz)
    body = shapes.branch(actor.lang, found, tz=web.tz, now_ts=web.now().timestamp())
    return JSONResponse(body)


@endpoint("web.committee")
async def committee(request: Request, web: Web, actor: Actor) -> Response:
    year = _year(request, web)
    rows = await board.committee_board(web.deps.db, actor, year, now=web.now())
    return JSONResponse(shapes.committee(actor.lang, year, rows))


@endpoint("checkin")
async def checkin(request: Request, web: Web, actor: Actor) -> Response:
    """签到 from the app: the chat's check-in, the group card refreshed as after a press."""
    meeting_id = int(request.path_params["meeting_id"])
    code = (await _body(request)).get("code")
    signed = await meetings.sign_in(
        web.deps.db, actor, meeting_id, now=web.now(), code=str(code) if code else None, counts=True
    )
    if signed is None:
        return JSONResponse({"error": t(actor.lang, "common.button_invalid")}, status_code=404)
    key = names.CHECKIN_ANSWER[signed.answer.value]
    if signed.answer is Answer.NOT_EXPECTED:
        raise NotAllowed(key, org_id=signed.meeting.org_id)
    if signed.answer is Answer.OK:
        refresh_group_card_soon(web.app.job_queue, meeting_id)
        for card in await meetings.my_cards(web.deps.db, actor, meeting_id):
            await mark_present(web.app.bot, actor, signed, card)  # the chat's card says so too
    ok = signed.answer in (Answer.OK, Answer.ALREADY)
    body = {"answer": signed.answer.value, "text": t(actor.lang, key)}
    return JSONResponse(body, status_code=200 if ok else 409)


@endpoint("leave")
async def leave(request: Request, web: Web, actor: Actor) -> Response:
    """请假 from the app: the chat's own leave, with its reason; the managers are told."""
    meeting_id = int(request.path_params["meeting_id"])
    if await meetings.find(web.deps.db, meeting_id) is None:
        return JSONResponse({"error": t(actor.lang, "common.button_invalid")}, status_code=404)
    reason = str((await _body(request)).get("reason") or "")
    await meetings.may_ask_leave(web.deps.db, actor, meeting_id, now=web.now())
    taken = await meetings.ask_leave(
        web.deps.db, actor, meeting_id, reason, now=web.now(), lang=web.deps.settings.language
    )
    if taken.answer is Answer.OK:
        web.deps.wake_sender()
        refresh_group_card_soon(web.app.job_queue, meeting_id)
    ok = taken.answer in (Answer.OK, Answer.ALREADY)  # already: the reason was updated
    body = {"answer": taken.answer.value, "text": leave_answer(actor.lang, taken)}
    return JSONResponse(body, status_code=200 if ok else 409)


@endpoint("ask.remind")
async def remind(request: Request, web: Web, actor: Actor) -> Response:
    """提醒未交 from the app: the chat's own reminder of those who have not answered."""
    done = await collections.remind_missing(
        web.deps.db,
        actor,
        int(request.path_params["collection_id"]),
        now=web.now(),
        tz=web.tz,
        default_lang=web.deps.settings.language,
    )
    web.deps.wake_sender()
    text = done.said(actor.lang)
    return JSONResponse({"sent": done.sent, "unreachable": done.unreachable, "text": text})


DOWNLOADS = re.compile(r"^/api/(ics|branch/[A-Za-z0-9_.\-]{1,40}/ledger\.xlsx(\?year=\d{4})?)$")


@endpoint("web.link")
async def link(request: Request, web: Web, actor: Actor) -> Response:
    """A five-minute link to one of this person's downloads, for Telegram's downloadFile
    (it fetches without the page's headers); whether they may have the file is checked when
    it is fetched, as for any download."""
    path = str((await _body(request)).get("path") or "")
    if not DOWNLOADS.match(path):
        raise Declined("web.bad_link")
    signed = auth.signed_link(path, actor.telegram_id, web.token, now=web.now())
    return JSONResponse({"url": signed.lstrip("/")})  # relative: the page may sit under a prefix


@endpoint("export", file=True)
async def workbook(request: Request, web: Web, actor: Actor) -> Response:
    """The ledger workbook, the same file as /export."""
    code, year = request.path_params["code"], _year(request, web)
    org, data = await ledger.workbook_for(web.deps.db, actor, code, year, now=web.now())
    return _file(data, f"{org.code}-{year}.xlsx", XLSX)


@endpoint("ics", file=True)
async def calendar_file(request: Request, web: Web, actor: Actor) -> Response:
    """The person's .ics, the same file as /ics."""
    org, data = await ics.of_member(web.deps.db, actor, now=web.now())
    return _file(data, f"{org.code}.ics", "text/calendar")


def _file(data: bytes, name: str, media: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type=media, headers=headers)


API_BODY = 4096  # bytes: a reason, a code or a path


async def body_within(request: Request, limit: int) -> bytes | None:
    """The request's body, read no further than ``limit`` bytes; None when it is longer
    (uvicorn sets no limit of its own)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    found = bytearray()
    async for part in request.stream():
        found += part
        if len(found) > limit:
            return None
    return bytes(found)


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent (empty when there is none or it is not one); Declined when it is
    longer than anything the board sends."""
    raw = await body_within(request, API_BODY)
    if raw is None:
        raise Declined("web.too_long", limit=API_BODY)
    if not raw:
        return {}
    try:
        found = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


# every endpoint, with the audience the authorization matrix checks it against
ROUTES = [
    Route("/api/me", me, methods=["GET"]),
    Route("/api/branch/{code}", branch, methods=["GET"]),
    Route("/api/branch/{code}/ledger.xlsx", workbook, methods=["GET"]),
    Route("/api/committee", committee, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}/checkin", checkin, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/leave", leave, methods=["POST"]),
    Route("/api/collections/{collection_id:int}/remind", remind, methods=["POST"]),
    Route("/api/ics", calendar_file, methods=["GET"]),
    Route("/api/link", link, methods=["POST"]),
]
