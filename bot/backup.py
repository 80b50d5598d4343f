"""``zhibu backup`` and ``zhibu restore`` (SPEC §10).

SQLite: an online backup through SQLite's backup API, safe while the bot runs (it copies a
consistent snapshot; writers wait only for the page copies), written to a temporary file,
checked with ``PRAGMA integrity_check`` and then renamed into place. Restore copies a checked
backup over the database, only while no ``zhibu run`` holds it.
PostgreSQL: ``pg_dump --format=custom`` (run when it is installed; otherwise the command is
printed) and ``pg_restore`` to restore.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.leader import sqlite_lock, sqlite_path

PAGES_PER_STEP = 256


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Outcome:
    path: Path
    size: int
    command: list[str] | None = None  # PostgreSQL: what was (or is to be) run


def _check(path: Path) -> None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a usable SQLite database: {exc}") from exc
    if not result or result[0] != "ok":
        raise BackupError(f"{path} failed the integrity check: {result[0] if result else '?'}")


def _copy(source: Path, target: Path) -> None:
    """Copy a live SQLite database with the backup API into ``target`` (atomically)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(partial) as dst:
            src.backup(dst, pages=PAGES_PER_STEP)
        _check(partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write {target}: {exc}") from exc


def pg_dump_command(url: str, target: Path) -> list[str]:
    u = make_url(url)
    dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
    return ["pg_dump", "--format=custom", "--no-owner", f"--file={target}", dsn]


def backup(url: str, target: Path) -> Outcome:
    source = sqlite_path(url)
    if source is None:
        command = pg_dump_command(url, target)
        if shutil.which("pg_dump") is None:
            return Outcome(target, 0, command)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
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


def restore(url: str, backup_file: Path) -> Path:
    """Put a backup in the database's place; refused while a ``zhibu run`` uses the database."""
    target = sqlite_path(url)
    if target is None:
        raise BackupError(
            "PostgreSQL: restore with pg_restore --clean --no-owner -d <database> "
            + str(backup_file)
        )
    if not backup_file.exists():
        raise BackupError(f"no backup at {backup_file}")
    _check(backup_file)
    with sqlite_lock(url):  # raises AlreadyRunning while the bot runs
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        _copy(backup_file, target)
    return target
