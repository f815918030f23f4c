"""How long the reminder planner takes to find what is due among 1,000,000 registrations.

    python bench/planner.py                      # SQLite and PostgreSQL
    python bench/planner.py --db sqlite --registrations 200000

20,000 sessions (50 registrations each) spread from a month ago to two years ahead, 100,000
people. Rows are bulk-loaded (sqlite3 executemany / PostgreSQL COPY). Then the real planner
(`handlers.reminders.planner.plan_due`) runs: a first tick that catches up everything already due (as after
a long downtime), then steady ticks one minute apart, which is what it does every minute.
The query plan of the "sessions starting soon" lookup is printed to show it is an index range.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SESSIONS = 20_000
PEOPLE = 100_000


def layout(registrations: int, now: datetime):  # type: ignore[no-untyped-def]
    per = max(registrations // SESSIONS, 1)
    span = timedelta(days=730 + 30)
    first = now - timedelta(days=30)
    sessions = [(sid, (sid - 1) // 10 + 1, first + span * (sid - 1) / SESSIONS) for sid in range(1, SESSIONS + 1)]
    return per, sessions


def rows(registrations: int, now: datetime):  # type: ignore[no-untyped-def]
    per, sessions = layout(registrations, now)
    meetings = sorted({mid for _, mid, _ in sessions})
    users = [(uid, f"P{uid}", "fr" if uid % 5 else "en") for uid in range(1, PEOPLE + 1)]
    regs = [
        (sid, (sid * per + k) % PEOPLE + 1, now - timedelta(days=60))
        for sid, _, _ in sessions
        for k in range(per)
    ]
    return meetings, sessions, users, regs


def load_sqlite(path: str, registrations: int, now: datetime) -> None:
    meetings, sessions, users, regs = rows(registrations, now)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    stamp = now.replace(tzinfo=None).strftime(fmt)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.execute("INSERT INTO groups (id, slug, name, kind, created_at) VALUES (1, 'cpts', 'CPTS', 'cpts', ?)", (stamp,))
        con.executemany(
            "INSERT INTO users (id, first_name, language, is_coordinator, is_crisis_cell, reminders_muted, created_at) VALUES (?, ?, ?, 0, 0, 0, ?)",
            [(u, n, lang, stamp) for u, n, lang in users],
        )
        con.executemany("INSERT INTO meetings (id, group_id, title, status, created_at) VALUES (?, 1, ?, 'published', ?)", [(m, f"Rencontre {m}", stamp) for m in meetings])
        con.executemany(
            "INSERT INTO meeting_sessions (id, meeting_id, starts_at, has_time, site, status, version, updated_at) VALUES (?, ?, ?, 1, 'Verdun', 'open', 0, ?)",
            [(sid, mid, start.replace(tzinfo=None).strftime(fmt), stamp) for sid, mid, start in sessions],
        )
        con.executemany(
            "INSERT INTO registrations (session_id, user_id, status, queued_at, created_at, updated_at, reminders_muted) VALUES (?, ?, 'confirmed', ?, ?, ?, 0)",
            ((sid, uid, c.replace(tzinfo=None).strftime(fmt), c.replace(tzinfo=None).strftime(fmt), stamp) for sid, uid, c in regs),
        )
    con.execute("ANALYZE")
    con.close()


async def load_postgres(url: str, registrations: int, now: datetime) -> None:
    import asyncpg

    from bot.leader import asyncpg_dsn

    meetings, sessions, users, regs = rows(registrations, now)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await conn.execute("INSERT INTO groups (id, slug, name, kind, created_at) VALUES (1, 'cpts', 'CPTS', 'cpts', $1)", now)
    await conn.copy_records_to_table(
        "users", records=[(u, n, lang, False, False, False, now) for u, n, lang in users],
        columns=["id", "first_name", "language", "is_coordinator", "is_crisis_cell", "reminders_muted", "created_at"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "meetings", records=[(m, 1, f"Rencontre {m}", "published", now) for m in meetings], columns=["id", "group_id", "title", "status", "created_at"]
    )
    await conn.copy_records_to_table(
        "meeting_sessions", records=[(sid, mid, start, True, "Verdun", "open", 0, now) for sid, mid, start in sessions],
        columns=["id", "meeting_id", "starts_at", "has_time", "site", "status", "version", "updated_at"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "registrations", records=[(sid, uid, "confirmed", c, c, now, False) for sid, uid, c in regs],
        columns=["session_id", "user_id", "status", "queued_at", "created_at", "updated_at", "reminders_muted"],
    )  # fmt: skip
    await conn.execute("ANALYZE")
    await conn.close()


async def explain(db, now: datetime) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    start, end = now - timedelta(days=2), now + timedelta(days=29)
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            fmt = "%Y-%m-%d %H:%M:%S.%f"
            sql = ("EXPLAIN QUERY PLAN SELECT * FROM meeting_sessions JOIN meetings ON meetings.id = meeting_sessions.meeting_id "
                   "WHERE meeting_sessions.status IN ('open','closed') AND starts_at > :a AND starts_at <= :b")  # fmt: skip
            plan = await conn.execute(text(sql), {"a": start.replace(tzinfo=None).strftime(fmt), "b": end.replace(tzinfo=None).strftime(fmt)})
            return "; ".join(str(r[-1]) for r in plan)
        sql = ("EXPLAIN SELECT * FROM meeting_sessions JOIN meetings ON meetings.id = meeting_sessions.meeting_id "
               "WHERE meeting_sessions.status IN ('open','closed') AND starts_at > :a AND starts_at <= :b")  # fmt: skip
        plan = await conn.execute(text(sql), {"a": start, "b": end})
        return " | ".join(str(r[0]).strip() for r in plan)


async def bench(kind: str, registrations: int) -> None:
    from sqlalchemy import func, select

    from handlers.reminders.planner import plan_due
    from storage.db import Database
    from storage.migrate import upgrade
    from storage.models import OutboxMessage, Registration

    now = datetime.now(UTC).replace(microsecond=0)
    drop = None
    if kind == "sqlite":
        path = f"{tempfile.mkdtemp()}/planner.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        import asyncpg
        from sqlalchemy.engine import make_url

        from bot.leader import asyncpg_dsn

        base = make_url(os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
        name = f"relais_planner_{uuid.uuid4().hex[:8]}"
        admin = asyncpg_dsn(base.render_as_string(hide_password=False))
        c = await asyncpg.connect(admin)
        await c.execute(f'CREATE DATABASE "{name}"')
        await c.close()
        url = base.set(database=name).render_as_string(hide_password=False)

        async def drop() -> None:
            c = await asyncpg.connect(admin)
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await c.close()

    db = Database(url)
    try:
        await upgrade(db.engine)
        t0 = time.perf_counter()
        if kind == "sqlite":
            await asyncio.to_thread(load_sqlite, path, registrations, now)
        else:
            await load_postgres(url, registrations, now)
        load_s = time.perf_counter() - t0
        async with db.begin() as session:
            total = await session.scalar(select(func.count()).select_from(Registration))
        print(f"\n== {kind}: {total:,} registrations, {SESSIONS:,} sessions, {PEOPLE:,} people (loaded in {load_s:.1f} s) ==")
        print(f"  plan of 'sessions starting soon': {await explain(db, now)}")
        t0 = time.perf_counter()
        first = await plan_due(db, now=now)
        catch_up = time.perf_counter() - t0
        print(f"  first tick (catch-up)   {catch_up * 1000:8.1f} ms  {first.sessions} sessions looked at, {first.planned} reminders planned, "
              f"{first.queued:,} messages queued, {first.superseded} superseded, {first.stale} stale")  # fmt: skip
        steady = []
        queued = 0
        for minute in range(1, 11):
            t0 = time.perf_counter()
            report = await plan_due(db, now=now + timedelta(minutes=minute))
            steady.append(time.perf_counter() - t0)
            queued += report.queued
        steady.sort()
        print(f"  steady tick (every min) median {steady[len(steady) // 2] * 1000:.1f} ms, max {steady[-1] * 1000:.1f} ms "
              f"over 10 ticks ({queued} messages queued by them)")  # fmt: skip
        async with db.begin() as session:
            rows_ = await session.scalar(select(func.count()).select_from(OutboxMessage))
        print(f"  outbox rows written      {rows_:,}")
    finally:
        await db.dispose()
        if drop is not None:
            await drop()


async def main(args: argparse.Namespace) -> None:
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        await bench(kind, args.registrations)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--registrations", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args()))
