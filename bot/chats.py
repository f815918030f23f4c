"""The one resolver of chat ids configured in the environment (crisis channel, crisis cell chat).

A setting is read once at start-up, yet the chat it names may change id later: a basic group
upgraded to a supergroup answers only with its new id. The move is kept in the database
(storage/chats.py, shared by every process and surviving restarts), so every use of a
configured chat goes through `configured_chat`, which follows it. "@name" settings are asked
to Telegram once per process (getChat) and remembered.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.error import TelegramError

from bot.config import Settings
from storage.chats import current_chat_id

log = logging.getLogger(__name__)

CHANNEL = "CRISIS_CHANNEL_ID"
CELL = "CRISIS_CELL_CHAT_ID"
_BY_NAME: dict[str, int] = {}


def configured_value(settings: Settings, key: str) -> int | str | None:
    """The setting as written: a numeric id, an "@name", or None when unset or unreadable."""
    if key == CHANNEL:
        return settings.crisis_channel_id
    raw = (settings.extra.get(key) or "").strip()
    if not raw:
        return None
    if raw.startswith("@"):
        return raw
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        log.error("%s n'est pas un identifiant de discussion : réglage ignoré", key)
        return None
    return int(raw)


async def configured_chat(session: AsyncSession, settings: Settings, key: str, *, bot: Any = None) -> int | None:
    """The numeric id the configured chat has now, or None (unset, or an "@name" not found)."""
    value = configured_value(settings, key)
    if value is None:
        return None
    if isinstance(value, str):
        chat_id = _BY_NAME.get(value)
        if chat_id is None:
            if bot is None:
                return None
            try:
                chat_id = (await bot.get_chat(value)).id
            except TelegramError as exc:
                log.error("%s %s : %s", key, value, exc)
                return None
            _BY_NAME[value] = chat_id
        value = chat_id
    return await current_chat_id(session, value)


async def configured_chats(session: AsyncSession, settings: Settings, *, bot: Any = None) -> dict[str, int]:
    """Every configured chat that resolves: {"CRISIS_CHANNEL_ID": id, ...}."""
    found = {}
    for key in (CHANNEL, CELL):
        chat_id = await configured_chat(session, settings, key, bot=bot)
        if chat_id is not None:
            found[key] = chat_id
    return found
