"""What each hot-path storage operation costs, on SQLite and PostgreSQL, before and after a change.

    python bench/storage_floor.py                               # this checkout, both databases
    python bench/storage_floor.py --root /path/to/other/checkout   # the other one too, interleaved
    python bench/storage_floor.py --backends sqlite --repeats 5 --iterations 100

Why: an update's database work is the biggest part of its CPU, and one run on this machine varies
by ±30 %. So every figure here is a median: each checkout runs in its own subprocess (its own
`storage`, imported through PYTHONPATH), the checkouts take turns (A B A B …), and inside a
run the operations take turns too, round after round.

Each operation is one transaction through `Database.begin()` and the same storage functions the
handlers call, on a small fresh database (a group of people, meetings, a poll, an urgent
bulletin):
- txn: an empty transaction (BEGIN … COMMIT), the cost every other line includes;
- claim: record an update_id as handled (storage/updates.py);
- user: load the sender's row (upsert_user, names unchanged);
- page: the first page of /rencontres (upcoming_sessions);
- register: a seat for someone new (register, the session row locked);
- cancel: give that seat back (cancel_registration);
- poll_answer: a native poll answer (record_native_answer);
- ack: an urgent bulletin acknowledged (get_bulletin + was_recipient + record_answer);
- floor: the two updates bench/updates.py's storage floor is made of, per update:
  (claim + user + page) and (claim + user + register), averaged.
Figures are CPU ms of this process per operation (time.process_time; PostgreSQL's own work is in
the server, not here) and wall ms next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
OPS = ("txn", "claim", "user", "page", "register", "cancel", "poll_answer", "ack", "floor")


# ============================================================================ the child: one checkout, one database
async def _pg_database(name: str, *, drop: bool = False) -> str:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"


async def child(backend: str, rounds: int, iterations: int, people: int) -> dict[str, list[list[float]]]:
    """Per operation, per round: [cpu ms, wall ms] per operation. Imports the checkout on sys.path."""
    from storage import crisis, meetings, outbox, polls, updates, users
    from storage.db import Database
    from storage.migrate import upgrade
    from storage.models import Group, Membership, OutboxMessage, User, utcnow

    pg_name = f"bench_floor_{os.getpid()}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='floor-')}/floor.db"
    else:
        url = await _pg_database(pg_name)
    db = Database(url)
    await upgrade(db.engine)
    now = utcnow()
    base = 50_000_000
    needed = people + 2 * rounds * iterations + 200  # every registration is someone new
    async with db.begin() as session:
        group = Group(slug="floor", name="Floor")
        session.add(group)
        await session.flush()
        session.add_all(User(id=base + i, first_name=f"P{i}", language="fr") for i in range(needed))
        await session.flush()
        session.add_all(Membership(user_id=base + i, group_id=group.id) for i in range(people))
        for m in range(12):
            await meetings.create_meeting(
                session, group_id=group.id, title=f"Rencontre {m}", theme=None, created_by=None,
                sessions=[
                    meetings.SessionDraft(starts_at=now + timedelta(days=m + 1, hours=s), ends_at=None, has_time=True,
                                          site="Site", address=None, capacity=None if s else 10_000)
                    for s in range(3)
                ],
            )
    async with db.begin() as session:
        views, _ = await meetings.upcoming_sessions(session, user_id=base, now=now, limit=5)
        seat_session = next(v.session.id for v in views if v.session.capacity is not None)
        poll, recipients = await polls.create_poll(
            session, kind=polls.QUICK, question="Floor ?", options=[polls.OptionDraft(t) for t in ("A", "B", "C")],
            audience=polls.Audience("group", group.id), closes_at=now + timedelta(days=1), created_by=None,
        )
        sends = polls.purpose(poll.id, "send")
        await outbox.enqueue_many(session, [
            {"purpose": sends, "chat_id": chat_id, "user_id": user_id, "payload": {}, "method": "sendPoll"}
            for chat_id, user_id in recipients
        ])
    async with db.begin() as session:
        for i, (chat_id, _) in enumerate(recipients):
            await polls.record_sent_poll(session, sends, chat_id, {"message_id": 1, "poll": {"id": f"f{i}"}})
        bulletin = await crisis.create_bulletin(
            session,
            crisis.BulletinDraft(category="alert", source="ars", priority="urgent", title="Alerte", body="Texte",
                                 links=[], audience={"all": True}),
            created_by=None, now=now,
        )
        bulletin.escalations = 1
        urgent, relance = crisis.urgent_purpose(bulletin.id), f"{crisis.relance_prefix(bulletin.id)}1"
        for i in range(people):  # sent to everyone, a reminder queued for everyone (acknowledging skips it)
            session.add(OutboxMessage(purpose=urgent, chat_id=base + i, user_id=base + i, payload={}, status="sent"))
            session.add(OutboxMessage(purpose=relance, chat_id=base + i, user_id=base + i, payload={}))
    voters = [(f"f{i}", user_id) for i, (_, user_id) in enumerate(recipients)]
    bulletin_id = bulletin.id

    update_ids = itertools.count(1)
    newcomers = itertools.count(base + people)
    registered: list[int] = []
    cycle = itertools.count()
    halves = itertools.count()

    def someone() -> int:
        return base + next(cycle) % people

    async def op_txn() -> None:
        async with db.begin():
            pass

    async def op_claim() -> None:
        async with db.begin() as session:
            await updates.claim(session, next(update_ids), "bench.floor", now)

    async def op_user() -> None:
        uid = someone()
        async with db.begin() as session:
            await users.upsert_user(session, uid, first_name=f"P{uid - base}", last_name=None, username=None,
                                    language="fr")

    async def op_page() -> None:
        async with db.begin() as session:
            await meetings.upcoming_sessions(session, user_id=someone(), now=now, limit=5)

    async def op_register() -> None:
        uid = next(newcomers)
        async with db.begin() as session:
            result = await meetings.register(session, seat_session, uid, now=now)
        assert result.outcome == "confirmed", result.outcome
        registered.append(uid)

    async def op_cancel() -> None:
        uid = registered.pop()
        async with db.begin() as session:
            result = await meetings.cancel_registration(session, seat_session, uid, now=now)
        assert result.cancelled

    async def op_poll_answer() -> None:
        n = next(cycle)
        tg_poll_id, uid = voters[n % len(voters)]
        async with db.begin() as session:
            outcome = await polls.record_native_answer(session, tg_poll_id, uid, [n % 3], now)
        assert outcome == "recorded", outcome

    async def op_ack() -> None:
        uid = someone()
        async with db.begin() as session:
            found = await crisis.get_bulletin(session, bulletin_id)
            assert found is not None and await crisis.was_recipient(session, bulletin_id, uid)
            await crisis.record_answer(session, found, uid, "ok", now=now)

    async def op_floor() -> None:  # one of the two updates, in turn (an even count of calls: both halves)
        uid = someone()
        if next(halves) % 2:
            async with db.begin() as session:
                await updates.claim(session, next(update_ids), "meetings.on_meetings", now)
                await users.upsert_user(session, uid, first_name=f"P{uid - base}", last_name=None, username=None,
                                        language="fr")
                await meetings.upcoming_sessions(session, user_id=uid, now=now, limit=5)
        else:
            newcomer = next(newcomers)
            async with db.begin() as session:
                await updates.claim(session, next(update_ids), "meetings.on_meeting_button", now)
                await users.upsert_user(session, newcomer, first_name=f"P{newcomer - base}", last_name=None,
                                        username=None, language="fr")
                await meetings.register(session, seat_session, newcomer, now=now)

    ops: dict[str, Callable[[], Awaitable[None]]] = {
        "txn": op_txn, "claim": op_claim, "user": op_user, "page": op_page, "register": op_register,
        "cancel": op_cancel, "poll_answer": op_poll_answer, "ack": op_ack, "floor": op_floor,
    }
    results: dict[str, list[list[float]]] = {name: [] for name in ops}
    try:
        for name, op in ops.items():  # warm: statements compiled, caches filled
            for _ in range(20):
                await op()
        for _ in range(rounds):
            for name, op in ops.items():
                if name == "cancel":
                    continue
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(iterations):
                    await op()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                results[name].append([1000 * cpu / iterations, 1000 * wall / iterations])
                if name == "register":
                    cpu, wall = time.process_time(), time.perf_counter()
                    for _ in range(iterations):
                        await ops["cancel"]()
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    results["cancel"].append([1000 * cpu / iterations, 1000 * wall / iterations])
    finally:
        await db.dispose()
        if backend == "postgresql":
            await _pg_database(pg_name, drop=True)
    return results


# ============================================================================ the parent: checkouts in turn
def _run_child(root: Path, backend: str, args: argparse.Namespace) -> dict[str, list[list[float]]]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", backend, "--rounds", str(args.rounds),
               "--iterations", str(args.iterations), "--people", str(args.people)]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{root} ({backend}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="another checkout, measured in turn with this one (the 'before')")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=3, help="runs per checkout and database, interleaved")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run, the operations in turn")
    parser.add_argument("--iterations", type=int, default=60, help="operations per round")
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.rounds, args.iterations, args.people))))
        return
    checkouts = [("before", args.root.resolve()), ("after", HERE)] if args.root else [("this", HERE)]
    print(f"storage floor: {args.repeats} runs x {args.rounds} rounds x {args.iterations} operations, "
          f"checkouts in turn: {', '.join(f'{label}={path}' for label, path in checkouts)}", flush=True)
    for backend in args.backends.split(","):
        samples: dict[str, dict[str, list[list[float]]]] = {label: {op: [] for op in OPS} for label, _ in checkouts}
        for _ in range(args.repeats):
            for label, root in checkouts:
                for op, rows in _run_child(root, backend, args).items():
                    samples[label][op].extend(rows)
        print(f"\n[{backend}] median ms per operation (CPU of this process / wall)")
        header = "".join(f"{label:>22}" for label, _ in checkouts)
        header += "   after/before CPU" if len(checkouts) == 2 else ""
        print(f"  {'operation':<12}{header}")
        for op in OPS:
            cells, cpus = [], []
            for label, _ in checkouts:
                cpu = statistics.median(r[0] for r in samples[label][op])
                wall = statistics.median(r[1] for r in samples[label][op])
                cpus.append(cpu)
                cells.append(f"{cpu:>13.3f} / {wall:6.3f}")
            ratio = f"   {cpus[1] / cpus[0]:>8.2f}" if len(cpus) == 2 and cpus[0] else ""
            print(f"  {op:<12}{''.join(cells)}{ratio}", flush=True)


if __name__ == "__main__":
    main()
