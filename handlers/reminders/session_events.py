"""One place to hear that a meeting session changed, so other features follow without editing /gerer.

The coordinator's handlers call `on_session_changed` inside the transaction that changed the
session, after the change: a listener can reschedule reminders, queue updated calendar files
(`ms.version` is the ICS SEQUENCE) or drop obsolete outbox rows, and it all commits — or not —
together with the change itself.

    from handlers.reminders import session_events

    @session_events.subscribe
    async def reschedule(session, ms, kind): ...

`kind` is "date" (starts_at/ends_at/has_time changed), "place" (site/address changed) or
"cancelled" (the session is called off; its registrations are kept for the record).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import MeetingSession

ChangeKind = Literal["date", "place", "cancelled"]
Listener = Callable[[AsyncSession, MeetingSession, ChangeKind], Awaitable[None]]

LISTENERS: list[Listener] = []


def subscribe(listener: Listener) -> Listener:
    """Register `listener(session, ms, kind)`; usable as a decorator. Registering twice is harmless."""
    if listener not in LISTENERS:
        LISTENERS.append(listener)
    return listener


async def on_session_changed(session: AsyncSession, ms: MeetingSession, kind: ChangeKind) -> None:
    """Tell every listener, in registration order, that `ms` changed (`ms.meeting` is loaded)."""
    for listener in list(LISTENERS):
        await listener(session, ms, kind)
