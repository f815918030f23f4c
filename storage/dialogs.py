"""Guided-conversation state kept in the database (survives restarts, shared by processes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage import core
from storage.models import Dialog, utcnow


async def start(
    session: AsyncSession, user_id: int, chat_id: int, flow: str, step: str, data: dict[str, Any] | None = None
) -> Dialog:
    """Begin (or restart) a conversation, replacing any other one in that chat."""
    dialog = await session.get(Dialog, (user_id, chat_id))
    if dialog is None:
        dialog = Dialog(user_id=user_id, chat_id=chat_id, flow=flow, step=step, data=data or {})
        session.add(dialog)
    else:
        dialog.flow, dialog.step, dialog.data, dialog.updated_at = flow, step, data or {}, utcnow()
    return dialog


async def current(session: AsyncSession, user_id: int, chat_id: int) -> Dialog | None:
    return await session.get(Dialog, (user_id, chat_id), with_for_update=True)


def is_expired(dialog: Dialog, timeout: timedelta, now: datetime | None = None) -> bool:
    return (now or utcnow()) - dialog.updated_at > timeout


def advance(dialog: Dialog, step: str, **changes: Any) -> None:
    """Move to `step`, merging `changes` into the saved answers."""
    data = dict(dialog.data or {})
    data.update(changes)
    dialog.step, dialog.data, dialog.updated_at = step, data, utcnow()


async def finish(session: AsyncSession, user_id: int, chat_id: int) -> None:
    await session.execute(delete(Dialog).where(Dialog.user_id == user_id, Dialog.chat_id == chat_id))


async def purge_expired(session: AsyncSession, older_than: datetime) -> int:
    result = await core.execute_dml(session, delete(Dialog).where(Dialog.updated_at < older_than))
    return result.rowcount or 0
