"""RGPD rights and retention: export what we hold about a person, forget them, purge old data.

Written against `Base.metadata` rather than a list of tables, so tables added by features
later are covered the day they land. A column "belongs" to a person when it references
`users.id`, is named user_id / created_by / sender(_id) / author_id / reporter_id, ends in
`_by` or `_user_id`, or is a `chat_id` equal to their id (a private chat's id is the user's).

Forgetting someone keeps coordinators' counts right: a nullable person column is set to NULL
(a registration stays counted, anonymously); a row that counts in a total but cannot hold NULL
(a vote, a questionnaire answer, an acknowledgement, a message sent to them) keeps its place
with a pseudonym instead of their id (storage/privacy_models.py); a row that only serves them
(a membership, an open conversation) is deleted. A table can choose explicitly with
`__table_args__ = {"info": {"forget": "delete"}}` (or "anonymise", "pseudonymise"). Messages
queued to them are not sent any more and keep neither their text nor their chat.
Retention: a table can declare `info={"retention": {"setting": "RETENTION_REPORTS_MONTHS", "months": 12}}`.
"""

from __future__ import annotations

import base64
import enum
import html
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage import core
from storage.all_models import Base
from storage.models import Meeting, MeetingSession, OutboxMessage, User
from storage.privacy_models import OutboxMention, is_pseudonym, new_pseudonym
from storage.updates import KEEP as UPDATES_KEPT
from storage.updates import ProcessedUpdate

log = logging.getLogger(__name__)

