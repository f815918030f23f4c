"""Direct replies (bot/transport.py through handlers/core/common.py): what a person sees when Telegram
says no to one of them."""

from __future__ import annotations

import logging

import pytest

from bot.sample_data import load_samples
from storage.models import utcnow
from tests.harness import BotHarness

GHT = "GHT Cœur Grand Est"
OOPS = "Oups, quelque chose s'est mal passé"


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_reply_held_back_by_telegram_arrives_after_the_wait(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    camille = bot.person("Camille")
    bot.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await camille.send("/start")
    assert "Bienvenue" in camille.reply_text
    assert bot.api.count_429 == 1
    assert failures(caplog) == []


async def test_someone_who_blocked_the_bot_meanwhile_gets_nothing_and_no_error_is_raised(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    alex = bot.person("Alex")
    bot.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await alex.send("/start")
    assert alex.replies == []
    assert failures(caplog) == []


async def test_a_refused_reply_ends_in_an_apology_and_a_logged_error(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    sam = bot.person("Sam")
    bot.api.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    await sam.send("/start")
    assert OOPS in sam.reply_text
    assert any("update failed" in line for line in failures(caplog))


async def test_an_edit_that_telegram_refuses_becomes_a_new_message(bot: BotHarness) -> None:
    async with bot.db.begin() as session:
        await load_samples(session, now=utcnow())
    lou = bot.person("Lou")
    await lou.onboard("Pharmacien", (GHT,))
    await lou.send("/rencontres")
    before = len(lou.messages())
    bot.api.fail_next("editMessageText", 400, "Bad Request: message to edit not found")
    await lou.press_data("m:no:0")
    assert len(lou.messages()) == before + 1
    assert "pas d'inscription" in lou.reply_text
