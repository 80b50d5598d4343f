"""``zhibu doctor``: what is wrong with this installation and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.rules.clock import SystemClock
from bot.rules.workdays import Source
from bot.store import liveness
from bot.store.db import Database
from bot.store.migrate import current_revision, head_revision
from settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def run_checks(settings: Settings, *, now: datetime | None = None) -> list[Check]:
    checks = [_check_settings(settings)]
    checks += await _check_database(settings)
    checks += await _check_tasks(settings, now or SystemClock().now())
    checks.append(_check_font())
    checks.append(await _check_bot_api(settings))
    return checks


def _check_settings(settings: Settings) -> Check:
    if settings.bot_token is None:
        return Check(
            "settings",
            False,
            "ZHIBU_BOT_TOKEN is not set",
            "export ZHIBU_BOT_TOKEN=<token from @BotFather>",
        )
    return Check(
        "settings",
        True,
        f"database {settings.database_url.split('://')[0]}, time zone {settings.timezone}, "
        f"language {settings.language}, {len(settings.admin_ids)} bootstrap admin(s)",
    )


async def _check_database(settings: Settings) -> list[Check]:
    db = Database.from_url(settings.database_url)
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
        reachable = Check("database", True, "reachable")
        current = await current_revision(db.engine)
    except (SQLAlchemyError, OSError) as exc:
        return [
            Check(
                "database",
                False,
                f"cannot connect: {type(exc).__name__}",
                "check ZHIBU_DATABASE_URL and that the database server runs",
            )
        ]
    finally:
        await db.dispose()
    head = head_revision()
    if current == head:
        migrations = Check("migrations", True, f"at {head}")
    else:
        migrations = Check(
            "migrations", False, f"at {current or 'none'}, latest is {head}", "run: zhibu migrate"
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
            detail = "no official data: Monday–Friday minus statutory holidays, no make-up days"
            fix = f"import the State Council notice: zhibu holidays import holidays-{year}.txt"
            checks.append(Check(f"holidays {year}", False, detail, fix))
        else:
            checks.append(Check(f"holidays {year}", True, f"from the {source.value} data"))
    return checks


def _check_font() -> Check:
    """The CJK font the charts are drawn with, and its licence."""
    from bot.exports import charts

    try:
        path, family, licence = charts.font_path(), charts.font_name(), charts.font_licence()
    except (charts.FontMissing, OSError, RuntimeError) as exc:
        return Check(
            "chart font",
            False,
            str(exc),
            "reinstall zhibu (pip install -e .): it brings noto-cjk-sans-otc",
        )
    if not licence.upper().startswith("OFL"):
        return Check(
            "chart font",
            False,
            f"{family} from {path.name} is under {licence}, not a free font licence",
            "reinstall zhibu so that noto-cjk-sans-otc (SIL Open Font License) is used",
        )
    return Check("chart font", True, f"{family} ({path.name}), licence {licence}")


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
        return [Check("tasks", True, "no zhibu run has reported yet")]
    newest = max(r.updated_at for r in rows)
    if now - newest > NOT_RUNNING_AFTER:
        return [
            Check(
                "tasks",
                True,
                f"no zhibu run is reporting (last report {newest:%Y-%m-%d %H:%M} UTC)",
            )
        ]
    checks = []
    for row in rows:
        last = f"last good loop {row.last_ok:%H:%M:%S} UTC" if row.last_ok else "no good loop yet"
        if liveness.stalled_row(row, now):
            error = f"; last error: {row.last_error}" if row.last_error else ""
            checks.append(
                Check(
                    f"task {row.name}",
                    False,
                    f"stalled ({last}, {row.failures} failures in a row{error})",
                    f"see the log of {row.holder}; it keeps retrying by itself",
                )
            )
        else:
            checks.append(Check(f"task {row.name}", True, f"alive on {row.holder} ({last})"))
    return checks


async def _check_bot_api(settings: Settings) -> Check:
    if settings.bot_token is None:
        return Check("bot api", False, "no token to ask with", "set ZHIBU_BOT_TOKEN")
    url = f"{settings.api_base_url}{settings.bot_token.get_secret_value()}/getMe"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url)
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Check(
            "bot api",
            False,
            f"unreachable: {type(exc).__name__}",
            "check network access to ZHIBU_API_BASE_URL",
        )
    if not data.get("ok"):
        return Check(
            "bot api",
            False,
            f"refused: {data.get('description', response.status_code)}",
            "check ZHIBU_BOT_TOKEN",
        )
    return Check("bot api", True, f"reachable as @{data['result'].get('username')}")
