"""People and groups: onboarding, groups and invitations, the bot's place in chats, personal data."""

from telegram.ext import ChatMemberHandler, CommandHandler, MessageHandler, filters

from bot.wiring import Job
from handlers.account import chats, groups, onboarding, privacy, retention
from handlers.core.feature import Feature

_private = filters.ChatType.PRIVATE

FEATURE = Feature(
    "account",
    handlers=[
        CommandHandler("start", onboarding.on_start, filters=_private),
        CommandHandler("start", groups.on_start_in_group, filters=filters.ChatType.GROUPS),  # ?startgroup=g<id>
        CommandHandler(["aide", "help"], onboarding.on_help),
        CommandHandler("profil", onboarding.on_profile, filters=_private),
        CommandHandler(["langue", "language"], onboarding.on_language, filters=_private),
        CommandHandler("groupes", groups.on_groups, filters=_private),
        CommandHandler("coordinateur", groups.on_appoint, filters=_private),
        CommandHandler("mesdonnees", privacy.on_my_data),  # refuses politely outside a private chat
        CommandHandler("oublier", privacy.on_forget),
        # The bot added to or removed from a chat (refused sends go again once it is back), blocked,
        # and groups upgraded to supergroups (their new id is followed everywhere).
        ChatMemberHandler(chats.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
        MessageHandler(filters.StatusUpdate.MIGRATE, chats.on_chat_migrated),
    ],
    routers=[onboarding.router, groups.router, privacy.router],
    flows=[onboarding.FLOWS, groups.FLOWS],
    jobs=[Job("retention_purge", retention.INTERVAL_SECONDS, retention.retention_purge)],
)
