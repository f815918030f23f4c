"""Bring a database schema up to date with Alembic, from code (CLI, tests, start-up).

Every start of the bot calls `upgrade`. When the database is already at the heads (the usual
case) it returns after one query, without importing Alembic: 11 MiB and a few tenths of a
second less for each process. On PostgreSQL the upgrade holds an advisory lock,
so several processes starting together migrate once, one after the other.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "storage" / "migrations" / "versions"
MIGRATION_LOCK = zlib.crc32(b"relais-sante:migrations")
_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.M)


def alembic_config(database_url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "storage" / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def script_heads() -> set[str]:
    """The head revisions, read from the migration files' `revision`/`down_revision` lines."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(source)
        if down is not None:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return revisions - parents


async def at_heads(engine: AsyncEngine) -> bool:
    """Whether the database's `alembic_version` already lists exactly the heads."""
    heads = script_heads()
    if not heads:
        return False
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            current = {row[0] for row in rows}
    except Exception:  # no table yet: a new database
        return False
    return current == heads


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run the migrations on an existing engine's connection."""
    if revision == "head" and await at_heads(engine):
        return
    from alembic import command

    def _run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # another process migrating: wait, then find nothing to do
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await connection.run_sync(_run)
