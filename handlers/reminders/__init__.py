"""Reminders: the planner that queues them and the screens that set them and show deliveries."""

from telegram.ext import CommandHandler, filters

from bot.wiring import Job
from handlers.core.feature import Feature
from handlers.reminders import planner, reminders

_private = filters.ChatType.PRIVATE

FEATURE = Feature(
    "reminders",
    handlers=[
        CommandHandler("rappels", reminders.on_reminders, filters=_private),
        CommandHandler("rappels_rencontre", reminders.on_meeting_reminders, filters=_private),
        CommandHandler("envois", reminders.on_sends, filters=_private),
    ],
    routers=[reminders.router],
    flows=[reminders.FLOWS],
    jobs=[Job("reminders", 60, planner.run_planner)],
    session_listeners=[planner.follow_session_change],  # reminders and calendar files follow a moved session
    on_start=[planner.configure],  # time zone, language and bot name for calendar files
)
