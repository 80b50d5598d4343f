"""``zhibu backup`` and ``zhibu restore`` (SPEC §10).

SQLite: an online backup through SQLite's backup API, safe while the bot runs (it copies a
consistent snapshot; writers wait only for the page copies), written to a temporary file,
checked with ``PRAGMA integrity_check`` and then renamed into place. Restore copies a checked
backup over the database, only while no ``zhibu run`` holds it.
PostgreSQL: ``pg_dump --format=custom`` (run when it is installed; otherwise the command is
printed) and ``pg_restore`` to restore.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bot.store.leader import sqlite_lock, sqlite_path

PAGES_PER_STEP = 256
# a file without these is not a zhibu database, whatever else it holds
REQUIRED_TABLES = ("alembic_version", "orgs", "members", "outbox")
COUNTED_TABLES = ("orgs", "members", "telegram_links", "meetings", "records", "outbox")


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Outcome:
    path: Path
    size: int
    command: list[str] | None = None  # PostgreSQL: what was (or is to be) run


def _check(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a usable SQLite database: {exc}") from exc
    if not result or result[0] != "ok":
        raise BackupError(f"{path} failed the integrity check: {result[0] if result else '?'}")


def _private_file(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only (an empty file is a valid new
    SQLite database; pg_dump writes into it keeping the mode)."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _leftovers(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _copy(source: Path, target: Path) -> None:
    """Copy a live SQLite database with the backup API into ``target`` (atomically, 0600)."""
    partial = target.with_name(target.name + ".partial")
    try:
        _private_file(partial)
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
            contextlib.closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst, pages=PAGES_PER_STEP)
            # one self-contained file: no -wal or -shm beside it, now or when it is opened
            dst.execute("PRAGMA journal_mode=DELETE")
        _check(partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write {target}: {exc}") from exc
    finally:
        for leftover in _leftovers(partial):
            leftover.unlink(missing_ok=True)


def pg_dump_command(url: str, target: Path) -> tuple[list[str], dict[str, str]]:
    """The pg_dump command (no password in it: ``ps`` shows a command line to everyone)
    and the environment it needs (``PGPASSWORD``)."""
    u = make_url(url)
    env = {"PGPASSWORD": str(u.password)} if u.password else {}
    bare = URL.create(
        "postgresql",
        username=u.username,
        host=u.host,
        port=u.port,
        database=u.database,
        query=u.query,
    )
    dsn = bare.render_as_string(hide_password=False)
    return ["pg_dump", "--format=custom", "--no-owner", f"--file={target}", dsn], env


def backup(url: str, target: Path) -> Outcome:
    source = sqlite_path(url)
    if source is None:
        command, env = pg_dump_command(url, target)
        if shutil.which("pg_dump") is None:
            return Outcome(target, 0, command)
        _private_file(target)
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, env=os.environ | env
        )
        if result.returncode != 0:
            target.unlink(missing_ok=True)
            raise BackupError(
                result.stderr.strip().splitlines()[-1] if result.stderr else "pg_dump failed"
            )
        return Outcome(target, target.stat().st_size, command)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if target.resolve() == source.resolve():
        raise BackupError("the backup cannot be the database itself")
    _copy(source, target)
    return Outcome(target, target.stat().st_size)


@dataclass(frozen=True)
class Restored:
    target: Path
    revision: str
    counts: dict[str, int]
    kept: Path | None  # the database that was replaced, kept beside it


def inspect(path: Path) -> tuple[str, dict[str, int]]:
    """The migration revision and row counts of a zhibu database; BackupError for any file
    that is not one (empty, foreign, damaged, or from an unknown version)."""
    from bot.store.migrate import known_revisions

    if not path.exists():
        raise BackupError(f"no backup at {path}")
    if path.stat().st_size == 0:
        raise BackupError(f"{path} is empty")
    _check(path)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            missing = sorted(set(REQUIRED_TABLES) - tables)
            if missing:
                raise BackupError(f"{path} is not a zhibu database (no table {', '.join(missing)})")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else ""
            if revision not in known_revisions():
                raise BackupError(
                    f"{path} is at database version {revision or 'none'}, "
                    "which this zhibu does not know"
                )
            counts = {
                table: int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
                for table in COUNTED_TABLES
                if table in tables
            }
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a zhibu database: {exc}") from exc
    return revision, counts


def restore(url: str, backup_file: Path, *, now: datetime) -> Restored:
    """Put a checked zhibu backup in the database's place, keeping the replaced database as
    ``<database>.before-restore-<time>``; refused while a ``zhibu run`` uses the database."""
    target = sqlite_path(url)
    if target is None:
        raise BackupError(
            "PostgreSQL: restore with pg_restore --clean --no-owner -d <database> "
            + str(backup_file)
        )
    with sqlite_lock(url):  # raises AlreadyRunning while the bot runs
        revision, counts = inspect(backup_file)
        kept: Path | None = None
        if target.exists() and target.stat().st_size > 0:
            kept = target.with_name(f"{target.name}.before-restore-{now:%Y%m%d-%H%M%S}")
            _copy(target, kept)
        for leftover in _leftovers(target):
            leftover.unlink(missing_ok=True)
        _copy(backup_file, target)
    return Restored(target, revision, counts, kept)
