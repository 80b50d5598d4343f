"""Apply Alembic migrations from inside the program (``zhibu migrate`` and ``zhibu run``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def known_revisions() -> set[str]:
    """Every revision this version of zhibu has a migration for."""
    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run(engine, lambda cfg: command.downgrade(cfg, revision))


async def _run(engine: AsyncEngine, action: Callable[[Config], None]) -> None:
    def _apply(connection: Connection) -> None:
        # SQLite rebuilds tables to alter them; foreign keys must be off meanwhile (and can
        # only be switched outside a transaction), then every reference is checked.
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _raw(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg = alembic_config()
                cfg.attributes["connection"] = connection
                action(cfg)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("migration left rows pointing at missing rows")
        finally:
            if sqlite:
                _raw(connection, "PRAGMA foreign_keys=ON")

    async with engine.connect() as conn:
        await conn.run_sync(_apply)


def _raw(connection: Connection, sql: str) -> None:
    """Run a statement on the DBAPI connection, outside any transaction."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()
