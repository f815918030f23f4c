"""Updates per second, CPU, latency and memory: our bot against an aiogram echo bot, interleaved.

    python bench/updates.py                       # 3 interleaved repeats, 0 ms: ~10 minutes on 2 cores
    python bench/updates.py --quick               # smaller bursts, no storage floor, to try things out
    python bench/updates.py --compare /work/wt/baseline   # before/after: another checkout's bot, interleaved
    python bench/updates.py --bots ours,ptb-echo-aiohttp,aiogram-echo --latencies 0,50 --repeats 5

Single runs on this (shared, 2-core) machine vary by ±30 %, so every scenario (database ×
transport × latency) is run `--repeats` times, the bots taking turns within each repeat
(ours on SQLite, ours on PostgreSQL, [the compared checkout's bot,] aiogram echo; the order
rotates from one repeat to the next), and the summary gives medians: of each figure, and of
the ratio to the aiogram echo run of the same repeat. A slow minute then hits every bot of
that repeat alike instead of one bot's whole series.

Every bot runs in its own subprocess (so its peak RSS, VmHWM, is that bot's alone) against the
same fake Bot API (tests/fakebot, real HTTP on 127.0.0.1) running in this process, at 0 ms
and at a simulated 50 ms round trip. Our bot is started exactly as in production
(`python -m bot run` / `python -m bot webhook`, migrations included) on a national-scale
database: 50,000 professionals, 5,000 meetings, 500,000 registrations. Its workload is a
real one: each user sends /rencontres, then presses « S'inscrire » on the answer.

Before the runs, for each database, the storage floor: the CPU the database work of one
update costs with no Telegram, PTB or rendering around it (`storage_floor`; `--no-floor`).

Per run it prints:
- start-up: process start to the first answered update;
- burst: N updates pushed at once, time until every one is answered -> updates/s, and the
  bot process's own CPU time (user + system, from /proc) per update during the burst;
- latency: updates pushed at a steady rate (default 50/s), update -> reply p50/p99;
- peak memory (VmHWM) of the bot process.
Then the medians per scenario and a verdict line per target (CPU per update,
ratio to aiogram echo, p99, RSS, start-up); with `--compare`, before -> after per scenario.

Transports: `polling` (getUpdates, what the issue measured) and `webhook` (the fake POSTs
updates; the simulated latency is added on that leg too: half before the POST, half before
Telegram sees the answer). With polling, an update that arrives while a getUpdates answer is
on its way waits for the next poll: up to one extra round trip, whatever the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from storage.all_models import Base  # noqa: E402,F401
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.fakebot import FakeBotAPI  # noqa: E402
from tests.fakebot.updates import UpdateHub  # noqa: E402

TOKEN = "654321:BENCH-token-abcdefghijklmnopqrstuvwxyz"
SECRET = "bench-secret-0123456789"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_BENCH_DB = os.environ.get("BENCH_PG_DB", "relais_bench")  # BENCH_* apart: two benches at once on one machine
SQLITE_PATH = Path(os.environ.get("BENCH_SQLITE", "/tmp/relais_bench/national.db"))
FIRST_USER_ID = 20_000_001
MIB = 1024  # /proc sizes are in KiB


# ============================================================================ national data
@dataclass
class Dataset:
    url: str
    users: int
    load_seconds: float
    counts: dict[str, int]
    next_user: int = 0  # users are handed out once, so no run sees another run's registrations
    floor_ms: float = 0.0  # storage_floor(): the database work per update, nothing else

    def take_users(self, n: int) -> list[int]:
        start = self.next_user
        self.next_user += n
        if self.next_user > self.users:
            raise SystemExit(f"not enough users in the dataset ({self.users}) for this many runs")
        return list(range(FIRST_USER_ID + start, FIRST_USER_ID + start + n))


def _defaults(table: Table, given: Sequence[str]) -> tuple[list[str], tuple[Any, ...]]:
    """Columns another feature added to a core table: their Python default, or NULL."""
    names, values = list(given), []
    for column in table.columns:
        if column.name in given:
            continue
        default = column.default
        if default is not None and getattr(default, "is_scalar", False):
            value = default.arg
        elif default is not None and getattr(default, "is_callable", False):
            value = default.arg(None)
        elif column.nullable:
            value = None
        else:
            raise SystemExit(f"cannot bulk-load {table.name}: column {column.name} has no default")
        names.append(column.name)
        values.append(value)
    return names, tuple(values)


def national_rows(now: datetime, *, users: int, groups: int, meetings: int, registrations: int, seed: int = 6) -> Iterator[tuple[str, list[str], Iterable[tuple[Any, ...]]]]:
    """(table, columns, rows) for a France-sized deployment, generated lazily and reproducibly."""
    rng = random.Random(seed)
    kinds = ("cpts", "msp", "ght")
    yield "groups", ["id", "slug", "name", "kind", "chat_id", "created_at"], (
        (g, f"groupe-{g}", f"{kinds[g % 3].upper()} du territoire {g}", kinds[g % 3], None, now) for g in range(1, groups + 1)
    )
    professions = ("mg", "ide", "mk", "pharmacist", "midwife", "social_worker", "coordinator", "specialist")
    follows: dict[int, list[int]] = {}
    for i in range(users):
        follows[FIRST_USER_ID + i] = rng.sample(range(1, groups + 1), rng.choice((1, 1, 2, 2, 3)))
    yield "users", [
        "id", "first_name", "last_name", "username", "language", "profession", "phone", "is_coordinator",
        "is_crisis_cell", "reminders_muted", "onboarded_at", "unreachable_at", "created_at",
    ], (
        (uid, f"Pro{uid % 10_000}", None, None, "en" if uid % 10 == 0 else "fr", professions[uid % len(professions)],
         None, False, False, False, now - timedelta(days=30), None, now - timedelta(days=60))
        for uid in follows
    )
    yield "memberships", ["user_id", "group_id", "role", "created_at"], (
        (uid, gid, "member", now) for uid, gids in follows.items() for gid in gids
    )
    yield "meetings", ["id", "group_id", "title", "theme", "status", "reminder_offsets", "created_by", "created_at"], (
        # No reminders ([]): on its first start the planner would catch up on ~7,000 reminders
        # in the middle of the measurement (only updates are measured here).
        (m, (m - 1) % groups + 1, f"Rencontre pluriprofessionnelle n°{m}", "Parcours, coordination, prévention.",
         "published", [], None, now - timedelta(days=90))
        for m in range(1, meetings + 1)
    )
    sessions: list[tuple[Any, ...]] = []
    for m in range(1, meetings + 1):
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            day = rng.randint(-120, 300)  # about a third already past
            start = (now + timedelta(days=day)).replace(hour=13, minute=0, second=0, microsecond=0) + timedelta(hours=rng.choice((0, 1, 4)))
            capacity = rng.choice((None, 30, 40, 60, 80, 120, 200))
            sessions.append((len(sessions) + 1, m, start, start + timedelta(hours=3), True, f"Site {m % 97}", None, capacity, "open", 0, now))
    yield "meeting_sessions", ["id", "meeting_id", "starts_at", "ends_at", "has_time", "site", "address", "capacity", "status", "version", "updated_at"], sessions
    user_ids = list(follows)

    # Sessions are unevenly popular; the sizes add up to exactly `registrations`.
    weights = [rng.random() ** 2 + 0.05 for _ in sessions]
    scale = registrations / sum(weights)
    sizes = [min(int(w * scale), len(user_ids)) for w in weights]
    for i in range(registrations - sum(sizes)):
        sizes[i % len(sizes)] += 1

    def regs() -> Iterator[tuple[Any, ...]]:
        rid = 0
        for s, n in zip(sessions, sizes, strict=True):
            sid, capacity = s[0], s[7]
            for k, uid in enumerate(rng.sample(user_ids, n)):
                rid += 1
                status = "cancelled" if rng.random() < 0.04 else ("confirmed" if capacity is None or k < capacity else "waitlisted")
                when = now - timedelta(days=10, minutes=rid % 10_000)
                yield (rid, sid, uid, status, when, when, when, False)

    yield "registrations", ["id", "session_id", "user_id", "status", "queued_at", "created_at", "updated_at", "reminders_muted"], regs()


@functools.lru_cache(maxsize=65_536)
def _sqlite_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy would store in SQLite (naive UTC text, 0/1, JSON text)."""
    if isinstance(value, datetime):
        return _sqlite_datetime(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def _sqlite_rows(rows: Iterable[tuple[Any, ...]], extra: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """Convert only the columns that need it (decided on the first row): 500k rows in about a second."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return
    row = (*first, *extra)
    plain = [not isinstance(v, (datetime, bool, dict, list)) for v in row]
    yield tuple(_sqlite_value(v) for v in row)
    if all(plain):
        for r in iterator:
            yield (*r, *extra)
        return
    for r in iterator:
        yield tuple(v if keep else _sqlite_value(v) for v, keep in zip((*r, *extra), plain, strict=True))


async def load_national(backend: str, *, users: int = 50_000, meetings: int = 5_000, registrations: int = 500_000) -> Dataset:
    """A fresh, migrated database filled with `national_rows` (sqlite3 executemany / PostgreSQL COPY)."""
    import sqlite3

    import asyncpg

    started = time.perf_counter()
    now = datetime.now(UTC)
    if backend == "sqlite":
        SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{SQLITE_PATH}"
    else:
        admin = make_url(PG_ADMIN_URL)
        conn = await asyncpg.connect(host=admin.host, port=admin.port or 5432, user=admin.username, password=admin.password, database=admin.database)
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
        await conn.close()
        url = admin.set(database=PG_BENCH_DB).render_as_string(hide_password=False)
    database = Database(url)
    await upgrade(database.engine)
    await database.dispose()
    tables = Base.metadata.tables
    counts: dict[str, int] = {}
    groups = max(meetings // 6, 1)
    rows = national_rows(now, users=users, groups=groups, meetings=meetings, registrations=registrations)
    if backend == "sqlite":
        db = sqlite3.connect(SQLITE_PATH)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        with db:
            for name, columns, data in rows:
                all_columns, extra = _defaults(tables[name], columns)
                indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (name,)).fetchall()
                for index, _ in indexes:  # building an index once beats updating it 500,000 times
                    db.execute(f'DROP INDEX "{index}"')
                sql = f'INSERT INTO "{name}" ({", ".join(all_columns)}) VALUES ({", ".join("?" * len(all_columns))})'
                counts[name] = db.executemany(sql, _sqlite_rows(data, extra)).rowcount
                for _, ddl in indexes:
                    db.execute(ddl)
        db.execute("ANALYZE")
        db.close()
    else:
        pg = make_url(url)
        conn = await asyncpg.connect(host=pg.host, port=pg.port or 5432, user=pg.username, password=pg.password, database=pg.database)
        # Generated rows are consistent by construction: skip the per-row foreign-key triggers
        # (13 s of a 20 s load). Needs a superuser, as the test database's `postgres` is.
        await conn.execute("SET session_replication_role = replica")
        for name, columns, data in rows:
            all_columns, extra = _defaults(tables[name], columns)
            records = [tuple(json.dumps(v) if isinstance(v, (list, dict)) else v for v in (*row, *extra)) for row in data]
            indexes = await conn.fetch(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = $1 AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", name,
            )
            for index in indexes:  # plain indexes are rebuilt after the COPY, much faster
                await conn.execute(f'DROP INDEX "{index["indexname"]}"')
            await conn.copy_records_to_table(name, records=records, columns=all_columns)
            for index in indexes:
                await conn.execute(index["indexdef"])
            counts[name] = len(records)
            if "id" in columns and name != "users":
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM \"{name}\"))")
        await conn.execute("ANALYZE")
        await conn.close()
    return Dataset(url=url, users=users, load_seconds=time.perf_counter() - started, counts=counts)


# ============================================================================ the storage floor
async def storage_floor(dataset: Dataset, users: int = 2_000) -> float:
    """CPU ms per update of the database work alone, measured in this process.

    Each user's two updates as the bot handles them, minus Telegram, PTB and rendering: one
    transaction that loads the sender and the first page of /rencontres, then one that loads
    the sender and registers for the first session offered, through the same storage
    functions the handlers call, 64 users at a time as the bot runs them (CONCURRENT_UPDATES).
    No bot on this store can spend less per update, so `1000 / floor` updates/s is the most one
    process can handle (the verdict compares it with the aiogram echo bot's rate). The
    PostgreSQL server's own CPU is not counted, as it is not in the bot's figure either.
    """
    from handlers.meetings.meetings import PAGE_SIZE
    from storage import meetings as meetings_store
    from storage import updates as updates_store
    from storage import users as users_store

    database = Database(dataset.url)
    ids = dataset.take_users(users + users // 10)
    warm, measured = ids[: users // 10], ids[users // 10 :]  # the first statements compile and fill caches
    update_ids = itertools.count(int(time.time() * 1000))  # not ids a bot run on this dataset used

    async def two_updates(uid: int) -> None:
        now = datetime.now(UTC)
        async with database.begin() as session:
            await updates_store.claim(session, next(update_ids), "meetings.on_meetings", now)  # each update: recorded
            await users_store.upsert_user(session, uid, first_name=f"Pro{uid % 10_000}", last_name=None, username=None, language="fr")
            views, _ = await meetings_store.upcoming_sessions(session, user_id=uid, now=now, limit=PAGE_SIZE)
        offered = next((v.session.id for v in views if v.my_status is None), None)
        async with database.begin() as session:
            await updates_store.claim(session, next(update_ids), "meetings.on_meeting_button", now)
            await users_store.upsert_user(session, uid, first_name=f"Pro{uid % 10_000}", last_name=None, username=None, language="fr")
            if offered is not None:
                await meetings_store.register(session, offered, uid, now=now)

    async def all_of(uids: list[int], at_once: int = 64) -> None:
        slots = asyncio.Semaphore(at_once)

        async def one(uid: int) -> None:
            async with slots:
                await two_updates(uid)

        await asyncio.gather(*(one(uid) for uid in uids))

    try:
        await all_of(warm)
        started = time.process_time()
        await all_of(measured)
        return 1000 * (time.process_time() - started) / (2 * len(measured))
    finally:
        await database.dispose()


# ============================================================================ the fake, with latency on webhooks
_RUN_UPDATE_IDS = itertools.count(1, 10_000_000)


class DelayedHub(UpdateHub):
    """Webhook deliveries that cross the simulated network too (the fake only delays API calls)."""

    def __init__(self, latency: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency = latency

    async def _deliver(self, wh: Any, update: dict[str, Any]) -> None:
        if self.latency:
            await asyncio.sleep(self.latency / 2)
        await super()._deliver(wh, update)
        if self.latency:
            await asyncio.sleep(self.latency / 2)


# ============================================================================ one bot, one run
OURS = ("ours", "base")  # this checkout's bot, and the one of `--compare <path>`
CPU_TARGET_MS = {"sqlite": 0.8, "postgresql": 0.9}  # bot-side CPU per update
RATIO_TARGET = 0.6  # updates/s against aiogram echo's, same repeat
RSS_TARGET_MIB = 100.0
STARTUP_TARGET_S = 1.5


@dataclass
class Run:
    bot: str
    backend: str
    transport: str
    latency_ms: int
    repeat: int = 0
    startup_s: float = 0.0
    burst_updates: int = 0
    burst_s: float = 0.0
    paced_rate: float = 0.0
    latencies: list[float] = field(default_factory=list)
    maxrss_mib: float = 0.0
    cpu_ms: float = 0.0  # the bot's CPU time per update during the burst (robust to a busy machine)
    errors: int = 0
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.burst_updates / self.burst_s if self.burst_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> str:
        return (
            f"{self.bot:<14} {self.backend:<10} {self.transport:<8} {self.latency_ms:>4} ms │ {self.startup_s:5.2f} s │ "
            f"{self.per_second:7.0f} upd/s ({self.burst_updates} in {self.burst_s:5.2f} s) │ "
            f"p50 {self.percentile(0.5):6.1f} ms  p99 {self.percentile(0.99):6.1f} ms @ {self.paced_rate:.0f}/s │ "
            f"{self.maxrss_mib:5.1f} MiB │ {self.cpu_ms:4.2f} ms CPU/upd │ errors {self.errors}{'  ' + self.note if self.note else ''}"
        )


class Collector:
    """Counts the bot's messages to a set of chats; times the first one per chat."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api

    async def wait(self, chats: dict[int, float], since: int, timeout: float) -> dict[int, float]:
        """Wait for one message in each chat of `chats` (chat -> push time); returns chat -> latency."""
        pending = set(chats)

        def seen(message: dict[str, Any]) -> bool:
            pending.discard(message["chat"]["id"])
            return not pending

        if pending:
            await self.api.wait_for(seen, timeout=timeout, since=since)
        latencies: dict[int, float] = {}
        sent, times = self.api.store.sent, self.api.send_times
        for i in range(since, len(sent)):
            chat = sent[i]["chat"]["id"]
            if chat in chats and chat not in latencies:
                latencies[chat] = times[i] - chats[chat]
        return latencies


def _bot_command(bot: str, transport: str) -> list[str]:
    profile = os.environ.get("BENCH_PROFILE") if bot == "ours" else None  # /tmp/ours.txt: pyinstrument; /tmp/ours.prof: cProfile
    if bot in OURS:
        if profile and profile.endswith(".prof"):
            return [sys.executable, "-m", "cProfile", "-o", profile, "-m", "bot", "run" if transport == "polling" else "webhook"]
        if profile:
            return [sys.executable, "-m", "pyinstrument", "-r", "text", "--show-all", "-o", profile, "-m", "bot", "run" if transport == "polling" else "webhook"]
        return [sys.executable, "-m", "bot", "run" if transport == "polling" else "webhook"]
    script = {"ptb-echo": "echo_ptb.py", "ptb-echo-conc": "echo_ptb.py", "ptb-echo-aiohttp": "echo_ptb.py", "aiogram-echo": "echo_aiogram.py"}[bot]
    flags = {"ptb-echo-conc": ["--concurrent"], "ptb-echo-aiohttp": ["--aiohttp"]}.get(bot, [])
    return [sys.executable, str(ROOT / "bench" / script), *flags]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _peak_rss_mib(pid: int) -> float:
    """The bot's peak resident memory (VmHWM): that of its own image only.

    The child's `ru_maxrss` would include the moment between fork and exec, when it still
    shares this (large) benchmark process's memory.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / MIB
    except OSError:
        pass
    return float("nan")


async def _reap(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> float:
    """Read the bot's peak memory, SIGTERM it and wait for it; returns MiB."""
    peak = _peak_rss_mib(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, proc.wait), timeout)
    except TimeoutError:
        proc.kill()
        await loop.run_in_executor(None, proc.wait)
    return peak


async def run_one(
    bot: str, transport: str, latency_ms: int, *, backend: str, dataset: Dataset | None, updates: int, paced: int, rate: float,
    log_dir: Path, root: Path = ROOT, repeat: int = 0,
) -> Run:
    """One bot process, started from `root` (this checkout, or the one given to --compare)."""
    from bot.i18n import t

    ours = bot in OURS
    result = Run(bot, backend if ours else "-", transport, latency_ms, repeat=repeat, paced_rate=rate)
    api = FakeBotAPI(token=TOKEN, latency=latency_ms / 1000)
    # Like Telegram: PTB registers before it listens. Update ids go on from one run to the next,
    # as a real bot's do: runs share the dataset, which remembers the updates it handled.
    api.hub = DelayedHub(latency_ms / 1000, webhook_retries=5, first_update_id=next(_RUN_UPDATE_IDS))
    await api.start()
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "BENCH_TOKEN": TOKEN, "BENCH_API_URL": api.base_url, "BENCH_TRANSPORT": transport,
        "BENCH_WEBHOOK_URL": f"http://127.0.0.1:{port}", "BENCH_SECRET": SECRET, "BENCH_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api.base_url, "TELEGRAM_FILE_API_URL": api.base_file_url,
        "WEBHOOK_URL": f"http://127.0.0.1:{port}", "WEBHOOK_SECRET": SECRET, "PORT": str(port), "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_MAX_CONNECTIONS": "100", "COORDINATOR_IDS": "",
    }
    if dataset is not None:
        env["DATABASE_URL"] = dataset.url
    error_text = t("common.error", "fr", html=False)[:20]
    collector = Collector(api)
    log_path = log_dir / f"{bot}-{result.backend}-{transport}-{latency_ms}ms-{repeat}.log"
    with open(log_path, "wb") as log_file:
        spawned = time.monotonic()
        proc = subprocess.Popen(_bot_command(bot, transport), cwd=root if ours else ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            ids = dataset.take_users(1 + updates // 2 + paced // 2) if ours and dataset else list(range(FIRST_USER_ID, FIRST_USER_ID + 1 + updates + paced))
            users = [api.make_user(uid, f"Pro{uid % 10_000}", language_code="fr") for uid in ids]
            warm, rest = users[0], users[1:]
            # Start-up: the first update is waiting before the bot even runs.
            since = len(api.store.sent)
            first = api.send_text(warm, "/rencontres" if ours else "ping")
            await collector.wait({first["message"]["chat"]["id"]: spawned}, since, timeout=60)
            result.startup_s = time.monotonic() - spawned
            if ours:
                burst_users, paced_users = rest[: updates // 2], rest[updates // 2 :]
            else:
                burst_users, paced_users = rest[:updates], rest[updates:]
                if bot == "ptb-echo" and latency_ms:  # one update per round trip: 5,000 would take 4 minutes
                    burst_users = burst_users[:500]

            # Burst: everything at once, how long until all is answered.
            spy = None
            if os.environ.get("BENCH_PYSPY"):  # sample the bot from outside during the burst (collapsed stacks)
                pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")  # the venv's, off PATH
                spy = subprocess.Popen([pyspy, "record", "--pid", str(proc.pid), "--format", "raw", "--rate", "250", "--nonblocking",
                                        "-o", f"{os.environ['BENCH_PYSPY']}.{bot}.{result.backend}.{transport}.{latency_ms}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started, cpu = time.monotonic(), _cpu_seconds(proc.pid)
            n = await _phase(api, collector, bot, burst_users, rate=None)
            result.burst_s, result.burst_updates = time.monotonic() - started, n
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await asyncio.get_running_loop().run_in_executor(None, spy.wait)
            result.cpu_ms = 1000 * (_cpu_seconds(proc.pid) - cpu) / max(n, 1)
            # Steady load: latency from update to reply.
            await _phase(api, collector, bot, paced_users, rate=rate, latencies=result.latencies)
            result.errors = sum(1 for m in api.store.sent if error_text in (m.get("text") or ""))
        except Exception as exc:
            result.note = f"FAILED: {type(exc).__name__}: {str(exc)[:200]} (see {log_path})"
        finally:
            result.maxrss_mib = await _reap(proc, timeout=120 if os.environ.get("BENCH_PROFILE") else 15)
            await api.stop()
    return result


async def _phase(api: FakeBotAPI, collector: Collector, bot: str, users: list[dict[str, Any]], *, rate: float | None, latencies: list[float] | None = None) -> int:
    """Each user sends one update (ours: /rencontres, then presses « S'inscrire »); returns updates handled."""
    steps = ("rencontres", "press") if bot in OURS else ("echo",)
    total = 0
    for step in steps:
        since = len(api.store.sent)
        pushed: dict[int, float] = {}
        start = time.monotonic()
        for i, user in enumerate(users):
            if rate is not None:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if step == "press":
                message = next((m for m in reversed(api.messages(user["id"])) if _register_button(m)), None)
                if message is None:
                    continue
                api.press(user, message, _register_button(message))  # type: ignore[arg-type]
            else:
                api.send_text(user, "/rencontres" if step == "rencontres" else f"echo {user['id']}")
            pushed[user["id"]] = time.monotonic()
        got = await collector.wait(pushed, since, timeout=180)
        total += len(pushed)
        if latencies is not None:
            latencies.extend(got.values())
    return total


def _register_button(message: dict[str, Any]) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if str(button.get("callback_data", "")).startswith("m:reg:"):
                return str(button["callback_data"])
    return None


# ============================================================================ main
async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", default="ours,aiogram-echo", help="ours, ptb-echo, ptb-echo-conc, ptb-echo-aiohttp, aiogram-echo")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--transports", default="polling,webhook")
    parser.add_argument("--latencies", default="0", help="simulated round trips, ms (e.g. 0,50)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per scenario; the summary gives medians")
    parser.add_argument("--compare", type=Path, default=None, metavar="PATH",
                        help="another checkout (e.g. the untouched baseline): its bot, as 'base', takes turns with ours")
    parser.add_argument("--updates", type=int, default=5000, help="burst size")
    parser.add_argument("--paced", type=int, default=600, help="updates sent at --rate for latency")
    parser.add_argument("--rate", type=float, default=50.0, help="steady load for the latency figures (updates/s)")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--meetings", type=int, default=5_000)
    parser.add_argument("--registrations", type=int, default=500_000)
    parser.add_argument("--floor", action=argparse.BooleanOptionalAction, default=None, help="measure the storage floor (default: not with --quick)")
    parser.add_argument("--quick", action="store_true", help="1,000-update bursts, 200 paced, no storage floor")
    args = parser.parse_args(argv)
    if args.quick:
        args.updates, args.paced = 1000, 200
    floor = (not args.quick) if args.floor is None else args.floor
    bots = args.bots.split(",")
    if args.compare is not None:
        args.compare = args.compare.resolve()
        if not (args.compare / "bot" / "__main__.py").exists():
            raise SystemExit(f"--compare {args.compare}: no bot/__main__.py there")
        bots.insert(bots.index("ours") + 1 if "ours" in bots else 0, "base")
    backends = args.backends.split(",")
    transports = args.transports.split(",")
    latencies = [int(x) for x in args.latencies.split(",")]
    log_dir = SQLITE_PATH.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    datasets: dict[str, Dataset] = {}
    if any(b in OURS for b in bots):
        for backend in backends:
            ds = await load_national(backend, users=args.users, meetings=args.meetings, registrations=args.registrations)
            datasets[backend] = ds
            counts = ", ".join(f"{k} {v:,}" for k, v in ds.counts.items())
            print(f"[{backend}] national database loaded in {ds.load_seconds:.1f} s: {counts}", flush=True)
            if floor:
                ds.floor_ms = await storage_floor(ds)
                print(f"[{backend}] storage alone: {ds.floor_ms:.2f} ms CPU per update, at most {1000 / ds.floor_ms:,.0f} updates/s per process", flush=True)
    if args.compare is not None:
        print(f"base = the bot of {args.compare} (git {_git_head(args.compare)}); ours = {ROOT} (git {_git_head(ROOT)})", flush=True)
    print(f"burst {args.updates} updates; latency at {args.rate:.0f} updates/s over {args.paced}; {args.repeats} interleaved repeats; logs in {log_dir}", flush=True)
    print(f"{'#':>2} {'bot':<14} {'database':<10} {'via':<8} {'RTT':>7} │ start-up │ throughput │ latency, update -> reply │ peak RSS │ CPU │", flush=True)
    results: list[Run] = []
    for latency in latencies:
        for transport in transports:
            entries = [(bot, backend) for bot in bots for backend in (backends if bot in OURS else ["-"])]
            for repeat in range(args.repeats):
                shift = repeat % len(entries)  # rotate: no bot always runs first (or right after the load)
                for bot, backend in entries[shift:] + entries[:shift]:
                    run = await run_one(
                        bot, transport, latency, backend=backend, dataset=datasets.get(backend), updates=args.updates,
                        paced=args.paced, rate=args.rate, log_dir=log_dir, repeat=repeat,
                        root=args.compare if bot == "base" and args.compare is not None else ROOT,
                    )
                    results.append(run)
                    print(f"{repeat + 1:>2} " + run.row(), flush=True)
    _summary(results)
    _verdict(results, datasets)


def _git_head(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"], check=False, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], check=False, capture_output=True, text=True, timeout=10)
        return out.stdout.strip()[:70] + (" +uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def _median(values: Iterable[float]) -> float:
    ordered = sorted(v for v in values if not math.isnan(v))  # NaN (a failed reading) left out
    if not ordered:
        return float("nan")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass
class Scenario:
    """Medians over the repeats of one bot in one scenario."""

    bot: str
    backend: str
    transport: str
    latency_ms: int
    runs: list[Run]
    ratios: list[float]  # updates/s over aiogram echo's in the same repeat

    def median(self, figure: str) -> float:
        getters = {
            "per_second": lambda r: r.per_second, "cpu_ms": lambda r: r.cpu_ms, "p50": lambda r: r.percentile(0.5),
            "p99": lambda r: r.percentile(0.99), "rss": lambda r: r.maxrss_mib, "startup": lambda r: r.startup_s,
        }
        return _median(getters[figure](r) for r in self.runs if not r.note)

    @property
    def ratio(self) -> float:
        return _median(self.ratios)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.runs if r.note)


def scenarios(results: list[Run]) -> list[Scenario]:
    """Runs grouped by (bot, database, transport, latency), each with its per-repeat ratios."""
    rivals = {(r.transport, r.latency_ms, r.repeat): r for r in results if r.bot == "aiogram-echo" and not r.note and r.per_second}
    groups: dict[tuple[str, str, str, int], list[Run]] = {}
    for run in results:
        groups.setdefault((run.bot, run.backend, run.transport, run.latency_ms), []).append(run)
    out = []
    for (bot, backend, transport, latency), runs in groups.items():
        ratios = []
        for run in runs:
            rival = rivals.get((transport, latency, run.repeat))
            if rival is not None and not run.note and run.per_second:
                ratios.append(run.per_second / rival.per_second)
        out.append(Scenario(bot, backend, transport, latency, runs, ratios))
    return out


def _summary(results: list[Run]) -> None:
    print("\nmedians of the interleaved repeats:")
    print(f"   {'bot':<14} {'database':<10} {'via':<8} {'RTT':>7} │ n │ start-up │  upd/s  │ × aiogram │ CPU/upd  │  p50 / p99 ms  │ peak RSS")
    for sc in scenarios(results):
        ratio = f"{sc.ratio:5.2f}×" if sc.ratios else "   -  "
        print(
            f"   {sc.bot:<14} {sc.backend:<10} {sc.transport:<8} {sc.latency_ms:>4} ms │ {len(sc.runs) - sc.failed} │ {sc.median('startup'):6.2f} s │ "
            f"{sc.median('per_second'):7.0f} │   {ratio}  │ {sc.median('cpu_ms'):5.2f} ms │ {sc.median('p50'):6.1f} / {sc.median('p99'):6.1f} │ "
            f"{sc.median('rss'):5.1f} MiB" + (f"  ({sc.failed} failed)" if sc.failed else "")
        )


def _verdict(results: list[Run], datasets: dict[str, Dataset]) -> None:
    """The issue's targets, checked against this run's own medians."""
    print("\ntargets, medians of this run:")
    for backend, ds in datasets.items():
        if ds.floor_ms:
            print(f"  storage floor {backend:<10}: {ds.floor_ms:.2f} ms CPU per update (at most {1000 / ds.floor_ms:,.0f} updates/s per process)")
    all_scenarios = scenarios(results)
    for sc in all_scenarios:
        if sc.bot not in OURS or sc.failed == len(sc.runs):
            continue
        cpu, target = sc.median("cpu_ms"), CPU_TARGET_MS.get(sc.backend, 0.9)
        p99_limit = 50 + sc.latency_ms
        checks = [
            f"CPU {cpu:.2f} ms/upd {'≤' if cpu <= target else '>'} {target} {'ok' if cpu <= target else 'MISSED'}",
        ]
        if sc.ratios:
            checks.append(f"{sc.ratio:.2f}× aiogram echo {'≥' if sc.ratio >= RATIO_TARGET else '<'} {RATIO_TARGET} {'ok' if sc.ratio >= RATIO_TARGET else 'MISSED'}")
        p99, rss, startup = sc.median("p99"), sc.median("rss"), sc.median("startup")
        checks += [
            f"p99 {p99:.1f} ms {'<' if p99 < p99_limit else '≥'} {p99_limit} {'ok' if p99 < p99_limit else 'MISSED'}",
            f"RSS {rss:.0f} MiB {'<' if rss < RSS_TARGET_MIB else '≥'} {RSS_TARGET_MIB:.0f} {'ok' if rss < RSS_TARGET_MIB else 'MISSED'}",
            f"start-up {startup:.2f} s {'<' if startup < STARTUP_TARGET_S else '≥'} {STARTUP_TARGET_S} {'ok' if startup < STARTUP_TARGET_S else 'MISSED'}",
        ]
        print(f"  {sc.bot:<4} {sc.backend:<10} {sc.transport:<8} {sc.latency_ms:>3} ms: " + "; ".join(checks))
    base = {(sc.backend, sc.transport, sc.latency_ms): sc for sc in all_scenarios if sc.bot == "base"}
    if base:
        print("\nbefore (base) -> after (ours), medians of the same interleaved repeats:")
        for sc in all_scenarios:
            before = base.get((sc.backend, sc.transport, sc.latency_ms))
            if sc.bot != "ours" or before is None:
                continue
            b_cpu, a_cpu = before.median("cpu_ms"), sc.median("cpu_ms")
            paired = _median(
                o.cpu_ms / b.cpu_ms for o in sc.runs for b in before.runs
                if o.repeat == b.repeat and not o.note and not b.note and b.cpu_ms
            )
            print(
                f"  {sc.backend:<10} {sc.transport:<8} {sc.latency_ms:>3} ms: CPU/upd {b_cpu:.2f} -> {a_cpu:.2f} ms "
                f"({100 * (paired - 1):+.0f} % paired); upd/s {before.median('per_second'):.0f} -> {sc.median('per_second'):.0f}; "
                f"× aiogram {before.ratio:.2f} -> {sc.ratio:.2f}; p99 {before.median('p99'):.1f} -> {sc.median('p99'):.1f} ms; "
                f"RSS {before.median('rss'):.0f} -> {sc.median('rss'):.0f} MiB; start-up {before.median('startup'):.2f} -> {sc.median('startup'):.2f} s"
            )


if __name__ == "__main__":
    asyncio.run(main())
