"""RGPD rights and retention: export what we hold about a person, forget them, purge old data.

Written against `Base.metadata` rather than a list of tables, so tables added by features
later are covered the day they land. A column "belongs" to a person when it references
`users.id`, is named user_id / created_by / sender(_id) / author_id / reporter_id, ends in
`_by` or `_user_id`, or is a `chat_id` equal to their id (a private chat's id is the user's).

Forgetting someone keeps coordinators' counts right: a nullable person column is set to NULL
(a registration stays counted, anonymously); a row that cannot exist without its person (a
membership, an open conversation, a vote) or that holds their private chat id is deleted.
A table can choose explicitly with `__table_args__ = {"info": {"forget": "delete"}}` (or
"anonymise"). Retention: a table can declare
`info={"retention": {"setting": "RETENTION_REPORTS_MONTHS", "months": 12}}`.
"""

from __future__ import annotations

import base64
import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Integer, Table, and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.all_models import Base
from storage.models import Meeting, MeetingSession, OutboxMessage, User
from storage.updates import KEEP as UPDATES_KEPT
from storage.updates import ProcessedUpdate

log = logging.getLogger(__name__)

EXPORT_FORMAT = "relais-sante-export/1"
PERSON_COLUMN_NAMES = frozenset({"user_id", "created_by", "sender", "sender_id", "author_id", "reporter_id"})
# Tables whose rows about a person go rather than being anonymised (when they cannot say so in `info`).
FORGET_POLICY: dict[str, str] = {
    "outbox": "delete",  # messages addressed to them: nothing left to deliver or count
    "dialogs": "delete",
    "poll_recipients": "delete",  # user_id NULL means "a group chat" there; the row also holds their chat id
}
REPORT_TABLE_HINTS = ("report", "signalement")
# Retention of feature tables that do not declare it themselves (table name -> rule).
RETENTION_BY_TABLE: dict[str, dict[str, Any]] = {
    "polls": {"setting": "RETENTION_POLLS_MONTHS", "months": 24, "column": "closes_at"},  # votes and answers go with the poll
    "crisis_acks": {"setting": "RETENTION_ACKS_MONTHS", "months": 12, "column": "answered_at"},  # who said "bien reçu"
}


# --------------------------------------------------------------------------------- discovery
def _is_integer(column: Column[Any]) -> bool:
    try:
        return isinstance(column.type, Integer) or column.type.python_type is int
    except NotImplementedError:
        return False


def person_columns(table: Table) -> list[Column[Any]]:
    """The columns of `table` that hold a person's id (see module docstring)."""
    if table.name == User.__tablename__:
        return []
    found = []
    for column in table.columns:
        if not _is_integer(column):
            continue
        to_users = any(fk.column.table.name == User.__tablename__ for fk in column.foreign_keys)
        named = column.name in PERSON_COLUMN_NAMES or column.name.endswith(("_by", "_user_id")) or column.name == "chat_id"
        if to_users or named:
            found.append(column)
    return found


def personal_tables() -> list[tuple[Table, list[Column[Any]]]]:
    """Every table (but `users`) that may hold rows about a person, in dependency order."""
    return [(table, cols) for table in Base.metadata.sorted_tables if (cols := person_columns(table))]


def _matches(column: Column[Any], user_id: int) -> Any:
    if column.name == "chat_id" and user_id <= 0:  # only private chats are a person's
        return None
    return column == user_id


def _row_filter(columns: Iterable[Column[Any]], user_id: int) -> Any:
    clauses = [clause for column in columns if (clause := _matches(column, user_id)) is not None]
    return or_(*clauses) if clauses else None


# --------------------------------------------------------------------------------- export
def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"file_bytes": len(bytes(value))}
    if isinstance(value, Mapping):
        if "b64" in value:  # an attachment queued in the outbox: say what it was, not its bytes
            return {"file": value.get("filename", "fichier"), "file_bytes": len(base64.b64decode(value["b64"] or ""))}
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def _row_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _jsonable(value) for key, value in row.items()}


