"""One place to hear that a meeting session changed, so other features follow without editing /gerer.

The coordinator's handlers call `on_session_changed` inside the transaction that changed the
session, after the change: a listener (declared by its feature, wired by `handlers.install`)
can reschedule reminders, queue updated calendar files (`ms.version` is the ICS SEQUENCE) or
drop obsolete outbox rows, and it all commits — or not — together with the change itself.

`kind` is "date" (starts_at/ends_at/has_time changed), "place" (site/address changed) or
"cancelled" (the session is called off; its registrations are kept for the record).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import Services
from storage.models import MeetingSession

ChangeKind = Literal["date", "place", "cancelled"]


async def on_session_changed(services: Services, session: AsyncSession, ms: MeetingSession, kind: ChangeKind) -> None:
    """Tell every listener, in the order they were installed, that `ms` changed (`ms.meeting` is loaded)."""
    for listener in services.wiring.session_listeners:
        await listener(session, ms, kind)
