"""The Alembic chain builds exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.all_models import Base
from storage.db import Database
from storage.migrate import script_heads


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as connection:
        changes = await connection.run_sync(diff)
    assert changes == []


def test_migrations_form_one_line() -> None:
    assert len(script_heads()) == 1