async def export_user(session: AsyncSession, user_id: int, *, now: datetime) -> dict[str, Any]:
    """Everything stored about `user_id`: their profile and every row that names them."""
    users = Base.metadata.tables[User.__tablename__]
    profile = (await session.execute(select(users).where(users.c.id == user_id))).mappings().first()
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, columns in personal_tables():
        condition = _row_filter(columns, user_id)
        if condition is None:
            continue
        order = list(table.primary_key.columns) or list(table.columns)[:1]
        rows = (await session.execute(select(table).where(condition).order_by(*order))).mappings().all()
        if rows:
            tables[table.name] = [_row_dict(row) for row in rows]
    return {
        "format": EXPORT_FORMAT,
        "generated_at": now.isoformat(),
        "user_id": user_id,
        "profile": _row_dict(profile) if profile is not None else None,
        "tables": tables,
    }


# --------------------------------------------------------------------------------- deletion helpers
def _dependents(table: Table) -> list[tuple[Table, Column[Any], Column[Any]]]:
    """(child table, child column, referenced column) for every foreign key pointing at `table`."""
    found = []
    for child in Base.metadata.sorted_tables:
        for column in child.columns:
            for fk in column.foreign_keys:
                if fk.column.table is table:
                    found.append((child, column, fk.column))
    return found


async def delete_rows(session: AsyncSession, table: Table, condition: Any, *, _depth: int = 0) -> int:
    """Delete rows and, first, whatever would block it: rows of other tables pointing at them.

    A reference declared ON DELETE SET NULL is left to the database; another nullable
    reference is set to NULL; otherwise (CASCADE, or NOT NULL) the referencing row goes too.
    """
    if _depth > 8:
        raise RuntimeError(f"foreign keys nest too deep under {table.name}")
    for child, column, referenced in _dependents(table):
        ondelete = (next(iter(column.foreign_keys)).ondelete or "").upper()
        if ondelete == "SET NULL":
            continue
        keys = select(referenced).where(condition)
        if column.nullable and ondelete != "CASCADE":
            await session.execute(update(child).where(column.in_(keys)).values({column.name: None}))
        else:  # what the database would cascade, done here so grandchildren are handled too
            await delete_rows(session, child, column.in_(keys), _depth=_depth + 1)
    result = await session.execute(delete(table).where(condition))
    return result.rowcount or 0


def _forget_mode(table: Table, column: Column[Any]) -> str:
    choice = table.info.get("forget") or FORGET_POLICY.get(table.name)
    if choice in ("delete", "anonymise"):
        return "delete" if choice == "delete" or not column.nullable or column.primary_key else "anonymise"
    return "anonymise" if column.nullable and not column.primary_key and column.name != "chat_id" else "delete"


@dataclass(frozen=True)
class ForgetReport:
    deleted: dict[str, int]
    anonymised: dict[str, int]


async def forget_user(session: AsyncSession, user_id: int) -> ForgetReport:
    """Erase `user_id`: delete their own rows, anonymise the ones others still count on."""
    await session.flush()
    deleted: dict[str, int] = {}
    anonymised: dict[str, int] = {}
    for table, columns in reversed(personal_tables()):  # children before parents
        for column in columns:
            condition = _matches(column, user_id)
            if condition is None:
                continue
            if _forget_mode(table, column) == "delete":
                n = await delete_rows(session, table, condition)
                if n:
                    deleted[table.name] = deleted.get(table.name, 0) + n
            else:
                result = await session.execute(update(table).where(condition).values({column.name: None}))
                if result.rowcount:
                    anonymised[table.name] = anonymised.get(table.name, 0) + result.rowcount
    users = Base.metadata.tables[User.__tablename__]
    deleted["users"] = await delete_rows(session, users, users.c.id == user_id)
    # The handler's ORM copy of this user must not be written back after the delete.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, User) and obj.id == user_id:
            session.expunge(obj)
    return ForgetReport(deleted=deleted, anonymised=anonymised)


