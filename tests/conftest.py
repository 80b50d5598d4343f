"""Fixtures: an isolated environment, a migrated database, the fake Telegram, a running bot."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.rules.clock import FrozenClock
from bot.services import assessment
from bot.store.db import Database
from bot.store.migrate import upgrade
from settings import Settings, get_settings
from tests.fakegram import FakeTelegram
from tests.helpers import TOKEN, RunningBot, start_bot

ADMIN_ID = 9_000_001


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No ZHIBU_* variable or .env file from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("ZHIBU_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await upgrade(database.engine)
    yield database
    await database.dispose()


# A code where a person reads words: ``study_note`` for 学习心得 (issue #14). URLs, e-mail-like
# tokens and <code> examples are not words people read, so they are left out of the check.
CODE_RE = re.compile(r"(?<![\w/=.:@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/=.@-])")
NOT_READ_RE = re.compile(r"https?://\S+|<code>.*?</code>|<pre>.*?</pre>", re.S)


def codes_in(texts: list[str]) -> set[str]:
    """snake_case codes in what people were shown."""
    found: set[str] = set()
    for text in texts:
        found |= set(CODE_RE.findall(NOT_READ_RE.sub(" ", text)))
    return found


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()
    codes = codes_in(server.said)
    if codes and SAID_LOG:
        with Path(SAID_LOG).open("a", encoding="utf-8") as log:  # noqa: ASYNC230 (teardown)
            log.write(f"{request.node.nodeid}\t{sorted(codes)}\n")
    assert not codes or SAID_LOG, f"codes shown to people instead of names: {sorted(codes)}"


SAID_LOG = os.environ.get("ZHIBU_TEST_SAID_LOG")  # collect the codes found rather than fail


@pytest.fixture
def settings(fake: FakeTelegram, tmp_path: Path) -> Settings:
    return get_settings(
        _env_file=None,
        bot_token=TOKEN,
        database_url=f"sqlite:///{tmp_path / 'test.db'}",
        api_base_url=fake.base_url,
        admin_ids=str(ADMIN_ID),
        request_timeout_seconds=3,
        scheduler_enabled=False,
        # the fake allows 5 messages a second per private chat; users in tests type fast
        rate_private_interval_seconds=0.2,  # tests run the tick themselves, with the clock they set
    )


@pytest.fixture
async def bot(
    fake: FakeTelegram, db: Database, clock: FrozenClock, settings: Settings
) -> AsyncIterator[RunningBot]:
    running = await start_bot(fake, db, clock, settings)
    yield running
    await running.stop()


PG_ADMIN_URL = os.environ.get(
    "ZHIBU_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test; skipped, saying why, when none is reachable
    (but never on CI, where PostgreSQL must be there)."""
    async for url in fresh_pg_database():
        yield url


@pytest.fixture
async def other_pg_url() -> AsyncIterator[str]:
    """A second fresh database on the same server (another deployment sharing it)."""
    async for url in fresh_pg_database():
        yield url


async def fresh_pg_database() -> AsyncIterator[str]:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"zhibu_test_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except (OSError, SQLAlchemyError, asyncpg.PostgresError) as exc:
        await admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.dispose()


@pytest.fixture
def worked(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The branches each assessment worked out (by code, a part a call), in order: what was
    not kept between assessments (#15)."""
    calls: list[list[str]] = []
    original = assessment.inputs_for

    async def counted(session: Any, branches: Sequence[Any], **kw: Any) -> Any:
        calls.append(sorted(b.code for b in branches))
        return await original(session, branches, **kw)

    monkeypatch.setattr(assessment, "inputs_for", counted)
    return calls
