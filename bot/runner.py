"""Running the bot for real: long polling (one process), or webhooks (one or many processes).

`python -m bot run` polls; only one process may poll a bot token. `python -m bot webhook`
serves `POST /telegram` and `GET /healthz`; run as many such processes as needed behind a
load balancer, all on one PostgreSQL (README, « Plusieurs processus »).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from telegram import Update

from bot.app import build_application, start_application, stop_application
from bot.config import ConfigError, Settings
from storage.db import Database

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"


def run_polling(settings: Settings) -> None:
    application = build_application(settings, Database(settings.database_url))
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)


def run_webhook(settings: Settings) -> None:
    if not settings.webhook_url or not settings.webhook_secret:
        raise ConfigError("WEBHOOK_URL et WEBHOOK_SECRET sont nécessaires pour `python -m bot webhook`.")
    asyncio.run(serve_webhook(settings))


def webhook_max_connections() -> int:
    """How many updates Telegram may POST at once (1–100); default 40 like Telegram's."""
    raw = os.environ.get("WEBHOOK_MAX_CONNECTIONS", "40").strip() or "40"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"WEBHOOK_MAX_CONNECTIONS doit être un nombre entier (valeur refusée : {raw!r}).") from None
    if not 1 <= value <= 100:
        raise ConfigError("WEBHOOK_MAX_CONNECTIONS doit être compris entre 1 et 100.")
    return value


async def serve_webhook(
    settings: Settings, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None
) -> None:
    """Start the bot, listen, register the webhook, and serve until SIGTERM/SIGINT (or `stop` is set).

    `ready` is set once the webhook is registered (tests, several-process runs).
    """
    started = time.perf_counter()
    if stop is None:  # the command line: the signals a process manager sends
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    from bot.webhook import WebhookServer  # aiohttp's server: 2 MiB a polling process never loads

    db = Database(settings.database_url)
    application = build_application(settings, db)
    server = WebhookServer(application, secret=settings.webhook_secret or "", path=WEBHOOK_PATH)
    try:
        await start_application(application, polling=False)
        await server.start(settings.webhook_listen, settings.webhook_port)
        await application.bot.set_webhook(
            url=(settings.webhook_url or "").rstrip("/") + WEBHOOK_PATH,
            secret_token=settings.webhook_secret,
            allowed_updates=Update.ALL_TYPES,
            max_connections=webhook_max_connections(),
            drop_pending_updates=False,
        )
        log.info(
            "webhook prêt sur %s:%s%s en %.2f s (pid %s)",
            settings.webhook_listen,
            server.port,
            WEBHOOK_PATH,
            time.perf_counter() - started,
            os.getpid(),
        )
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await server.stop()
        await stop_application(application)
        await db.dispose()
