"""Running the bot for real: long polling, or a webhook server behind a load balancer."""

from __future__ import annotations

from telegram import Update

from bot.app import build_application
from bot.config import ConfigError, Settings
from storage.db import Database


def run_polling(settings: Settings) -> None:
    application = build_application(settings, Database(settings.database_url))
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)


def run_webhook(settings: Settings) -> None:
    if not settings.webhook_url or not settings.webhook_secret:
        raise ConfigError("WEBHOOK_URL et WEBHOOK_SECRET sont nécessaires pour `python -m bot webhook`.")
    application = build_application(settings, Database(settings.database_url))
    application.run_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path="telegram",
        webhook_url=settings.webhook_url.rstrip("/") + "/telegram",
        secret_token=settings.webhook_secret,
        allowed_updates=Update.ALL_TYPES,
    )
