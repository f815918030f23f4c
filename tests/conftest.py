"""Shared fixtures: a real database (SQLite and PostgreSQL), the fake Bot API, the real bot.

Every test that takes `db` (directly or through `bot`) runs twice, once per backend. The
PostgreSQL database is created fresh for this pytest process (so parallel runs never
collide), migrated once, and emptied between tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.all_models import Base  # noqa: F401  (all tables registered)
from storage.db import Database
from storage.migrate import upgrade
from tests.harness import BotHarness

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


async def _admin_execute(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres", password=url.password, database=url.database or "postgres"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database.engine)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run, dropped at the end."""
    name = f"relais_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Sessions of this database still inside a transaction, other than ours. Each test runs its
# own event loop: a connection an earlier test left mid-transaction outlives that loop (the
# server cannot know it is gone) and keeps its locks until the garbage collector happens to
# close its socket, so TRUNCATE, which needs every table to itself, would wait for it.
_LEFT_IN_TRANSACTION = text(
    "SELECT pid, application_name, state, left(query, 200) AS query FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
)


async def _truncate_all(database: Database) -> None:
    """Empty every table; end, and report, transactions an earlier test left open."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with database.engine.begin() as conn:
        left = (await conn.execute(_LEFT_IN_TRANSACTION)).all()
        for row in left:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": row.pid})
        if left:
            warnings.warn(f"sessions left in a transaction by an earlier test, ended: {[tuple(r) for r in left]}", stacklevel=1)
        await conn.execute(text("SET LOCAL lock_timeout = '30s'"))  # a failure that names the table, never a silent hang
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, postgres_url: str) -> AsyncIterator[Database]:
    """An empty, migrated database: SQLite file or PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "relais.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite+aiosqlite:///{path}")
    else:
        database = Database(postgres_url, pool_size=20)
        await _truncate_all(database)
    yield database
    await database.dispose()


@pytest.fixture
async def api() -> AsyncIterator["FakeBotAPI"]:  # noqa: F821
    from tests.fakebot import FakeBotAPI

    async with FakeBotAPI(token="123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz") as server:
        yield server


@pytest.fixture
async def bot(db: Database, api) -> AsyncIterator[BotHarness]:  # type: ignore[no-untyped-def]
    """The real Application, real handlers, real database, talking HTTP to the fake Bot API."""
    harness = BotHarness(api, db)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
