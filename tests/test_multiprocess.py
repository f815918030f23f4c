"""Three bot processes behind a load balancer, one PostgreSQL, one of them killed with SIGKILL.

The real command line (`python -m bot webhook`) runs three times, each on its own port. The
fake Bot API delivers updates to a small round-robin load balancer (passive health checks: a
backend that fails is taken out and the request goes to the next one), so consecutive
messages of one person land on different processes. All of them send the outbox, each its
share of the chats and of the pace (bot/senders.py). Midway, the process that was elected
first for the periodic jobs is killed with SIGKILL while people keep writing.

Checked: every update answered; every outbox message delivered exactly once, the first wave by
all three processes and the second by both survivors (each logs how many it sent);
conversations that hop between processes end where they should; another process takes the
periodic jobs.

The kill lands between two outbox waves, never on an outbox request in flight: Telegram has
no idempotency key, so a request cut by a kill has an *unknown* outcome, settled by the
outbox's documented policy (bot/outbox.py; tests/test_kill9.py covers that case).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.sample_data import load_samples
from storage import outbox
from storage.db import Database
from storage.models import Membership, OutboxMessage, Registration, User, utcnow
from tests.conftest import _truncate_all
from tests.fakebot import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:MULTI-token-abcdefghijklmnopqrstuvwxyz"
SECRET = "multi-process-secret"
OUTBOX_WAVE = 2500  # two waves: 5,000 messages
STREAM = 300  # people who each send one command, half before the kill, half after
TRAVELLERS = 8  # people onboarding and registering, step by step, across the kill
GHT = "GHT Cœur Grand Est"
SENT_LINE = re.compile(r"outbox : (\d+) message\(s\) envoyé\(s\)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Balancer:
    """Round robin over the bot processes; a backend that errors is taken out of rotation."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.down: set[int] = set()
        self.forwarded: Counter[int] = Counter()
        self._next = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = free_port()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")}
        for _ in range(len(self.backends)):
            index = self._next % len(self.backends)
            self._next += 1
            if index in self.down:
                continue
            try:
                async with self._session.post(self.backends[index] + request.path, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=15)) as response:
                    self.forwarded[index] += 1
                    return web.Response(status=response.status, body=await response.read())
            except (aiohttp.ClientError, TimeoutError):
                self.down.add(index)  # passive health check: out until the test ends
        return web.Response(status=502, text="no backend")


