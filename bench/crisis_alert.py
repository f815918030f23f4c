"""An urgent crisis bulletin to N professionals, end to end: the real bot, the real outbox at the
paid-broadcast pace (950 msg/s), a fake Bot API over HTTP.

    python bench/crisis_alert.py                     # 2,000 professionals, SQLite
    python bench/crisis_alert.py --n 5000 --db postgresql+asyncpg://postgres@127.0.0.1:5432/bench_crisis

Prints: how long "Publier" takes (queueing N private messages in the same transaction), the
time until the last professional has the alert, the achieved rate, how fast acknowledgements
pressed all at once are recorded, and how long /suivi takes to count them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from storage.all_models import Base  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.fakebot import FakeBotAPI  # noqa: E402
from tests.test_crisis_support import CHANNEL, add_professionals, crisis_harness, publish, text_of  # noqa: E402


async def run(n: int, url: str | None) -> None:
    tmp = tempfile.TemporaryDirectory()
    url = url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    db = Database(url, pool_size=20)
    await upgrade(db.engine)
    if not db.is_sqlite:
        async with db.engine.begin() as conn:
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables) + " RESTART IDENTITY CASCADE"))
    async with FakeBotAPI(token="123456:BENCH-CRISIS") as api:
        bot = crisis_harness(api, db, background=True)
        await bot.start()
        try:
            ids = await add_professionals(bot, n)
            cell = bot.coordinator()
            await publish(cell, title="Alerte : cyberattaque au GHT", links=None, priority="Urgent", confirm=False)
            wanted, reached = set(ids), set()

            def everyone(message: dict) -> bool:
                if message["chat"]["id"] in wanted and "cyberattaque" in text_of(message):
                    reached.add(message["chat"]["id"])
                return len(reached) == n

            started = time.perf_counter()
            await cell.press("Publier")
            published = time.perf_counter()
            await api.wait_for(everyone, timeout=max(60.0, n / 50))
            delivered = time.perf_counter()
            private_times = [t for t, m in zip(api.send_times, api.sent(), strict=True) if m["chat"]["id"] in wanted]
            span = private_times[-1] - private_times[0] if len(private_times) > 1 else 0.0

            users = {uid: api.store.users[uid] for uid in ids}
            t0 = time.perf_counter()
            updates = [api.press(users[uid], api.sent(uid)[0], "ca:ok:1") for uid in ids]
            await asyncio.gather(*(bot.processor.wait_handled(u["update_id"], timeout=300) for u in updates))
            acks = time.perf_counter() - t0

            t0 = time.perf_counter()
            await cell.send("/suivi 1")
            follow = time.perf_counter() - t0
            assert f"Bien reçu : {n}" in cell.reply_text, cell.reply_text
        finally:
            await bot.stop()
    await db.dispose()
    tmp.cleanup()
    backend = "SQLite" if db.is_sqlite else "PostgreSQL"
    print(f"crisis alert to {n} professionals ({backend})")
    print(f"  channel posts               {len(api.sent(CHANNEL))}")
    print(f"  'Publier' handled           {(published - started) * 1000:8.0f} ms (queues all {n} in one transaction)")
    print(f"  last professional reached   {delivered - published:8.2f} s after publishing")
    print(f"  delivery rate               {n / span if span else float('nan'):8.0f} msg/s (pace limit 950)")
    print(f"  {n} acknowledgements       {acks:8.2f} s ({n / acks:.0f}/s, pressed all at once)")
    print(f"  /suivi with {n} answers     {follow * 1000:8.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.db))


if __name__ == "__main__":
    main()
