"""Which process runs the periodic jobs: a PostgreSQL advisory lock elects exactly one.

Several bot processes share one database; all of them handle updates and drain the outbox,
but reminders, digests and purges must run once. Each process tries `pg_try_advisory_lock`
on a dedicated connection (outside the pool, so the lock lives exactly as long as that
session). The holder is the leader until its connection ends: if the process dies, the
kernel closes its socket and PostgreSQL frees the lock at once; if the machine vanishes,
TCP keepalives (set on the server side below) end the session within about half a minute.
The leader also checks its connection every few seconds and steps down when it cannot, so
two processes never both believe they lead for longer than that check.

On SQLite there is one process by construction: it is the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"relais-sante:periodic-jobs")  # one 32-bit key, stable across versions
RETRY_SECONDS = 10.0  # how often a follower tries to take over
CHECK_SECONDS = 5.0  # how often the leader checks that its session is alive

Callback = Callable[[], Awaitable[None]]


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (postgresql+asyncpg://…) as a plain libpq DSN for asyncpg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def lock_connection(database_url: str, purpose: str) -> Any:  # an asyncpg.Connection (asyncpg is untyped)
    """A connection of its own, outside the pool, to hold a session-level advisory lock.

    The lock lives exactly as long as this session; the server-side keepalives make PostgreSQL
    notice a vanished client within ~30 s and free the lock.
    """
    import asyncpg

    return await asyncpg.connect(
        asyncpg_dsn(database_url),
        timeout=10,
        server_settings={
            "application_name": f"relais-{purpose}-{os.getpid()}",
            "tcp_keepalives_idle": "10",
            "tcp_keepalives_interval": "5",
            "tcp_keepalives_count": "3",
        },
    )


async def close_lock_connection(conn: Any) -> None:
    """Close it politely, or drop the socket when the server is unreachable (the lock goes with it)."""
    if conn is not None and not conn.is_closed():
        try:
            await asyncio.wait_for(conn.close(), 2)
        except Exception:
            conn.terminate()


class Leader:
    """Holds (or waits for) the periodic-jobs lock and tells the process when that changes."""

    def __init__(
        self,
        database_url: str,
        *,
        on_elected: Callback | None = None,
        on_lost: Callback | None = None,
        retry_seconds: float | None = None,
        check_seconds: float = CHECK_SECONDS,
        key: int = LOCK_KEY,
        role: str | None = None,
    ) -> None:
        self.database_url = database_url
        self.role = role or ("tâches périodiques" if key == LOCK_KEY else f"verrou {key}")
        self.is_sqlite = database_url.startswith("sqlite")
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.retry_seconds = (
            retry_seconds if retry_seconds is not None else float(os.environ.get("LEADER_RETRY_SECONDS", RETRY_SECONDS))
        )
        self.check_seconds = min(check_seconds, self.retry_seconds)
        self.key = key
        self.is_leader = False
        self.elected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn = None  # asyncpg.Connection while we try or hold the lock

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        """Give the lock back (another process takes over at its next try)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()
        if self.is_leader:
            await self._set(False)

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        if self.is_sqlite:
            await self._set(True)
            return
        while True:
            try:
                if not self.is_leader:
                    if await self._try_lock():
                        await self._set(True)
                        continue
                    await asyncio.sleep(self.retry_seconds)
                else:
                    await asyncio.sleep(self.check_seconds)
                    if not await self._alive():
                        log.warning(
                            "élection « %s » : connexion perdue, ce processus (pid %s) cède la main",
                            self.role,
                            os.getpid(),
                        )
                        await self._close()
                        await self._set(False)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database restarting must not kill the election loop
                log.exception("élection « %s » : erreur, nouvel essai", self.role)
                await self._close()
                if self.is_leader:
                    await self._set(False)
                await asyncio.sleep(self.retry_seconds)

    async def _connect(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await lock_connection(self.database_url, "leader")
        return self._conn

    async def _try_lock(self) -> bool:
        conn = await self._connect()
        return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key, timeout=10))

    async def _alive(self) -> bool:
        try:
            return self._conn is not None and await self._conn.fetchval("SELECT 1", timeout=self.check_seconds) == 1
        except Exception:
            return False

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        await close_lock_connection(conn)

    async def _set(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        if leader:
            self.elected.set()
            log.info("élection « %s » : ce processus (pid %s) est élu", self.role, os.getpid())
            callback = self.on_elected
        else:
            self.elected.clear()
            log.info("élection « %s » : ce processus (pid %s) n'est plus élu", self.role, os.getpid())
            callback = self.on_lost
        if callback is not None:
            try:
                await callback()
            except Exception:
                log.exception("élection « %s » : rappel en échec", self.role)
