"""The hot path on SQLAlchemy Core: statements on the transaction's connection, ORM objects only on demand.

Why: an update's database work is a handful of indexed statements; SQLAlchemy's ORM (building
the query context, loading rows into tracked objects, flushing) and its async bridge (a
greenlet switch per statement on PostgreSQL) cost several times what the database does.
Here a hot function is written once, synchronously, against the transaction's `Session` and
its `Connection`, and `run` calls it:
- on SQLite (storage/inline_session.py) directly: no bridge at all;
- on PostgreSQL through `AsyncSession.run_sync`: one greenlet for the whole function, however
  many statements it runs.
Where a caller needs a tracked ORM object (the sender's `User`, which handlers may change),
`get` and `attach` build it from a Core row and hand it to the session as if loaded: later
changes are flushed as usual. Rare coordinator paths keep the plain ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, class_mapper, make_transient_to_detached

from storage.inline_session import InlineSession

T = TypeVar("T")
M = TypeVar("M")


async def run(session: AsyncSession, fn: Callable[..., T], *args: Any) -> T:
    """`fn(sync_session, *args)` in the session's transaction: inline on SQLite, one greenlet on PostgreSQL."""
    if type(session) is InlineSession:
        return fn(session.sync_session, *args)
    return await session.run_sync(fn, *args)


class _Loader:
    """Built once per model: its columns by attribute name and `SELECT … WHERE pk = :pk` (with and without a lock)."""

    __slots__ = ("by_pk", "by_pk_locked", "keys", "model")

    def __init__(self, model: type) -> None:
        mapper: Mapper[Any] = class_mapper(model)
        (pk,) = mapper.primary_key  # hot-path models have one-column keys
        attrs = [(prop.key, prop.columns[0]) for prop in mapper.column_attrs]
        self.model = model
        self.keys = tuple(key for key, _ in attrs)
        self.by_pk: Select[Any] = select(*(column for _, column in attrs)).where(pk == bindparam("pk"))
        self.by_pk_locked: Select[Any] = self.by_pk.with_for_update()


_LOADERS: dict[type, _Loader] = {}


def _loader(model: type) -> _Loader:
    loader = _LOADERS.get(model)
    if loader is None:
        loader = _LOADERS[model] = _Loader(model)
    return loader


def attach(session: Session, model: type[M], values: Mapping[str, Any]) -> M:
    """The session's object for this row: the one it already tracks, else one built from `values`
    (every column, by attribute name) and attached as if the ORM had loaded it."""
    mapper: Mapper[Any] = class_mapper(model)
    key = mapper.identity_key_from_primary_key(tuple(values[str(column.key)] for column in mapper.primary_key))
    known = session.identity_map.get(key)
    if known is not None:
        return known
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)  # committed state = these values; relationships load on access
    session.add(obj)
    return obj


def get(session: Session, model: type[M], pk: Any, *, lock: bool = False) -> M | None:
    """`session.get(model, pk)` through one Core statement (FOR UPDATE when `lock`)."""
    loader = _loader(model)
    if not lock:
        known = session.identity_map.get(class_mapper(model).identity_key_from_primary_key((pk,)))
        if known is not None:
            return known
    session.flush()  # as the ORM's autoflush: a row this transaction changed is read as changed
    row = session.connection().execute(loader.by_pk_locked if lock else loader.by_pk, {"pk": pk}).first()
    if row is None:
        return None
    return attach(session, model, dict(zip(loader.keys, row, strict=True)))


def row_values(model: type, row: Any) -> dict[str, Any]:
    """A row selected with `columns(model)` as attribute values for `attach`."""
    return dict(zip(_loader(model).keys, row, strict=True))


def columns(model: type) -> tuple[Any, ...]:
    """Every column of `model`, in the order `row_values` expects."""
    mapper: Mapper[Any] = class_mapper(model)
    return tuple(prop.columns[0] for prop in mapper.column_attrs)


async def execute_dml(session: AsyncSession, statement: Executable) -> CursorResult[Any]:
    """`session.execute` of an INSERT, UPDATE or DELETE, as the CursorResult (with its `rowcount`)
    it returns: AsyncSession.execute's annotations only promise a plain Result."""
    return cast(CursorResult[Any], await session.execute(statement))
