"""Queueing messages that leave the bot later or in bulk (see bot/outbox.py for sending)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.core import execute_dml
from storage.db import dialect_insert
from storage.models import OutboxMessage, Send, utcnow
from storage.privacy_models import OutboxMention, is_pseudonym

URGENT, HIGH, NORMAL, ROUTINE = 0, 2, 5, 8
# A group or channel refused the message (the bot is not, or no longer, a member; the chat is
# unknown to it): kept as is, sent again in place when the bot is back there or on request.
REFUSED = "refused"


_COLUMNS = (
    "purpose",
    "chat_id",
    "user_id",
    "payload",
    "method",
    "priority",
    "due_at",
    "not_after",
    "send_id",
    "status",
    "attempts",
    "created_at",
)
# Plain SQL both databases share: SQLAlchemy has no cache key for ON CONFLICT, so the statement
# built with insert().on_conflict_do_nothing() was compiled again for every message queued.
_ENQUEUE_ONE = text(
    f"INSERT INTO outbox ({', '.join(_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _COLUMNS)})"
    " ON CONFLICT (purpose, chat_id) DO NOTHING"
).bindparams(*(bindparam(c, type_=OutboxMessage.__table__.c[c].type) for c in _COLUMNS))


async def enqueue(
    session: AsyncSession,
    *,
    purpose: str,
    chat_id: int,
    payload: dict[str, Any],
    user_id: int | None = None,
    method: str = "sendMessage",
    priority: int = NORMAL,
    due_at: datetime | None = None,
    not_after: datetime | None = None,
    send_id: int | None = None,
    mentions: Sequence[int] = (),
) -> None:
    """Queue one message; a second call with the same (purpose, chat) does nothing."""
    await enqueue_many(
        session,
        [dict(purpose=purpose, chat_id=chat_id, payload=payload, user_id=user_id)],
        method=method,
        priority=priority,
        due_at=due_at,
        not_after=not_after,
        send_id=send_id,
        mentions=mentions,
    )


async def enqueue_many(
    session: AsyncSession,
    rows: Sequence[dict[str, Any]],
    *,
    method: str = "sendMessage",
    priority: int = NORMAL,
    due_at: datetime | None = None,
    not_after: datetime | None = None,
    send_id: int | None = None,
    mentions: Sequence[int] = (),
) -> None:
    """Queue many messages in one statement; each row has purpose, chat_id, payload, user_id.

    A row may also list `mentions`: the people its text or file names (a report's sender, the
    answerers in a poll's results), so that /mesdonnees and /oublier find them; `mentions`
    given here apply to every row. A forgotten person's pseudonym (storage/privacy_models.py)
    is nobody to write to: such rows are left out.
    """
    rows = [row for row in rows if not is_pseudonym(row["chat_id"])]
    if not rows:
        return
    now = utcnow()
    values = [
        {
            "purpose": row["purpose"],
            "chat_id": row["chat_id"],
            "user_id": row.get("user_id"),
            "payload": row["payload"],
            "method": row.get("method", method),
            "priority": row.get("priority", priority),
            "due_at": row.get("due_at", due_at or now),
            "not_after": row.get("not_after", not_after),
            "send_id": send_id,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for row in rows
    ]
    if len(values) == 1:  # a notice, a promotion: one cached statement (the multi-row one is compiled each time)
        await session.execute(_ENQUEUE_ONE, values[0])
        await _record_mentions(session, rows, mentions)
        return
    for start in range(0, len(values), 1000):
        stmt = (
            dialect_insert(session, OutboxMessage)
            .values(values[start : start + 1000])
            .on_conflict_do_nothing(index_elements=["purpose", "chat_id"])
        )
        await session.execute(stmt)
    await _record_mentions(session, rows, mentions)


async def _record_mentions(session: AsyncSession, rows: Sequence[dict[str, Any]], common: Sequence[int]) -> None:
    """Who each queued row names (not the person it is addressed to: that row is theirs anyway)."""
    if not common and not any(row.get("mentions") for row in rows):
        return  # the usual case: a bulletin, a reminder, a notice name nobody else
    wanted: dict[str, dict[int, set[int]]] = {}  # purpose -> chat -> people named
    for row in rows:
        named = {int(uid) for uid in (*common, *row.get("mentions", ())) if not is_pseudonym(uid)}
        named -= {row["chat_id"], row.get("user_id")}
        if named:
            wanted.setdefault(row["purpose"], {}).setdefault(row["chat_id"], set()).update(named)
    for purpose, chats in wanted.items():
        for batch in chunked(list(chats), 1000):
            found = await session.execute(
                select(OutboxMessage.id, OutboxMessage.chat_id).where(
                    OutboxMessage.purpose == purpose, OutboxMessage.chat_id.in_(batch)
                )
            )
            values = [{"outbox_id": row_id, "user_id": uid} for row_id, chat in found for uid in sorted(chats[chat])]
            if values:
                stmt = dialect_insert(session, OutboxMention).values(values)
                await session.execute(stmt.on_conflict_do_nothing(index_elements=["outbox_id", "user_id"]))


async def new_send(session: AsyncSession, *, kind: str, label: str, created_by: int | None) -> Send:
    send = Send(kind=kind, label=label[:200], created_by=created_by)
    session.add(send)
    await session.flush()
    return send


async def delivery_counts(session: AsyncSession, send_id: int) -> dict[str, int]:
    """How a send is going: {"pending": n, "sent": n, "failed": n, "unreachable": n, "skipped": n}."""
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.send_id == send_id)
        .group_by(OutboxMessage.status)
    )
    counts = {"pending": 0, "sent": 0, "failed": 0, "unreachable": 0, "skipped": 0}
    counts.update({status: n for status, n in rows})
    return counts


async def count_waiting(session: AsyncSession, due_before: datetime) -> int:
    """Rows still to send (pending or in flight) that are due before `due_before`."""
    waiting = OutboxMessage.status.in_(("pending", "sending")) & (OutboxMessage.due_at <= due_before)
    return await session.scalar(select(func.count()).select_from(OutboxMessage).where(waiting)) or 0


async def drop_pending(session: AsyncSession, purposes_like: str, *, statuses: Sequence[str] = ("pending",)) -> int:
    """Skip queued messages whose purpose starts with a prefix (e.g. a cancelled session's reminders;
    with `statuses` also rows a chat refused, so they are not sent once the bot is back)."""
    result = await execute_dml(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.status.in_(list(statuses)), OutboxMessage.purpose.like(f"{purposes_like}%"))
        .values(status="skipped", last_error="obsolete"),
    )
    return result.rowcount or 0


async def requeue(
    session: AsyncSession,
    *,
    row_ids: Sequence[int] | None = None,
    chat_id: int | None = None,
    statuses: Sequence[str] = (REFUSED,),
    created_after: datetime | None = None,
    reason: str,
) -> list[int]:
    """Send refused rows again, in place: the same row goes back to `pending`.

    Being the same row, the (purpose, chat) key still guarantees it is delivered once, and the
    status condition makes concurrent calls (a button pressed twice, the bot re-added while
    someone presses "Republier") re-queue it once. `created_after`: leave older rows as they
    are (news refused weeks ago is not posted by surprise). Returns the ids re-queued.
    """
    if row_ids is None and chat_id is None:
        raise ValueError("requeue needs row ids or a chat")
    where: list[ColumnElement[bool]] = [OutboxMessage.status.in_(list(statuses))]
    if row_ids is not None:
        if not row_ids:
            return []
        where.append(OutboxMessage.id.in_(list(row_ids)))
    if chat_id is not None:
        where.append(OutboxMessage.chat_id == chat_id)
    if created_after is not None:
        where.append(OutboxMessage.created_at > created_after)
    result = await session.execute(
        update(OutboxMessage)
        .where(*where)
        .values(status="pending", due_at=utcnow(), claimed_until=None, last_error=reason[:500])
        .returning(OutboxMessage.id)
    )
    return sorted(result.scalars())


def chunked(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
