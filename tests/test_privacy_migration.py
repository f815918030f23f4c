"""0008_privacy backfills whom the messages queued before it name, so /oublier reaches them too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.migrate import upgrade
from tests.conftest import BACKENDS, POSTGRES_URL, _admin_execute


@pytest.fixture(params=BACKENDS)
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database (not migrated), SQLite or PostgreSQL."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        yield database
        await database.dispose()
        return
    name = f"relais_mig_{uuid.uuid4().hex[:8]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    database = Database(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    try:
        yield database
    finally:
        await database.dispose()
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


AT = "'2026-01-05 10:00:00'"
OLD_DATA = [
    "INSERT INTO users (id, first_name, is_coordinator, is_crisis_cell, reminders_muted, created_at)"
    f" VALUES (11, 'Camille', false, false, false, {AT}), (99, 'Dominique', true, false, false, {AT})",
    f"INSERT INTO groups (id, slug, name, kind, created_at) VALUES (1, 'msp', 'MSP des Tilleuls', 'msp', {AT})",
    "INSERT INTO crisis_reports (id, user_id, category, commune, text, status, replies, created_at)"
    f" VALUES (7, 11, 'epidemic', 'Verdun', 'grippe', 'open', 0, {AT})",
    "INSERT INTO polls (id, kind, question, multiple, anonymous, group_id, audience, status, closes_at, created_by,"
    f" created_at) VALUES (3, 'form', 'Besoins', false, false, 1, '{{}}', 'closed', {AT}, 99, {AT})",
    "INSERT INTO poll_options (id, poll_id, position, text, has_time) VALUES (30, 3, 0, 'Thèmes ?', true)",
    "INSERT INTO poll_text_answers (poll_id, user_id, option_id, text, answered_at)"
    f" VALUES (3, 11, 30, 'plaies', {AT})",
]
# (id, purpose, chat_id): a report card to the coordinator, the invitations, the CSV to its author
OLD_OUTBOX = [
    (1, "report:7:cell", 99), (2, "poll:3:ask", 11), (3, "poll:3:csv", 99), (4, "poll:3:ask", 99),
]


async def test_messages_queued_before_the_upgrade_are_found(fresh: Database) -> None:
    await upgrade(fresh.engine, "0005_perf")
    async with fresh.engine.begin() as conn:
        for statement in OLD_DATA:
            await conn.execute(text(statement))
        for row_id, purpose, chat_id in OLD_OUTBOX:
            await conn.execute(
                text(
                    "INSERT INTO outbox (id, purpose, chat_id, priority, method, payload, status, due_at, attempts,"
                    f" created_at) VALUES (:id, :purpose, :chat, 5, 'sendMessage', '{{}}', 'sent', {AT}, 1, {AT})"
                ),
                {"id": row_id, "purpose": purpose, "chat": chat_id},
            )
    await upgrade(fresh.engine)
    async with fresh.engine.connect() as conn:
        found = sorted(tuple(row) for row in await conn.execute(text("SELECT outbox_id, user_id FROM outbox_mentions")))
    # The card names Camille, her invitation its author, the CSV names her; nobody is "named" in their own chat.
    assert found == [(1, 11), (2, 99), (3, 11)]
