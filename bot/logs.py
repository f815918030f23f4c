"""Logging set-up that can never print the bot token or the webhook secret.

Redaction happens when a record is created (a log-record factory), so it covers every logger
and every handler of the process — ours, PTB's, httpx's, aiohttp's, a test's `caplog` —
whatever the entry point. `build_application` installs it with the deployment's secrets;
`setup_logging` also puts a filter on the console handler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

_TOKEN_PATTERN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
# PostgreSQL repeats the values of a refused row in its error DETAIL ("Failing row contains (…)",
# "Key (slug)=(…) already exists"): what people typed. Keep the column names, hide the rest up to
# SQLAlchemy's "[SQL:" line (the statement's parameters are hidden by the engine: storage/db.py).
_DB_DETAIL = re.compile(r"(DETAIL:\s+(?:Key \([\w\s,\"]*\)=)?).*?(?=\n\[SQL|\Z)", re.DOTALL)
_SECRETS: set[str] = set()
_installed = False


def _variants(secret: str) -> set[str]:
    """The secret as written and as it appears inside a URL."""
    return {secret, quote(secret, safe=""), quote(secret, safe=":")}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with known secrets, anything shaped like a bot token and database error details replaced by ***."""
    for secret in sorted({*secrets, *_SECRETS}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    if "DETAIL:" in text:
        text = _DB_DETAIL.sub(r"\1***", text)
    return _TOKEN_PATTERN.sub("***", text)


def _redact_record(record: logging.LogRecord, secrets: Iterable[str] = ()) -> None:
    try:
        message = record.getMessage()
    except Exception:  # malformed arguments: leave it to logging's own error report
        return
    record.msg, record.args = redact(message, secrets), None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info), secrets)
        record.exc_info = None  # exception messages can carry URLs; only the redacted text remains
    elif record.exc_text:
        record.exc_text = redact(record.exc_text, secrets)
    if record.stack_info:
        record.stack_info = redact(record.stack_info, secrets)


class RedactSecrets(logging.Filter):
    """Replace known secrets (and anything shaped like a bot token) in every record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [v for s in secrets if s for v in _variants(s)]

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record, self.secrets)
        return True


def install_redaction(secrets: Iterable[str | None]) -> None:
    """Redact `secrets` from every log record created from now on, by any logger (idempotent)."""
    global _installed
    for secret in secrets:
        if secret and len(secret) >= 6:  # a one-character "secret" would redact every log line
            _SECRETS.update(_variants(secret))
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def setup_logging(secrets: list[str], level: int = logging.INFO) -> None:
    install_redaction(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, and Telegram URLs contain the token; fontTools (through
    # fpdf2) logs some fifty lines per crisis-kit PDF about the glyphs it keeps.
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
