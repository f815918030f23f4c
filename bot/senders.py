"""Which bot processes send the outbox, and each one's share of Telegram's limits.

Telegram's limits are per bot token (≈30 messages/s in all, 1/s per person, 20/min per group),
yet every process drains the outbox. Membership needs no table: each process holds
one *sender slot*, a two-key PostgreSQL advisory lock (SLOT_CLASS, 0…MAX_SLOTS-1) taken with
`pg_try_advisory_lock` on a dedicated connection (outside the pool, like bot/leader.py), kept
as long as that session lives. The live senders are the granted rows of `pg_locks` for that
class in this database, read every REFRESH seconds: a process that dies closes its socket and
its slot disappears at once. With n live slots and mine at position `rank` among them:

* **Chats are partitioned**: I claim only rows whose `chat_id mod n == rank`, so one chat's
  gaps (1/s, 20/min) stay in one process's memory. `FOR UPDATE SKIP LOCKED` still guards each
  row, so views that briefly disagree never make a row go twice.
* **The pace is shared**: I pace at 1/`pace_n` of the bot's rate and window (CellRate.share).
  A share only shrinks at once and only grows after GRACE: `pace_n` is the largest n seen
  during the last GRACE seconds, and a process that just took its slot sends nothing during
  its first GRACE seconds, unless its first read finds no other sender (nobody to wait for: a
  predecessor's last sends are older than the time a process takes to start).
  GRACE = 3 × REFRESH + the pacer's window span: a process acts on a view at most 3 × REFRESH
  old (a read, the pause, the next read, each at most REFRESH), so the others have slowed down
  a whole window span before a newcomer's first send; likewise a departed process's last sends
  have left Telegram's one-second window before survivors speed up.
* **A view older than that is not trusted**: if the read fails or takes longer than REFRESH,
  this process stops sending (its share is None) until a fresh read; if the connection is
  lost, it gives its slot up and joins again later, with a new GRACE.

Residual, by design: at a partition change a chat may get messages too close together from
two processes (a person two within a second, a busy group more than 20 in a minute); the worst
case is a 429 whose `retry_after` the dispatcher honours.
A 429's pause also stays in the process that received it. During a rolling upgrade, while a
process of the previous version (one elected sender at the full pace) still holds its lock,
the new ones do not send, and start GRACE seconds after it is gone.

On SQLite there is one process by construction: no slot, the dispatcher keeps n = 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.leader import close_lock_connection, lock_connection

log = logging.getLogger(__name__)

SLOT_CLASS = zlib.crc32(b"relais-sante:outbox-slot") & 0x7FFFFFFF  # first key of the two-int lock form
MAX_SLOTS = 32  # processes that may send at once; a 33rd serves updates but does not send
REFRESH = 0.5  # seconds between two reads of the live slots (and the longest a read may take)
RETRY = 2.0  # after a lost connection, or when every slot is taken

# Earlier versions had one elected process send alone, at the full pace, holding this one-key lock.
# While such a process runs (a rolling upgrade), the new ones do not send.
LEGACY_SENDER_KEY = zlib.crc32(b"relais-sante:outbox-sender")

LIVE_SLOTS = """
SELECT objsubid, objid::bigint AS key FROM pg_locks
WHERE locktype = 'advisory' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((objsubid = 2 AND classid = $1::int::oid) OR (objsubid = 1 AND classid = 0 AND objid = $2::bigint::oid))
"""


@dataclass(frozen=True)
class Share:
    """This process's part of the work: chats with `chat_id mod n == rank`, at 1/pace_n of the pace."""

    rank: int
    n: int
    pace_n: int


SOLO = Share(rank=0, n=1, pace_n=1)


