"""The only place that calls `add_handler`. Order matters: first match wins within a group."""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.errors import on_error
from handlers import dialog, meetings, onboarding


def register_handlers(application: Application) -> None:
    add = application.add_handler
    private = filters.ChatType.PRIVATE

    # 1. Entry and profile.
    add(CommandHandler("start", onboarding.on_start, filters=private))
    add(CommandHandler(["aide", "help"], onboarding.on_help))
    add(CommandHandler("profil", onboarding.on_profile, filters=private))
    add(CommandHandler(["langue", "language"], onboarding.on_language, filters=private))
    add(CommandHandler(["annuler", "cancel"], dialog.on_cancel_command))

    # 2. Meetings, a professional's side.
    add(CommandHandler("rencontres", meetings.on_meetings, filters=private))
    add(CommandHandler("inscrire", meetings.on_register_command, filters=private))
    add(CommandHandler("desinscrire", meetings.on_unregister, filters=private))
    add(CommandHandler("mesinscriptions", meetings.on_my_registrations, filters=private))

    # 3. Buttons, by the prefix of their callback data.
    add(CallbackQueryHandler(onboarding.on_onboarding_button, pattern=r"^o:"))
    add(CallbackQueryHandler(onboarding.on_language_button, pattern=r"^l:"))
    add(CallbackQueryHandler(meetings.on_meeting_button, pattern=r"^m:"))

    # Last: free text continues a guided conversation.
    add(MessageHandler(filters.TEXT & ~filters.COMMAND & private, dialog.on_text))

    application.add_error_handler(on_error)
