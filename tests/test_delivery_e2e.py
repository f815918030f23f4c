"""Crisis and delivery paths never lie and never lose: a channel that refuses the bot, no channel
at all, a group upgraded to a supergroup, a replaced bulletin, reports filed before the crisis
cell exists, and the screens the cell acts from (/suivi, /envois, the crisis kit).

The real bot over HTTP against the fake Bot API, on SQLite and PostgreSQL. The outbox is
drained by hand (`crisis_manual`) so each test sees exactly what left, and when.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.chats import current_chat_id
from storage.crisis_models import FieldReport
from storage.db import Database
from storage.models import ChatMove, Group, OutboxMessage, User, utcnow
from tests.harness import BotHarness, Person
from tests.test_crisis_support import (  # noqa: F401  (fixtures)
    CELL_CHAT,
    CHANNEL,
    add_professionals,
    crisis_harness,
    crisis_manual,
    drain,
    press_in_chat,
    publish,
    services,
    text_of,
)


def texts(bot: BotHarness, chat_id: int) -> list[str]:
    return [text_of(m) for m in bot.api.messages(chat_id)]


def buttons(message: dict[str, Any]) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def unreachable_people(bot: BotHarness) -> int:
    async with bot.db.begin() as session:
        return int(await session.scalar(select(func.count()).select_from(User).where(User.unreachable_at.is_not(None))) or 0)


async def calls_to(bot: BotHarness, chat_id: int, method: str = "sendMessage") -> int:
    return sum(1 for name, params in bot.api.calls if name == method and params.get("chat_id") == chat_id)


# -- 1. the channel refuses the post ----------------------------------------------------------------
async def test_a_channel_that_refuses_the_bot_is_told_shown_and_posted_once_the_bot_is_back(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    await add_professionals(bot, 3)
    cell = bot.coordinator()
    await cell.send("/aide")
    # An administrator removes the bot from the channel: the cell hears of it at once.
    await bot.handled(bot.api.set_bot_status(CHANNEL, "left", cell.user))
    await drain(bot)
    assert any("Le bot a été retiré du canal de crise" in t for t in texts(bot, CELL_CHAT)), texts(bot, CELL_CHAT)

    await publish(cell, title="Rupture d'amoxicilline : consignes")
    assert "Bulletin n° 1 publié" in cell.last_text and "envoi au canal en cours" in cell.last_text
    await drain(bot)
    assert not [t for t in texts(bot, CHANNEL) if "amoxicilline" in t]
    notice = next(m for m in bot.api.messages(CELL_CHAT) if "n'a pas été posté dans le canal" in text_of(m))
    assert "Bulletin n° 1" in text_of(notice) or "bulletin n° 1" in text_of(notice)
    assert "le bot n'en est pas membre" in text_of(notice)
    assert any("Republier" in b for b in buttons(notice))
    assert await unreachable_people(bot) == 0  # a channel's 403 never marks a person unreachable
    assert len([m for m in bot.api.sent() if m["chat"]["id"] > 0 and "amoxicilline" in text_of(m)]) == 3

    await cell.send("/suivi 1")
    assert "Canal : ⚠️ refusé" in cell.reply_text and "le bot n'en est pas membre" in cell.reply_text, cell.reply_text
    assert any("Republier" in label for label, _ in cell.buttons())
    await cell.send("/envois")
    assert "n° 1 Rupture d'amoxicilline" in cell.reply_text and "3 destinataires" in cell.reply_text
    assert "Canal de crise : ⚠️ refusé" in cell.reply_text, cell.reply_text

    # "Republier" while the bot is still out: refused again, and said again.
    await press_in_chat(bot, cell, notice, "Republier")
    await drain(bot)
    assert not [t for t in texts(bot, CHANNEL) if "amoxicilline" in t]
    assert len([m for m in bot.api.sent(CELL_CHAT) if "n'a pas été posté dans le canal" in text_of(m)]) == 2
    assert "Suivi du bulletin n° 1" in text_of(bot.api.messages(CELL_CHAT)[1])  # the pressed notice now shows /suivi

    # The bot is made administrator again: the post goes out by itself, once.
    await bot.handled(bot.api.set_bot_status(CHANNEL, "administrator", cell.user))
    await drain(bot)
    assert len([t for t in texts(bot, CHANNEL) if "amoxicilline" in t]) == 1
    assert any("de nouveau accès" in t for t in texts(bot, CELL_CHAT))
    # Pressing "Republier" on the second notice, or the bot re-added twice: still one post.
    second = [m for m in bot.api.messages(CELL_CHAT) if "n'a pas été posté dans le canal" in text_of(m)][-1]
    await press_in_chat(bot, cell, second, "Republier")
    await bot.handled(bot.api.set_bot_status(CHANNEL, "administrator", cell.user))
    await drain(bot)
    assert len([t for t in texts(bot, CHANNEL) if "amoxicilline" in t]) == 1
    assert "déjà posté" in bot.api.callback_answers[max(bot.api.callback_answers)]["text"]
    await cell.send("/suivi 1")
    assert "Canal : ✅" in cell.reply_text and "posté" in cell.reply_text
