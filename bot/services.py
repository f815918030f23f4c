"""The long-lived things a handler may need, stored once in `application.bot_data["services"]`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.config import Settings
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    bot_username: str = "relais_sante_bot"
    _outbox_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def wake_outbox(self) -> None:
        """Tell the dispatcher that messages are waiting (it also polls, this only saves latency)."""
        self._outbox_event.set()

    async def outbox_wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._outbox_event.wait(), timeout)
        except TimeoutError:
            pass
        self._outbox_event.clear()
