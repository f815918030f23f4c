"""Votes that race their own poll's delivery are never lost (PostgreSQL row locks, SQLite).

Two hundred professionals each vote the instant their poll reaches them, while the outbox is
still recording which Telegram poll each of them received, at the paid-broadcast pace. On
PostgreSQL the outbox's after-send hook for sendPoll and the vote handler lock the same rows: they must never
deadlock, and a transaction the database picks as a victim is run again, never dropped (a
poll answer has no chat: nobody could be told).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Group, Membership, User, utcnow
from storage.polls_models import PollVote
from tests.harness import BotHarness
from tests.polls_support import GROUP, create_quick_poll

VOTERS = 200


async def seed_members(bot: BotHarness, count: int) -> list[dict]:
    """A group of `count` onboarded members, known to the fake Telegram."""
    users = [bot.api.make_user(760_000 + i, f"Pro{i}") for i in range(count)]
    async with bot.db.begin() as session:
        group = Group(slug="msp-tilleuls", name=GROUP, kind="msp")
        session.add(group)
        await session.flush()
        now = utcnow()
        session.add_all(
            User(id=u["id"], first_name=u["first_name"], profession="ide", language="fr", onboarded_at=now) for u in users
        )
        await session.flush()
        session.add_all(Membership(user_id=u["id"], group_id=group.id) for u in users)
    return users


async def vote_on_arrival(bot: BotHarness, user: dict, option: int) -> None:
    """Vote as soon as the poll shows up in this person's chat."""
    message = await bot.api.wait_for(lambda m: m["chat"]["id"] == user["id"] and "poll" in m, timeout=120)
    update = bot.api.answer_poll(user, message["poll"]["id"], [option])
    await bot.processor.wait_handled(update["update_id"], timeout=120)


@pytest.fixture
async def paid_bot(db: Database, api) -> BotHarness:  # type: ignore[no-untyped-def]
    harness = BotHarness(api, db, paid_broadcast=True)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def test_two_hundred_votes_cast_as_the_polls_arrive_are_all_counted(
    paid_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    bot = paid_bot
    caplog.set_level(logging.WARNING)
    users = await seed_members(bot, VOTERS)
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator)
    assert f"{VOTERS} destinataires" in coordinator.last_text
    voters = [asyncio.create_task(vote_on_arrival(bot, user, i % 3)) for i, user in enumerate(users)]
    started = time.monotonic()
    await coordinator.press("Envoyer")
    await asyncio.gather(*voters)
    elapsed = time.monotonic() - started

    async with bot.db.begin() as session:
        counted = await session.scalar(select(func.count(func.distinct(PollVote.user_id))))
    assert counted == VOTERS
    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    assert f"{VOTERS} réponses sur {VOTERS} destinataires" in coordinator.reply_text
    assert not [r for r in caplog.records if r.name == "bot.errors"], "a vote failed"
    assert elapsed < 20, f"{elapsed:.1f} s for {VOTERS} polls and votes: something waited on a lock"


async def test_a_deadlock_victim_is_run_again_never_dropped(db: Database) -> None:
    """Two transactions lock two rows in opposite orders: the database kills one; `Database.run`
    (the wrapper of every handler) runs it again, so both changes are there in the end."""
    if db.is_sqlite:
        pytest.skip("SQLite runs one writer at a time: two transactions can never deadlock")
    async with db.begin() as session:
        session.add_all([User(id=1, first_name="A"), User(id=2, first_name="B")])
    first_locked, second_locked = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    def work(name: str, mine: int, other: int, locked: asyncio.Event, wait_for: asyncio.Event) -> Any:
        async def run(session: AsyncSession) -> str:
            runs.append(name)
            await session.execute(update(User).where(User.id == mine).values(last_name=name))
            locked.set()
            await wait_for.wait()
            await session.execute(update(User).where(User.id == other).values(profession=name))
            return name

        return run

    done = await asyncio.gather(
        db.run(work("a", 1, 2, first_locked, second_locked)), db.run(work("b", 2, 1, second_locked, first_locked))
    )
    assert sorted(done) == ["a", "b"] and len(runs) == 3  # one of them ran twice
    async with db.begin() as session:
        users = {u.id: u for u in await session.scalars(select(User))}
    assert users[1].last_name == "a" and users[2].last_name == "b"
    assert users[1].profession == "b" and users[2].profession == "a"