EXPORT_FORMAT = "relais-sante-export/2"  # 2: labelled for people to read (handlers/account/my_data.py)
PERSON_COLUMN_NAMES = frozenset({"user_id", "created_by", "sender", "sender_id", "author_id", "reporter_id"})
# How a feature table forgets a person, when it cannot say so in `info` (table name -> mode).
FORGET_POLICY: dict[str, str] = {
    "outbox": "pseudonymise",  # /envois counts stay; the text and the chat go (see _forget_outbox)
    "dialogs": "delete",
    "poll_recipients": "pseudonymise",  # "sent to N" stays; user_id NULL would mean "a group chat" there
    "poll_votes": "pseudonymise",  # the totals stay, the voter is nobody
    "poll_text_answers": "pseudonymise",
    "poll_unmatched_answers": "pseudonymise",  # counted once replayed, like any other vote
    "crisis_acks": "pseudonymise",  # /suivi's "bien reçu" count stays
}
FORGOTTEN_ERROR = "forgotten: the person asked to be forgotten"
REPORT_TABLE_HINTS = ("report", "signalement")
# Retention of feature tables that do not declare it themselves (table name -> rule).
RETENTION_BY_TABLE: dict[str, dict[str, Any]] = {
    "polls": {
        "setting": "RETENTION_POLLS_MONTHS",
        "months": 24,
        "column": "closes_at",
    },  # votes and answers go with the poll
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
        named = (
            column.name in PERSON_COLUMN_NAMES or column.name.endswith(("_by", "_user_id")) or column.name == "chat_id"
        )
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
def jsonable(value: Any) -> Any:
    """A stored value as JSON can hold it (an attachment queued in the outbox: its name and size, not its bytes)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"file_bytes": len(bytes(value))}
    if isinstance(value, Mapping):
        if "b64" in value:  # an attachment queued in the outbox: say what it was, not its bytes
            return {"file": value.get("filename", "fichier"), "file_bytes": len(base64.b64decode(value["b64"] or ""))}
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


async def export_user(session: AsyncSession, user_id: int, *, now: datetime) -> dict[str, Any]:
    """Everything stored about `user_id`: their profile, every row that names them, and the
    messages to others that name them. Values as stored (handlers/account/my_data.py puts words on them)."""
    users = Base.metadata.tables[User.__tablename__]
    profile = (await session.execute(select(users).where(users.c.id == user_id))).mappings().first()
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, columns in personal_tables():
        condition = _row_filter(columns, user_id)
        if condition is None or table.info.get("export") == "mentions":
            continue
        order = list(table.primary_key.columns) or list(table.columns)[:1]
        rows = (await session.execute(select(table).where(condition).order_by(*order))).mappings().all()
        if rows:
            tables[table.name] = [dict(row) for row in rows]
    return {
        "format": EXPORT_FORMAT,
        "generated_at": now,
        "user_id": user_id,
        "profile": dict(profile) if profile is not None else None,
        "tables": tables,
        "named_in_messages_to_others": await _named_in(session, user_id, profile),
    }


async def _named_in(session: AsyncSession, user_id: int, profile: Mapping[Any, Any] | None) -> list[dict[str, Any]]:
    """The messages addressed to others that name this person: which, when, where it stands, to
    whom (a group or another person, never who) and what of theirs it holds (name, @username)."""
    outbox, mentions = OutboxMessage.__table__, OutboxMention.__table__
    rows = await session.execute(
        select(outbox.c.purpose, outbox.c.created_at, outbox.c.status, outbox.c.chat_id, outbox.c.payload)
        .join(mentions, mentions.c.outbox_id == outbox.c.id)
        .where(mentions.c.user_id == user_id)
        .order_by(outbox.c.created_at, outbox.c.id)
    )
    profile = profile or {}
    first, last, username = profile.get("first_name"), profile.get("last_name"), profile.get("username")
    name = name_forms(first, last, None, user_id)
    handle = [f"@{username}"] if username else []
    found = []
    for purpose, created_at, status, chat_id, payload in rows.all():
        holds = [what for what, forms in (("name", name), ("username", handle)) if forms and _holds(payload, forms)]
        found.append(
            {
                "purpose": purpose,
                "created_at": created_at,
                "status": status,
                "to": "group" if chat_id < 0 and not is_pseudonym(chat_id) else "person",
                "holds": holds or ["name"],  # a PDF cannot be read back: the mention says it names them
            }
        )
    return found


def _holds(payload: Any, forms: list[str]) -> bool:
    redacted, complete = redact(payload, forms, "\x00")
    return not complete or redacted != payload


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
    result = await core.execute_dml(session, delete(table).where(condition))
    return result.rowcount or 0


def _forget_mode(table: Table, column: Column[Any]) -> str:
    choice = table.info.get("forget") or FORGET_POLICY.get(table.name)
    if choice == "pseudonymise":  # a pseudonym needs a 64-bit column (Telegram ids do too)
        return "pseudonymise" if isinstance(column.type, BigInteger) else "delete"
    if choice in ("delete", "anonymise"):
        return "delete" if choice == "delete" or not column.nullable or column.primary_key else "anonymise"
    return "anonymise" if column.nullable and not column.primary_key and column.name != "chat_id" else "delete"


@dataclass(frozen=True)
class ForgetReport:
    deleted: dict[str, int]
    anonymised: dict[str, int]
    pseudonymised: dict[str, int]


async def _forget_outbox(session: AsyncSession, user_id: int, pseudonym: int) -> int:
    """Messages addressed to them: not sent any more (pending ones are skipped), and kept for
    the send counts without their text, their chat or a message id in it."""
    outbox = OutboxMessage.__table__
    theirs = or_(outbox.c.chat_id == user_id, outbox.c.user_id == user_id)
    await session.execute(
        update(outbox).where(theirs, outbox.c.status == "pending").values(status="skipped", last_error=FORGOTTEN_ERROR)
    )
    result = await core.execute_dml(
        session,
        update(outbox)
        .where(theirs)
        .values(
            chat_id=case((outbox.c.chat_id == user_id, literal(pseudonym, BigInteger)), else_=outbox.c.chat_id),
            user_id=case((outbox.c.user_id == user_id, literal(pseudonym, BigInteger)), else_=outbox.c.user_id),
            payload={"forgotten": True},
            message_id=None,
        ),
    )
    return result.rowcount or 0


# -------------------------------------------------------------------------- names in others' messages
TEXT_FILES = (".csv", ".txt", ".ics")
REDACTED_ERROR = "forgotten: it named a person who asked to be forgotten"


def name_forms(first_name: str | None, last_name: str | None, username: str | None, user_id: int) -> list[str]:
    """How a person's name appears in a message, longest first: "Camille Martin @cm", "@cm",
    "Camille Martin", as typed, HTML-escaped and CSV-quoted."""
    name = " ".join(part for part in (first_name, last_name) if part) or f"#{user_id}"
    forms = [f"{name} @{username}", f"@{username}", name] if username else [name]
    variants = {v for form in forms for v in (form, html.escape(form, quote=False), form.replace('"', '""'))}
    return sorted(variants, key=len, reverse=True)


def _is_text_file(spec: Mapping[str, Any]) -> bool:
    return str(spec.get("mime", "")).startswith("text/") or str(spec.get("filename", "")).lower().endswith(TEXT_FILES)


def redact(value: Any, names: list[str], label: str) -> tuple[Any, bool]:
    """`value` (an outbox payload) with every form of a name replaced by `label`, and whether
    that was complete: a text file is rewritten, a PDF or a picture cannot be and is dropped.

    Whole words only: forgetting "Li" leaves "Livraison" alone.
    """
    if isinstance(value, str):
        if names:
            pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)")
            value = pattern.sub(lambda _: label, value)
        return value, True
    if isinstance(value, Mapping) and "b64" in value:
        if not _is_text_file(value):
            return {"filename": value.get("filename"), "removed": True}, False
        raw = base64.b64decode(value["b64"] or "")
        bom = raw.startswith(b"\xef\xbb\xbf")
        text, _ = redact(raw.decode("utf-8-sig", errors="replace"), names, label)
        content = ("\ufeff" if bom else "") + text
        return {**value, "b64": base64.b64encode(content.encode("utf-8")).decode("ascii")}, True
    if isinstance(value, Mapping):
        items = {key: redact(item, names, label) for key, item in value.items()}
        return {key: item for key, (item, _) in items.items()}, all(done for _, done in items.values())
    if isinstance(value, list):
        entries = [redact(item, names, label) for item in value]
        return [item for item, _ in entries], all(done for _, done in entries)
    return value, True


async def _redact_mentions(session: AsyncSession, user_id: int, labels: Mapping[str, str], default_lang: str) -> int:
    """Take the person's name out of the messages addressed to others that name them.

    Each message gets "(anonymisé)" in its reader's language. One that still waits and holds a
    file that cannot be rewritten (the crisis kit's PDF) is not sent: its next edition will do.
    """
    users = Base.metadata.tables[User.__tablename__]
    person = (await session.execute(select(users).where(users.c.id == user_id))).mappings().first()
    if person is None:
        return 0
    names = name_forms(person["first_name"], person["last_name"], person["username"], user_id)
    outbox, mentions = OutboxMessage.__table__, OutboxMention.__table__
    rows = await session.execute(
        select(outbox.c.id, outbox.c.status, outbox.c.payload, users.c.language)
        .join(mentions, mentions.c.outbox_id == outbox.c.id)
        .outerjoin(users, users.c.id == outbox.c.user_id)
        .where(mentions.c.user_id == user_id)
    )
    done = 0
    for row_id, status, payload, lang in rows.all():
        label = labels.get(lang or default_lang) or labels.get(default_lang) or "***"
        redacted, complete = redact(payload, names, label)
        values: dict[str, Any] = {"payload": redacted}
        if not complete and status == "pending":
            values.update(status="skipped", last_error=REDACTED_ERROR)
        await session.execute(update(outbox).where(outbox.c.id == row_id).values(values))
        done += 1
    return done


async def forget_user(
    session: AsyncSession, user_id: int, *, anonymised_labels: Mapping[str, str] | None = None, default_lang: str = "fr"
) -> ForgetReport:
    """Erase `user_id`: delete their own rows, anonymise the ones others still count on, and
    take their name out of messages addressed to others (`anonymised_labels`: language -> label)."""
    await session.flush()
    deleted: dict[str, int] = {}
    anonymised: dict[str, int] = {}
    pseudonymised: dict[str, int] = {}
    pseudonym = new_pseudonym()
    outbox = OutboxMessage.__table__
    if n := await _redact_mentions(session, user_id, anonymised_labels or {}, default_lang):
        anonymised["outbox_mentions"] = n
    if n := await _forget_outbox(session, user_id, pseudonym):
        pseudonymised[outbox.name] = n
    for table, columns in reversed(personal_tables()):  # children before parents
        if table is outbox:
            continue
        for column in columns:
            condition = _matches(column, user_id)
            if condition is None:
                continue
            mode = _forget_mode(table, column)
            if mode == "delete":
                n = await delete_rows(session, table, condition)
                if n:
                    deleted[table.name] = deleted.get(table.name, 0) + n
                continue
            values: dict[str, Any] = {column.name: None if mode == "anonymise" else pseudonym}
            if mode == "pseudonymise" and column.name == "chat_id" and "message_id" in table.c:
                values["message_id"] = None  # a message id only means something in its chat
            result = await core.execute_dml(session, update(table).where(condition).values(values))
            if result.rowcount:
                counts = anonymised if mode == "anonymise" else pseudonymised
                counts[table.name] = counts.get(table.name, 0) + result.rowcount
    users = Base.metadata.tables[User.__tablename__]
    deleted["users"] = await delete_rows(session, users, users.c.id == user_id)
    # The handler's ORM copy of this user must not be written back after the delete.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, User) and obj.id == user_id:
            session.expunge(obj)
    return ForgetReport(deleted=deleted, anonymised=anonymised, pseudonymised=pseudonymised)


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
        await _purge_step(
            session, "outbox", counts, outbox, and_(outbox.c.status != "pending", outbox.c.created_at < cutoff)
        )
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
