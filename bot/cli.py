"""The ``zhibu`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.clock import SystemClock
from bot.db import Database
from bot.logs import setup_logging
from bot.texts import t
from settings import Settings, get_settings

EXIT_USAGE = 2


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            name = f"ZHIBU_{where.upper()}" if where != "settings" else where
            print(f"zhibu: {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        print(
            "zhibu: ZHIBU_BOT_TOKEN is not set; put the token from @BotFather in the environment or .env",
            file=sys.stderr,
        )
        return 1
    setup_logging(settings.log_level, [settings.bot_token.get_secret_value()])
    from bot.app import run

    run(settings)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.migrate import downgrade, upgrade

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
    print(f"zhibu: database at {args.to or 'head'}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from bot.migrate import upgrade
    from bot.roster import (
        MEMBER_SHEET,
        ORG_SHEET,
        RosterFormatError,
        import_roster,
        read_csv,
        read_workbook,
        render_result,
        write_template,
    )

    settings = _settings()
    lang = settings.language
    if args.template:
        write_template(args.template)
        print(t(lang, "roster.template_written", path=args.template))
        return 0
    try:
        if args.file:
            orgs, members = read_workbook(Path(args.file).read_bytes())
        elif args.orgs and args.members:
            orgs = read_csv(Path(args.orgs).read_bytes(), ORG_SHEET)
            members = read_csv(Path(args.members).read_bytes(), MEMBER_SHEET)
        else:
            print("zhibu import: give FILE.xlsx, or both --orgs and --members", file=sys.stderr)
            return EXIT_USAGE
    except OSError as exc:
        print(f"zhibu import: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except RosterFormatError as exc:
        print(t(lang, exc.key, **exc.params), file=sys.stderr)
        return EXIT_USAGE

    async def go() -> int:
        db = Database.from_url(settings.database_url)
        try:
            await upgrade(db.engine)
            result = await import_roster(
                db,
                orgs,
                members,
                now=SystemClock().now(),
                default_timezone=settings.timezone,
                dry_run=args.dry_run,
            )
        finally:
            await db.dispose()
        stream = sys.stdout if result.counts is not None else sys.stderr
        for line in render_result(lang, result, dry_run=args.dry_run):
            print(line, file=stream)
        return 0 if result.counts is not None else EXIT_USAGE

    return asyncio.run(go())


def cmd_admins(args: argparse.Namespace) -> int:
    from bot.admins import add_admin, list_admins, remove_admin
    from bot.migrate import upgrade

    settings = _settings()

    async def go() -> int:
        db = Database.from_url(settings.database_url)
        try:
            await upgrade(db.engine)
            if args.action == "list":
                for code, user_id, name in await list_admins(db):
                    print(f"{code}\t{user_id}\t{name or ''}")
                return 0
            if args.org is None or args.user is None:
                print("zhibu admins: --org and --user are required", file=sys.stderr)
                return EXIT_USAGE
            now = SystemClock().now()
            if args.action == "add":
                ok = await add_admin(db, args.org, args.user, args.name, now=now)
            else:
                ok = await remove_admin(db, args.org, args.user, now=now)
            if not ok:
                print(f"zhibu admins: no org {args.org!r}", file=sys.stderr)
                return EXIT_USAGE
            print(f"zhibu admins: {args.action} {args.user} @ {args.org}: done")
            return 0
        finally:
            await db.dispose()

    return asyncio.run(go())


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.doctor import run_checks

    settings = _settings()
    checks = asyncio.run(run_checks(settings))
    failed = 0
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        print(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok:
            failed += 1
            if check.fix:
                print(f"       fix: {check.fix}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhibu", description="zhibu (支部) Telegram bot")
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

    doctor = sub.add_parser("doctor", help="check settings, database, migrations, Bot API")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
