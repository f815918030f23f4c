"""kill -9 in the middle of a 2,000-person send loses nothing and sends nothing twice.

The bot runs as a real subprocess (tests/outbox_runner.py → bot.outbox.run_dispatcher). The
fake Bot API kills it with SIGKILL from inside its own bookkeeping, at the instant it records
the 600th delivery: that request has been accepted by "Telegram" but its answer has not
reached the bot, which is exactly the window Telegram gives no idempotency key for. A second
process then finishes the send, and the test counts what every chat received.

What is measured, per policy (bot/outbox.py):
* NORMAL priority (at-most-once when unsure), one request in flight: every person gets exactly
  one message; the rows whose outcome the bot could not know end `unknown`, none resent.
* URGENT priority (at-least-once when unsure), four requests in flight: nobody is missed;
  the only people who get a second copy are those whose row was explicitly found in flight
  after the crash ("outcome unknown … sent again"), at most the number in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, User
from tests.fakebot import FakeBotAPI

N = 2000
KILL_AT = 600
ROOT = Path(__file__).resolve().parent.parent


async def runner(db: Database, api: FakeBotAPI, concurrency: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADER_RETRY_SECONDS": "0.2"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.outbox_runner", "--db", db.url, "--api", api.base_url, "--token", api.token,
        "--concurrency", str(concurrency), "--lease", "1.0",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Wait for a database condition (the second process commits as it goes)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def statuses(db: Database) -> Counter[str]:
    async with db.begin() as session:
        rows = await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        return Counter({status: n for status, n in rows})


@pytest.mark.parametrize(("priority", "concurrency"), [(outbox.NORMAL, 1), (outbox.URGENT, 4)], ids=["normal", "urgent"])
async def test_kill_9_mid_broadcast(db: Database, api: FakeBotAPI, priority: int, concurrency: int) -> None:
    ids = list(range(700_001, 700_001 + N))
    for uid in ids:
        api.make_user(uid, f"P{uid}")
    async with db.begin() as session:
        await session.execute(insert(User), [{"id": uid, "first_name": f"P{uid}"} for uid in ids])
        await outbox.enqueue_many(
            session, [{"purpose": "bulletin:1", "chat_id": uid, "user_id": uid, "payload": {"text": "Bulletin n°1"}} for uid in ids],
            priority=priority,
        )  # fmt: skip

    first = await runner(db, api, concurrency)
    killed: list[int] = []

    def kill_at_600th(_message: dict) -> bool:
        if not killed and len(api.sent()) >= KILL_AT:
            os.kill(first.pid, signal.SIGKILL)  # synchronously, before the fake answers this request
            killed.append(len(api.sent()))
        return bool(killed)

    await api.wait_for(kill_at_600th, timeout=60)
    assert await first.wait() == -signal.SIGKILL
    assert killed == [KILL_AT]
    async with db.begin() as session:
        cut = set(await session.scalars(select(OutboxMessage.chat_id).where(OutboxMessage.status == "sending")))
    in_flight = len(cut)
    assert 1 <= in_flight <= concurrency  # the 600th, and other requests in flight or answered but not yet committed

    second = await runner(db, api, 8)  # the restart may go faster: only the kill's instant is under test
    try:
        await eventually(lambda: _settled(db), timeout=60)
    finally:
        second.terminate()
        await second.wait()

    received = Counter(m["chat"]["id"] for m in api.sent())
    async with db.begin() as session:
        rows = {r.chat_id: r for r in await session.scalars(select(OutboxMessage))}
    missed = [uid for uid in ids if received[uid] == 0]
    twice = [uid for uid, n in received.items() if n > 1]
    final = await statuses(db)
    if priority == outbox.NORMAL:
        assert missed == [] and twice == []
        # Each row cut by the kill is unknown and not sent again; besides them, only a request that
        # timed out (a loaded machine) can be: its outcome is unknown too.
        unknown = {uid for uid in ids if rows[uid].status == "unknown"}
        assert cut <= unknown
        assert final == Counter({"sent": N - len(unknown), "unknown": len(unknown)})
        assert all("not sent again" in (rows[uid].last_error or "") for uid in unknown)
    else:
        assert missed == []
        # Each row cut by the kill is sent again; a duplicate only where a row was sent again
        # (cut by the kill, or a timeout under load: the outcome is unknown, urgency resends).
        resent = {uid for uid in ids if rows[uid].attempts > 1}
        assert cut <= resent and set(twice) <= resent
        assert final == Counter({"sent": N})
    assert all(n <= 2 for n in received.values())


async def _settled(db: Database) -> bool:
    counts = await statuses(db)
    return counts["pending"] == 0 and counts["sending"] == 0
