"""The outbox dispatcher against the fake Bot API: order, pace, errors, and what it records."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bot import notify
from bot.outbox import Dispatcher
from bot.transport import TelegramHTTP
from bot.pacing import GROUP_GAP, PRIVATE_GAP, CellRate, ChatGaps, PaceConfig
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, User, utcnow
from tests.fakebot import FakeBotAPI, RateLimits

FAST = PaceConfig(rate=2000, private_gap=0.0, group_gap=0.0)


def make_dispatcher(db: Database, api: FakeBotAPI, pace: PaceConfig = FAST, **kw: Any) -> Dispatcher:
    return Dispatcher(db, TelegramHTTP(f"{api.base_url}{api.token}", timeout=kw.pop("timeout", 5.0)), pace, **kw)


async def shut(d: Dispatcher) -> None:
    await d.close()
    await d.http.close()


@asynccontextmanager
async def running(d: Dispatcher) -> AsyncIterator[Dispatcher]:
    """The production loop in the background; on exit every answer is committed."""
    wake = asyncio.Event()

    async def idle(timeout: float) -> None:
        try:
            await asyncio.wait_for(wake.wait(), timeout)
        except TimeoutError:
            pass
        wake.clear()

    task = asyncio.create_task(d.run(idle))
    try:
        yield d
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await shut(d)


async def people(db: Database, api: FakeBotAPI, n: int, start: int = 500_001) -> list[int]:
    ids = list(range(start, start + n))
    async with db.begin() as session:
        session.add_all(User(id=i, first_name=f"P{i}", language="fr") for i in ids)
    for i in ids:
        api.make_user(i, f"P{i}")
    return ids


async def queue(db: Database, ids: list[int], purpose: str, text: str = "Bonjour", **kw: Any) -> None:
    async with db.begin() as session:
        await outbox.enqueue_many(
            session, [{"purpose": purpose, "chat_id": i, "user_id": i, "payload": {"text": text}} for i in ids], **kw
        )


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.begin() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_urgent_rows_leave_before_routine_ones_and_each_outcome_is_recorded(db: Database, api: FakeBotAPI) -> None:
    ids = await people(db, api, 5)
    await queue(db, ids, "bulletin", "routine", priority=outbox.ROUTINE)
    await queue(db, ids[:2], "alerte", "urgent", priority=outbox.URGENT)
    d = make_dispatcher(db, api, concurrency=1)
    assert await d.drain() == 7
    texts = [m["text"] for m in api.sent()]
    assert texts[:2] == ["urgent", "urgent"] and texts[2:] == ["routine"] * 5
    stored = await rows(db)
    assert {r.status for r in stored} == {"sent"} and all(r.message_id and r.sent_at and r.attempts == 1 for r in stored)
    await shut(d)


async def test_enqueueing_twice_sends_once(db: Database, api: FakeBotAPI) -> None:
    ids = await people(db, api, 3)
    await queue(db, ids, "rappel:s1")
    await queue(db, ids, "rappel:s1")
    d = make_dispatcher(db, api)
    await d.drain()
    assert sorted(m["chat"]["id"] for m in api.sent()) == ids
    await shut(d)


async def test_real_pace_never_puts_more_than_30_in_any_second_and_gets_no_429(db: Database) -> None:
    """45 people at the real 30/s limit, the fake answering 429 beyond it: no burst, no 429."""
    async with FakeBotAPI(token="123456:PACE", enforce_limits=True) as api:
        ids = await people(db, api, 45)
        await queue(db, ids, "annonce")
        d = make_dispatcher(db, api, PaceConfig.for_settings(False))
        await d.drain()
        await shut(d)
    assert api.count_429 == 0
    assert len(api.sent()) == 45
    assert api.max_sends_per_window(1.0) <= 30
    gaps = [b - a for a, b in zip(api.send_times, api.send_times[1:])]
    # ~29/s: at Telegram's pace, not slower. One pause of the machine (a GC pass late in a full
    # run, a database fsync) is forgiven: it once stretched 1.5 s of sending past the bound.
    assert (len(gaps) - 1) / (sum(gaps) - max(gaps)) > 27


async def test_one_person_gets_at_most_one_message_per_second(db: Database) -> None:
    async with FakeBotAPI(token="123456:CHAT", enforce_limits=True) as api:
        (uid,) = await people(db, api, 1)
        for n in range(3):
            await queue(db, [uid], f"info:{n}", f"message {n}")
        d = make_dispatcher(db, api, PaceConfig(rate=500))
        async with running(d):
            await api.wait_for(lambda m: m["text"] == "message 2", timeout=10)
        times = api.send_times
        assert api.count_429 == 0
        assert all(b - a >= 1.0 for a, b in zip(times, times[1:]))


def test_group_and_private_gaps_match_telegram_limits() -> None:
    now = [0.0]
    gaps = ChatGaps(clock=lambda: now[0])
    assert gaps.gap(42) == PRIVATE_GAP >= 1.0
    assert gaps.group_span == 20 * GROUP_GAP > 60.0  # 20 per minute, a little slack for jitter
    gaps.sent(42)
    assert gaps.ready_in(42) == PRIVATE_GAP
    for _ in range(20):  # a post and its attachment (and more) may go together…
        assert gaps.ready_in(-1001234) == 0
        gaps.reserve(-1001234)
    assert gaps.ready_in(-1001234) == gaps.group_span  # …the 21st waits for the first to leave the window
    now[0] = gaps.group_span
    assert gaps.ready_in(-1001234) == 0


def test_cell_rate_has_no_initial_burst() -> None:
    now = [100.0]
    rate = CellRate(29, clock=lambda: now[0])
    starts = []
    while now[0] < 102.0:
        if rate.delay() == 0:
            rate.take()
            starts.append(now[0])
        now[0] += 0.001
    first_second = [t for t in starts if t < 101.0]
    assert len(first_second) == 29
    assert all(b - a >= 1 / 29 - 1e-9 for a, b in zip(starts, starts[1:]))


async def test_group_messages_are_spaced_at_20_per_minute(db: Database) -> None:
    limits = RateLimits(group_chat_limit=(20, 1.0))  # "20 per minute", with a one-second minute the test can wait for
    async with FakeBotAPI(token="123456:GROUP", enforce_limits=True, limits=limits) as api:
        api.add_chat(-100777, "supergroup", "CPTS")
        async with db.begin() as session:
            await outbox.enqueue_many(session, [{"purpose": f"g{n}", "chat_id": -100777, "payload": {"text": f"g{n}"}} for n in range(25)])
        d = make_dispatcher(db, api, PaceConfig(rate=500, group_gap=1.05 / 20))
        async with running(d):
            await api.wait_for(lambda m: len(api.sent(-100777)) == 25, timeout=10)
        assert api.count_429 == 0
        assert api.send_times[19] - api.send_times[0] < 0.5  # twenty at once…
        assert api.send_times[20] - api.send_times[0] >= 1.0  # …the next ones a "minute" later


async def test_retry_after_is_honoured_and_does_not_count_as_a_try(db: Database, api: FakeBotAPI) -> None:
    (uid,) = await people(db, api, 1)
    await queue(db, [uid], "annonce")
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    d = make_dispatcher(db, api)
    first = api.clock()
    async with running(d):
        await api.wait_for(lambda m: m["chat"]["id"] == uid, timeout=5)
    assert api.clock() - first >= 1.0
    (row,) = await rows(db)
    assert row.status == "sent" and row.attempts == 1


async def test_server_errors_are_retried_with_backoff(db: Database, api: FakeBotAPI) -> None:
    (uid,) = await people(db, api, 1)
    await queue(db, [uid], "annonce")
    api.fail_next("sendMessage", 502, count=2)
    d = make_dispatcher(db, api, retry_base=0.05)
    async with running(d):
        await api.wait_for(lambda m: m["chat"]["id"] == uid, timeout=5)
    (row,) = await rows(db)
    assert row.status == "sent" and row.attempts == 3


async def test_gives_up_after_a_bounded_number_of_tries_with_the_reason(db: Database, api: FakeBotAPI) -> None:
    (uid,) = await people(db, api, 1)
    await queue(db, [uid], "annonce")
    api.fail_next("sendMessage", 500, "Internal Server Error", count=10)
    d = make_dispatcher(db, api, retry_base=0.01, max_attempts=3)
    third = lambda method, p: method == "sendMessage" and sum(c[0] == "sendMessage" for c in api.calls) >= 3  # noqa: E731
    async with running(d):
        await api.wait_for_call(third, timeout=5)
    (row,) = await rows(db)
    assert row.status == "failed" and row.attempts == 3
    assert "gave up after 3 tries" in row.last_error and "500" in row.last_error
    assert len(api.sent()) == 0


async def test_a_person_who_blocked_the_bot_is_marked_unreachable_and_nothing_more_is_queued(db: Database, api: FakeBotAPI) -> None:
    blocked, other = await people(db, api, 2)
    api.block(blocked)
    await queue(db, [blocked, other], "annonce")
    async with db.begin() as session:  # a second message already waiting for them
        await outbox.enqueue(session, purpose="later", chat_id=blocked, user_id=blocked, payload={"text": "x"}, due_at=utcnow() + timedelta(hours=1))
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    statuses = {(r.chat_id, r.purpose): r.status for r in await rows(db)}
    assert statuses == {(blocked, "annonce"): "unreachable", (other, "annonce"): "sent", (blocked, "later"): "unreachable"}
    async with db.begin() as session:
        assert (await session.get(User, blocked)).unreachable_at is not None
        queued = await notify.notify(session, [blocked, other], purpose="next", render=notify.simple("common.error"))
    assert queued == 1


async def test_bad_requests_fail_at_once_with_telegrams_reason(db: Database, api: FakeBotAPI) -> None:
    async with db.begin() as session:
        await outbox.enqueue(session, purpose="x", chat_id=777_777_777, payload={"text": "hello"})
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    (row,) = await rows(db)
    assert row.status == "failed" and row.attempts == 1 and "chat not found" in row.last_error


async def test_a_message_past_its_deadline_is_skipped_and_recorded_as_stale(db: Database, api: FakeBotAPI) -> None:
    (uid,) = await people(db, api, 1)
    await queue(db, [uid], "rappel", not_after=utcnow() - timedelta(minutes=1))
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    (row,) = await rows(db)
    assert row.status == "skipped" and "stale" in row.last_error and api.sent() == []


async def test_unknown_outcomes_follow_the_policy(db: Database, api: FakeBotAPI) -> None:
    """Leases that expired (a dead process): urgent rows are sent again, routine ones are not."""
    a, b = await people(db, api, 2)
    await queue(db, [a], "alerte", priority=outbox.URGENT)
    await queue(db, [b], "rappel", priority=outbox.NORMAL)
    async with db.begin() as session:
        await session.execute(update(OutboxMessage).values(status="sending", attempts=1, claimed_until=utcnow() - timedelta(seconds=1)))
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    by_chat = {r.chat_id: r for r in await rows(db)}
    assert by_chat[a].status == "sent" and by_chat[a].attempts == 2
    assert by_chat[b].status == "unknown" and "not sent again" in by_chat[b].last_error
    assert [m["chat"]["id"] for m in api.sent()] == [a]
    async with db.begin() as session:
        counts = await outbox.delivery_counts(session, 0)
    assert counts["pending"] == 0


async def test_a_lost_answer_is_unknown_for_routine_and_retried_for_urgent(db: Database, api: FakeBotAPI) -> None:
    a, b = await people(db, api, 2)
    await queue(db, [b], "rappel", priority=outbox.NORMAL)
    api.fail_next("sendMessage", 0)  # the connection drops before any answer
    d = make_dispatcher(db, api, retry_base=0.01)
    await d.drain()
    assert (await rows(db))[0].status == "unknown"
    await queue(db, [a], "alerte", priority=outbox.URGENT)
    api.fail_next("sendMessage", 0)
    async with running(d):
        await api.wait_for(lambda m: m["chat"]["id"] == a, timeout=5)
    assert {r.chat_id: r.status for r in await rows(db)} == {b: "unknown", a: "sent"}


async def test_delivery_counts_per_send(db: Database, api: FakeBotAPI) -> None:
    ids = await people(db, api, 4)
    api.block(ids[0])
    async with db.begin() as session:
        send = await outbox.new_send(session, kind="bulletin", label="Bulletin", created_by=None)
        send_id = send.id
    await queue(db, ids, "bulletin:1", send_id=send_id)
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    async with db.begin() as session:
        counts = await outbox.delivery_counts(session, send_id)
    assert counts["sent"] == 3 and counts["unreachable"] == 1 and counts["pending"] == 0


async def test_paid_broadcast_asks_telegram_for_it(db: Database, api: FakeBotAPI) -> None:
    ids = await people(db, api, 3)
    await queue(db, ids, "crise")
    d = make_dispatcher(db, api, PaceConfig(rate=950, burst=10, paid=True))
    await d.drain()
    await shut(d)
    calls = [p for method, p in api.calls if method == "sendMessage"]
    assert len(calls) == 3 and all(p.get("allow_paid_broadcast") is True for p in calls)


async def test_documents_are_uploaded(db: Database, api: FakeBotAPI) -> None:
    (uid,) = await people(db, api, 1)
    payload = {"document": {"b64": base64.b64encode(b"BEGIN:VCALENDAR").decode(), "filename": "r.ics"}, "caption": "<b>Agenda</b>", "parse_mode": "HTML"}
    async with db.begin() as session:
        await outbox.enqueue(session, purpose="ics", chat_id=uid, user_id=uid, payload=payload, method="sendDocument")
    d = make_dispatcher(db, api)
    await d.drain()
    await shut(d)
    assert api.files(uid) == [("r.ics", b"BEGIN:VCALENDAR", "Agenda")]
