"""Several dispatchers drain one outbox at Telegram's real pace, on PostgreSQL.

Each dispatcher runs the production loop (`bot.outbox.run_sender`: sender slot, share, chat
partition) against the fake Bot API with Telegram's limits enforced (429 beyond 30 sends in a
second, or a second message to one person within a second). Checked: every message exactly
once, never more than 30 in any one-second window, no 429, every dispatcher sends its part;
and while members join and leave, the pace never overshoots.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, insert, select

from bot.outbox import Dispatcher, run_sender
from bot.pacing import CellRate, PaceConfig
from bot.senders import LEGACY_SENDER_KEY, Senders, Share
from bot.transport import TelegramHTTP
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, User
from tests.conftest import _truncate_all
from tests.fakebot import FakeBotAPI

STANDARD = PaceConfig.for_settings(False)  # 29.5/s, at most 30 starts in any 1.05 s, 1/s per person


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, pool_size=20)
    await _truncate_all(database)
    yield database
    await database.dispose()


@pytest.fixture
async def limited() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token="123456:SENDERS", enforce_limits=True) as api:
        yield api


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for an in-memory condition (a dispatcher's share, a count of sends)."""
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class Sender:
    """One dispatcher in its production loop, as one bot process would run it."""

    def __init__(self, db: Database, api: FakeBotAPI) -> None:
        self.dispatcher = Dispatcher(db, TelegramHTTP(f"{api.base_url}{api.token}", timeout=5.0), STANDARD)
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _idle(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            pass
        self.wake.clear()

    def start(self) -> Sender:
        self.task = asyncio.create_task(run_sender(self.dispatcher, self._idle))
        return self

    async def stop(self) -> None:
        """Cancel the production loop; one that does not end within 30 s fails, showing where it is."""
        if self.task is not None:
            self.task.cancel()
            done, _ = await asyncio.wait({self.task}, timeout=30)
            if not done:
                where = io.StringIO()
                self.task.print_stack(file=where)
                raise AssertionError(f"the sender did not stop within 30 s:\n{where.getvalue()}")

    @property
    def sent(self) -> int:
        return self.dispatcher.stats["sent"]

    def sharing(self, n: int) -> bool:
        share = self.dispatcher.share
        return share is not None and share.n == n and share.pace_n == n


async def enqueue(db: Database, messages: list[tuple[int, str]]) -> None:
    chats = sorted({chat for chat, _ in messages})
    async with db.begin() as session:
        await session.execute(insert(User), [{"id": c, "first_name": f"P{c}"} for c in chats])
        await outbox.enqueue_many(
            session, [{"purpose": purpose, "chat_id": chat, "user_id": chat, "payload": {"text": purpose}} for chat, purpose in messages]
        )


async def all_sent(db: Database, n: int) -> None:
    for _ in range(200):
        async with db.begin() as session:
            if await session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) == n:
                return
        await asyncio.sleep(0.05)  # the last answers are being committed
    raise AssertionError(f"fewer than {n} rows recorded as sent")


def check_delivery(api: FakeBotAPI, messages: list[tuple[int, str]]) -> None:
    """Exactly once each, within Telegram's limits (the fake answered no 429)."""
    got = Counter((m["chat"]["id"], m["text"]) for m in api.sent())
    assert got == Counter(messages)
    assert api.count_429 == 0
    assert api.max_sends_per_window(1.0) <= 30


async def test_three_senders_share_the_pace_and_split_the_chats(pg: Database, limited: FakeBotAPI) -> None:
    api = limited
    people = list(range(600_001, 600_201))
    regulars = list(range(610_001, 610_005))  # three messages each: one pacer must space them
    messages = [(p, "annonce") for p in people] + [(r, f"rappel {k}") for r in regulars for k in range(3)]
    for uid in people + regulars:
        api.make_user(uid, f"P{uid}")
    senders = [Sender(pg, api).start() for _ in range(3)]
    try:
        await until(lambda: all(s.sharing(3) for s in senders), 15, "three senders, each with its share")
        assert sorted(s.dispatcher.share.rank for s in senders) == [0, 1, 2]  # type: ignore[union-attr]
        await enqueue(pg, messages)
        for s in senders:
            s.wake.set()
        await until(lambda: len(api.sent()) >= len(messages), 30, "every message")
        await all_sent(pg, len(messages))
    finally:
        await asyncio.gather(*(s.stop() for s in senders))
    check_delivery(api, messages)
    assert all(s.sent > 0 for s in senders) and sum(s.sent for s in senders) == len(messages)
    times: dict[int, list[float]] = {}
    for message, at in zip(api.sent(), api.send_times, strict=True):
        times.setdefault(message["chat"]["id"], []).append(at)
    assert all(b - a >= 1.0 for r in regulars for a, b in zip(times[r], times[r][1:]))
    bulk = [at for message, at in zip(api.sent(), api.send_times, strict=True) if message["text"] == "annonce"]
    rate = (len(bulk) - 1) / (bulk[-1] - bulk[0])
    print(f"\nsent per dispatcher {[s.sent for s in senders]}, {rate:.1f} msg/s in all, max {api.max_sends_per_window(1.0)} in 1 s")
    assert rate > 24  # the three shares add up to about Telegram's pace (29.5/s)


