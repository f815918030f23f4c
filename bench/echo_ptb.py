"""A bare python-telegram-bot echo bot: the baseline of bench/updates.py.

Stock PTB 22.8 as most bots run it: `ApplicationBuilder` defaults (httpx client, sequential
update handling), unless `--concurrent` (PTB's own concurrent updates) or `--aiohttp` (our
bot/request.py client, concurrent updates) is given. Configured by the environment that
bench/updates.py sets: BENCH_TOKEN, BENCH_API_URL, BENCH_TRANSPORT (polling|webhook),
BENCH_WEBHOOK_URL, BENCH_SECRET, BENCH_PORT.
"""

from __future__ import annotations

import os
import sys

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await context.bot.send_message(message.chat_id, message.text)


def main() -> None:
    builder = ApplicationBuilder().token(os.environ["BENCH_TOKEN"]).base_url(os.environ["BENCH_API_URL"])
    if "--concurrent" in sys.argv or "--aiohttp" in sys.argv:
        builder = builder.concurrent_updates(True)
    if "--aiohttp" in sys.argv:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from bot.request import AiohttpRequest

        builder = builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest(connection_pool_size=2))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    if os.environ.get("BENCH_TRANSPORT", "polling") == "webhook":
        application.run_webhook(
            listen="127.0.0.1",
            port=int(os.environ["BENCH_PORT"]),
            url_path="telegram",
            webhook_url=os.environ["BENCH_WEBHOOK_URL"].rstrip("/") + "/telegram",
            secret_token=os.environ["BENCH_SECRET"],
            max_connections=100,
        )
    else:
        application.run_polling(poll_interval=0.0, timeout=10)


if __name__ == "__main__":
    main()
