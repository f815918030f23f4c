"""The last line of defence: log with context, tell the user something went wrong, never a trace."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import normalize_locale, t

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (without secrets) and apologise to the user in their language."""
    user_id = update.effective_user.id if isinstance(update, Update) and update.effective_user else None
    kind = type(context.error).__name__ if context.error else "unknown"
    log.error("update failed (user=%s, error=%s)", user_id, kind, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    lang = normalize_locale(update.effective_user.language_code if update.effective_user else None)
    try:
        await context.bot.send_message(update.effective_chat.id, t("common.error", lang))
    except Exception:  # Telegram unreachable too: logging above is all we can do
        log.warning("could not tell user %s about the error", user_id)
