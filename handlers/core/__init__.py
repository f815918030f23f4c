"""Shared handler infrastructure: the @handler transaction, guided dialogs, rendering, light shared UI."""

from telegram.ext import CommandHandler

from bot.wiring import Job
from handlers.core import dialog
from handlers.core.feature import Feature

FEATURE = Feature(
    "core",
    handlers=[CommandHandler(["annuler", "cancel"], dialog.on_cancel_command)],
    jobs=[Job("purge_dialogs", 3600, dialog.purge_abandoned)],
)
