"""SQLite for the async engine without a thread hop per call: aiosqlite's interface, run inline.

aiosqlite runs each call (cursor, execute, fetchall, close: four per statement) in a worker
thread and wakes the event loop when it is done. An indexed SQLite query takes tens of
microseconds; the four thread hand-offs cost far more, and much more again on a busy
machine where each wake-up waits for the scheduler (0.8 ms for `SELECT 1`). Here
the same calls run directly in the event loop's thread.

The trade-off is explicit: a statement blocks the loop while it runs. Our queries are short
and indexed (tens of µs); the write lock is never contended inside the process
(`storage.db` queues transactions in asyncio), so only another process writing to the same
file can make `BEGIN IMMEDIATE` wait (busy_timeout) — and SQLite is the single-process
deployment (several processes use PostgreSQL). `SQLITE_DRIVER=thread` restores aiosqlite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Iterable
from typing import Any


class _Cursor:
    """The subset of `aiosqlite.Cursor` SQLAlchemy's adapter uses, as coroutines that never wait."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Cursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)  # type: ignore[arg-type]
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> _Cursor:
        self._cursor.executemany(sql, parameters)  # type: ignore[arg-type]
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid


class _Immediate:
    """Stands in for aiosqlite's request queue (`_tx`): SQLAlchemy puts (future, fn) in it."""

    __slots__ = ()

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as exc:  # delivered to the awaiting caller, as aiosqlite does
            future.set_exception(exc)
        else:
            future.set_result(result)


class InlineConnection:
    """The subset of `aiosqlite.Connection` SQLAlchemy's aiosqlite dialect calls."""

    def __init__(self, database: str, **kwargs: Any) -> None:
        kwargs.setdefault("check_same_thread", False)  # the pool may close it from another thread at exit
        self._conn = sqlite3.connect(database, **kwargs)
        self._tx = _Immediate()

    def __await__(self) -> Generator[None, None, InlineConnection]:
        """`await connect(...)` returns the open connection, like aiosqlite."""
        if False:  # pragma: no cover - makes this a generator
            yield
        return self

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Cursor:
        cursor = _Cursor(self._conn.cursor())
        return await cursor.execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        """Terminate (SQLAlchemy's force close): closing is immediate here."""
        try:
            self._conn.close()
        except sqlite3.Error:
            pass


def connect(database: str, **kwargs: Any) -> InlineConnection:
    """`async_creator` for `create_async_engine("sqlite+aiosqlite://…")`."""
    return InlineConnection(database, **kwargs)
