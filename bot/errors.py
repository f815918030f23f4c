"""The last line of defence: log with context, tell the user something went wrong, never a trace.

The log line says which kind of update, which command or button prefix, which user and chat
failed, with the traceback (secrets are redacted by bot/logs.py) but never the message text
itself, which may be personal. The person who triggered it gets one fixed sentence in their
language (never in a channel), and a pressed button stops spinning.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden
from telegram.ext import ContextTypes

from bot.i18n import normalize_locale, t

log = logging.getLogger(__name__)


def describe(update: object) -> str:
    """ "message /inscrire", "callback_query m:reg", "edited_message", "poll_answer"…"""
    if not isinstance(update, Update):
        return type(update).__name__
    kind = next((name for name in Update.ALL_TYPES if getattr(update, name, None) is not None), "update")
    message = update.effective_message
    if update.callback_query is not None and update.callback_query.data:
        prefix = ":".join(update.callback_query.data.split(":")[:2])
        return f"{kind} {prefix[:24]!r}"
    if message is not None and message.text and message.text.startswith("/"):
        return f"{kind} {message.text.split()[0][:40]!r}"
    return kind


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (without secrets) and apologise to the user in their language."""
    user = update.effective_user if isinstance(update, Update) else None
    chat = update.effective_chat if isinstance(update, Update) else None
    error = context.error
    log.error(
        "update failed (%s, user=%s, chat=%s, error=%s)",
        describe(update),
        user.id if user else None,
        chat.id if chat else None,
        type(error).__name__ if error else "unknown",
        exc_info=error,
    )
    if not isinstance(update, Update) or isinstance(error, Forbidden):
        return
    text = t("common.error", normalize_locale(user.language_code if user else None))
    query = update.callback_query
    try:
        if query is not None:
            try:
                await query.answer(text[:190], show_alert=True)
            except Exception:  # already answered by the handler, or too old: fine
                pass
        if chat is not None and user is not None and chat.type != "channel":
            await context.bot.send_message(chat.id, text)
    except Exception:  # Telegram unreachable too: logging above is all we can do
        log.warning("could not tell user %s about the error", user.id if user else None)
