"""A method in the webhook's HTTP answer: Telegram executes it, and so does the fake.

The bot hands a button press's answerCallbackQuery back in the body of its 200 answer instead
of sending it (one request less per press). The fake must execute such a body the way
Telegram does (a call of that method, errors unseen by the bot), or these savings would be
invisible or, worse, hide a lost answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from bot.transport import WebhookReply
from storage.db import Database
from tests.fakebot import FakeBotAPI
from tests.test_webhook import free_port, webhook_bot

SECRET = "another-secret_0123"


@asynccontextmanager
async def answering_webhook(api: FakeBotAPI, answer: Any) -> AsyncIterator[list[dict[str, Any]]]:
    """A bare webhook that answers every update with `answer(update)` (a web.Response)."""
    received: list[dict[str, Any]] = []

    async def on_update(request: web.Request) -> web.StreamResponse:
        update = await request.json()
        received.append(update)
        return answer(update)

    app = web.Application()
    app.router.add_post("/hook", on_update)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    api.hub.set_webhook(f"http://127.0.0.1:{port}/hook", SECRET, 40, None, False)
    try:
        yield received
    finally:
        api.hub.delete_webhook(False)
        await runner.cleanup()


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


# ----------------------------------------------------------------------------- the fake
async def test_the_fake_executes_a_method_in_the_webhooks_answer(api: FakeBotAPI) -> None:
    user = api.make_user(320_001, "Inès")

    def echo(update: dict[str, Any]) -> web.Response:
        chat = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat, "text": "reçu <b>ok</b>", "parse_mode": "HTML"})

    async with answering_webhook(api, echo):
        api.send_text(user, "bonjour")
        message = await api.wait_for(lambda m: m["chat"]["id"] == 320_001, timeout=5)
    assert message["text"] == "reçu ok" and message["entities"][0]["type"] == "bold"
    (index,) = api.webhook_reply_calls
    assert api.calls[index][0] == "sendMessage"
    assert api.webhook_reply_errors == []


async def test_the_fake_keeps_a_failing_answer_method_from_the_bot(api: FakeBotAPI) -> None:
    user = api.make_user(320_002, "Jules")
    api.make_user(320_004, "Blocked")
    api.block(320_004)
    answers = iter([
        {"method": "sendMessage", "chat_id": 320_004, "text": "blocked"},  # 403
        {"method": "sendMessage", "chat_id": 320_002},  # 400: no text
        {"method": "noSuchMethod"},  # 404
        {"text": "no method"},  # not a call: ignored
    ])
    async with answering_webhook(api, lambda u: web.json_response(next(answers))) as received:
        for word in ("a", "b", "c", "d"):
            api.send_text(user, word)
        await _until(lambda: len(api.webhook_deliveries) == 4)
    assert len(received) == 4
    assert [(m, code) for m, code, _ in api.webhook_reply_errors] == [("sendMessage", 403), ("sendMessage", 400), ("noSuchMethod", 404)]
    assert all(status == 200 for _, status in api.webhook_deliveries)  # the bot never learns
    assert api.sent(320_002) == [] and api.sent(320_004) == []


async def test_the_fake_ignores_a_body_that_is_not_json_or_not_a_200(api: FakeBotAPI) -> None:
    user = api.make_user(320_003, "Lou")
    replies = iter([
        web.Response(text=json.dumps({"method": "sendMessage", "chat_id": 320_003, "text": "plain"})),  # text/plain
        web.json_response({"method": "sendMessage", "chat_id": 320_003, "text": "on a 500"}, status=500),
    ])
    api.hub.webhook_retries = 0
    async with answering_webhook(api, lambda u: next(replies)):
        api.send_text(user, "a")
        api.send_text(user, "b")
        await _until(lambda: len(api.webhook_deliveries) == 2)
    assert api.hub.webhook_replies == [] and api.sent(320_003) == []


# ----------------------------------------------------------------------------- the bot
def _button(message: dict[str, Any]) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if button.get("callback_data"):
                return str(button["callback_data"])
    return None


async def test_a_button_press_is_answered_in_the_webhooks_answer(db: Database, api: FakeBotAPI) -> None:
    async with webhook_bot(db, api):
        user = api.make_user(320_010, "Noé")
        api.send_text(user, "/start")
        message = await api.wait_for(lambda m: m["chat"]["id"] == 320_010 and _button(m) is not None, timeout=10)
        since = len(api.calls)
        api.press(user, message, _button(message))  # type: ignore[arg-type]
        _, params = await api.wait_for_call(lambda m, p: m == "answerCallbackQuery", timeout=10, since=since)
        await _until(lambda: len(api.webhook_deliveries) >= 2)
    answered = [i for i in range(since, len(api.calls)) if api.calls[i][0] == "answerCallbackQuery"]
    assert len(answered) == 1, "answered once"
    assert answered == [i for i in api.webhook_reply_calls if i >= since], "through the webhook's answer, not a request"
    assert api.webhook_reply_errors == []
    assert "callback_query_id" in params


def test_only_the_first_result_free_call_is_taken() -> None:
    reply = WebhookReply()
    assert not reply.take("sendMessage", {"chat_id": 1, "text": "x"})  # its result (message id) may be needed
    assert reply.take("answerCallbackQuery", {"callback_query_id": "1"})
    assert not reply.take("answerCallbackQuery", {"callback_query_id": "2"})  # one method per answer
    assert reply.close() == {"method": "answerCallbackQuery", "callback_query_id": "1"}
    assert not WebhookReply().take("answerCallbackQuery", {"x": {"b64": "", "filename": "f"}})
    closed = WebhookReply()
    closed.close()
    assert not closed.take("answerCallbackQuery", {"callback_query_id": "3"})  # answered already: sent as usual