async def test_joining_and_leaving_never_overshoot(pg: Database, limited: FakeBotAPI) -> None:
    """A sends alone at full pace; B joins mid-send; then A stops. Not one 429 on the way."""
    api = limited
    people = list(range(620_001, 620_241))
    messages = [(p, "bulletin") for p in people]
    for uid in people:
        api.make_user(uid, f"P{uid}")
    a = Sender(pg, api).start()
    b = Sender(pg, api)
    try:
        await until(lambda: a.sharing(1), 15, "A alone")
        await enqueue(pg, messages)
        a.wake.set()
        await until(lambda: a.sent >= 40, 15, "A at full pace")
        b.start()
        await until(lambda: a.sharing(2), 5, "A halving its pace")
        await until(lambda: b.sent >= 30, 15, "B sending its part")
        await a.stop()
        await until(lambda: b.sharing(1), 10, "B back at full pace")
        b.wake.set()
        await until(lambda: len(api.sent()) >= len(messages), 30, "every message")
        await all_sent(pg, len(messages))
    finally:
        await asyncio.gather(a.stop(), b.stop())
    check_delivery(api, messages)
    assert a.sent + b.sent == len(messages)
    print(f"\nA sent {a.sent}, B sent {b.sent}, max {api.max_sends_per_window(1.0)} in 1 s")


async def test_each_share_claims_only_its_chats(pg: Database) -> None:
    """chat_id mod n == rank, negative ids (groups, channels) included."""
    chats = [-1001, -1002, -1003, -1004, 5, 6, 7, 8]
    async with pg.begin() as session:
        await outbox.enqueue_many(session, [{"purpose": f"c{c}", "chat_id": c, "payload": {"text": "x"}} for c in chats])
    claimed: dict[int, list[int]] = {}
    for rank in (0, 1):
        d = Dispatcher(pg, TelegramHTTP("http://127.0.0.1:9/bot"), PaceConfig.unlimited(1000))
        d.set_share(Share(rank=rank, n=2, pace_n=2))
        rows, _ = await d.claim(100)
        claimed[rank] = sorted(r.chat_id for r in rows)
    assert claimed == {0: [-1004, -1002, 6, 8], 1: [-1003, -1001, 5, 7]}


def test_a_share_divides_the_rate_and_the_window_and_counts_earlier_starts() -> None:
    now = [100.0]
    rate = CellRate(29.5, 2, clock=lambda: now[0], window=(30, 1.05))

    def run(seconds: float) -> list[float]:
        starts, end = [], now[0] + seconds
        while now[0] < end:
            if rate.delay() == 0:
                rate.take()
                starts.append(now[0])
            now[0] += 0.001
        return starts

    full = run(1.0)
    assert len(full) == 30
    rate.share(2)
    assert rate.window == (15, 1.05)
    half = run(3.0)
    starts = full + half
    # Earlier starts keep counting: nothing until the window holds fewer than 15, then 15 at most.
    assert all(sum(1 for t in starts if s - 1.05 < t <= s) <= 15 for s in half)
    assert half[0] - full[-1] > 0.4
    steady = [t for t in half if t > full[-1] + 1.05]
    assert (len(steady) - 1) / (steady[-1] - steady[0]) == pytest.approx(29.5 / 2, rel=0.05)
    rate.share(1)
    assert rate.window == (30, 1.05) and rate.interval == pytest.approx(1 / 29.5)


async def test_a_lost_connection_stops_sending_until_the_slot_is_taken_again(pg: Database) -> None:
    import asyncpg

    from bot.leader import asyncpg_dsn

    shares: list[Share | None] = []
    senders = Senders(pg.url, shares.append, retry=0.2)
    senders.start()
    admin = await asyncpg.connect(asyncpg_dsn(pg.url))
    try:
        await until(lambda: senders.share == Share(0, 1, 1), 10, "a lone sender")
        await admin.execute("SELECT pg_terminate_backend($1)", senders._conn.get_server_pid())  # type: ignore[union-attr]
        await until(lambda: senders.share is None, 5, "the sender stopping")
        await until(lambda: senders.share is not None, 10, "the sender back")
        assert shares == [Share(0, 1, 1), None, Share(0, 1, 1)]
    finally:
        await senders.stop()
        await admin.close()


async def test_no_sending_while_a_sender_of_the_previous_version_runs(pg: Database) -> None:
    """Rolling upgrade: the old elected sender paces alone at the full rate; the new ones wait."""
    import asyncpg

    from bot.leader import asyncpg_dsn

    old = await asyncpg.connect(asyncpg_dsn(pg.url))
    assert await old.fetchval("SELECT pg_try_advisory_lock($1)", LEGACY_SENDER_KEY)
    senders = Senders(pg.url, lambda _share: None)
    senders.start()
    try:
        await until(lambda: senders._legacy, 10, "the old sender noticed")
        assert senders.share is None and not senders.active.is_set()
        await old.close()
        gone = asyncio.get_running_loop().time()
        await senders.active.wait()
        assert asyncio.get_running_loop().time() - gone >= senders.grace - senders.refresh
    finally:
        await senders.stop()
        if not old.is_closed():
            await old.close()


async def test_when_every_slot_is_taken_a_process_waits_for_one_to_free(pg: Database) -> None:
    first = Senders(pg.url, lambda _share: None, slots=1)
    second = Senders(pg.url, lambda _share: None, slots=1, retry=0.2)
    first.start()
    try:
        await until(lambda: first.share == Share(0, 1, 1), 10, "the first sender")
        second.start()
        await until(lambda: second._full, 10, "the second finding no free slot")
        assert second.share is None
        await first.stop()
        await until(lambda: second.share == Share(0, 1, 1), 10, "the second taking the freed slot")
    finally:
        await asyncio.gather(first.stop(), second.stop())
