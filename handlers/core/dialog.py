"""Guided conversations whose state lives in the database.

A flow is a name plus one async function per step, declared by its feature module (`FLOWS`)
and installed by `handlers.install` into `services.wiring.flows`. Free text (not a command) from a user
with an open conversation goes to that flow's current step; the cancel word leaves at any
step; a conversation left idle longer than CONVERSATION_TIMEOUT_MINUTES is closed with a
message the next time the user writes. Because the state is a row, a restart or another
process picks the conversation up where it was.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.services import Services
from handlers.core.common import Ctx, handler
from storage import dialogs
from storage.models import Dialog, utcnow

StepFn = Callable[[Ctx, Dialog, str], Awaitable[None]]
CANCEL_WORDS = {"annuler", "/annuler", "stop", "cancel", "/cancel", "quitter"}


def normalized(text: str) -> str:
    """Lower-case, accents removed, spaces squeezed: for comparing typed words."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


async def cancel(ctx: Ctx) -> bool:
    """Leave the open conversation, if any. Returns whether there was one."""
    dialog = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if dialog is None:
        return False
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    return True


@handler
async def on_cancel_command(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/annuler: leave the current guided conversation."""
    ctx.say("dialog.cancelled" if await cancel(ctx) else "dialog.nothing_to_cancel")


@handler
async def on_text(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Free text (cleaned and screened by the input gate): the next answer of an open conversation, or a hint."""
    text = ctx.text or ""
    dialog = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if dialog is None:
        if update.effective_chat and update.effective_chat.type == "private":
            ctx.say("dialog.no_conversation")
        return
    timeout = timedelta(minutes=ctx.services.settings.conversation_timeout_minutes)
    if dialogs.is_expired(dialog, timeout, ctx.now):
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.say("dialog.expired")
        return
    if normalized(text) in CANCEL_WORDS:
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.say("dialog.cancelled")
        return
    steps = ctx.services.wiring.flows.get(dialog.flow)
    if steps is None:  # a flow removed by an upgrade: start afresh rather than get stuck
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.say("dialog.expired")
        return
    step = steps.get(dialog.step)
    if step is None:  # this step is answered with buttons
        ctx.say("dialog.use_buttons")
        return
    await step(ctx, dialog, text)


async def purge_abandoned(application: Application) -> None:
    """The hourly job: forget guided conversations abandoned for a day."""
    services: Services = application.bot_data["services"]
    async with services.db.begin() as session:
        await dialogs.purge_expired(session, utcnow() - timedelta(days=1))
