"""People and groups: onboarding, groups and invitations, the bot's place in chats, personal data."""
