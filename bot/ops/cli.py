"""The ``zhibu`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, closing
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.exports.tables import pad
from bot.i18n import names
from bot.i18n.texts import Lang, t
from bot.ops.logs import setup_logging
from bot.rules.clock import SystemClock
from bot.rules.workdays import WorkdayCalendar
from bot.store.db import Database
from settings import Settings, get_settings

if TYPE_CHECKING:
    from bot.store.models import Org

EXIT_USAGE = 2


LANG_OVERRIDE: list[Lang] = []  # zhibu --lang: the terminal's language over ZHIBU_LANGUAGE


def _lang(settings: Settings) -> Lang:
    """The one language of the terminal's output: --lang, else the settings' language."""
    return LANG_OVERRIDE[-1] if LANG_OVERRIDE else settings.language


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            name = f"ZHIBU_{where.upper()}" if where != "settings" else where
            print(f"zhibu: {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def _with_db(work: Callable[[Database, Settings], Awaitable[int]]) -> int:
    """Run ``work`` on a migrated database, then close it."""
    from bot.store.migrate import upgrade

    settings = _settings()

    async def go() -> int:
        db = Database.from_url(settings.database_url)
        try:
            await upgrade(db.engine)
            return await work(db, settings)
        finally:
            await db.dispose()

    return asyncio.run(go())


async def _org(session: AsyncSession, code: str, command: str) -> Org | None:
    """The org with this code (any case), or None after saying so on stderr."""
    from bot.services.access import by_code

    org = await session.scalar(by_code(code))
    if org is None:
        lang = LANG_OVERRIDE[-1] if LANG_OVERRIDE else get_settings().language
        print(f"zhibu {command}: {t(lang, 'cli.no_org', code=code)}", file=sys.stderr)
    return org


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        print(
            "zhibu: ZHIBU_BOT_TOKEN is not set; put the token from @BotFather in the environment or .env",
            file=sys.stderr,
        )
        return 1
    redactor = setup_logging(settings.log_level, settings.secrets())
    from handlers.app import run

    try:
        return run(settings)
    except Exception as exc:  # one clear line, never a traceback (it could hold a secret)
        print(f"zhibu: {redactor.redact(startup_failure(exc))}", file=sys.stderr)
        return 1


def startup_failure(exc: BaseException) -> str:
    """What stopped ``zhibu run`` from starting, in the words of ``zhibu doctor``."""
    from sqlalchemy.exc import SQLAlchemyError
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from bot.store.leader import AlreadyRunning

    if isinstance(exc, AlreadyRunning):
        return str(exc)
    if isinstance(exc, InvalidToken):
        return "bot api: refused: Telegram rejected the token (fix: check ZHIBU_BOT_TOKEN)"
    if isinstance(exc, NetworkError):
        return (
            f"bot api: unreachable: {type(exc).__name__} "
            "(fix: check network access to ZHIBU_API_BASE_URL)"
        )
    if isinstance(exc, TelegramError):
        return f"bot api: refused: {exc.message} (fix: check ZHIBU_BOT_TOKEN)"
    if isinstance(exc, SQLAlchemyError | OSError):
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return (
            f"database: unreachable: {type(exc).__name__}: {first} "
            "(fix: check ZHIBU_DATABASE_URL; zhibu doctor says more)"
        )
    return f"could not start: {type(exc).__name__} (run zhibu doctor)"


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.store.migrate import downgrade, upgrade

    settings = _settings()

    async def go() -> None:
        db = Database.from_url(settings.database_url)
        try:
            if args.to and args.to != "head":
                await downgrade(db.engine, args.to)
            else:
                await upgrade(db.engine)
        finally:
            await db.dispose()

    asyncio.run(go())
    print(f"zhibu: {t(_lang(settings), 'cli.migrated', revision=args.to or 'head')}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from bot.services.roster import (
        MEMBER_SHEET,
        ORG_SHEET,
        Importer,
        RosterFormatError,
        import_roster,
        read_csv,
        read_workbook_isolated,
        render_result,
        write_template,
    )

    settings = _settings()
    lang = _lang(settings)
    if args.template:
        write_template(args.template)
        print(t(lang, "roster.template_written", path=args.template))
        return 0
    try:
        if args.file:
            contents = [Path(args.file).read_bytes()]
            orgs, members = read_workbook_isolated(contents[0])
        elif args.orgs and args.members:
            contents = [Path(args.orgs).read_bytes(), Path(args.members).read_bytes()]
            orgs = read_csv(contents[0], ORG_SHEET)
            members = read_csv(contents[1], MEMBER_SHEET)
        else:
            print(f"zhibu import: {t(lang, 'cli.import_need_file')}", file=sys.stderr)
            return EXIT_USAGE
    except OSError as exc:
        print(f"zhibu import: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except RosterFormatError as exc:
        print(t(lang, exc.key, **exc.params), file=sys.stderr)
        return EXIT_USAGE

    async def go() -> int:
        async with _database(settings, dry_run=args.dry_run) as (db, empty):
            if empty:
                print(t(lang, "roster.dry_run_empty"))
            result = await import_roster(
                db,
                orgs,
                members,
                now=SystemClock().now(),
                default_timezone=settings.timezone,
                dry_run=args.dry_run,
                by=Importer.of("cli", args.file or f"{args.orgs} + {args.members}", *contents),
            )
        stream = sys.stdout if result.counts is not None else sys.stderr
        for line in render_result(lang, result, dry_run=args.dry_run):
            print(line, file=stream)
        return 0 if result.counts is not None else EXIT_USAGE

    return asyncio.run(go())


@asynccontextmanager
async def _database(settings: Settings, *, dry_run: bool) -> AsyncIterator[tuple[Database, bool]]:
    """The configured database, migrated; for a dry run, one that is thrown away after: a
    copy of the SQLite file (or a migrated PostgreSQL database, in a transaction rolled
    back), so that a dry run never creates, migrates or changes the real one. The flag says
    the real database did not exist (or was not migrated) and an empty one stood in."""
    from sqlalchemy.engine import make_url

    from bot.store.migrate import current_revision, head_revision, upgrade

    url = make_url(settings.database_url)
    with tempfile.TemporaryDirectory() as tmp:
        scratch, empty = f"sqlite+aiosqlite:///{Path(tmp) / 'dry-run.db'}", True
        if not dry_run:
            db = Database.from_url(settings.database_url)
            await upgrade(db.engine)
            empty = False
        elif url.get_backend_name() == "sqlite":
            source = url.database or ""
            copied = await asyncio.to_thread(_copy_sqlite, source, Path(tmp) / "dry-run.db")
            empty = not copied
            db = Database.from_url(scratch)
            await upgrade(db.engine)
        else:
            db = Database.from_url(settings.database_url)
            try:
                empty = await current_revision(db.engine) != head_revision()
            except OSError:
                empty = True
            if empty:
                await db.dispose()
                db = Database.from_url(scratch)
                await upgrade(db.engine)
        try:
            yield db, empty
        finally:
            await db.dispose()


def _copy_sqlite(source: str, target: Path) -> bool:
    """A consistent copy of a SQLite database, opened read-only (nothing written to it);
    False when there is no such file."""
    if source in ("", ":memory:") or not Path(source).is_file():
        return False
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    return True


def cmd_records(args: argparse.Namespace) -> int:
    """``zhibu records import FILE.xlsx [--org CODE] [--dry-run]``: meetings held before the
    bot, from a ledger's 会议记录 sheet (or the template's)."""
    from bot.services.backfill import import_records, read_records_workbook, render_outcome
    from bot.services.roster import RosterFormatError, read_isolated

    settings = _settings()
    lang = _lang(settings)
    try:
        data = Path(args.file).read_bytes()
        tables = read_isolated(data, read_records_workbook)
    except OSError as exc:
        print(f"zhibu records: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except RosterFormatError as exc:
        print(t(lang, exc.key, **exc.params), file=sys.stderr)
        return EXIT_USAGE

    async def go() -> int:
        async with _database(settings, dry_run=args.dry_run) as (db, empty):
            if empty:
                print(t(lang, "roster.dry_run_empty"))
            outcome = await import_records(
                db,
                tables,
                now=SystemClock().now(),
                default_branch=args.org,
                dry_run=args.dry_run,
                source=(args.file, data),
            )
        stream = sys.stdout if outcome.ok else sys.stderr
        for line in render_outcome(lang, outcome, dry_run=args.dry_run):
            print(line, file=stream)
        return 0 if outcome.ok else EXIT_USAGE

    return asyncio.run(go())


def cmd_admins(args: argparse.Namespace) -> int:
    from bot.services.admins import add_admin, list_admins, remove_admin

    async def work(db: Database, settings: Settings) -> int:
        if args.action == "list":
            for code, user_id, name in await list_admins(db):
                print(f"{code}\t{user_id}\t{name or ''}")
            return 0
        lang = _lang(settings)
        if args.org is None or args.user is None:
            print(f"zhibu admins: {t(lang, 'cli.admins_need')}", file=sys.stderr)
            return EXIT_USAGE
        now = SystemClock().now()
        if args.action == "add":
            ok = await add_admin(db, args.org, args.user, args.name, now=now)
        else:
            ok = await remove_admin(db, args.org, args.user, now=now)
        if not ok:
            print(f"zhibu admins: {t(lang, 'cli.no_org', code=args.org)}", file=sys.stderr)
            return EXIT_USAGE
        done = t(lang, "cli.admins_done", action=args.action, user=args.user, org=args.org)
        print(f"zhibu admins: {done}")
        return 0

    return _with_db(work)


def cmd_orgs(args: argparse.Namespace) -> int:
    """``zhibu orgs list``: every org with its kind, parent and tracking day;
    ``zhibu orgs since --org CODE DATE``: move the day tracking begins (org and subtree)."""
    from bot.services.tracking import TrackingError, list_orgs, set_tracking_since

    async def work(db: Database, settings: Settings) -> int:
        lang = _lang(settings)
        if args.action == "list":
            orgs = await list_orgs(db)
            codes = {o.id: o.code for o in orgs}
            for o in orgs:
                since = o.tracking_since.isoformat() if o.tracking_since else "-"
                parent = codes.get(o.parent_id, "-") if o.parent_id else "-"
                print(f"{o.code}\t{o.name}\t{o.kind}\t{parent}\t{since}")
            return 0
        try:
            code, changed = await set_tracking_since(
                db, args.org, args.day, now=SystemClock().now()
            )
        except TrackingError as exc:
            print(f"zhibu orgs: {t(lang, exc.key, **exc.params)}", file=sys.stderr)
            return EXIT_USAGE
        key = "orgs.since_done" if changed else "orgs.since_same"
        print(t(lang, key, code=code, day=args.day.isoformat(), n=len(changed)))
        return 0

    return _with_db(work)


def cmd_calendar(args: argparse.Namespace) -> int:
    from bot.exports.tables import calendar_table
    from bot.rules.catalogue import DEFAULT_POLICY
    from bot.services.obligations import branch_view

    async def work(db: Database, settings: Settings) -> int:
        async with db.read() as session:
            org = await _org(session, args.org, "calendar")
            if org is None:
                return EXIT_USAGE
            now = SystemClock().now()
            if args.at:
                now = datetime.combine(args.at, time(12), tzinfo=ZoneInfo(org.timezone))
            view = await branch_view(
                session, org.id, now=now, policy=DEFAULT_POLICY, years=(args.year,)
            )
        assert view is not None
        if args.json:
            print(json.dumps([o.as_json() for o in view.occurrences], ensure_ascii=False, indent=2))
        else:
            print(calendar_table(_lang(settings), view, args.year))
        return 0

    return _with_db(work)


def cmd_assess(args: argparse.Namespace) -> int:
    from bot.exports.tables import assessment_table
    from bot.services.assessment import assess

    async def work(db: Database, settings: Settings) -> int:
        async with db.read() as session:
            roots: list[int] | None = None
            if args.org:
                org = await _org(session, args.org, "assess")
                if org is None:
                    return EXIT_USAGE
                roots = [org.id]
            now = SystemClock().now()
            if args.at:
                now = datetime.combine(args.at, time(12), tzinfo=ZoneInfo(settings.timezone))
            results = await assess(
                session, year=args.year, quarter=args.quarter, roots=roots, now=now
            )
        if args.json:
            print(json.dumps([r.as_json() for r in results], ensure_ascii=False, indent=2))
        else:
            print(assessment_table(_lang(settings), results))
        return 0

    return _with_db(work)


def _write_file(path: str, data: bytes, command: str, lang: Lang) -> int:
    try:
        with open(path, "wb") as out:
            out.write(data)
    except OSError as exc:
        error = exc.strerror or str(exc)
        print(
            f"zhibu {command}: {t(lang, 'cli.cannot_write', path=path, error=error)}",
            file=sys.stderr,
        )
        return 1
    print(t(lang, "cli.written", path=path, size=len(data)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bot.exports import ledger

    async def work(db: Database, settings: Settings) -> int:
        async with db.read() as session:
            org = await _org(session, args.org, "export")
            if org is None:
                return EXIT_USAGE
            data = await ledger.export(session, org.id, args.year, now=SystemClock().now())
        return _write_file(args.output, data, "export", _lang(settings))

    return _with_db(work)


def cmd_ics(args: argparse.Namespace) -> int:
    from bot.exports import ics

    async def work(db: Database, settings: Settings) -> int:
        async with db.read() as session:
            org = await _org(session, args.org, "ics")
            if org is None:
                return EXIT_USAGE
            data = await ics.export(session, org.id, now=SystemClock().now(), lang=_lang(settings))
        return _write_file(args.output, data, "ics", _lang(settings))

    return _with_db(work)


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.store.backup import BackupError, backup

    settings = _settings()
    try:
        outcome = backup(settings.database_url, Path(args.file))
    except BackupError as exc:
        print(f"zhibu backup: {exc}", file=sys.stderr)
        return 1
    if outcome.command is not None and outcome.size == 0:
        print(t(_lang(settings), "cli.no_pg_dump"), file=sys.stderr)
        print(" ".join(outcome.command))
        return 1
    print(t(_lang(settings), "cli.written", path=outcome.path, size=outcome.size))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from bot.store.backup import BackupError, restore
    from bot.store.leader import AlreadyRunning

    settings = _settings()
    try:
        done = restore(settings.database_url, Path(args.file), now=SystemClock().now())
    except (BackupError, AlreadyRunning) as exc:
        print(f"zhibu restore: {exc}", file=sys.stderr)
        return 1
    lang = _lang(settings)
    counts = ", ".join(f"{table} {n}" for table, n in done.counts.items())
    print(
        t(
            lang,
            "cli.restored",
            file=args.file,
            target=done.target,
            rev=done.revision,
            counts=counts,
        )
    )
    if done.kept is not None:
        print(t(lang, "cli.restore_kept", kept=done.kept))
    print(t(lang, "cli.restore_next"))
    return 0


def cmd_reminders(args: argparse.Namespace) -> int:
    """Every scheduled message of a day (``--day``) or a minute (``--at``): one briefing per
    person, with the items merged into it. Sends nothing."""
    from bot.delivery.briefing import briefings_of_day, load_prefs
    from bot.delivery.reminders import Directory
    from bot.rules.catalogue import DEFAULT_POLICY
    from bot.services.obligations import load_workdays

    try:
        at = datetime.fromisoformat(args.at) if args.at else None
        day = at.date() if at else date.fromisoformat(args.day)
    except ValueError:
        value = args.at or args.day
        print(
            f"zhibu reminders: {t(_lang(_settings()), 'cli.bad_moment', value=value)}",
            file=sys.stderr,
        )
        return EXIT_USAGE

    async def work(db: Database, settings: Settings) -> int:
        zone = ZoneInfo(settings.timezone)
        moment = (at if at.tzinfo else at.replace(tzinfo=zone)) if at else None
        now = moment or datetime.combine(day, DEFAULT_POLICY.digest_at, tzinfo=zone)
        async with db.read() as session:
            directory = Directory.later(settings.language, frozenset(settings.admin_ids))
            found = await briefings_of_day(
                session,
                day,
                now=now,
                policy=DEFAULT_POLICY,
                directory=directory,
                cal=await load_workdays(session),
                prefs=await load_prefs(session),
                default_tz=settings.timezone,
            )
        if moment is not None:
            found = [b for b in found if b.at == moment.replace(second=0, microsecond=0)]
        if args.json:
            print(json.dumps([b.as_json() for b in found], ensure_ascii=False, indent=2))
            return 0
        lang = _lang(settings)
        if not found:
            print(t(lang, "cli.nothing_planned", at=(moment or day).isoformat()))
        for b in found:
            when = b.at.astimezone(ZoneInfo(b.tz)).strftime("%H:%M")
            print(
                t(
                    lang,
                    "cli.briefing_head",
                    at=when,
                    recipient=b.recipient.key,
                    delivery=b.delivery,
                    n=len(b.items),
                )
            )
            for line in b.text.splitlines():
                print(f"    {line}")
        return 0

    return _with_db(work)


def cmd_holidays(args: argparse.Namespace) -> int:
    from bot.rules.workdays import HolidayFileError, parse_holiday_file
    from bot.services.obligations import load_workdays
    from bot.store.holidays import imported_years, store_years

    settings = _settings()
    lang = _lang(settings)
    years = []
    if args.action == "import":
        if not args.arg:
            print(f"zhibu holidays import: {t(lang, 'cli.holidays_need_file')}", file=sys.stderr)
            return EXIT_USAGE
        try:
            years = parse_holiday_file(Path(args.arg).read_text(encoding="utf-8-sig"))
        except OSError as exc:
            print(f"zhibu holidays: {exc.strerror}: {exc.filename}", file=sys.stderr)
            return EXIT_USAGE
        except UnicodeDecodeError:
            print(t(lang, "holidays.not_utf8"), file=sys.stderr)
            return EXIT_USAGE
        except HolidayFileError as exc:
            for line, key, params in exc.problems:
                message = t(lang, key, **params)
                print(t(lang, "holidays.problem", line=line, message=message), file=sys.stderr)
            return EXIT_USAGE

    async def work(db: Database, settings: Settings) -> int:
        if args.action == "import":
            async with db.write() as session:
                await store_years(
                    session, years, source=Path(args.arg).name, now=SystemClock().now()
                )
            for data in years:
                print(
                    t(
                        lang,
                        "holidays.imported",
                        year=data.year,
                        holidays=len(data.holidays),
                        workdays=len(data.workdays),
                    )
                )
            return 0
        if not args.arg or not args.arg.isdigit():
            print(f"zhibu holidays show: {t(lang, 'cli.holidays_need_year')}", file=sys.stderr)
            return EXIT_USAGE
        year = int(args.arg)
        async with db.read() as session:
            cal = await load_workdays(session)
            sources = await imported_years(session)
        print(_holiday_listing(lang, cal, year, sources.get(year)))
        return 0

    return _with_db(work)


def _holiday_listing(lang: Lang, cal: WorkdayCalendar, year: int, source: str | None) -> str:
    from bot.i18n.texts import fmt_date

    lines = [t(lang, names.HOLIDAY_SOURCE[cal.source(year).value], year=year, file=source or "")]
    day = date(year, 1, 1)
    while day.year == year:
        weekend = day.weekday() >= 5
        workday = cal.is_workday(day)
        if weekend == workday:  # a day off on a weekday, or a make-up workday on a weekend
            key = "holidays.workday" if workday else "holidays.day_off"
            name = cal.holiday_name(day, lang) or ""
            lines.append(
                f"{day.isoformat()}  {fmt_date(lang, day):<12} {t(lang, key)} {name}".rstrip()
            )
        day += timedelta(days=1)
    return "\n".join(lines)


def cmd_obligations(args: argparse.Namespace) -> int:
    from bot.rules.catalogue import Period
    from bot.services.obligations import (
        ObligationError,
        add_custom,
        obligations_for,
        set_enabled,
        set_period,
    )

    async def work(db: Database, settings: Settings) -> int:
        lang = _lang(settings)
        now = SystemClock().now()
        try:
            async with db.write() as session:
                org = await _org(session, args.org, "obligations")
                if org is None:
                    return EXIT_USAGE
                if args.action == "list":
                    for e in await obligations_for(session, org):
                        state = "on " if e.enabled else "off"
                        extra = f"  ({e.reason})" if e.reason else ""
                        due = f" due {e.due_on}" if e.due_on else ""
                        print(
                            f"{state} {pad(e.ob.code, 20)} {pad(e.ob.name(lang), 22)} "
                            f"{e.ob.period.value}{due} ×{e.ob.min_count}{extra}"
                        )
                    return 0
                if args.action == "add":
                    period = Period.ONCE if args.due else Period(args.period or "year")
                    code = await add_custom(
                        session,
                        org,
                        title=args.title or "",
                        period=period,
                        due_on=args.due,
                        min_count=args.min or 1,
                        attendance=args.attendance,
                        now=now,
                        by=None,
                    )
                    print(f"zhibu obligations: {t(lang, 'cli.obligations_added', code=code)}")
                    return 0
                if not args.code:
                    need = t(lang, "cli.obligations_need_code")
                    print(f"zhibu obligations: {need}", file=sys.stderr)
                    return EXIT_USAGE
                if args.action in ("on", "off"):
                    await set_enabled(
                        session,
                        org,
                        args.code,
                        enabled=args.action == "on",
                        reason=args.reason,
                        now=now,
                        by=None,
                    )
                else:
                    local = Period(args.period) if args.period else None
                    await set_period(
                        session, org, args.code, period=local, min_count=args.min, now=now, by=None
                    )
        except ObligationError as exc:
            print(f"zhibu obligations: {t(lang, exc.key, **exc.params)}", file=sys.stderr)
            return EXIT_USAGE
        done = t(lang, "cli.obligations_done", action=args.action, code=args.code, org=args.org)
        print(f"zhibu obligations: {done}")
        return 0

    return _with_db(work)


def cmd_outbox(args: argparse.Namespace) -> int:
    from bot.store import outbox

    async def work(db: Database, settings: Settings) -> int:
        lang = _lang(settings)
        async with db.read() as session:
            counts = await outbox.counts(session)
            failures = await outbox.last_failures(session, args.last)
        print(t(lang, "outbox.counts", **counts))
        if not failures:
            print(t(lang, "outbox.none_failed"))
            return 0
        print(t(lang, "outbox.failures"))
        for row in failures:
            print(f"  #{row.id} {row.kind} → {row.chat_id} ({row.tries}×): {row.last_error}")
        return 0

    return _with_db(work)


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.ops.doctor import run_checks

    settings = _settings()
    lang = _lang(settings)
    checks = asyncio.run(run_checks(settings))
    failed = 0
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        name, detail, fix = check.said(lang)
        print(f"[{mark}] {name}: {detail}")
        if not check.ok:
            failed += 1
            if fix:
                print(f"       {t(lang, 'doctor.fix')} {fix}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhibu", description="zhibu (支部) Telegram bot")
    parser.add_argument(
        "--lang", choices=["zh", "en"], help="the language of the output (default ZHIBU_LANGUAGE)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="apply migrations and run the bot")
    run.set_defaults(func=cmd_run)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--to", default="head", help="target revision (default head)")
    migrate.set_defaults(func=cmd_migrate)

    imp = sub.add_parser("import", help="import the roster (xlsx, or two CSVs)")
    imp.add_argument("file", nargs="?", help="workbook with sheets 组织 and 党员")
    imp.add_argument("--orgs", help="orgs CSV")
    imp.add_argument("--members", help="members CSV")
    imp.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    imp.add_argument("--template", metavar="FILE.xlsx", help="write an empty template workbook")
    imp.set_defaults(func=cmd_import)

    admins = sub.add_parser("admins", help="committee admins of an org")
    admins.add_argument("action", choices=["add", "remove", "list"])
    admins.add_argument("--org", help="org code")
    admins.add_argument("--user", type=int, help="Telegram user id")
    admins.add_argument("--name", help="a name to remember the admin by")
    admins.set_defaults(func=cmd_admins)

    records = sub.add_parser("records", help="meetings held before the bot, from a workbook")
    records_sub = records.add_subparsers(dest="action", required=True)
    rec_import = records_sub.add_parser(
        "import", help="the 会议记录 sheet of a ledger (/export) or of the template"
    )
    rec_import.add_argument("file", help="FILE.xlsx")
    rec_import.add_argument("--org", help="branch of rows without 组织编码 (any case)")
    rec_import.add_argument("--dry-run", action="store_true", help="check only, write nothing")
    records.set_defaults(func=cmd_records)

    orgs = sub.add_parser("orgs", help="list the orgs; move the day an org's tracking begins")
    orgs_sub = orgs.add_subparsers(dest="action", required=True)
    orgs_sub.add_parser("list", help="every org: code, name, kind, parent, tracked since")
    since = orgs_sub.add_parser("since", help="track an org (and every org below it) from DATE")
    since.add_argument("--org", required=True, help="org code (case does not matter)")
    since.add_argument("day", type=date.fromisoformat, metavar="DATE", help="YYYY-MM-DD")
    orgs.set_defaults(func=cmd_orgs)

    calendar = sub.add_parser("calendar", help="every occurrence of an org's obligations in a year")
    calendar.add_argument("--org", required=True, help="org code")
    calendar.add_argument("--year", type=int, required=True)
    calendar.add_argument("--json", action="store_true")
    calendar.add_argument(
        "--at", type=date.fromisoformat, help="statuses as of this day (YYYY-MM-DD), for previews"
    )
    calendar.set_defaults(func=cmd_calendar)

    assess = sub.add_parser("assess", help="score, grade and rank the branches (SPEC §8)")
    assess.add_argument("--year", type=int, required=True)
    assess.add_argument("--quarter", type=int, choices=(1, 2, 3, 4), help="a quarter of the year")
    assess.add_argument("--org", help="only the branches below this org (code)")
    assess.add_argument("--json", action="store_true")
    assess.add_argument(
        "--at", type=date.fromisoformat, help="judge as of this day (YYYY-MM-DD); default today"
    )
    assess.set_defaults(func=cmd_assess)

    export = sub.add_parser("export", help="the ledger workbook (台账) of a branch or committee")
    export.add_argument("--org", required=True, help="org code")
    export.add_argument("--year", type=int, required=True)
    export.add_argument("-o", "--output", required=True, help="the .xlsx file to write")
    export.set_defaults(func=cmd_export)

    ics = sub.add_parser("ics", help="a branch's meetings and deadlines as an .ics calendar")
    ics.add_argument("--org", required=True, help="org code")
    ics.add_argument("-o", "--output", required=True, help="the .ics file to write")
    ics.set_defaults(func=cmd_ics)

    back = sub.add_parser(
        "backup", help="copy the database while the bot runs (pg_dump on PostgreSQL)"
    )
    back.add_argument("file", help="the backup file to write")
    back.set_defaults(func=cmd_backup)

    rest = sub.add_parser(
        "restore", help="put a SQLite backup in the database's place (bot stopped)"
    )
    rest.add_argument("file", help="the backup file to restore")
    rest.set_defaults(func=cmd_restore)

    reminders = sub.add_parser(
        "reminders", help="the briefings of a day or a minute, one per person (sends nothing)"
    )
    when = reminders.add_mutually_exclusive_group(required=True)
    when.add_argument("--day", help="e.g. 2026-12-17: every briefing of that day")
    when.add_argument(
        "--at", help="e.g. 2026-12-17T08:30 (local to ZHIBU_TIMEZONE): the briefings due then"
    )
    reminders.add_argument("--json", action="store_true")
    reminders.set_defaults(func=cmd_reminders)

    holidays = sub.add_parser("holidays", help="official holidays and make-up workdays")
    holidays.add_argument("action", choices=["import", "show"])
    holidays.add_argument("arg", nargs="?", help="FILE for import, YEAR for show")
    holidays.set_defaults(func=cmd_holidays)

    obligations = sub.add_parser(
        "obligations", help="an org's obligations: list, on/off, period, custom"
    )
    obligations.add_argument("action", choices=["list", "on", "off", "set", "add"])
    obligations.add_argument("--org", required=True, help="org code")
    obligations.add_argument("--code", help="obligation code (on, off, set)")
    obligations.add_argument("--reason", help="why it is switched off (off)")
    obligations.add_argument(
        "--period", choices=["month", "quarter", "half", "year"], help="local period (set, add)"
    )
    obligations.add_argument("--min", type=int, help="records needed per period (set, add)")
    obligations.add_argument("--title", help="title of a custom obligation (add)")
    obligations.add_argument("--due", type=date.fromisoformat, help="due date of a one-off (add)")
    obligations.add_argument("--attendance", action="store_true", help="it is a meeting (add)")
    obligations.set_defaults(func=cmd_obligations)

    box = sub.add_parser("outbox", help="pending, sent and failed messages, and the last failures")
    box.add_argument("--last", type=int, default=10, help="how many failures to show")
    box.set_defaults(func=cmd_outbox)

    doctor = sub.add_parser("doctor", help="check settings, database, migrations, Bot API")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    LANG_OVERRIDE[:] = [args.lang] if args.lang else []
    if args.command != "run":  # `zhibu run` sets up logging itself, with its secrets
        setup_logging("WARNING", [])
    try:
        code: int = args.func(args)
    except BrokenPipeError:  # `zhibu orgs list | head`: the reader left; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
