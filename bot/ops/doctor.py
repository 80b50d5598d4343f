"""``zhibu doctor``: what is wrong with this installation and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.i18n.texts import Lang, t
from bot.rules.clock import SystemClock
from bot.rules.workdays import Source
from bot.store import liveness
from bot.store.db import Database
from bot.store.migrate import current_revision, head_revision
from settings import Settings

DOCTOR_SOURCE = {  # bot.rules.workdays.Source, where a year's workdays come from
    "imported": "doctor.holidays_imported",
    "package": "doctor.holidays_package",
}


@dataclass(frozen=True)
class Check:
    """One finding, as catalogue keys (``doctor.*``) filled from ``params``: the terminal
    says it in the operator's language (ZHIBU_LANGUAGE, or ``zhibu --lang``)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    params: dict[str, object] = field(default_factory=dict)

    def said(self, lang: Lang) -> tuple[str, str, str]:
        """(name, detail, fix) in ``lang``."""
        fix = t(lang, self.fix, **self.params) if self.fix else ""
        return t(lang, self.name, **self.params), t(lang, self.detail, **self.params), fix


async def run_checks(settings: Settings, *, now: datetime | None = None) -> list[Check]:
    checks = [_check_settings(settings)]
    checks += await _check_database(settings)
    checks += await _check_tasks(settings, now or SystemClock().now())
    checks.append(_check_font())
    checks.append(await _check_bot_api(settings))
    checks.append(await _check_web(settings))
    return checks


async def _check_web(settings: Settings) -> Check:
    """The Mini App: off without ZHIBU_WEB_URL; else its public address must reach the
    running bot's web server (through the reverse proxy), checked by its /healthz."""
    if settings.web_url is None:
        return Check("doctor.web", True, "doctor.web_off")
    params: dict[str, object] = {"url": settings.web_url, "listen": settings.listen}
    public = await _answers(f"{settings.web_url}/healthz")
    if public is None:
        return Check("doctor.web", True, "doctor.web_ok", params=params)
    local = await _answers(f"http://{settings.listen}/healthz")
    detail = "doctor.web_proxy" if local is None else "doctor.web_down"
    return Check("doctor.web", False, detail, "doctor.web_fix", params | {"error": public})


async def _answers(url: str) -> str | None:
    """None when ``url`` answers 200, else what went wrong."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None if response.status_code == 200 else str(response.status_code)


def _check_settings(settings: Settings) -> Check:
    if settings.bot_token is None:
        return Check("doctor.settings", False, "doctor.no_token", "doctor.no_token_fix")
    return Check(
        "doctor.settings",
        True,
        "doctor.settings_ok",
        params={
            "scheme": settings.database_url.split("://")[0],
            "tz": settings.timezone,
            "lang": settings.language,
            "admins": len(settings.admin_ids),
        },
    )


async def _check_database(settings: Settings) -> list[Check]:
    db = Database.from_url(settings.database_url)
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
        reachable = Check("doctor.database", True, "doctor.reachable")
        current = await current_revision(db.engine)
    except (SQLAlchemyError, OSError) as exc:
        return [
            Check(
                "doctor.database",
                False,
                "doctor.cannot_connect",
                "doctor.cannot_connect_fix",
                {"error": type(exc).__name__},
            )
        ]
    finally:
        await db.dispose()
    head = head_revision()
    if current == head:
        migrations = Check("doctor.migrations", True, "doctor.at_head", params={"head": head})
    else:
        migrations = Check(
            "doctor.migrations",
            False,
            "doctor.behind",
            "doctor.behind_fix",
            {"current": current or "-", "head": head},
        )
        return [reachable, migrations]
    return [reachable, migrations, *(await _check_holidays(settings))]


async def _check_holidays(settings: Settings) -> list[Check]:
    """This year's and next year's official workdays must be known, not guessed."""
    from bot.services.obligations import load_workdays

    db = Database.from_url(settings.database_url)
    try:
        async with db.read() as session:
            cal = await load_workdays(session)
    finally:
        await db.dispose()
    this_year = SystemClock().now().astimezone(ZoneInfo(settings.timezone)).year
    checks = []
    for year in (this_year, this_year + 1):
        source = cal.source(year)
        if source is Source.FALLBACK:
            found = Check("doctor.holidays", False, "doctor.guessed", "doctor.guessed_fix")
            checks.append(replace(found, params={"year": year}))
        else:
            detail = DOCTOR_SOURCE[source.value]
            checks.append(Check("doctor.holidays", True, detail, params={"year": year}))
    return checks


def _check_font() -> Check:
    """The CJK font the charts are drawn with, and its licence."""
    from bot.exports import charts

    try:
        path, family, licence = charts.font_path(), charts.font_name(), charts.font_licence()
    except (charts.FontMissing, OSError, RuntimeError) as exc:
        return Check(
            "doctor.font", False, "doctor.font_missing", "doctor.font_fix", {"error": str(exc)}
        )
    found: dict[str, object] = {"family": family, "file": path.name, "licence": licence}
    if not licence.upper().startswith("OFL"):
        return Check("doctor.font", False, "doctor.font_licence", "doctor.font_fix", found)
    return Check("doctor.font", True, "doctor.font_ok", params=found)


NOT_RUNNING_AFTER = timedelta(minutes=2)  # no task reported for this long: no zhibu run


async def _check_tasks(settings: Settings, now: datetime) -> list[Check]:
    """Each long-lived task of the running bot: when it last completed a loop."""
    db = Database.from_url(settings.database_url)
    try:
        async with db.read() as session:
            rows = await liveness.stored(session)
    except (SQLAlchemyError, OSError):
        return []  # the database check has said what is wrong
    finally:
        await db.dispose()
    if not rows:
        return [Check("doctor.tasks", True, "doctor.no_run")]
    newest = max(r.updated_at for r in rows)
    if now - newest > NOT_RUNNING_AFTER:
        when = f"{newest:%Y-%m-%d %H:%M}"
        return [Check("doctor.tasks", True, "doctor.not_reporting", params={"when": when})]
    checks = []
    for row in rows:
        found: dict[str, object] = {
            "task": row.name,
            "holder": row.holder,
            "last": f"{row.last_ok:%H:%M:%S}" if row.last_ok else "-",
            "failures": row.failures,
            "error": row.last_error or "-",
        }
        if liveness.stalled_row(row, now):
            checks.append(
                Check("doctor.task", False, "doctor.stalled", "doctor.stalled_fix", found)
            )
        else:
            checks.append(Check("doctor.task", True, "doctor.alive", params=found))
    return checks


async def _check_bot_api(settings: Settings) -> Check:
    if settings.bot_token is None:
        return Check("doctor.bot_api", False, "doctor.no_token", "doctor.no_token_fix")
    url = f"{settings.api_base_url}{settings.bot_token.get_secret_value()}/getMe"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url)
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Check(
            "doctor.bot_api",
            False,
            "doctor.unreachable",
            "doctor.unreachable_fix",
            {"error": type(exc).__name__},
        )
    if not data.get("ok"):
        reason = str(data.get("description", response.status_code))
        return Check(
            "doctor.bot_api", False, "doctor.refused", "doctor.refused_fix", {"error": reason}
        )
    return Check(
        "doctor.bot_api", True, "doctor.bot_ok", params={"name": data["result"].get("username")}
    )
