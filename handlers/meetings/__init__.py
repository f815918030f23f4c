"""Meetings: browsing and registering, creating and coordinating sessions, calendar files, exports."""

from telegram.ext import CommandHandler, filters

from handlers.core.feature import Feature
from handlers.meetings import coordination, meetings, new_meeting

_private = filters.ChatType.PRIVATE

FEATURE = Feature(
    "meetings",
    handlers=[
        # A professional's side.
        CommandHandler("rencontres", meetings.on_meetings, filters=_private),
        CommandHandler("inscrire", meetings.on_register_command, filters=_private),
        CommandHandler("desinscrire", meetings.on_unregister, filters=_private),
        CommandHandler("mesinscriptions", meetings.on_my_registrations, filters=_private),
        # A coordinator's side.
        CommandHandler("nouvelle_rencontre", new_meeting.on_new_meeting, filters=_private),
        CommandHandler("inscrits", coordination.on_registrants, filters=_private),
        CommandHandler("gerer", coordination.on_manage, filters=_private),
        CommandHandler("lien", coordination.on_link, filters=_private),
    ],
    routers=[meetings.router, new_meeting.router, coordination.router],
    flows=[new_meeting.FLOWS, coordination.FLOWS],
)
