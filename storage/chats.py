"""Chats whose id changed: a basic group Telegram upgraded to a supergroup.

Telegram then answers every request to the old id with 400 "group chat was upgraded to a
supergroup chat" and `parameters.migrate_to_chat_id`, and sends the service messages
`migrate_to_chat_id` (old chat) and `migrate_from_chat_id` (new chat). Whichever the bot
sees first, `record_move` remembers the move and readdresses what points to the old id;
`current_chat_id` is how every configured chat id is followed (bot/chats.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import core
from storage.db import dialect_insert
from storage.models import ChatMove, Group, OutboxMessage

MAX_HOPS = 8  # a group moves once; a few hops at most even for odd histories, never a loop
MOVABLE = ("pending", "refused")  # outbox rows still to deliver, readdressed to the new chat

T = OutboxMessage.__table__


@dataclass(frozen=True)
class Move:
    """What following a move changed."""

    new: bool  # first time this process family hears of it
    groups: int
    rows: int
    duplicates: int  # rows already queued for the new chat too: left out, not sent twice


async def current_chat_id(session: AsyncSession, chat_id: int) -> int:
    """The id the chat has now (the same id when it never moved)."""
    seen = {chat_id}
    for _ in range(MAX_HOPS):
        moved = await session.scalar(select(ChatMove.new_chat_id).where(ChatMove.old_chat_id == chat_id))
        if moved is None or moved in seen:
            return chat_id
        seen.add(moved)
        chat_id = moved
    return chat_id


async def record_move(session: AsyncSession, old: int, new: int, *, now: datetime) -> Move:
    """Remember that `old` became `new`; groups linked to it and queued messages follow.

    Idempotent: the service messages and the error answer may all report the same move.
    """
    if old == new:
        return Move(False, 0, 0, 0)
    known = await session.scalar(select(ChatMove.new_chat_id).where(ChatMove.old_chat_id == old))
    stmt = dialect_insert(session, ChatMove).values(old_chat_id=old, new_chat_id=new, moved_at=now)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["old_chat_id"], set_={"new_chat_id": new, "moved_at": now})
    )
    groups = (
        await core.execute_dml(session, update(Group).where(Group.chat_id == old).values(chat_id=new))
    ).rowcount or 0
    other = T.alias("already")
    queued_there = exists().where(other.c.purpose == T.c.purpose, other.c.chat_id == new)
    rows = (
        await core.execute_dml(
            session, update(T).where(T.c.chat_id == old, T.c.status.in_(MOVABLE), ~queued_there).values(chat_id=new)
        )
    ).rowcount or 0
    duplicates = (
        await core.execute_dml(
            session,
            update(T)
            .where(T.c.chat_id == old, T.c.status.in_(MOVABLE))
            .values(status="skipped", last_error=f"chat moved to {new}: already queued there"),
        )
    ).rowcount or 0
    return Move(known != new, groups, rows, duplicates)
