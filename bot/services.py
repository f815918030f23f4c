"""The long-lived things a handler may need, stored once in `application.bot_data["services"]`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.transport import Transport, transport_for
from bot.wiring import Wiring
from storage.db import Database

if TYPE_CHECKING:
    from telegram import Bot


@dataclass
class Services:
    settings: Settings
    db: Database
    bot_username: str = "relais_sante_bot"
    wiring: Wiring = field(default_factory=Wiring)  # what the features plugged in (handlers.install)
    outbox: Any = None  # the running dispatcher (bot/outbox.py), for its stats (/envois, tests)
    _outbox_event: asyncio.Event = field(default_factory=asyncio.Event)
    _transport: Transport | None = None

    def telegram(self, bot: Bot) -> Transport:
        """The client replies go out with (bot/transport.py), made on first use."""
        if self._transport is None:
            self._transport = transport_for(bot, pool=64)
        return self._transport

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

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
