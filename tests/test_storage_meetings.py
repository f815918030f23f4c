"""Registrations and waiting lists at the storage level, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage import meetings as store
from storage.db import Database
from storage.meetings import SessionDraft
from storage.models import Group, Registration, User

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def _setup(db: Database, *, capacity: int | None, people: int) -> int:
    async with db.begin() as session:
        group = Group(slug="cpts-test", name="CPTS Test")
        session.add(group)
        session.add_all(User(id=1000 + i, first_name=f"P{i}") for i in range(people))
        await session.flush()
        meeting = await store.create_meeting(
            session,
            group_id=group.id,
            title="Soins non programmés",
            theme=None,
            created_by=None,
            sessions=[SessionDraft(NOW + timedelta(days=10), None, True, "Verdun", None, capacity)],
        )
        return meeting.sessions[0].id


async def _register(db: Database, session_id: int, user_id: int, at: datetime) -> store.RegisterResult:
    async with db.begin() as session:
        return await store.register(session, session_id, user_id, now=at)


async def test_fifty_racing_for_three_seats_get_three_and_an_ordered_waiting_list(db: Database) -> None:
    session_id = await _setup(db, capacity=3, people=50)
    results = await asyncio.gather(
        *(_register(db, session_id, 1000 + i, NOW + timedelta(microseconds=i)) for i in range(50))
    )
    outcomes = [r.outcome for r in results]
    assert outcomes.count("confirmed") == 3
    assert outcomes.count("waitlisted") == 47
    assert sorted(r.position for r in results if r.outcome == "waitlisted") == list(range(1, 48))
    async with db.begin() as session:
        waiting = list(
            await session.scalars(
                select(Registration).where(Registration.status == "waitlisted").order_by(Registration.id)
            )
        )
        positions = [await store.waitlist_position(session, r) for r in waiting]
    assert positions == list(range(1, 48))
    # The position each person was told matches the order they were recorded in.
    by_user = {1000 + i: results[i] for i in range(50)}
    assert [by_user[r.user_id].position for r in waiting] == list(range(1, 48))


async def test_a_freed_seat_goes_to_the_first_person_waiting(db: Database) -> None:
    session_id = await _setup(db, capacity=1, people=3)
    for i in range(3):
        await _register(db, session_id, 1000 + i, NOW + timedelta(seconds=i))
    async with db.begin() as session:
        result = await store.cancel_registration(session, session_id, 1000, now=NOW + timedelta(minutes=1))
    assert result.cancelled and result.promoted_user_id == 1001
    async with db.begin() as session:
        again = await store.register(session, session_id, 1001, now=NOW + timedelta(minutes=2))
        third = await store.register(session, session_id, 1002, now=NOW + timedelta(minutes=2))
    assert again.outcome == "already_confirmed"
    assert (third.outcome, third.position) == ("already_waitlisted", 1)


async def test_past_and_cancelled_sessions_refuse_registration(db: Database) -> None:
    session_id = await _setup(db, capacity=None, people=2)
    later = NOW + timedelta(days=11)
    assert (await _register(db, session_id, 1000, later)).outcome == "past"
    async with db.begin() as session:
        await store.cancel_session(session, session_id)
    assert (await _register(db, session_id, 1001, NOW)).outcome == "cancelled"


async def test_upcoming_sessions_only_show_followed_groups_soonest_first(db: Database) -> None:
    from bot.sample_data import load_samples
    from storage.users import set_groups

    async with db.begin() as session:
        groups = await load_samples(session, now=NOW)
        session.add(User(id=42, first_name="Alex"))
        await session.flush()
        await set_groups(session, 42, [groups["ght-coeur-grand-est"].id])
    async with db.begin() as session:
        views, total = await store.upcoming_sessions(session, user_id=42, now=NOW)
    assert total == 3
    assert [v.session.site for v in views] == ["Verdun", "Bar-le-Duc", "Saint-Dizier"]
    assert all(v.session.starts_at.tzinfo is not None for v in views)
