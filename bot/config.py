"""Settings read once from the environment (and a `.env` file).

A missing or malformed value stops the bot with one line that says what to set:
a coordinator deploying the bot should never have to read a stack trace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_API_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/relais.db"
SUPPORTED_LOCALES = ("fr", "en")


class ConfigError(SystemExit):
    """Raised with a one-line French/English explanation of the setting to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Configuration : {message}")


@dataclass(frozen=True)
class Settings:
    """Everything the process needs to know about its deployment."""

    token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    file_api_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    coordinator_ids: frozenset[int] = frozenset()
    default_locale: str = "fr"
    timezone: str = "Europe/Paris"
    crisis_channel_id: int | str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8080
    paid_broadcast: bool = False
    concurrent_updates: int = 64
    conversation_timeout_minutes: int = 30
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __repr__(self) -> str:  # never print the token or the webhook secret
        return (
            f"Settings(api_url={self.api_url!r}, database_url={redact_url(self.database_url)!r}, "
            f"coordinators={len(self.coordinator_ids)}, locale={self.default_locale!r}, tz={self.timezone!r})"
        )


def redact_url(url: str) -> str:
    """Hide a password in a database URL before it reaches a log line."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def _int_set(name: str, raw: str) -> frozenset[int]:
    ids = set()
    for part in raw.replace(";", ",").replace(" ", ",").split(","):
        if not part:
            continue
        try:
            ids.add(int(part))
        except ValueError:
            raise ConfigError(
                f"{name} doit être une liste d'identifiants Telegram numériques séparés par des virgules "
                f"(valeur refusée : {part!r})."
            ) from None
    return frozenset(ids)


def _int(name: str, raw: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} doit être un nombre entier (valeur refusée : {raw!r}).") from None
    if value < minimum:
        raise ConfigError(f"{name} doit valoir au moins {minimum}.")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "oui", "on"}:
        return True
    if lowered in {"0", "false", "no", "non", "off", ""}:
        return False
    raise ConfigError(f"{name} doit valoir true ou false (valeur refusée : {raw!r}).")


def _chat_id(name: str, raw: str) -> int | str:
    raw = raw.strip()
    if raw.startswith("@"):
        return raw
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} doit être un identifiant numérique (-100…) ou un @nom_de_canal.") from None


def load_settings(env: Mapping[str, str] | None = None, *, require_token: bool = True) -> Settings:
    """Build `Settings` from `env` (default: the process environment plus `.env`)."""
    if env is None:
        from dotenv import load_dotenv

        load_dotenv(override=False)
        env = os.environ
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
    if require_token and token is None:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN n'est pas défini. Créez un bot avec @BotFather puis exportez "
            "TELEGRAM_BOT_TOKEN=… (ou lancez `python -m bot demo` pour essayer sans jeton)."
        )
    if token is not None and (":" not in token or not token.split(":", 1)[0].isdigit()):
        raise ConfigError("TELEGRAM_BOT_TOKEN est mal formé : attendu « 123456789:ABC… » tel que donné par @BotFather.")
    locale = env.get("BOT_DEFAULT_LOCALE", "fr").strip() or "fr"
    if locale not in SUPPORTED_LOCALES:
        raise ConfigError(
            f"BOT_DEFAULT_LOCALE doit être l'une de {', '.join(SUPPORTED_LOCALES)} (valeur refusée : {locale!r})."
        )
    timezone = env.get("BOT_TIMEZONE", "Europe/Paris").strip() or "Europe/Paris"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"BOT_TIMEZONE n'est pas un fuseau horaire connu (valeur refusée : {timezone!r}).") from None
    database_url = env.get("DATABASE_URL", DEFAULT_DATABASE_URL).strip() or DEFAULT_DATABASE_URL
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "DATABASE_URL doit commencer par sqlite+aiosqlite:// ou postgresql+asyncpg:// "
            f"(valeur refusée : {redact_url(database_url)!r})."
        )
    api_url = env.get("TELEGRAM_API_URL", DEFAULT_API_URL).strip() or DEFAULT_API_URL
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError(f"TELEGRAM_API_URL doit être une adresse http(s) (valeur refusée : {api_url!r}).")
    channel_raw = env.get("CRISIS_CHANNEL_ID", "").strip()
    return Settings(
        token=token,
        api_url=api_url,
        file_api_url=env.get("TELEGRAM_FILE_API_URL", "").strip() or None,
        database_url=database_url,
        coordinator_ids=_int_set("COORDINATOR_IDS", env.get("COORDINATOR_IDS", "")),
        default_locale=locale,
        timezone=timezone,
        crisis_channel_id=_chat_id("CRISIS_CHANNEL_ID", channel_raw) if channel_raw else None,
        webhook_url=env.get("WEBHOOK_URL", "").strip() or None,
        webhook_secret=env.get("WEBHOOK_SECRET", "").strip() or None,
        webhook_listen=env.get("WEBHOOK_LISTEN", "0.0.0.0").strip() or "0.0.0.0",
        webhook_port=_int("PORT", env.get("PORT", "8080") or "8080", minimum=1),
        paid_broadcast=_bool("PAID_BROADCAST", env.get("PAID_BROADCAST", "false")),
        concurrent_updates=_int("CONCURRENT_UPDATES", env.get("CONCURRENT_UPDATES", "64") or "64", minimum=1),
        conversation_timeout_minutes=_int(
            "CONVERSATION_TIMEOUT_MINUTES", env.get("CONVERSATION_TIMEOUT_MINUTES", "30") or "30", minimum=1
        ),
        extra={
            k: v for k, v in env.items() if k.startswith(("DIGEST_", "RETENTION_", "REMINDER_", "FLOOD_", "CRISIS_"))
        },
    )
