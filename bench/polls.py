"""How polls scale with the audience: creation, answers, results, closing, chart.

    python bench/polls.py [members]            # SQLite in a temporary file
    BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench python bench/polls.py

Creates a group of `members` people, sends them a quick poll (two outbox rows each, as
/sondage does), records one answer per person (one transaction each, as poll_answer updates
arrive), then times /resultats' query and the closing job's query, and the chart.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import update  # noqa: E402

from handlers.polls import charts  # noqa: E402
from storage import outbox, polls  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Group, Membership, OutboxMessage, User, utcnow  # noqa: E402


async def main(members: int) -> None:
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url)
    await upgrade(db.engine)
    async with db.begin() as session:
        group = Group(slug=f"bench-{time.time_ns()}", name="Bench")
        session.add(group)
        await session.flush()
        base = 10_000_000 + (time.time_ns() % 1_000_000) * 10_000
        session.add_all(User(id=base + i, first_name=f"P{i}") for i in range(members))
        await session.flush()
        session.add_all(Membership(user_id=base + i, group_id=group.id) for i in range(members))
    started = time.perf_counter()
    async with db.begin() as session:
        poll, recipients = await polls.create_poll(
            session, kind=polls.QUICK, question="Bench ?", options=[polls.OptionDraft(t) for t in ("A", "B", "C")],
            audience=polls.Audience("group", group.id), closes_at=utcnow() + timedelta(days=1), created_by=None,
        )
        rows = []
        for chat_id, user_id in recipients:
            rows.append({"purpose": polls.purpose(poll.id, "intro"), "chat_id": chat_id, "user_id": user_id, "payload": {"text": "x"}})
            rows.append({"purpose": polls.purpose(poll.id, "send"), "chat_id": chat_id, "user_id": user_id, "payload": {}, "method": "sendPoll"})
        await outbox.enqueue_many(session, rows)
    create = time.perf_counter() - started
    started = time.perf_counter()
    async with db.begin() as session:
        for i, (chat_id, _) in enumerate(recipients):
            await polls.record_sent_poll(session, polls.purpose(poll.id, "send"), chat_id, {"message_id": 1, "poll": {"id": f"b{poll.id}-{i}"}})
    mapping = time.perf_counter() - started
    started = time.perf_counter()
    for i, (_, user_id) in enumerate(recipients):
        async with db.begin() as session:
            await polls.record_native_answer(session, f"b{poll.id}-{i}", user_id, [i % 3], utcnow())  # type: ignore[arg-type]
    answers = time.perf_counter() - started
    started = time.perf_counter()
    async with db.begin() as session:
        fresh = await polls.get_poll(session, poll.id)
        results = await polls.quick_results(session, fresh)  # type: ignore[arg-type]
    report = time.perf_counter() - started
    started = time.perf_counter()
    charts.bar_chart("Bench ?", ["A", "B", "C"], results.counts, [str(c) for c in results.counts])
    chart_first = time.perf_counter() - started
    started = time.perf_counter()
    charts.bar_chart("Bench ?", ["A", "B", "C"], results.counts, [str(c) for c in results.counts])
    chart = time.perf_counter() - started
    async with db.begin() as session:  # as if the outbox had delivered every poll
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.purpose == polls.purpose(poll.id, "send")).values(status="sent", message_id=1)
        )
    started = time.perf_counter()
    async with db.begin() as session:
        await polls.claim_due(session, utcnow() + timedelta(days=2))
        stops = await polls.sent_poll_messages(session, poll.id)
    closing = time.perf_counter() - started
    await db.dispose()
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"polls bench ({backend}, {members} members)")
    print(f"  create poll + queue {2 * members} outbox rows : {create * 1000:8.1f} ms")
    print(f"  record {members} Telegram poll ids (one txn)   : {mapping * 1000:8.1f} ms")
    print(f"  {members} poll answers, one txn each          : {answers * 1000:8.1f} ms ({members / answers:,.0f} answers/s)")
    print(f"  results query ({results.voters} voters)              : {report * 1000:8.1f} ms")
    print(f"  bar chart PNG (first / warm)               : {chart_first * 1000:8.1f} / {chart * 1000:.1f} ms")
    print(f"  close, list the {len(stops)} polls to stop      : {closing * 1000:8.1f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
