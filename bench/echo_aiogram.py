"""A bare aiogram 3 echo bot: the other baseline of bench/updates.py.

aiogram's defaults: its aiohttp session, polling with one task per update (or its aiohttp
webhook handler, which acknowledges at once and handles in the background). Configured by
the environment that bench/updates.py sets: BENCH_TOKEN, BENCH_API_URL, BENCH_TRANSPORT
(polling|webhook), BENCH_WEBHOOK_URL, BENCH_SECRET, BENCH_PORT. Needs `pip install .[bench]`.
"""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

dispatcher = Dispatcher()


@dispatcher.message()
async def echo(message: Message, bot: Bot) -> None:
    if message.text is not None:
        await bot.send_message(message.chat.id, message.text)


def make_bot() -> Bot:
    base = os.environ["BENCH_API_URL"].removesuffix("/bot")
    session = AiohttpSession(api=TelegramAPIServer.from_base(base))
    return Bot(os.environ["BENCH_TOKEN"], session=session)


def run_webhook(bot: Bot) -> None:
    from aiohttp import web
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    async def on_startup(bot: Bot) -> None:
        await bot.set_webhook(
            os.environ["BENCH_WEBHOOK_URL"].rstrip("/") + "/telegram", secret_token=os.environ["BENCH_SECRET"], max_connections=100
        )

    dispatcher.startup.register(on_startup)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=os.environ["BENCH_SECRET"]).register(app, path="/telegram")
    setup_application(app, dispatcher, bot=bot)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), print=None, access_log=None)


def main() -> None:
    bot = make_bot()
    if os.environ.get("BENCH_TRANSPORT", "polling") == "webhook":
        run_webhook(bot)
    else:
        asyncio.run(dispatcher.start_polling(bot, polling_timeout=10))


if __name__ == "__main__":
    main()
