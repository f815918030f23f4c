"""The outbox dispatcher's statements: claiming due rows, recording outcomes, resolving leases.

bot/outbox.py decides (what to claim, when, what an answer means); the SQL lives here. Each
function runs inside the caller's transaction (`Database.begin()`), so a claim or a batch of
outcomes is still one short transaction, as the delivery guarantees require.

Row locking: on PostgreSQL, reads that pick rows to change take them `FOR UPDATE SKIP LOCKED`
(`lock_rows=True`), so two processes never take the same row and never wait for each other;
SQLite serialises writers with `BEGIN IMMEDIATE` (storage/db.py), so no row lock is needed.

Batched writes run one statement with many parameter sets (`b_id`, … bind parameters): the
statement's shape never depends on the batch, so SQLAlchemy compiles it once and caches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage, User, utcnow
from storage.types import UTCDateTime

T: Table = OutboxMessage.__table__

STALE = "stale: its deadline passed before it could be sent"
LEASE_RESENT = "outcome unknown (lease expired): sent again"
LEASE_UNKNOWN = "outcome unknown (lease expired): not sent again"
BLOCKED = "the person blocked the bot"


def _mine(stmt: Any, n: int, rank: int) -> Any:
    """Only one sender's chats: chat_id mod n == rank (ids may be negative: groups), so one
    chat's per-chat gaps are kept by one process's pacer."""
    if n == 1:
        return stmt
    return stmt.where(((T.c.chat_id % n) + n) % n == rank)


# -------------------------------------------------------------------------------- claim
async def due_rows(
    session: AsyncSession, *, now: datetime, limit: int, n: int = 1, rank: int = 0, lock_rows: bool
) -> Sequence[Row[Any]]:
    """The most urgent `pending` rows due by `now` (priority, then due time), at most `limit`.

    Rows have id, chat_id, user_id, method, payload, priority, attempts, not_after, purpose.
    `lock_rows` (PostgreSQL): skip rows another process holds, and hold these until commit.
    """
    stmt: Select[Any] = (
        select(
            T.c.id,
            T.c.chat_id,
            T.c.user_id,
            T.c.method,
            T.c.payload,
            T.c.priority,
            T.c.attempts,
            T.c.not_after,
            T.c.purpose,
        )
        .where(T.c.status == "pending", T.c.due_at <= now)
        .order_by(T.c.priority, T.c.due_at, T.c.id)
        .limit(limit)
    )
    stmt = _mine(stmt, n, rank)
    if lock_rows:
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.execute(stmt)).all()


async def mark_sending(session: AsyncSession, row_ids: Sequence[int], *, until: datetime) -> None:
    """Claim rows: `sending` with a lease until `until`, one more attempt counted."""
    await session.execute(
        update(T).where(T.c.id.in_(row_ids)).values(status="sending", claimed_until=until, attempts=T.c.attempts + 1)
    )


async def skip_stale(session: AsyncSession, row_ids: Sequence[int]) -> None:
    """Rows whose `not_after` passed before they could leave: `skipped`, never sent late."""
    await session.execute(update(T).where(T.c.id.in_(row_ids)).values(status="skipped", last_error=STALE))


async def postpone(session: AsyncSession, rows: Sequence[tuple[int, datetime]]) -> None:
    """(row id, new due time): rows whose chat must wait (per-chat gaps) stay `pending`, due later."""
    await session.execute(
        update(T).where(T.c.id == bindparam("b_id")).values(due_at=bindparam("b_due", type_=UTCDateTime())),
        [{"b_id": row_id, "b_due": due} for row_id, due in rows],
    )


async def any_due(session: AsyncSession, *, by: datetime, n: int = 1, rank: int = 0) -> bool:
    """Whether this sender has a `pending` row due by `by`."""
    due = select(T.c.id).where(T.c.status == "pending", T.c.due_at <= by).limit(1)
    return await session.scalar(_mine(due, n, rank)) is not None


# -------------------------------------------------------------------------------- leases
async def expired_leases(session: AsyncSession, *, now: datetime, lock_rows: bool) -> Sequence[Row[Any]]:
    """`sending` rows whose lease ended before `now` (their process died): id, priority, attempts.

    Every process recovers: `lock_rows` (PostgreSQL) keeps two from resolving one row."""
    expired = select(T.c.id, T.c.priority, T.c.attempts).where(T.c.status == "sending", T.c.claimed_until < now)
    if lock_rows:
        expired = expired.with_for_update(skip_locked=True)
    return (await session.execute(expired)).all()


async def resend_expired(session: AsyncSession, row_ids: Sequence[int], *, now: datetime) -> None:
    """Unknown outcome, urgent row: back to `pending`, due now (at-least-once)."""
    await session.execute(
        update(T)
        .where(T.c.id.in_(row_ids))
        .values(status="pending", due_at=now, claimed_until=None, last_error=LEASE_RESENT)
    )


async def give_up_expired(session: AsyncSession, row_ids: Sequence[int]) -> None:
    """Unknown outcome, routine row: `unknown`, not sent again (at-most-once)."""
    await session.execute(
        update(T).where(T.c.id.in_(row_ids)).values(status="unknown", claimed_until=None, last_error=LEASE_UNKNOWN)
    )


# -------------------------------------------------------------------------------- record
async def record_sent(session: AsyncSession, rows: Sequence[tuple[int, int | None, datetime]]) -> None:
    """(row id, Telegram message id, sent at): delivered."""
    await session.execute(
        update(T)
        .where(T.c.id == bindparam("b_id"))
        .values(
            status="sent",
            message_id=bindparam("b_mid"),
            sent_at=bindparam("b_at", type_=UTCDateTime()),
            claimed_until=None,
            last_error=None,
        ),
        [{"b_id": row_id, "b_mid": mid, "b_at": at} for row_id, mid, at in rows],
    )


async def record_retry(session: AsyncSession, rows: Sequence[tuple[int, datetime | None, int, str | None]]) -> None:
    """(row id, due at, attempts, error): back to `pending`, tried again at `due at`."""
    await session.execute(
        update(T)
        .where(T.c.id == bindparam("b_id"))
        .values(
            status="pending",
            due_at=bindparam("b_due", type_=UTCDateTime()),
            attempts=bindparam("b_att"),
            last_error=bindparam("b_err"),
            claimed_until=None,
        ),
        [{"b_id": row_id, "b_due": due, "b_att": att, "b_err": err} for row_id, due, att, err in rows],
    )


async def record_final(session: AsyncSession, rows: Sequence[tuple[int, str, str | None]]) -> None:
    """(row id, status, error): ended without delivery (`refused`, `failed`, `unreachable`, `unknown`)."""
    await session.execute(
        update(T)
        .where(T.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), last_error=bindparam("b_err"), claimed_until=None),
        [{"b_id": row_id, "b_status": status, "b_err": err} for row_id, status, err in rows],
    )


async def release(session: AsyncSession, rows: Sequence[tuple[int, int]]) -> None:
    """(row id, attempts): claimed but never started, back to `pending` as it was.

    Only a row still `sending`: one a lease recovery already resolved is left as it is."""
    await session.execute(
        update(T)
        .where(T.c.id == bindparam("b_id"), T.c.status == "sending")
        .values(status="pending", attempts=bindparam("b_att"), claimed_until=None),
        [{"b_id": row_id, "b_att": att} for row_id, att in rows],
    )


async def record_blocked(session: AsyncSession, user_ids: Sequence[int]) -> None:
    """People who blocked the bot: marked unreachable, and what is still queued for them
    `unreachable` too (every further try would get the same 403)."""
    now = utcnow()
    await session.execute(update(User).where(User.id.in_(user_ids)).values(unreachable_at=now))
    await session.execute(
        update(T)
        .where(T.c.user_id.in_(user_ids), T.c.status == "pending")
        .values(status="unreachable", last_error=BLOCKED)
    )


async def requeue_moved(session: AsyncSession, row_id: int, *, attempts: int, error: str | None) -> None:
    """A row whose chat got a new id (storage/chats.record_move readdresses it): `pending`, due now."""
    await session.execute(
        update(T)
        .where(T.c.id == row_id)
        .values(
            status="pending",
            due_at=utcnow(),
            attempts=attempts,
            claimed_until=None,
            last_error=error,
        )
    )
