"""Start-up and webhook edges: a failing setMyCommands, an over-long body, business updates.

Each is something Telegram (or a compatible Bot API server) really does; the bot must go on
serving people, answer the HTTP status Telegram expects, and never answer what is not for it.
"""

from __future__ import annotations

import logging
import time

import aiohttp
import pytest

from bot.runner import WEBHOOK_PATH
from bot.webhook import MAX_BODY
from storage.db import Database
from tests.fakebot import FakeBotAPI
from tests.harness import BotHarness
from tests.test_webhook import SECRET, webhook_bot


@pytest.mark.parametrize(
    ("status", "description", "retry_after"),
    [(0, "", None), (429, "Too Many Requests: retry after 30", 30), (404, "Not Found", None)],
    ids=["network", "flood-wait", "server-without-it"],
)
async def test_a_failing_set_my_commands_is_logged_and_the_bot_still_serves(
    db: Database,
    api: FakeBotAPI,
    caplog: pytest.LogCaptureFixture,
    status: int,
    description: str,
    retry_after: int | None,
) -> None:
    caplog.set_level(logging.INFO)
    api.fail_next("setMyCommands", status, description or None, count=2, retry_after=retry_after)
    harness = BotHarness(api, db)
    await harness.start()
    try:
        camille = harness.person("Camille")
        await camille.send("/start")
        assert "Bienvenue" in camille.reply_text
    finally:
        await harness.stop()
    warnings = [r.getMessage() for r in caplog.records if "setMyCommands" in r.getMessage()]
    assert warnings, "the failure must be logged"
    assert all(api.token not in line and api.token.split(":")[1] not in line for line in warnings)


# ------------------------------------------------------------------------------ webhook
async def test_an_over_long_body_with_the_right_secret_gets_413(db: Database, api: FakeBotAPI) -> None:
    big = b'{"update_id": 1, "message": {"text": "' + b"x" * (MAX_BODY + 10) + b'"}}'
    async with webhook_bot(db, api) as base, aiohttp.ClientSession() as http:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
        async with http.post(base + WEBHOOK_PATH, data=big, headers=headers) as response:
            assert response.status == 413

        async def chunks():  # no Content-Length: the limit is found while reading
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]

        async with http.post(base + WEBHOOK_PATH, data=chunks(), headers=headers) as response:
            assert response.status == 413
        # Without the secret it stays a plain refusal: nothing about our limits leaks.
        async with http.post(base + WEBHOOK_PATH, data=big, headers={"Content-Type": "application/json"}) as response:
            assert response.status == 403


def _business_updates(user: dict, chat_id: int) -> list[dict]:
    now = int(time.time())
    chat = {"id": chat_id, "type": "private", "first_name": "Client"}
    message = {
        "message_id": 7, "date": now, "chat": chat, "from": user, "text": "/aide",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}], "business_connection_id": "bc-1",
    }
    connection = {
        "id": "bc-1", "user": user, "user_chat_id": user["id"], "date": now, "is_enabled": True,
    }
    return [
        {"business_connection": connection},
        {"business_message": message},
        {"business_message": {**message, "message_id": 8, "text": "bonjour", "entities": []}},
        {"edited_business_message": {**message, "edit_date": now}},
        {"deleted_business_messages": {"business_connection_id": "bc-1", "chat": chat, "message_ids": [7]}},
    ]


async def test_business_updates_are_ignored_in_polling(bot: BotHarness) -> None:
    owner = bot.person("Camille")
    updates = [bot.api.push_update(u) for u in _business_updates(owner.user, 410_001)]
    for update in updates:
        if update not in bot.api.dropped_updates:
            await bot.handled(update)
    await owner.send("/aide")  # the bot is alive and answers its own private chat
    assert bot.api.sent(410_001) == []
    assert len(bot.api.sent(owner.id)) == 1


async def test_business_updates_are_ignored_over_the_webhook(db: Database, api: FakeBotAPI) -> None:
    async with webhook_bot(db, api):
        owner = api.make_user(410_011, "Camille")
        for raw in _business_updates(owner, 410_012):
            api.push_update(raw)
        api.send_text(owner, "/aide")
        await api.wait_for(lambda m: m["chat"]["id"] == owner["id"], timeout=10)
    assert api.sent(410_012) == []
    assert len(api.sent(owner["id"])) == 1
