"""Polls, date polls, questionnaires and their results (charts included)."""

from telegram.ext import CommandHandler, PollAnswerHandler, PollHandler, filters

from bot.wiring import Job
from handlers.core.feature import Feature
from handlers.polls import date_polls, poll_results, polls, questionnaires

_private = filters.ChatType.PRIVATE

FEATURE = Feature(
    "polls",
    handlers=[
        CommandHandler("sondage", polls.on_poll_command, filters=_private),
        CommandHandler("sondage_dates", polls.on_date_poll_command, filters=_private),
        CommandHandler("questionnaire", questionnaires.on_questionnaire_command, filters=_private),
        CommandHandler("resultats", poll_results.on_results_command, filters=_private),
        PollAnswerHandler(polls.on_poll_answer),
        PollHandler(polls.on_poll_state),
    ],
    routers=[polls.router, date_polls.router, questionnaires.router, poll_results.router],
    flows=[polls.FLOWS, questionnaires.FLOWS],
    jobs=[Job("close_polls", 60, poll_results.close_polls_job)],
    sent_hooks={"sendPoll": polls.on_poll_sent},  # learns each native poll's Telegram id
)
