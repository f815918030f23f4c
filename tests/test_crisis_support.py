"""Shared set-up for the crisis tests: a bot with a crisis channel and a crisis-cell chat.

`crisis` runs the bot as in production (outbox dispatcher and periodic jobs in the
background); `crisis_manual` runs without them so a test drains the outbox itself
(`drain`) and calls the digest job with the clock it wants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from bot.outbox import Dispatcher, dispatcher_for
from bot.pacing import PaceConfig
from bot.services import Services
from storage.db import Database
from storage.models import User, utcnow
from tests.harness import BotHarness, Person

CHANNEL = -1001234567890
CELL_CHAT = -1009876543210


def crisis_harness(
    api: Any,
    db: Database,
    *,
    background: bool,
    cell_chat: bool = True,
    channel: int | str | None = CHANNEL,
    **extra: str,
) -> BotHarness:
    """`channel`: CRISIS_CHANNEL_ID (the fake knows CHANNEL; another id is a chat Telegram does not know)."""
    api.add_chat(CHANNEL, "channel", "Relais Santé — cellule de crise")
    api.add_chat(CELL_CHAT, "supergroup", "Cellule de crise (coordinateurs)")
    if cell_chat:
        extra = {"CRISIS_CELL_CHAT_ID": str(CELL_CHAT), **extra}
    harness = BotHarness(
        api,
        db,
        crisis_channel_id=channel,
        paid_broadcast=True,  # 1,000 msg/s: the 500-recipient test does not wait on Telegram's 30/s pace
        extra=extra,
    )
    harness.application.bot_data["background"] = background
    return harness


@pytest.fixture
async def crisis(db: Database, api: Any) -> AsyncIterator[BotHarness]:
    harness = crisis_harness(api, db, background=True)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def crisis_manual(db: Database, api: Any) -> AsyncIterator[BotHarness]:
    harness = crisis_harness(api, db, background=False)
    await harness.start()
    try:
        yield harness
    finally:
        await stop_manual(harness)


async def stop_manual(harness: BotHarness) -> None:
    """Stop a bot started without background work, and the dispatcher `drain` made for it."""
    outbox: Dispatcher | None = getattr(harness, "crisis_outbox", None)
    if outbox is not None:
        await outbox.close()
        await outbox.http.close()
    await harness.stop()


def services(harness: BotHarness) -> Services:
    return harness.application.bot_data["services"]


async def drain(harness: BotHarness) -> int:
    """Send everything due in the outbox now: the production dispatcher, without Telegram's pacing."""
    outbox: Dispatcher | None = getattr(harness, "crisis_outbox", None)
    if outbox is None:
        pace = PaceConfig(rate=20_000, burst=100, private_gap=0.0, group_gap=0.0, paid=True)
        outbox = dispatcher_for(harness.application.bot, services(harness), pace=pace)
        harness.crisis_outbox = outbox  # type: ignore[attr-defined]
    return await outbox.drain()


async def add_professionals(harness: BotHarness, count: int, *, start_id: int = 700_000, profession: str = "ide", now: datetime | None = None) -> list[int]:
    """`count` onboarded professionals created directly in the database (and known to Telegram)."""
    now = now or utcnow()
    ids = list(range(start_id, start_id + count))
    async with harness.db.begin() as session:
        session.add_all(
            User(id=uid, first_name=f"Pro{uid}", profession=profession, language="fr", onboarded_at=now, created_at=now) for uid in ids
        )
    for uid in ids:
        harness.api.make_user(uid, f"Pro{uid}")
    return ids


def text_of(message: dict[str, Any]) -> str:
    return message.get("text") or message.get("caption") or ""


def channel_texts(harness: BotHarness) -> list[str]:
    """What the channel shows now (edits applied), oldest first."""
    return [text_of(m) for m in harness.api.messages(CHANNEL)]


async def publish(
    person: Person,
    *,
    category: str = "Épidémie",
    source: str = "ARS",
    priority: str = "Urgent",
    title: str = "Bronchiolite : renfort des gardes",
    body: str = "Les cabinets de garde ouvrent le samedi après-midi jusqu'à nouvel ordre.",
    links: str | None = "https://www.ars.sante.fr/bronchiolite",
    replaces: str | None = None,
    audience: str = "Tout le monde",
    professions: tuple[str, ...] = (),
    confirm: bool = True,
) -> None:
    """Walk /bulletin from the first question to "Publier" (or to the preview)."""
    await person.send("/bulletin")
    await person.press(category)
    await person.press(source)
    await person.press(priority)
    await person.send(title)
    await person.send(body)
    if links:
        await person.send(links)
    else:
        await person.press("Pas de lien")
    await person.press("Pas de pièce jointe")
    await person.press(replaces or "Non, c'est un nouveau bulletin")
    await person.press(audience)
    for profession in professions:
        await person.press(profession)
    if professions:
        await person.press("Valider")
    assert "Aperçu" in person.last_text, person.last_text
    if confirm:
        await person.press("Publier")


def tiny_png() -> bytes:
    """A valid 2×2 PNG (what a phone photo would be, for the fake's image checks)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def press_in_chat(harness: BotHarness, person: Person, message: dict[str, Any], label: str) -> None:
    """`person` presses the button labelled `label` on a message of a group chat (the cell's)."""
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for button in row:
            if label.lower() in button["text"].lower():
                update = harness.api.press(person.user, message, button["callback_data"])
                await harness.handled(update)
                return
    raise AssertionError(f"no button {label!r} on {message.get('text', '')[:60]!r}")
