"""Migrations upgrade and downgrade cleanly on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import Database, make_engine
from bot.store.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade
from bot.store.models import Base

PG_ADMIN_URL = os.environ.get(
    "ZHIBU_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def revisions() -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - {
            "alembic_version"
        }


async def roundtrip(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    assert await tables(engine) == set(Base.metadata.tables)
    # every step down and up again keeps the data that the older schema can hold
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO orgs (id, code, name, kind, timezone, created_at, updated_at) "
                "VALUES (1, 'ZB', '支部', 'branch', 'Asia/Shanghai', :t, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
        await conn.execute(
            text(
                "INSERT INTO members (id, org_id, name, role, active, created_at, updated_at) "
                "VALUES (1, 1, '张三', 'member', true, :t, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
    for revision in reversed(revisions()[:-1]):
        await downgrade(engine, revision)
        await upgrade(engine)
        await downgrade(engine, revision)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT name FROM members"))).scalar() == "张三"
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM members"))
        await conn.execute(text("DELETE FROM orgs"))
    await downgrade(engine, "base")
    assert await tables(engine) == set()
    await upgrade(engine)
    assert await tables(engine) == set(Base.metadata.tables)


async def test_sqlite_upgrade_downgrade(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await roundtrip(engine)
    finally:
        await engine.dispose()


async def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        async with db.read() as session:
            mode = (await session.execute(text("PRAGMA journal_mode"))).scalar()
            busy = (await session.execute(text("PRAGMA busy_timeout"))).scalar()
        assert mode == "wal" and busy == 10_000
    finally:
        await db.dispose()


@pytest.fixture
async def postgres_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(pg_url)
    yield engine
    await engine.dispose()


async def test_postgres_upgrade_downgrade(postgres_engine: AsyncEngine) -> None:
    await roundtrip(postgres_engine)


async def test_postgres_roster_import_is_idempotent(postgres_engine: AsyncEngine) -> None:
    from datetime import UTC, datetime

    from bot.services.roster import import_roster, read_workbook
    from tests.helpers import big_roster, workbook_bytes

    await upgrade(postgres_engine)
    db = Database(postgres_engine)
    orgs, members = read_workbook(workbook_bytes(*big_roster()))
    now = datetime(2026, 3, 2, tzinfo=UTC)
    first = await import_roster(db, orgs, members, now=now, default_timezone="Asia/Shanghai")
    assert first.counts is not None and first.counts.members_created == 300
    second = await import_roster(db, orgs, members, now=now, default_timezone="Asia/Shanghai")
    assert second.counts is not None and not second.counts.changed
