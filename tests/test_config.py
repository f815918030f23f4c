"""Configuration errors are one clear line; the token never shows."""

from __future__ import annotations

import logging

import pytest

from bot.config import ConfigError, load_settings
from bot.logs import RedactSecrets

TOKEN = "123456789:AAE-secret-token-value-abcdefghijk"


def test_missing_token_says_what_to_set() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({})
    assert "TELEGRAM_BOT_TOKEN" in str(error.value) and "@BotFather" in str(error.value)


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"TELEGRAM_BOT_TOKEN": "nonsense"}, "mal formé"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "COORDINATOR_IDS": "12,abc"}, "COORDINATOR_IDS"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_TIMEZONE": "Mars/Olympus"}, "BOT_TIMEZONE"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_DEFAULT_LOCALE": "de"}, "BOT_DEFAULT_LOCALE"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ],
)
def test_malformed_settings_are_refused_with_the_setting_named(env: dict[str, str], mentions: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    message = str(error.value)
    assert mentions in message and "\n" not in message and TOKEN not in message


def test_settings_parse_and_never_show_the_token() -> None:
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "COORDINATOR_IDS": "1, 2;3", "DATABASE_URL": "postgresql+asyncpg://u:pw@h/db"})
    assert settings.coordinator_ids == {1, 2, 3}
    assert TOKEN not in repr(settings) and "pw" not in repr(settings)


def test_log_filter_hides_the_token_even_inside_urls(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactSecrets([TOKEN]))
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
    assert TOKEN not in caplog.text and "***" in caplog.text
