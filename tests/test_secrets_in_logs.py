"""The bot token and the webhook secret never reach a log line or a user, whatever logs them."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from urllib.parse import quote

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.config import ConfigError, Settings, load_settings
from bot.logs import RedactSecrets, install_redaction, redact
from bot.runner import serve_webhook
from storage.db import Database
from tests.harness import COORDINATOR_ID, BotHarness

SECRET = "webhook-Secret_0123456789abcdef"


def leaks(caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    """Log lines (message or traceback) that contain a secret, as written or URL-encoded."""
    found = []
    for record in caplog.records:
        text = record.getMessage() + "\n" + (record.exc_text or "") + (caplog.handler.format(record) if record.exc_info else "")
        for secret in secrets:
            if secret in text or quote(secret, safe="") in text:
                found.append(f"{record.name}: {text[:200]}")
    return found


def everything_sent(api) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(str(m) for m in api.sent())


async def test_a_polling_run_with_an_error_logs_no_token(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # PTB logs request parameters and updates at DEBUG
    token = bot.api.token
    camille = bot.person("Camille")
    await camille.send("/start")
    # Telegram's error text happens to echo the token: the traceback must not carry it out.
    bot.api.fail_next("sendMessage", 400, f"Bad Request: chat not found (bot{token})")
    await camille.send("/aide")
    assert "Oups" in camille.reply_text and token not in camille.reply_text
    failures = [r for r in caplog.records if r.getMessage().startswith("update failed")]
    assert failures and "***" in (failures[0].exc_text or "")
    assert "message '/aide'" in failures[0].getMessage() and str(camille.id) in failures[0].getMessage()
    assert not leaks(caplog, token)
    assert token not in everything_sent(bot.api)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_webhook_run_logs_neither_token_nor_secret(db: Database, api, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    port = free_port()
    settings = Settings(
        token=api.token, api_url=api.base_url, file_api_url=api.base_file_url, database_url=db.url,
        coordinator_ids=frozenset({COORDINATOR_ID}), webhook_url=f"http://127.0.0.1:{port}", webhook_secret=SECRET,
        webhook_listen="127.0.0.1", webhook_port=port,
    )
    stop = asyncio.Event()
    server = asyncio.create_task(serve_webhook(settings, stop))
    try:
        await api.wait_for_call(lambda method, params: method == "setWebhook", timeout=15)
        assert api.hub.webhook is not None and api.hub.webhook.secret_token == SECRET
        user = api.make_user(123_777, "Camille", language_code="fr")
        api.send_text(user, "/start")
        await api.wait_for(lambda m: m["chat"]["id"] == user["id"] and "inline_keyboard" in str(m.get("reply_markup")))
        api.fail_next("sendMessage", 400, f"Bad Request: wrong secret {SECRET} for bot{api.token}")
        api.send_text(user, "/aide")
        await api.wait_for(lambda m: m["chat"]["id"] == user["id"] and "Oups" in (m.get("text") or ""))
    finally:
        stop.set()
        await server
    assert any(r.getMessage().startswith("update failed") for r in caplog.records)
    assert not leaks(caplog, api.token, SECRET)
    assert SECRET not in everything_sent(api) and api.token not in everything_sent(api)


async def test_httpx_request_urls_are_redacted(api, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """PTB's default HTTP client logs each request URL, which contains the token."""
    install_redaction([api.token])
    caplog.set_level(logging.INFO, logger="httpx")
    bot = Bot(api.token, base_url=api.base_url, request=HTTPXRequest())
    async with bot:
        await bot.get_me()
    urls = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert urls and all("/bot***/" in url for url in urls)
    assert not leaks(caplog, api.token)


def test_token_shaped_strings_and_url_encoded_secrets_are_redacted() -> None:
    assert redact("GET https://api.telegram.org/bot987654321:AAH-abcdefghijklmnopqrstuvwxyz12/getMe") == "GET https://api.telegram.org/bot***/getMe"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "secret=%s enc=%s", (SECRET, quote("a b:" + SECRET)), None)
    RedactSecrets([SECRET]).filter(record)
    assert SECRET not in record.getMessage()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets([SECRET]))
    logger = logging.getLogger("relais.test.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"boom {SECRET}")
        except RuntimeError:
            logger.exception("failed with %s", SECRET)
    finally:
        logger.removeHandler(handler)
    assert "boom ***" in stream.getvalue() and SECRET not in stream.getvalue()


def test_configuration_errors_and_settings_never_print_the_token() -> None:
    bad = "not-a-token-SECRETVALUE"
    with pytest.raises(ConfigError) as error:
        load_settings({"TELEGRAM_BOT_TOKEN": bad})
    assert bad not in str(error.value)
    settings = load_settings({"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 30, "WEBHOOK_SECRET": SECRET})
    assert "A" * 30 not in repr(settings) and SECRET not in repr(settings)


# ------------------------------------------------------------------------------- typed text
MARKER = "Texte-Tape-Marqueur-4242"


async def _refuse_dialog_updates(db: Database, *, on: bool) -> None:
    """A database that refuses to save conversation state: a real failing statement, no mock.

    PostgreSQL: a CHECK constraint, whose error DETAIL repeats the failing row (typed text
    included); SQLite: a trigger that aborts the update.
    """
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_dialog_update")
            if on:
                await conn.exec_driver_sql(
                    "CREATE TRIGGER refuse_dialog_update BEFORE UPDATE ON dialogs"
                    " BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
                )
            return
        await conn.exec_driver_sql("ALTER TABLE dialogs DROP CONSTRAINT IF EXISTS refused_by_test")
        if on:
            await conn.exec_driver_sql(
                f"ALTER TABLE dialogs ADD CONSTRAINT refused_by_test CHECK (data::text NOT LIKE '%{MARKER}%') NOT VALID"
            )


async def test_a_failing_statement_logs_no_typed_text(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    """The README promises logs without message text: not even in a failed statement's parameters.

    Captured at INFO, the level the bot logs at (bot/logs.py); PTB's DEBUG traces every request by design.
    """
    caplog.set_level(logging.INFO)
    coordinator = bot.coordinator()
    from storage.models import Group

    async with bot.db.begin() as session:
        session.add(Group(slug="cpts-grand-havre", name="CPTS du Grand Havre"))
    await coordinator.send("/nouvelle_rencontre")
    assert "titre" in coordinator.reply_text.lower()
    await _refuse_dialog_updates(bot.db, on=True)
    try:
        await coordinator.send(MARKER)
    finally:
        await _refuse_dialog_updates(bot.db, on=False)
    assert "Oups" in coordinator.reply_text
    failures = [r for r in caplog.records if r.getMessage().startswith("update failed")]
    assert failures and "refused" in (failures[0].exc_text or "")  # the statement did fail, and is logged
    assert not leaks(caplog, MARKER)


def test_database_error_details_are_redacted() -> None:
    """PostgreSQL's DETAIL repeats the refused values; the column names stay for whoever debugs."""
    text = 'duplicate key value\nDETAIL:  Key (slug)=(cpts-secret) already exists.\n[SQL: INSERT INTO groups]'
    assert redact(text) == "duplicate key value\nDETAIL:  Key (slug)=***\n[SQL: INSERT INTO groups]"
    assert "secret" not in redact("DETAIL:  Failing row contains (1, secret\nline).\n[SQL: UPDATE dialogs]")
