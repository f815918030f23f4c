"""SQLite through a synchronous SQLAlchemy Session, behind the `AsyncSession` interface callers use.

With SQLite the event loop is already blocked while a statement runs (storage/sqlite_inline.py
runs sqlite3 in the loop's thread: a thread hop per call cost more than the query). What
remained was SQLAlchemy's async bridge: every statement, flush and fetch crosses into a
greenlet and back through the async adapter's cursor, about half of the storage CPU of an
update. Here the same ORM and Core code runs on a plain `Session` over pysqlite, in the loop's
thread, and the `await`s callers write complete at once.

Only the methods the project calls are bridged (execute, scalar(s), get, flush, delete, refresh,
begin_nested, run_sync); synchronous ones (add, expunge, …) are the Session's own. Lazy loads
work here where `AsyncSession` would refuse them: code must still not rely on them, since
PostgreSQL runs on the real `AsyncSession`.

`SQLITE_DRIVER=inline` keeps the async engine over the inline driver, `thread` aiosqlite.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.orm import Session, SessionTransaction

T = TypeVar("T")


def sqlite_engine(path: str, *, echo: bool, timeout: float) -> Engine:
    """A pysqlite engine on `path` (the PRAGMAs and `BEGIN IMMEDIATE` are set by storage.db)."""
    return create_engine(
        f"sqlite:///{path}",
        echo=echo,
        hide_parameters=True,  # a failed statement is logged without what people typed
        connect_args={
            "timeout": timeout,
            "check_same_thread": False,
        },  # the pool may close it from another thread at exit
    )


def begin_immediate(dbapi_connection: Any) -> None:
    """The pysqlite dialect's `do_begin`: take the write lock at BEGIN, as storage.db does for the async engine."""
    dbapi_connection.execute("BEGIN IMMEDIATE")


class _Nested:
    """`async with session.begin_nested():` over the Session's SAVEPOINT."""

    __slots__ = ("_session", "_transaction")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._transaction: SessionTransaction | None = None

    async def __aenter__(self) -> SessionTransaction:
        self._transaction = self._session.begin_nested()
        return self._transaction

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._transaction is not None
        self._transaction.__exit__(kind, exc, tb)


class InlineSession:
    """The subset of `AsyncSession` the project uses, run directly on a synchronous `Session`."""

    __slots__ = ("sync_session",)

    def __init__(self, sync_session: Session) -> None:
        self.sync_session = sync_session

    def __getattr__(self, name: str) -> Any:  # add, add_all, expunge, expire, in_transaction, info, …
        return getattr(self.sync_session, name)

    @property
    def bind(self) -> Any:
        return self.sync_session.bind

    async def execute(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self.sync_session.execute(statement, params, **kwargs)

    async def scalar(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self.sync_session.scalar(statement, params, **kwargs)

    async def scalars(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self.sync_session.scalars(statement, params, **kwargs)

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return self.sync_session.get(entity, ident, **kwargs)

    async def get_one(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return self.sync_session.get_one(entity, ident, **kwargs)

    async def flush(self, objects: Any = None) -> None:
        self.sync_session.flush(objects)

    async def delete(self, instance: object) -> None:
        self.sync_session.delete(instance)

    async def refresh(self, instance: object, attribute_names: Any = None, **kwargs: Any) -> None:
        self.sync_session.refresh(instance, attribute_names, **kwargs)

    async def merge(self, instance: T, **kwargs: Any) -> T:
        return self.sync_session.merge(instance, **kwargs)

    async def connection(self, **kwargs: Any) -> Connection:
        return self.sync_session.connection(**kwargs)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_session, *args, **kwargs)

    def begin_nested(self) -> _Nested:
        return _Nested(self.sync_session)

    async def commit(self) -> None:
        self.sync_session.commit()

    async def rollback(self) -> None:
        self.sync_session.rollback()

    async def close(self) -> None:
        self.sync_session.close()
