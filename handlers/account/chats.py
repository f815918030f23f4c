"""The bot's own place in chats: added to or removed from a group or channel (my_chat_member),
blocked or unblocked in private, and a group upgraded to a supergroup (migrate service messages).

What a group or channel refused while the bot was out of it stays in the outbox as `refused`
(bot/outbox.py); when the bot is back, those same rows are sent again, once. A move to a
supergroup is recorded for every process (storage/chats.py): configured chats, groups and
queued messages follow the new id.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.services import Services
from handlers.core.common import Ctx, handler
from storage import outbox
from storage.chats import record_move
from storage.models import utcnow

log = logging.getLogger(__name__)

PRESENT = (ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER)
# What a chat refused in the last week goes out when the bot is back; older rows stay visible as
# refused in /envois (and a bulletin's post can still be sent with "Republier").
REQUEUE_WITHIN = timedelta(days=7)


def is_present(member: ChatMember) -> bool:
    """Whether this membership lets the bot post (a restricted member may still be in the chat)."""
    return member.status in PRESENT or (
        member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False))
    )


@handler
async def on_my_chat_member(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot's status changed in a chat: sends there follow it."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None:
        return
    chat = change.chat
    was, now = is_present(change.old_chat_member), is_present(change.new_chat_member)
    if chat.type == ChatType.PRIVATE:
        # Telegram's word that the person blocked (kicked) or unblocked the bot.
        ctx.user.unreachable_at = ctx.now if change.new_chat_member.status == ChatMember.BANNED else None
        return
    log.info("bot %s in chat %s (%s)", "added" if now else "removed", chat.id, change.new_chat_member.status)
    if now:
        again = await outbox.requeue(
            ctx.session,
            chat_id=chat.id,
            created_after=ctx.now - REQUEUE_WITHIN,
            reason="sent again: the bot is back in the chat",
        )
        if again:
            ctx.wake_outbox = True
    else:
        again = []
    if was == now and not again:
        return
    for listener in ctx.services.wiring.membership_listeners:  # e.g. the crisis cell hears of its channel
        await listener(ctx, chat.id, present=now, requeued=len(again), event=update.update_id)


async def on_chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup (migrate_to_chat_id in the old chat, migrate_from_chat_id in
    the new; either may come first): remember it and readdress what was queued for it.

    Not a @handler: a service message may come without a sender, and nobody is answered."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    services: Services = context.bot_data["services"]
    async with services.db.begin() as session:
        move = await record_move(session, old, new, now=utcnow())
    if move.rows:
        services.wake_outbox()
    if move.new:
        log.info("chat %s became %s: %d group(s), %d queued message(s) follow", old, new, move.groups, move.rows)