# --------------------------------------------------------------------------------- retention
@dataclass(frozen=True)
class RetentionPolicy:
    """How long things are kept (RETENTION_* settings; 0 keeps forever)."""

    outbox_days: int = 90
    reports_months: int = 12
    past_meetings_months: int = 24
    extra: Mapping[str, str] | None = None

    @classmethod
    def from_settings(cls, extra: Mapping[str, str]) -> RetentionPolicy:
        def number(name: str, default: int) -> int:
            try:
                return max(int(extra.get(name, default)), 0)
            except (TypeError, ValueError):
                log.warning("%s is not a number; keeping the default (%s)", name, default)
                return default

        return cls(
            outbox_days=number("RETENTION_OUTBOX_DAYS", cls.outbox_days),
            reports_months=number("RETENTION_REPORTS_MONTHS", cls.reports_months),
            past_meetings_months=number("RETENTION_PAST_MEETINGS_MONTHS", cls.past_meetings_months),
            extra=dict(extra),
        )

    def months(self, setting: str, default: int) -> int:
        if setting == "RETENTION_REPORTS_MONTHS":
            return self.reports_months
        if setting == "RETENTION_PAST_MEETINGS_MONTHS":
            return self.past_meetings_months
        try:
            return max(int((self.extra or {}).get(setting, default)), 0)
        except (TypeError, ValueError):
            return default


def months_ago(now: datetime, months: int) -> datetime:
    return now - timedelta(days=round(months * 30.44))


def retention_rules(policy: RetentionPolicy) -> list[tuple[Table, Column[Any], int]]:
    """(table, timestamp column, months) for tables that declare retention or look like reports."""
    rules = []
    for table in Base.metadata.sorted_tables:
        spec = table.info.get("retention") or RETENTION_BY_TABLE.get(table.name)
        if isinstance(spec, Mapping):
            column = table.c.get(spec.get("column", "created_at"))
            months = policy.months(str(spec.get("setting", "")), int(spec.get("months", 0)))
        elif any(hint in table.name for hint in REPORT_TABLE_HINTS) and "created_at" in table.c:
            column, months = table.c.created_at, policy.reports_months
        else:
            continue
        if column is not None and months > 0:
            rules.append((table, column, months))
    return rules


async def _purge_step(session: AsyncSession, name: str, counts: dict[str, int], table: Table, condition: Any) -> None:
    """One category in its own savepoint: a table that refuses does not stop the others."""
    try:
        async with session.begin_nested():
            n = await delete_rows(session, table, condition)
        if n:
            counts[name] = counts.get(name, 0) + n
    except Exception:
        log.exception("retention purge of %s failed; the other categories go on", name)


async def purge_expired(session: AsyncSession, *, now: datetime, policy: RetentionPolicy) -> dict[str, int]:
    """Delete what is past its retention period; returns how many rows went, per category."""
    counts: dict[str, int] = {}
    if policy.outbox_days:
        cutoff = now - timedelta(days=policy.outbox_days)
        outbox = OutboxMessage.__table__
        await _purge_step(session, "outbox", counts, outbox, and_(outbox.c.status != "pending", outbox.c.created_at < cutoff))
    if policy.past_meetings_months:
        cutoff = months_ago(now, policy.past_meetings_months)
        sessions = MeetingSession.__table__
        meetings = Meeting.__table__
        recent = exists().where(
            sessions.c.meeting_id == meetings.c.id, func.coalesce(sessions.c.ends_at, sessions.c.starts_at) >= cutoff
        )
        await _purge_step(session, "meetings", counts, meetings, and_(meetings.c.created_at < cutoff, ~recent))
    for table, column, months in retention_rules(policy):
        await _purge_step(session, table.name, counts, table, column < months_ago(now, months))
    handled = ProcessedUpdate.__table__  # not a setting: shorter than Telegram's redelivery window would be a bug
    await _purge_step(session, handled.name, counts, handled, handled.c.handled_at < now - UPDATES_KEPT)
    return counts
