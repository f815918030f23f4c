"""Crisis communication: bulletins, reports, digests, the printable crisis kit."""

from telegram.ext import CommandHandler, MessageHandler, filters

from bot.wiring import Job
from handlers.core.feature import Feature
from handlers.crisis import bulletins, crisis, digest, digests, reports

_private = filters.ChatType.PRIVATE

FEATURE = Feature(
    "crisis",
    handlers=[
        CommandHandler("bulletin", bulletins.on_bulletin, filters=_private),
        CommandHandler("suivi", bulletins.on_track),
        CommandHandler("relancer", bulletins.on_escalate),
        CommandHandler("crise", crisis.on_crisis_mode),
        CommandHandler("cellule", crisis.on_cell, filters=_private),
        CommandHandler("telephone", crisis.on_phone, filters=_private),
        CommandHandler("signaler", reports.on_report, filters=_private),
        CommandHandler("signalements", reports.on_reports_summary),
        CommandHandler("abonnements", digests.on_subscriptions, filters=_private),
        CommandHandler("kit_crise", digests.on_kit),
        # A photo or document at the file step of /bulletin or /signaler (otherwise: flood's "unexpected content").
        MessageHandler(_private & (filters.PHOTO | filters.Document.ALL), reports.on_attachment),
    ],
    routers=[bulletins.router, crisis.router, digests.router, reports.router],
    flows=[bulletins.FLOWS, reports.FLOWS],
    jobs=[Job("crisis_digests", 60, digest.crisis_digests_job)],
    sent_hooks={"sendMessage": bulletins.on_message_sent},  # a channel post out: its replacement edit may follow
    failed_hooks={prefix: bulletins.on_crisis_row_failed for prefix in bulletins.CRISIS_PURPOSES},
    membership_listeners=[crisis.on_bot_membership],  # the crisis channel or the cell's chat gained or lost the bot
)
