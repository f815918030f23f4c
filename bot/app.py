"""Builds the python-telegram-bot `Application` with our handlers, processor and background work."""

from __future__ import annotations

import asyncio
import logging

from telegram import BotCommand, BotCommandScopeDefault
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot.background import start as start_background
from bot.background import stop as stop_background
from bot.config import Settings
from bot.i18n import SUPPORTED, t
from bot.logs import install_redaction
from bot.processor import BackpressureQueue, PerUserOrderedProcessor
from bot.request import AiohttpRequest, UpdatesRequest
from bot.services import Services
from handlers import install
from storage.db import Database

log = logging.getLogger(__name__)

# Commands shown in Telegram's menu, in the order people need them.
MENU = (
    "rencontres",
    "inscrire",
    "mesinscriptions",
    "desinscrire",
    "rappels",
    "questionnaire",
    "signaler",
    "profil",
    "langue",
    "aide",
)


async def set_commands(application: Application) -> None:
    """The command menu in French (default) and English.

    The menu is a convenience: when Telegram refuses it (network down, 429, a Bot API server
    without setMyCommands) the menu stays as it was and the bot starts all the same.
    """
    calls = []
    for lang in SUPPORTED:
        commands = [BotCommand(name, t(f"menu.{name}", lang, html=False)) for name in MENU]
        calls.append(
            application.bot.set_my_commands(
                commands, scope=BotCommandScopeDefault(), language_code=None if lang == "fr" else lang
            )
        )
    # Side by side: one round trip to Telegram at start-up, not one per language.
    results = await asyncio.gather(*calls, return_exceptions=True)
    for lang, result in zip(SUPPORTED, results, strict=True):
        if isinstance(result, asyncio.CancelledError):
            raise result
        if isinstance(result, Exception):  # the log redaction (bot/logs.py) keeps the token out
            log.warning(
                "setMyCommands (%s) en échec, menu inchangé, le bot démarre quand même : %s: %s",
                lang,
                type(result).__name__,
                result,
            )


def build_application(
    settings: Settings,
    db: Database,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    background: bool = True,
) -> Application:
    """The bot, wired: handlers, per-user ordered concurrency, outbox dispatcher, scheduler.

    This is the composition root: the only place in bot/ that imports the features (handlers/).
    """
    processor = PerUserOrderedProcessor(settings.concurrent_updates)
    builder = (
        ApplicationBuilder()
        .token(settings.token or "0:demo")
        .base_url(settings.api_url)
        .concurrent_updates(processor)
        .update_queue(BackpressureQueue(processor))  # a flood waits at Telegram, not in memory (bot/processor.py)
        .post_init(_post_init)
        .post_stop(_post_stop)
    )
    if settings.file_api_url:
        builder = builder.base_file_url(settings.file_api_url)
    # aiohttp instead of PTB's httpx client: twice the throughput (see bot/request.py, bench/).
    builder = builder.request(request if request is not None else AiohttpRequest(connection_pool_size=16))
    builder = builder.get_updates_request(
        get_updates_request if get_updates_request is not None else UpdatesRequest(connection_pool_size=2)
    )
    application = builder.build()
    install_redaction([settings.token, settings.webhook_secret])  # every logger, every entry point
    application.bot_data["services"] = Services(settings=settings, db=db)
    application.bot_data["background"] = background
    install(application)
    return application


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data["services"]
    services.bot_username = application.bot.username or services.bot_username
    await set_commands(application)
    if application.bot_data.get("background"):
        await start_background(application)
    log.info("Relais Santé prêt (@%s)", services.bot_username)


async def _post_stop(application: Application) -> None:
    await stop_background(application)
    await application.bot_data["services"].close()


async def start_application(application: Application, *, polling: bool) -> None:
    """Start the bot inside an already running event loop (tests, demo, several-process runs).

    `Application.run_polling` does the same for the command line, but owns the loop.
    """
    from telegram import Update

    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    if polling and application.updater is not None:
        await application.updater.start_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)


async def stop_application(application: Application) -> None:
    """Stop polling, background work and the HTTP clients, in that order."""
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
        if application.post_stop is not None:
            await application.post_stop(application)
    await application.shutdown()
