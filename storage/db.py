"""Engine and session factory: one `AsyncSession` per update or job, one transaction each.

SQLite is the embedded default. Its writers are serialised with `BEGIN IMMEDIATE` (the
pattern SQLAlchemy documents for pysqlite/aiosqlite) and WAL journalling, so concurrent
tasks queue on the lock instead of failing with "database is locked". On PostgreSQL,
row locks (`SELECT … FOR UPDATE`) do the same job per meeting session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from sqlalchemy import Connection, Engine, MetaData, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from storage import inline_session, sqlite_inline

log = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL rolls a transaction back to break a deadlock (40P01) or a serialization conflict
# (40001); the same work run again in a new transaction succeeds. SQLite's equivalent is a
# write lock still held by another process when the busy timeout ran out.
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
RETRY_ATTEMPTS = 5

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention so Alembic batch mode works on SQLite."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:  # every model here maps a plain Table (SQLAlchemy types it as any FromClause)
        __table__: ClassVar[Table]


def _prepare_sqlite(engine: Engine, busy_timeout_ms: int = 30000, *, begin_event: bool = True) -> None:
    """PRAGMAs on every new connection, and `BEGIN IMMEDIATE` for every transaction: through the
    "begin" event, or (`begin_event=False`, the inline Session's engine) through the dialect's own
    `do_begin`: an engine with a connection event runs its event hooks around every statement."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    if not begin_event:
        engine.dialect.do_begin = inline_session.begin_immediate  # type: ignore[method-assign]
        return

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        cursor = connection.connection.cursor()  # at the DBAPI level: no SQLAlchemy execution per transaction
        cursor.execute("BEGIN IMMEDIATE")
        cursor.close()


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


class _SqliteWriteQueue:
    """One SQLite transaction at a time inside this process, queued in asyncio (FIFO).

    Without it, concurrent handlers each take a pooled connection and wait for the write lock
    in SQLite's busy handler, which sleeps in its thread with a growing back-off (up to 100 ms):
    measured at 57 updates/s. Queued here, the lock is never contended inside the
    process and `BEGIN IMMEDIATE` only waits for other processes (migrations, a CLI).
    """

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owner: asyncio.Task[object] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._owner:  # nested begin(): SQLite refuses it after busy_timeout, as before
            yield
            return
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # tests run several event loops in turn
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None


class _ConnectionSlots:
    """At most `size` transactions at once in this process: the PostgreSQL pool's capacity.

    Without it, a burst of updates each opens a session that waits for a pooled connection
    *inside* SQLAlchemy's greenlet, holding the greenlet's stack and the session meanwhile:
    256 concurrent updates on a pool of 20 cost about 6 MiB and more CPU. Waiting
    here, before the session exists, costs nothing. A task already holding a slot (a nested
    `begin()`) does not take a second one, so it cannot deadlock on itself.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owners: set[asyncio.Task[object]] = set()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task in self._owners:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:  # tests run several event loops in turn
            self._semaphore, self._loop = asyncio.Semaphore(self.size), loop
        async with self._semaphore:
            if task is not None:
                self._owners.add(task)
            try:
                yield
            finally:
                self._owners.discard(task)


_SQLITE_QUEUES: dict[str, _SqliteWriteQueue] = {}


def _sqlite_queue_for(database: str) -> _SqliteWriteQueue:
    """One queue per file per process, however many `Database` objects open it (tests, tools)."""
    if database == ":memory:":
        return _SqliteWriteQueue()
    return _SQLITE_QUEUES.setdefault(os.path.abspath(database), _SqliteWriteQueue())


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """`INSERT` in the session's dialect, so `.on_conflict_do_nothing()` works on both stores."""
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def is_retryable(exc: BaseException) -> bool:
    """True when the database gave up on a transaction only because of another one."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in RETRY_SQLSTATES or "database is locked" in str(orig)


class Database:
    """The process's connection to its store, SQLite or PostgreSQL.

    PostgreSQL pool: `pool_size` connections kept open plus as many again under bursts, per
    process (README, « Plusieurs processus », for max_connections). No pre-ping: it costs a
    round trip per transaction; a connection broken by a database restart fails one
    transaction, then SQLAlchemy discards the whole stale pool.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int | None = None) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict = {"echo": echo, "hide_parameters": True}  # a failed statement is logged without what people typed
        driver = os.environ.get("SQLITE_DRIVER", "session")  # session | inline | thread (see below)
        path = parsed.database or ":memory:"
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
            if driver != "thread":  # see storage/sqlite_inline.py
                # 10 s, not 30: a statement waiting here for another process's write blocks the loop.
                kwargs["async_creator"] = lambda: sqlite_inline.connect(path, timeout=10)
        else:
            size = pool_size if pool_size is not None else int(os.environ.get("DB_POOL_SIZE", "10") or 10)
            kwargs.update(pool_size=size, max_overflow=size, pool_recycle=1800, pool_timeout=30)
        self._pg_slots = None if self.is_sqlite else _ConnectionSlots(2 * size)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _prepare_sqlite(self.engine.sync_engine, 30000 if "async_creator" not in kwargs else 10000)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite_queue = _sqlite_queue_for(path) if self.is_sqlite else None
        # Transactions on SQLite run on a synchronous Session in the loop's thread (storage/inline_session.py);
        # `self.engine` (migrations, tools, tests) stays async. A memory database is one per connection,
        # so it keeps the async engine only.
        self._sync_engine: Engine | None = None
        self._sync_sessionmaker: sessionmaker[Session] | None = None
        if self.is_sqlite and driver == "session" and path != ":memory:":
            self._sync_engine = inline_session.sqlite_engine(path, echo=echo, timeout=10)
            _prepare_sqlite(self._sync_engine, 10000, begin_event=False)
            self._sync_sessionmaker = sessionmaker(self._sync_engine, expire_on_commit=False)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        if self._sync_sessionmaker is not None:
            assert self._sqlite_queue is not None
            async with self._sqlite_queue.turn():
                with self._sync_sessionmaker() as sync_session, sync_session.begin():
                    yield cast(AsyncSession, inline_session.InlineSession(sync_session))
            return
        if self._sqlite_queue is not None:
            async with self._sqlite_queue.turn(), self.sessionmaker() as session, session.begin():
                yield session
            return
        assert self._pg_slots is not None
        async with self._pg_slots.slot():
            # Not `async with session, session.begin()`: each of begin, commit and close crosses into
            # SQLAlchemy's greenlet, and close runs as a shielded task of its own. Here the session
            # begins with its first statement, and commit and close share one crossing.
            session = self.sessionmaker()
            try:
                yield session
            except BaseException:
                await asyncio.shield(session.close())  # rolls back, gives the connection back
                raise
            await session.run_sync(_commit_and_close)

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, what: str = "transaction") -> T:
        """`work(session)` in one transaction, run again from the start in a fresh one when the
        database chose it as the victim of a deadlock or a serialization conflict.

        Safe because nothing leaves the process before the commit (replies and messages are
        sent afterwards); `work` must keep it so (no Telegram call that changes anything).
        """
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                async with self.begin() as session:
                    return await work(session)
            except DBAPIError as exc:
                if attempt == RETRY_ATTEMPTS or not is_retryable(exc):
                    raise
                code = getattr(exc.orig, "sqlstate", None) or "locked"
                log.warning("%s : conflit avec une autre transaction (%s), nouvel essai %d", what, code, attempt)
                await asyncio.sleep(random.uniform(0, 0.02 * 2**attempt))  # apart, so the two do not collide again
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        await self.engine.dispose()
