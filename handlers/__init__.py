"""`install(application)`: every handler, button, conversation, job and hook of every feature, in order.

This is the one place that says what runs. Each feature package declares a `FEATURE`
(handlers/core/feature.py); nothing registers itself at import time. Order matters for PTB
handlers: within group 0 the first match wins, so commands come first, then the buttons
(one handler per prefix, longest first), then free text and the fallbacks.
"""

from __future__ import annotations

from telegram.ext import Application, MessageHandler, filters

from bot import flood
from bot.errors import on_error
from bot.services import Services
from handlers import account, core, crisis, meetings, polls, reminders
from handlers.core import dialog
from handlers.core.buttons import ButtonRouter
from handlers.core.feature import Feature

FEATURES: tuple[Feature, ...] = (
    core.FEATURE,  # /annuler, abandoned conversations purged
    account.FEATURE,  # /start, /aide, /profil, /langue, /groupes, /coordinateur, /mesdonnees, /oublier, chats
    meetings.FEATURE,  # /rencontres, /inscrire, /nouvelle_rencontre, /gerer, /inscrits, /lien
    polls.FEATURE,  # /sondage, /sondage_dates, /questionnaire, /resultats, votes
    crisis.FEATURE,  # /bulletin, /suivi, /relancer, /crise, /cellule, /signaler, digests, kit
    reminders.FEATURE,  # /rappels, /rappels_rencontre, /envois, the planner
)


def install(application: Application) -> None:
    """Wire every feature into `application` and into `services.wiring` (bot/wiring.py)."""
    services: Services = application.bot_data["services"]
    wiring = services.wiring
    flood.install(application)  # group -2: flood throttle, edits ignored; group -1: file size limit
    buttons = ButtonRouter()
    for feature in FEATURES:
        application.add_handlers(list(feature.handlers))
        for router in feature.routers:
            buttons.include(router)
        for flows in feature.flows:
            for name, steps in flows.items():
                wiring.add_flow(name, dict(steps))
        for job in feature.jobs:
            wiring.add_job(job)
        for method, sent in feature.sent_hooks.items():
            wiring.add_sent_hook(method, sent)
        for prefix, failed in feature.failed_hooks.items():
            wiring.add_failed_hook(prefix, failed)
        wiring.session_listeners.extend(feature.session_listeners)
        wiring.membership_listeners.extend(feature.membership_listeners)
        wiring.on_start.extend(feature.on_start)
    application.add_handlers(buttons.handlers())
    # Last: free text continues a guided conversation; then what no feature took gets a hint.
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, dialog.on_text))
    application.add_handlers(flood.fallback_handlers())
    application.add_error_handler(on_error)
