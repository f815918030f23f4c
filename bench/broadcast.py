"""One message to 10,000 people through the real outbox, against a fake Bot API that enforces
Telegram's limits (429 + retry_after beyond 30/s, 1/s per chat, 1000/s with paid broadcast).

    python bench/broadcast.py                  # standard pace then paid broadcast, SQLite
    python bench/broadcast.py --mode paid --db postgresql --n 10000

The fake runs in its own process (as Telegram would), so the figures are the dispatcher's:
achieved msg/s, 429s received, lost, duplicated, the most messages in any 1-second window, and
the bot process's peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "123456:BENCH-TOKEN"
FIRST_ID = 1_000_001


def fake_server(n: int, conn) -> None:  # type: ignore[no-untyped-def]
    """Child process: the fake Bot API with limits on; reports what it saw when asked."""
    from tests.fakebot import FakeBotAPI

    async def main() -> None:
        async with FakeBotAPI(token=TOKEN, enforce_limits=True) as api:
            for uid in range(FIRST_ID, FIRST_ID + n):
                api.make_user(uid, f"P{uid}")
            conn.send(api.base_url)
            loop = asyncio.get_running_loop()
            cpu0 = time.process_time()
            while True:
                command = await loop.run_in_executor(None, conn.recv)
                if command == "stats":
                    per_chat = Counter(m["chat"]["id"] for m in api.sent())
                    times = api.send_times
                    conn.send(
                        {
                            "sent": len(times),
                            "429": api.count_429,
                            "lost": sum(1 for uid in range(FIRST_ID, FIRST_ID + n) if per_chat[uid] == 0),
                            "duplicated": sum(c - 1 for c in per_chat.values() if c > 1),
                            "max_1s": api.max_sends_per_window(1.0),
                            "span": times[-1] - times[0] if len(times) > 1 else 0.0,
                            "cpu": time.process_time() - cpu0,
                        }
                    )
                elif command == "reset":
                    api.store.sent.clear()
                    for state in api.store.chats.values():
                        state.sent.clear()
                        state.live.clear()
                    api.store.live.clear()
                    api.send_times.clear()
                    api.count_429 = 0
                    cpu0 = time.process_time()
                    conn.send("ok")
                else:
                    return

    asyncio.run(main())


async def make_database(kind: str) -> tuple[str, object]:
    from storage.db import Database
    from storage.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
        drop = None
    else:
        import asyncpg
        from sqlalchemy.engine import make_url

        base = make_url(os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
        name = f"relais_bench_{uuid.uuid4().hex[:8]}"
        admin = dict(host=base.host, port=base.port or 5432, user=base.username, password=base.password, database=base.database)
        conn = await asyncpg.connect(**admin)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = base.set(database=name).render_as_string(hide_password=False)

        async def drop() -> None:
            c = await asyncpg.connect(**admin)
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await c.close()

    db = Database(url)
    await upgrade(db.engine)
    await db.dispose()
    return url, drop


async def run_mode(paid: bool, n: int, db_url: str, base_url: str, tag: str) -> dict:
    from sqlalchemy import delete, func, insert, select

    from bot.outbox import Dispatcher
    from bot.transport import TelegramHTTP
    from bot.pacing import PaceConfig
    from storage import outbox
    from storage.db import Database
    from storage.models import OutboxMessage, User

    db = Database(db_url, pool_size=5)
    async with db.begin() as session:
        await session.execute(delete(OutboxMessage))
        if not paid or tag.endswith("only"):
            await session.execute(delete(User))
            await session.execute(insert(User), [{"id": uid, "first_name": f"P{uid}", "language": "fr"} for uid in range(FIRST_ID, FIRST_ID + n)])
    t0 = time.perf_counter()
    async with db.begin() as session:
        await outbox.enqueue_many(
            session,
            [{"purpose": f"bulletin:{tag}", "chat_id": uid, "user_id": uid, "payload": {"text": "<b>Bulletin</b> : consignes de vaccination.", "parse_mode": "HTML"}}
             for uid in range(FIRST_ID, FIRST_ID + n)],
        )  # fmt: skip
    enqueue_s = time.perf_counter() - t0
    dispatcher = Dispatcher(db, TelegramHTTP(f"{base_url}{TOKEN}", pool=260), PaceConfig.for_settings(paid))
    t0, cpu0 = time.perf_counter(), time.process_time()
    await dispatcher.drain()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await dispatcher.close()
    await dispatcher.http.close()
    async with db.begin() as session:
        statuses = dict((await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all())
    await db.dispose()
    return {"cpu": cpu, "elapsed": elapsed, "enqueue_s": enqueue_s, "statuses": statuses, "stats": dict(dispatcher.stats)}


def report(label: str, n: int, run: dict, seen: dict) -> None:
    rate = (seen["sent"] - 1) / seen["span"] if seen["span"] else float("nan")
    print(f"\n== {label}: {n} recipients ==")
    print(f"  enqueue (one transaction)      {run['enqueue_s']:.2f} s")
    print(f"  drain                          {run['elapsed']:.1f} s")
    print(f"  achieved (Telegram's clock)    {rate:.1f} msg/s")
    print(f"  bot CPU per message            {run['cpu'] / n * 1000:.2f} ms (ceiling on one free core: {n / run['cpu']:.0f} msg/s)")
    print(f"  fake Bot API CPU per message   {seen['cpu'] / max(seen['sent'], 1) * 1000:.2f} ms (the other core's share)")
    print(f"  429s received                  {seen['429']}")
    print(f"  lost                           {seen['lost']}")
    print(f"  duplicated                     {seen['duplicated']}")
    print(f"  max messages in any 1 s window {seen['max_1s']}")
    print(f"  outbox rows by status          {run['statuses']}")
    print(f"  peak RSS of the bot process    {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


async def main(args: argparse.Namespace) -> None:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=fake_server, args=(args.n, child), daemon=True)
    server.start()
    base_url = parent.recv()
    db_url, drop = await make_database(args.db)
    print(f"database: {args.db}; fake Bot API with Telegram's limits enforced, in its own process")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    try:
        modes = {"standard": [False], "paid": [True], "both": [False, True]}[args.mode]
        for paid in modes:
            tag = ("paid" if paid else "standard") + ("" if args.mode == "both" else "-only")
            run = await run_mode(paid, args.n, db_url, base_url, tag)
            parent.send("stats")
            seen = parent.recv()
            report("paid broadcast (allow_paid_broadcast, 1000/s)" if paid else "standard pace (30/s)", args.n, run, seen)
            parent.send("reset")
            parent.recv()
    finally:
        parent.send("stop")
        server.join(5)
        if drop is not None:
            await drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("standard", "paid", "both"), default="both")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--n", type=int, default=10_000)
    asyncio.run(main(parser.parse_args()))
