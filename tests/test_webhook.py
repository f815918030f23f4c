"""Webhook mode (`python -m bot webhook`) and concurrent, per-user ordered update handling.

The webhook server runs in-process exactly as the command line runs it (`serve_webhook`), the
fake Bot API POSTs updates to it; the database is real (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from sqlalchemy import func, select
from telegram import Update

from bot.config import Settings
from bot.processor import PerUserOrderedProcessor
from bot.runner import WEBHOOK_PATH, serve_webhook
from storage.db import Database
from storage.models import User
from tests.fakebot import FakeBotAPI
from tests.harness import BotHarness

SECRET = "s3cret-webhook-token_42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def webhook_bot(db: Database, api: FakeBotAPI, **extra: Any) -> AsyncIterator[str]:
    """`python -m bot webhook`, in-process; yields the base URL it listens on. `extra`: more settings."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        token=api.token, api_url=api.base_url, file_api_url=api.base_file_url, database_url=db.url,
        webhook_url=base, webhook_secret=SECRET, webhook_listen="127.0.0.1", webhook_port=port, **extra,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve_webhook(settings, stop=stop, ready=ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiting}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # start-up failed: show why
    assert ready.is_set(), "the webhook server did not start"
    try:
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def text_to(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in api.sent(chat_id)]


# ------------------------------------------------------------------------------ webhook server
async def test_webhook_registers_itself_and_answers_users(db: Database, api: FakeBotAPI) -> None:
    async with webhook_bot(db, api) as base:
        info = api.hub.webhook_info()
        assert info["url"] == base + WEBHOOK_PATH
        assert api.hub.webhook is not None and api.hub.webhook.secret_token == SECRET
        camille = api.make_user(310_001, "Camille")
        api.send_text(camille, "/start")
        welcome = await api.wait_for(lambda m: m["chat"]["id"] == 310_001, timeout=10)
        assert "Bienvenue" in welcome["text"]
        assert all(status == 200 for _, status in api.webhook_deliveries)


async def test_a_request_without_the_secret_is_refused_and_changes_nothing(db: Database, api: FakeBotAPI) -> None:
    forged = {"update_id": 999, "message": {
        "message_id": 1, "date": int(time.time()), "text": "/start",
        "chat": {"id": 310_002, "type": "private", "first_name": "Mallory"},
        "from": {"id": 310_002, "is_bot": False, "first_name": "Mallory"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }}
    async with webhook_bot(db, api) as base, aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}):
            async with http.post(base + WEBHOOK_PATH, json=forged, headers=headers) as response:
                assert response.status == 403
        # The genuine path still works, so the refusal above was not a broken server.
        api.send_text(api.make_user(310_003, "Alex"), "/start")
        await api.wait_for(lambda m: m["chat"]["id"] == 310_003, timeout=10)
    assert api.sent(310_002) == []
    async with db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(User).where(User.id == 310_002)) == 0


async def test_health_check_for_the_load_balancer(db: Database, api: FakeBotAPI) -> None:
    async with webhook_bot(db, api) as base, aiohttp.ClientSession() as http:
        async with http.get(base + "/healthz") as response:
            assert response.status == 200 and await response.text() == "ok"
    async with aiohttp.ClientSession() as http:  # stopped: the balancer must see it gone
        try:
            async with http.get(base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                assert response.status != 200
        except aiohttp.ClientConnectionError:
            pass


async def test_a_conversation_never_races_itself_over_the_webhook(db: Database) -> None:
    """/start opens the onboarding conversation, /annuler closes it: five quick pairs, in order."""
    async with FakeBotAPI(token="123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz", latency=0.02) as api, webhook_bot(db, api):
        dom = api.make_user(310_004, "Dominique")
        for _ in range(5):
            api.send_text(dom, "/start")
            api.send_text(dom, "/annuler")
        await api.wait_for(lambda m: m["chat"]["id"] == 310_004 and len(api.sent(310_004)) >= 15, timeout=20)
        texts = text_to(api, 310_004)
    # Each /start: welcome + "your profession?"; each /annuler then finds the conversation open.
    assert [t for t in texts if "annulé" in t or "rien en cours" in t] == ["C'est annulé, rien n'a été enregistré."] * 5


# ------------------------------------------------------------------------------ ordering, concurrency
def _update(update_id: int, user_id: int) -> Update:
    return Update.de_json({"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": "x",
        "chat": {"id": user_id, "type": "private", "first_name": "U"},
        "from": {"id": user_id, "is_bot": False, "first_name": "U"},
    }}, None)


async def test_one_users_updates_run_in_order_while_others_run_alongside() -> None:
    processor = PerUserOrderedProcessor(2)
    log: list[str] = []
    release = asyncio.Event()

    async def work(name: str, gate: asyncio.Event | None = None) -> None:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        log.append(f"end {name}")

    a = 320_001
    tasks = [
        asyncio.create_task(processor.process_update(_update(1, a), work("a1", release))),
        asyncio.create_task(processor.process_update(_update(2, a), work("a2"))),
        asyncio.create_task(processor.process_update(_update(3, a), work("a3"))),
        asyncio.create_task(processor.process_update(_update(4, 320_002), work("b1"))),
    ]
    # Two slots, a1 holds one and is stuck: b1 still runs, because a2 and a3 wait in a's own
    # queue instead of taking the second slot.
    await processor.wait_handled(4, timeout=5)
    assert log == ["start a1", "start b1", "end b1"]
    release.set()
    await asyncio.gather(*tasks)
    assert log[3:] == ["end a1", "start a2", "end a2", "start a3", "end a3"]
    assert processor.handled == 4 and processor.queued_users == 0


async def test_different_users_are_handled_concurrently(bot: BotHarness) -> None:
    """Twenty people at once, Telegram answering in 0.2 s: far less than twenty times 0.2 s."""
    bot.api.latency = 0.2
    people = [bot.api.make_user(330_000 + i, f"P{i}") for i in range(20)]
    started = time.monotonic()
    updates: list[dict[str, Any]] = [bot.api.send_text(p, "/aide") for p in people]
    for update in updates:
        await bot.handled(update)
    elapsed = time.monotonic() - started
    assert all(bot.api.sent(p["id"]) for p in people)
    assert elapsed < 20 * 0.2 / 2, f"{elapsed:.2f} s: updates were handled one after the other"


async def test_a_burst_from_one_user_is_answered_in_the_order_sent(bot: BotHarness) -> None:
    """Polling hands the bot a whole batch at once; the per-user queue keeps it in order."""
    sam = bot.person("Sam")
    updates = []
    for _ in range(4):
        updates.append(bot.api.send_text(sam.user, "/start"))
        updates.append(bot.api.send_text(sam.user, "/annuler"))
    for update in updates:
        await bot.handled(update)
    cancels = [t for t in text_to(bot.api, sam.id) if "annulé" in t or "rien en cours" in t]
    assert cancels == ["C'est annulé, rien n'a été enregistré."] * 4