class Senders:
    """Holds a sender slot and tells the dispatcher its share (None: do not send) when it changes."""

    def __init__(
        self,
        database_url: str,
        on_change: Callable[[Share | None], None],
        *,
        span: float = 1.0,
        refresh: float = REFRESH,
        retry: float = RETRY,
        slots: int = MAX_SLOTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database_url = database_url
        self.on_change = on_change
        self.refresh = refresh
        self.grace = 3 * refresh + span
        self.retry = retry
        self.slots = slots
        self.clock = clock
        self.slot: int | None = None
        self.share: Share | None = None
        self.active = asyncio.Event()  # set while this process may send
        self._joined_at = 0.0
        self._legacy = False  # a pre-issue-#6 sender holds LEGACY_SENDER_KEY
        self._full = False  # every slot was taken at our last try (said once)
        self._first_read = False  # the next read is the first since we took our slot
        self._seen: deque[tuple[float, int]] = deque()  # (when, n) over the last GRACE seconds
        self._conn: Any = None  # asyncpg.Connection holding the slot
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-senders")

    async def stop(self) -> None:
        """Give the slot back (call once the dispatcher stopped sending): the others speed up after GRACE."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.slot is not None:
            log.info("outbox : ce processus (pid %s) rend sa place d'expéditeur %d", os.getpid(), self.slot)
        await self._leave()

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                if self.slot is None and not await self._join():
                    if not self._full:
                        log.warning(
                            "outbox : les %d places d'expéditeur sont prises, ce processus (pid %s) n'envoie pas",
                            self.slots,
                            os.getpid(),
                        )
                    self._full = True
                    await self._leave()
                    await asyncio.sleep(self.retry)
                    continue
                asked = self.clock()
                try:
                    locks = await self._conn.fetch(LIVE_SLOTS, SLOT_CLASS, LEGACY_SENDER_KEY, timeout=self.refresh)
                except TimeoutError:  # a view we cannot refresh in time is not trusted: pause, keep the slot
                    self._publish(None, "lecture des expéditeurs trop lente")
                    continue
                if self._legacy_sending(locks, asked):
                    self._publish(None, "")
                else:
                    self._observe(sorted(r["key"] for r in locks), asked)
                await asyncio.sleep(self.refresh)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarting must not end the loop
                log.warning(
                    "outbox : connexion des expéditeurs perdue (%s), nouvel essai dans %g s",
                    type(exc).__name__,
                    self.retry,
                )
                await self._leave("connexion perdue")
                await asyncio.sleep(self.retry)

    async def _join(self) -> bool:
        """Connect and take the first free slot."""
        self._conn = await lock_connection(self.database_url, "outbox")
        for slot in range(self.slots):
            if await self._conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", SLOT_CLASS, slot, timeout=10):
                self.slot, self._joined_at, self._full, self._first_read = slot, self.clock(), False, True
                self._seen.clear()
                log.info("outbox : ce processus (pid %s) prend la place d'expéditeur %d", os.getpid(), slot)
                return True
        return False

    def _legacy_sending(self, locks: list[Any], asked: float) -> bool:
        """A sender of the previous version (alone, at the full pace) still runs: wait until it stops."""
        legacy = any(r["objsubid"] == 1 for r in locks)
        if legacy and not self._legacy:
            log.warning(
                "outbox : un processus d'une version précédente envoie encore, "
                "ce processus (pid %s) attend qu'il s'arrête",
                os.getpid(),
            )
        if legacy:
            self._joined_at, self._first_read = (
                asked,
                False,
            )  # once it is gone, its last sends must leave the window first
        self._legacy = legacy
        return legacy

    def _observe(self, live: list[int], asked: float) -> None:
        """A fresh list of live slots (read at `asked`): publish my share."""
        if self.slot not in live:  # the server no longer holds my lock: my session is gone
            raise ConnectionError("sender slot lost")
        n = len(live)
        if self._first_read:
            self._first_read = False
            if n == 1:  # alone: no other sender has to see me before I send
                self._joined_at = asked - self.grace
            else:
                log.info(
                    "outbox : %d autre(s) expéditeur(s), ce processus (pid %s) enverra dans %.1f s",
                    n - 1,
                    os.getpid(),
                    self.grace,
                )
        self._seen.append((asked, n))
        while self._seen[0][0] < asked - self.grace:
            self._seen.popleft()
        if asked < self._joined_at + self.grace:
            self._publish(None, "")  # joining: the others must see me first
            return
        self._publish(Share(rank=live.index(self.slot), n=n, pace_n=max(seen for _, seen in self._seen)), "")

    def _publish(self, share: Share | None, why: str) -> None:
        if share == self.share:
            return
        before, self.share = self.share, share
        if share is None:
            self.active.clear()
            if why:
                log.warning("outbox : ce processus (pid %s) cesse d'envoyer (%s)", os.getpid(), why)
        else:
            self.active.set()
            if before is None or (before.rank, before.n) != (share.rank, share.n):
                log.info(
                    "outbox : expéditeur %d sur %d (pid %s), rythme ÷%d",
                    share.rank + 1,
                    share.n,
                    os.getpid(),
                    share.pace_n,
                )
            elif before.pace_n != share.pace_n:
                log.info("outbox : rythme ÷%d (pid %s)", share.pace_n, os.getpid())
        self.on_change(share)

    async def _leave(self, why: str = "") -> None:
        self._publish(None, why)
        self.slot = None
        conn, self._conn = self._conn, None
        await close_lock_connection(conn)
