"""The only place that calls `add_handler`. Order matters: first match wins within a group."""

from __future__ import annotations

from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.errors import on_error
from handlers.core import dialog
from handlers.meetings import meetings
from handlers.account import onboarding
from handlers.meetings import coordination, new_meeting  # Meetings, a coordinator's side
from handlers.account import groups  # Groups from nothing: /groupes, invitations, /coordinateur
from bot import flood
from handlers.account import retention  # noqa: F401  Hardening: guards; retention registers its periodic purge
from handlers.account import privacy  # Hardening: /mesdonnees, /oublier


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

    # 3. Buttons: routes of handlers/core/buttons.py, registered below once every feature module is imported.

    # Meetings, a coordinator's side (handlers/meetings/new_meeting.py, handlers/meetings/coordination.py).
    add(CommandHandler("nouvelle_rencontre", new_meeting.on_new_meeting, filters=private))
    add(CommandHandler("inscrits", coordination.on_registrants, filters=private))
    add(CommandHandler("gerer", coordination.on_manage, filters=private))
    add(CommandHandler("lien", coordination.on_link, filters=private))
    # End of: meetings, a coordinator's side.

    # Groups: created, renamed, archived, linked to a Telegram chat, invited to (handlers/account/groups.py).
    add(CommandHandler("groupes", groups.on_groups, filters=private))
    add(CommandHandler("coordinateur", groups.on_appoint, filters=private))
    add(CommandHandler("start", groups.on_start_in_group, filters=filters.ChatType.GROUPS))  # after ?startgroup=g<id>
    # End of: groups.

    # Hardening and personal data (bot/flood.py, handlers/account/privacy.py).
    flood.install(application)  # group -2: flood throttle, edits ignored; group -1: file size limit
    add(CommandHandler("mesdonnees", privacy.on_my_data))  # refuses politely outside a private chat
    add(CommandHandler("oublier", privacy.on_forget))
    # End of: hardening and personal data.

    # Polls, date polls, questionnaires (issue #4: handlers/polls/polls.py, date_polls.py, questionnaires.py, poll_results.py).
    from telegram.ext import PollAnswerHandler, PollHandler

    from handlers.polls import date_polls, poll_results, polls, questionnaires  # noqa: F401  date_polls: only button routes

    add(CommandHandler("sondage", polls.on_poll_command, filters=private))
    add(CommandHandler("sondage_dates", polls.on_date_poll_command, filters=private))
    add(CommandHandler("questionnaire", questionnaires.on_questionnaire_command, filters=private))
    add(CommandHandler("resultats", poll_results.on_results_command, filters=private))
    add(PollAnswerHandler(polls.on_poll_answer))
    add(PollHandler(polls.on_poll_state))
    # End of: polls.

    # Crisis communication (issue #5: handlers/crisis/crisis.py, bulletins.py, reports.py, digests.py).
    from handlers.crisis import bulletins, crisis, digests, reports

    add(CommandHandler("bulletin", bulletins.on_bulletin, filters=private))
    add(CommandHandler("suivi", bulletins.on_track))
    add(CommandHandler("relancer", bulletins.on_escalate))
    add(CommandHandler("crise", crisis.on_crisis_mode))
    add(CommandHandler("cellule", crisis.on_cell, filters=private))
    add(CommandHandler("telephone", crisis.on_phone, filters=private))
    add(CommandHandler("signaler", reports.on_report, filters=private))
    add(CommandHandler("signalements", reports.on_reports_summary))
    add(CommandHandler("abonnements", digests.on_subscriptions, filters=private))
    add(CommandHandler("kit_crise", digests.on_kit))
    # A photo or document at the file step of /bulletin or /signaler (otherwise: flood's "unexpected content").
    add(MessageHandler(private & (filters.PHOTO | filters.Document.ALL), reports.on_attachment))
    # End of: crisis communication.

    # Reminders and deliveries (issue #3: handlers/reminders/reminders.py, with the "m:ics:" calendar button).
    from handlers.reminders import reminders

    add(CommandHandler("rappels", reminders.on_reminders, filters=private))
    add(CommandHandler("rappels_rencontre", reminders.on_meeting_reminders, filters=private))
    add(CommandHandler("envois", reminders.on_sends, filters=private))
    # End of: reminders.

    # The bot's own place in chats (handlers/account/chats.py): added/removed (refused sends go again once it is back), blocked,
    # and groups upgraded to supergroups (their new id is followed everywhere).
    from telegram.ext import ChatMemberHandler

    from handlers.account import chats

    add(ChatMemberHandler(chats.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    add(MessageHandler(filters.StatusUpdate.MIGRATE, chats.on_chat_migrated))
    # End of: chats.

    # Buttons routed by handlers/core/buttons.py (one handler per prefix, longest first), once every feature module is imported.
    from handlers.core.buttons import router

    application.add_handlers(router.handlers())

    # Last: free text continues a guided conversation.
    add(MessageHandler(filters.TEXT & ~filters.COMMAND & private, dialog.on_text))
    application.add_handlers(flood.fallback_handlers())  # keep last: unknown command, or a file nobody asked for

    application.add_error_handler(on_error)
