"""``zhibu backup`` while the bot handles updates, and ``zhibu restore`` of what it wrote."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.ops.doctor import run_checks
from bot.rules.clock import FrozenClock
from bot.services.roster import import_roster, read_workbook
from bot.store.backup import backup, restore
from bot.store.db import Database
from bot.store.leader import sqlite_lock
from bot.store.models import Record
from settings import Settings
from tests.fakegram import FakeTelegram
from tests.helpers import SMALL_MEMBERS, SMALL_ORGS, RunningBot, link, workbook_bytes

NOTE = "学习心得：认真学习全会精神，结合岗位实际抓落实，把学习成果转化为推动各项工作高质量发展的强大动力和实际成效。"


async def count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Record)) or 0)


async def test_backup_while_busy_restores_to_a_healthy_database(
    bot: RunningBot,
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
) -> None:
    orgs, members = read_workbook(workbook_bytes(SMALL_ORGS, SMALL_MEMBERS))
    await import_roster(db, orgs, members, now=clock.now(), default_timezone="Asia/Shanghai")
    user = fake.add_user("Zhang")
    await link(db, "S003", user.id, clock.now())

    async def file_notes(n: int) -> None:
        for _ in range(n):
            menu = await user.ask("/report")
            await user.click(menu, "学习心得")
            await fake.wait_for(lambda menu=menu: "50–2000" in menu.content)
            preview = await user.ask(NOTE)
            await user.click(preview, "保存")
            await fake.wait_for(lambda preview=preview: "已保存" in preview.content)

    await file_notes(3)
    before = await count(db)
    busy = asyncio.create_task(file_notes(4))  # the bot keeps writing during the backup
    copy = tmp_path / "backup.db"
    outcome = await asyncio.to_thread(backup, settings.database_url, copy)
    await busy
    after = await count(db)
    assert outcome.size > 0 and before == 3 and after == 7
    restored_url = f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
    await asyncio.to_thread(restore, restored_url, copy, now=clock.now())
    checks = {
        c.said("en")[0]: c.ok
        for c in await run_checks(settings.model_copy(update={"database_url": restored_url}))
    }
    assert checks["database"] and checks["migrations"] and checks["bot api"]
    restored = Database.from_url(restored_url)
    try:
        held = await count(restored)
        async with restored.read() as session:
            texts = list((await session.execute(select(Record.summary))).scalars())
    finally:
        await restored.dispose()
    assert before <= held <= after  # every record committed before the backup, and no half one
    assert all(t == NOTE for t in texts)


def test_restore_is_refused_while_the_bot_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    (tmp_path / "live.db").write_bytes(b"")
    copy = tmp_path / "copy.db"
    import sqlite3

    with sqlite3.connect(copy) as conn:
        conn.execute("CREATE TABLE t (x)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBU_")}
    env["ZHIBU_DATABASE_URL"] = url
    with sqlite_lock(url):  # as zhibu run holds it
        result = subprocess.run(
            [sys.executable, "-m", "bot.ops.cli", "restore", str(copy)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
    assert result.returncode == 1 and "already using live.db" in result.stderr
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    result = subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", "restore", str(corrupt)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1 and "zhibu restore:" in result.stderr
    assert (tmp_path / "live.db").read_bytes() == b""  # nothing was overwritten


async def test_postgresql_backup_runs_pg_dump(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL: zhibu backup runs pg_dump; pg_restore can read what it wrote."""
    import shutil

    from bot.store.migrate import upgrade

    if shutil.which("pg_dump") is None and not os.environ.get("CI"):
        pytest.skip("pg_dump is not installed here (the backup then prints the command)")

    db = Database.from_url(pg_url)
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()
    copy = tmp_path / "pg.dump"
    outcome = await asyncio.to_thread(backup, pg_url, copy)
    assert outcome.command is not None and outcome.command[0] == "pg_dump"
    assert outcome.size > 0, "pg_dump is expected on this machine"
    listing = await asyncio.to_thread(
        subprocess.run, ["pg_restore", "--list", str(copy)], capture_output=True, text=True
    )
    assert listing.returncode == 0 and "TABLE public records" in listing.stdout
