"""The small crisis commands (/crise, /cellule, /telephone) and what the crisis cell hears when the
bot joins or leaves its chats; the shared parts are in handlers/crisis/shared.py."""

from __future__ import annotations

import re
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot import notify
from bot.dates import When, format_when
from bot.i18n import t, tn
from handlers.core.buttons import Button, ButtonRouter
from handlers.core.common import Ctx, handler
from handlers.crisis.digest import next_digest_at
from handlers.crisis.reports import deliver_waiting_reports
from handlers.crisis.shared import cell_chat_id, channel_chat_id, require_cell, tell_cell
from storage import crisis as store
from storage import outbox
from storage import users as users_store

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

PHONE_OFF_WORDS = {"non", "off", "retirer", "supprimer", "aucun", "no", "remove", "none"}
_PHONE = re.compile(r"^\+?[\d .\-()]{8,20}$")


async def on_bot_membership(ctx: Ctx, chat_id: int, *, present: bool, requeued: int, event: int) -> None:
    """The bot was added to, or removed from, a chat (handlers/account/chats.py): when it is the crisis
    channel or the cell's chat, the cell hears of it; the cell's chat, once known, receives the
    field reports that never reached anyone."""
    channel = await channel_chat_id(ctx.session, ctx.services, None)
    cell = await cell_chat_id(ctx.session, ctx.services)
    if chat_id not in (channel, cell):
        return
    where = "channel" if chat_id == channel else "cell"
    if present and chat_id == cell:
        await deliver_waiting_reports(ctx.session, ctx.services)
    if present and not requeued:
        return

    def render(lang: str) -> tuple[str, notify.Keyboard | None]:
        return (
            tn(f"crisis.bot_back_{where}", requeued, lang) if present else t(f"crisis.bot_removed_{where}", lang)
        ), None

    await tell_cell(
        ctx.session,
        ctx.services,
        purpose=f"crisis:chat:{chat_id}:{event}",
        render=render,
        avoid_chat=None if present else chat_id,
    )
    ctx.wake_outbox = True


# -- /crise on|off ------------------------------------------------------------------------------
@handler
async def on_crisis_mode(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/crise on|off: daily digests (8 h, 18 h) instead of weekly; announced in the channel."""
    if not require_cell(ctx):
        return
    arg = (context.args[0].lower() if context.args else "").strip()
    if arg not in ("on", "off", "oui", "non"):
        mode = await store.crisis_mode(ctx.session)
        when = await next_digest_at(ctx.session, ctx.services, ctx.now)
        ctx.say("crisis.mode_status_on" if mode["on"] else "crisis.mode_status_off", next=when_label(ctx, when))
        return
    on = arg in ("on", "oui")
    changed = await store.set_crisis_mode(ctx.session, on, by=ctx.user.id, now=ctx.now)
    when = await next_digest_at(ctx.session, ctx.services, ctx.now)
    if not changed:
        ctx.say("crisis.mode_unchanged_on" if on else "crisis.mode_unchanged_off", next=when_label(ctx, when))
        return
    # An earlier announcement still waiting (or refused by the channel) would now say the opposite.
    await outbox.drop_pending(ctx.session, "crisis:mode:", statuses=("pending", outbox.REFUSED))
    channel = await channel_chat_id(ctx.session, ctx.services, context.bot)
    state = "on" if on else "off"
    if channel is None:  # say what really happened: nothing was announced
        ctx.say(f"crisis.mode_switched_{state}_no_channel", next=when_label(ctx, when))
        return
    ctx.say(f"crisis.mode_switched_{state}", next=when_label(ctx, when))
    lang = ctx.services.settings.default_locale
    payload = notify.message_payload(t("crisis.mode_announce_on" if on else "crisis.mode_announce_off", lang))
    await outbox.enqueue(
        ctx.session,
        purpose=f"crisis:mode:{int(on)}:upd{ctx.update_id}",
        chat_id=channel,
        payload=payload,
        priority=outbox.HIGH,
    )
    ctx.wake_outbox = True


def when_label(ctx: Ctx, when: Any) -> str:
    if when is None:
        return ctx.t("crisis.digest_never")
    return format_when(When(when, None, True), ctx.lang, ctx.services.settings.timezone)


# -- /cellule -----------------------------------------------------------------------------------
@handler
async def on_cell(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cellule [retirer] <id|@username>: coordinators grant (or withdraw) the crisis-cell role."""
    if not ctx.is_admin:
        ctx.refuse("crisis.cell_only_admin")
        return
    args = list(context.args or [])
    if not args:
        members = await store.cell_members(ctx.session)
        names = "\n".join(f"• {m.display_name}" + (f" (@{m.username})" if m.username else "") for m in members)
        ctx.say("crisis.cell_list", members=names or ctx.t("crisis.cell_empty"))
        return
    remove = args[0].lower() in ("retirer", "remove", "-")
    if remove:
        args = args[1:]
    if len(args) != 1:
        ctx.say("crisis.cell_usage")
        return
    target = await users_store.find_user(ctx.session, args[0])
    if target is None:
        ctx.say("crisis.cell_unknown_user", ref=args[0][:64])
        return
    target.is_crisis_cell = not remove
    ctx.say("crisis.cell_removed" if remove else "crisis.cell_added", name=target.display_name)
    if not remove:
        await notify.notify(
            ctx.session,
            [target.id],
            purpose=f"crisis:cell:{target.id}:upd{ctx.update_id}",
            render=notify.simple("crisis.cell_you_are"),
            default_lang=ctx.services.settings.default_locale,
        )
        ctx.wake_outbox = True
        waiting = await deliver_waiting_reports(ctx.session, ctx.services)
        if waiting:
            ctx.send(ctx.tn("crisis.cell_reports_delivered", waiting))


# -- /telephone ---------------------------------------------------------------------------------
def normalize_phone(raw: str) -> str | None:
    """A French or international number, written the usual way, or None if it is not one."""
    raw = raw.strip()
    if not _PHONE.match(raw):
        return None
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if len(digits) == 10 and digits.startswith("0"):
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    return None


@handler
async def on_phone(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/telephone [numéro|non]: share a phone number in the printable crisis directory, or stop."""
    arg = " ".join(context.args or []).strip()
    if not arg:
        if ctx.user.phone:
            ctx.say(
                "crisis.phone_shared", [[(ctx.t("crisis.phone_button_unshare"), "tel:off:0")]], phone=ctx.user.phone
            )
        else:
            ctx.say("crisis.phone_not_shared")
        return
    if arg.lower() in PHONE_OFF_WORDS:
        ctx.user.phone = None
        ctx.say("crisis.phone_unshared")
        return
    phone = normalize_phone(arg)
    if phone is None:
        ctx.say("crisis.phone_invalid")
        return
    ctx.user.phone = phone
    ctx.say("crisis.phone_saved", phone=phone)


@router.on("tel", "off", args=1)
async def pressed_phone_off(ctx: Ctx, button: Button) -> None:
    """Button tel:off:0 — stop sharing my number."""
    ctx.user.phone = None
    ctx.answer(ctx.t("crisis.phone_unshared"))
    ctx.edit(ctx.t("crisis.phone_unshared"))