class BotProcess:
    """`python -m bot webhook` in a subprocess, its log lines readable as they come."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name, self.env, self.log_path = name, env, log_path
        self.port = int(env["PORT"])
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "webhook", cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with open(self.log_path, "w") as log:
            async for raw in self.proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                log.write(line + "\n")
                async with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()

    async def wait_line(self, pattern: str, count: int = 1, timeout: float = 60) -> list[str]:
        regex = re.compile(pattern)

        def found() -> list[str]:
            return [line for line in self.lines if regex.search(line)]

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count or self.proc.returncode is not None), timeout)  # type: ignore[union-attr]
            except TimeoutError:
                pass
        hits = found()
        if len(hits) < count:
            raise AssertionError(f"{self.name}: no {count}× {pattern!r} in its log ({self.log_path}):\n" + "\n".join(self.lines[-30:]))
        return hits

    def sent_logged(self) -> int:
        """Outbox messages this process says it sent (one log line per drain)."""
        return sum(int(m.group(1)) for line in self.lines if (m := SENT_LINE.search(line)))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url)
    await _truncate_all(database)
    yield database
    await database.dispose()


def elected_line(role: str, pid: int) -> str:
    return rf"élection « {role} » : ce processus \(pid {pid}\) est élu"


async def test_three_processes_one_killed_nothing_lost_nothing_doubled(pg: Database, tmp_path: Path) -> None:
    async with pg.begin() as session:
        await load_samples(session, now=utcnow())
    api = FakeBotAPI(token=TOKEN)
    await api.start()
    ports = [free_port() for _ in range(3)]
    balancer = Balancer([f"http://127.0.0.1:{p}" for p in ports])
    await balancer.start()
    base_env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api.base_url, "TELEGRAM_FILE_API_URL": api.base_file_url,
        "DATABASE_URL": pg.url, "WEBHOOK_URL": f"http://127.0.0.1:{balancer.port}", "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1", "PAID_BROADCAST": "true", "LEADER_RETRY_SECONDS": "0.5", "DB_POOL_SIZE": "4",
        "COORDINATOR_IDS": "", "PYTHONPATH": str(ROOT),
    }
    bots = [BotProcess(f"bot{i}", {**base_env, "PORT": str(port)}, tmp_path / f"bot{i}.log") for i, port in enumerate(ports)]
    try:
        # The first process alone: it is elected for the periodic jobs. Then all three share the outbox.
        first = bots[0]
        await first.start()
        await first.wait_line(r"webhook prêt")
        await first.wait_line(elected_line("tâches périodiques", first.pid))
        await asyncio.gather(*(b.start() for b in bots[1:]))
        await asyncio.gather(*(b.wait_line(r"webhook prêt") for b in bots[1:]))
        await asyncio.gather(*(b.wait_line(r"outbox : expéditeur \d sur 3") for b in bots))

        # Outbox wave 1, people writing, people onboarding across processes.
        recipients = list(range(7_000_001, 7_000_001 + 2 * OUTBOX_WAVE))
        for uid in recipients:
            api.make_user(uid, f"R{uid % 1000}")
        await enqueue(pg, recipients[:OUTBOX_WAVE], "vague1")
        stream = [api.make_user(8_000_001 + i, f"S{i}") for i in range(STREAM)]
        travellers = [Traveller(api, api.make_user(9_000_001 + i, f"T{i}")) for i in range(TRAVELLERS)]
        onboarding = asyncio.gather(*(t.onboard() for t in travellers))
        for person in stream[: STREAM // 2]:
            api.send_text(person, "/aide")
        await delivered(api, recipients[:OUTBOX_WAVE])
        await all_recorded(pg, OUTBOX_WAVE)
        await all_logged(bots, OUTBOX_WAVE)
        wave1 = [b.sent_logged() for b in bots]
        await asyncio.wait_for(onboarding, 60)  # conversations between steps, not mid-step (see docstring)

        # SIGKILL the elected process while updates keep coming.
        for person in stream[STREAM // 2 : STREAM // 2 + 50]:
            api.send_text(person, "/aide")
        two = r"outbox : expéditeur \d sur 2"
        already = [sum(1 for line in b.lines if re.search(two, line)) for b in bots[1:]]
        first.kill()
        killed_at = asyncio.get_running_loop().time()
        for person in stream[STREAM // 2 + 50 :]:
            api.send_text(person, "/aide")
        survivors = bots[1:]
        elected = await asyncio.wait_for(_first_elected(survivors, "tâches périodiques"), 30)
        reelected_after = asyncio.get_running_loop().time() - killed_at
        await asyncio.gather(*(b.wait_line(two, count=k + 1) for b, k in zip(survivors, already)))  # they saw it
        await enqueue(pg, recipients[OUTBOX_WAVE:], "vague2")
        registering = asyncio.gather(*(t.register() for t in travellers))  # the rest of their story, on the survivors
        await delivered(api, recipients[OUTBOX_WAVE:])
        await all_recorded(pg, 2 * OUTBOX_WAVE)
        await all_logged(bots, 2 * OUTBOX_WAVE)
        wave2 = [b.sent_logged() - sent for b, sent in zip(bots, wave1)]
        await asyncio.wait_for(registering, 60)
        for person in stream:
            await api.wait_for(lambda m, uid=person["id"]: m["chat"]["id"] == uid, timeout=30)

        # Exactly once: each recipient got one message, and the database says so.
        per_chat = Counter(m["chat"]["id"] for m in api.sent() if m["chat"]["id"] >= 7_000_001 and m["chat"]["id"] < 8_000_000)
        assert len(per_chat) == 2 * OUTBOX_WAVE and set(per_chat.values()) == {1}
        async with pg.begin() as session:
            statuses = dict((await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all())
            assert statuses == {"sent": 2 * OUTBOX_WAVE}
            onboarded = await session.scalar(select(func.count()).select_from(User).where(User.id >= 9_000_001, User.onboarded_at.is_not(None)))
            members = await session.scalar(select(func.count()).select_from(Membership).where(Membership.user_id >= 9_000_001))
            seats = await session.scalar(select(func.count()).select_from(Registration).where(Registration.user_id >= 9_000_001, Registration.status == "confirmed"))
        assert (onboarded, members, seats) == (TRAVELLERS, TRAVELLERS, TRAVELLERS)
        # Every process sent its part of the outbox while it was alive.
        assert all(n > 0 for n in wave1) and wave2[0] == 0 and all(n > 0 for n in wave2[1:])
        # Every survivor handled updates; the periodic jobs have a new home.
        assert elected in (b.pid for b in survivors)
        assert balancer.down == {0} and all(balancer.forwarded[i] > 0 for i in (1, 2))
        print(f"\nupdates per process {dict(balancer.forwarded)}, outbox sent per process {wave1} then {wave2}, "
              f"periodic jobs re-elected {reelected_after:.2f} s after the kill (pid {elected})")
    finally:
        await asyncio.gather(*(b.stop() for b in bots), return_exceptions=True)
        await balancer.stop()
        await api.stop()


async def enqueue(db: Database, chat_ids: list[int], wave: str) -> None:
    async with db.begin() as session:
        await outbox.enqueue_many(
            session, [{"purpose": f"{wave}:{uid}", "chat_id": uid, "user_id": uid, "payload": {"text": f"Annonce {wave}"}} for uid in chat_ids]
        )


async def delivered(api: FakeBotAPI, chat_ids: list[int]) -> None:
    waiting = set(chat_ids)

    def arrived(message: dict[str, Any]) -> bool:
        waiting.discard(message["chat"]["id"])
        return not waiting

    await api.wait_for(arrived, timeout=60)


async def all_recorded(db: Database, n: int) -> None:
    """The sender commits each answer right after it arrives; wait for the last commits."""
    for _ in range(600):
        async with db.begin() as session:
            if await session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) == n:
                return
        await asyncio.sleep(0.05)  # polling the database: no event crosses the process boundary
    raise AssertionError(f"fewer than {n} outbox rows recorded as sent")


async def all_logged(bots: list[BotProcess], n: int) -> None:
    """Each process logs its count when its drain ends, just after its last commit."""
    for _ in range(200):
        if sum(b.sent_logged() for b in bots) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the processes logged {[b.sent_logged() for b in bots]} sends, fewer than {n}")


async def _first_elected(survivors: list[BotProcess], role: str) -> int:
    waits = {asyncio.create_task(b.wait_line(elected_line(role, b.pid), timeout=30)): b for b in survivors}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    winner = next(t for t in done if t.exception() is None)
    return waits[winner].pid


class Traveller:
    """Someone who onboards, then lists meetings and registers: every step may reach another process."""

    def __init__(self, api: FakeBotAPI, user: dict[str, Any]) -> None:
        self.api, self.user, self.uid = api, user, user["id"]

    async def _step(self, action: Any, method: str, keyboard: bool = False) -> None:
        """Do something, then wait until the bot answered with `method` in this chat."""
        since = len(self.api.calls)
        action()
        await self.api.wait_for_call(
            lambda m, p: m == method and int(p.get("chat_id") or 0) == self.uid and (not keyboard or "reply_markup" in p),
            timeout=30, since=since,
        )

    def _press(self, label: str) -> None:
        for message in reversed(self.api.messages(self.uid)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        self.api.press(self.user, message, button["callback_data"])
                        return
        raise AssertionError(f"user {self.uid}: no button {label!r}")

    async def onboard(self) -> None:
        await self._step(lambda: self.api.send_text(self.user, "/start"), "sendMessage", keyboard=True)
        await self._step(lambda: self._press("Infirmier"), "editMessageText")
        await self._step(lambda: self._press(GHT), "editMessageText")
        await self._step(lambda: self._press("Terminé"), "editMessageText")
        assert "prêt" in (self.api.messages(self.uid)[-1].get("text") or "")

    async def register(self) -> None:
        await self._step(lambda: self.api.send_text(self.user, "/rencontres"), "sendMessage", keyboard=True)
        await self._step(lambda: self._press("S'inscrire — Verdun"), "sendMessage")
        assert "Inscription confirmée" in (self.api.sent(self.uid)[-1].get("text") or "")
