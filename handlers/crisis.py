"""Crisis communication, shared parts: roles, labels, how a bulletin reads, and the small
crisis commands (/crise, /cellule, /telephone).

The bulletin workflow is in handlers/bulletins.py, field reports in handlers/reports.py,
digests and the printable kit in handlers/digests.py and bot/digest.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Update
from telegram.ext import ContextTypes

from bot import chats, notify
from bot.chats import configured_chat
from bot.dates import When, format_when
from bot.i18n import t, tn
from bot.services import Services
from handlers.common import Ctx, callback_parts, handler
from storage import crisis as store
from storage import outbox
from storage import users as users_store
from storage.crisis_models import Bulletin

log = logging.getLogger(__name__)

PRIORITY_ICONS = {"urgent": "🔴", "important": "🟠", "info": "🔵"}
CATEGORY_ICONS = {"epidemic": "🦠", "shortage": "💊", "cyber": "🖥️", "care_org": "🏥", "prevention": "🛡️", "other": "📌"}
PHONE_OFF_WORDS = {"non", "off", "retirer", "supprimer", "aucun", "no", "remove", "none"}
_PHONE = re.compile(r"^\+?[\d .\-()]{8,20}$")


# -- roles --------------------------------------------------------------------------------------
def require_cell(ctx: Ctx) -> bool:
    """True for crisis-cell members; otherwise a polite refusal (button notice and message)."""
    if ctx.is_crisis_cell:
        return True
    ctx.refuse("crisis.not_allowed")
    return False


async def on_bot_membership(ctx: Ctx, chat_id: int, *, present: bool, requeued: int, event: int) -> None:
    """The bot was added to, or removed from, a chat (handlers/chats.py): when it is the crisis
    channel or the cell's chat, the cell hears of it; the cell's chat, once known, receives the
    field reports that never reached anyone."""
    channel = await channel_chat_id(ctx.session, ctx.services, None)
    cell = await cell_chat_id(ctx.session, ctx.services)
    if chat_id not in (channel, cell):
        return
    where = "channel" if chat_id == channel else "cell"
    if present and chat_id == cell:
        from handlers.reports import deliver_waiting_reports  # reports builds on this module

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


# -- labels -------------------------------------------------------------------------------------
def category_label(code: str, lang: str, *, icon: bool = True) -> str:
    label = t(f"crisis.category.{code}", lang, html=False)
    return f"{CATEGORY_ICONS.get(code, '')} {label}".strip() if icon else label


def source_label(code: str, lang: str) -> str:
    return t(f"crisis.source.{code}", lang, html=False)


def priority_label(code: str, lang: str) -> str:
    return t(f"crisis.priority.{code}", lang, html=False)


def stock_label(code: str, lang: str) -> str:
    return t(f"crisis.stock.{code}", lang, html=False)


def channel_link(chat: int | str | None, message_id: int | None) -> str | None:
    """The t.me address of a channel post (public @name or private -100… channel)."""
    if chat is None or message_id is None:
        return None
    if isinstance(chat, str):
        if chat.startswith("@"):
            return f"https://t.me/{chat[1:]}/{message_id}"
        if not chat.lstrip("-").isdigit():
            return None
        chat = int(chat)
    text = str(chat)
    if text.startswith("-100"):
        return f"https://t.me/c/{text[4:]}/{message_id}"
    return None


async def channel_chat_id(session: AsyncSession, services: Services, bot: Bot | None) -> int | None:
    """The crisis channel's numeric id now (the outbox addresses chats by id): bot/chats.py."""
    return await configured_chat(session, services.settings, chats.CHANNEL, bot=bot)


async def cell_chat_id(session: AsyncSession, services: Services) -> int | None:
    """The crisis cell's group chat (CRISIS_CELL_CHAT_ID) now, or None: bot/chats.py."""
    return await configured_chat(session, services.settings, chats.CELL)


async def cell_targets(session: AsyncSession, services: Services, *, avoid_chat: int | None = None) -> list[int]:
    """Where the crisis cell is told things: its chat, or each reachable member privately.

    `avoid_chat`: a chat that just refused the bot (the cell's own chat, say): members are
    then told privately instead.
    """
    chat = await cell_chat_id(session, services)
    if chat is not None and chat != avoid_chat:
        return [chat]
    members = await store.cell_member_ids(session, services.settings.coordinator_ids)
    return await users_store.reachable_user_ids(session, members)


async def tell_cell(
    session: AsyncSession,
    services: Services,
    *,
    purpose: str,
    render: Callable[[str], tuple[str, notify.Keyboard | None]],
    avoid_chat: int | None = None,
) -> int:
    """Queue a notice to the crisis cell (its chat, else each member in their language)."""
    targets = await cell_targets(session, services, avoid_chat=avoid_chat)
    default = services.settings.default_locale
    chats_ = [t_ for t_ in targets if t_ < 0]
    if chats_:
        text, keyboard = render(default)
        rows = [{"purpose": purpose, "chat_id": c, "payload": notify.message_payload(text, keyboard)} for c in chats_]
        await outbox.enqueue_many(session, rows, priority=outbox.HIGH)
    people = [t_ for t_ in targets if t_ > 0]
    if people:
        await notify.notify(session, people, purpose=purpose, render=render, default_lang=default, priority=outbox.HIGH)
    if targets:
        services.wake_outbox()
    return len(targets)


def refusal_reason(error: str | None, lang: str) -> str:
    """Telegram's refusal, said so that the cell knows what to do."""
    text = (error or "").lower()
    if "kicked" in text:
        key = "crisis.refusal.kicked"
    elif "not a member" in text:
        key = "crisis.refusal.not_member"
    elif "chat not found" in text:
        key = "crisis.refusal.not_found"
    elif "rights" in text:
        key = "crisis.refusal.rights"
    else:
        return t("crisis.refusal.other", lang, html=False, error=(error or "?")[:200])
    return t(key, lang, html=False)


async def audience_label(session: AsyncSession, audience: dict[str, Any], lang: str) -> str:
    kind = audience.get("kind", "all")
    values = list(audience.get("values") or [])
    if kind == "professions":
        return ", ".join(t(f"profession.{v}", lang, html=False) for v in values)
    if kind == "groups":
        ids = {int(v) for v in values}
        names = [g.name for g in await users_store.list_groups(session, include_archived=True) if g.id in ids]
        return ", ".join(names)
    return t("crisis.audience.all", lang, html=False)


# -- how a bulletin reads -----------------------------------------------------------------------
def bulletin_text(
    b: Bulletin, lang: str, *, replaced_by: int | None = None, replaced_link: str | None = None, number: int | str | None = None
) -> str:
    """The bulletin as posted in the channel (HTML); a replaced one says so on top."""
    lines: list[str] = []
    if replaced_by is not None:
        if replaced_link:
            lines.append(t("crisis.post_replaced_link", lang, number=replaced_by, url=replaced_link))
        else:
            lines.append(t("crisis.post_replaced", lang, number=replaced_by))
        lines.append("")
    lines.append(
        t(
            "crisis.post_head",
            lang,
            icon=PRIORITY_ICONS.get(b.priority, ""),
            priority=priority_label(b.priority, lang).upper(),
            category=category_label(b.category, lang),
            number=b.id if number is None else number,
        )
    )
    lines.append(t("crisis.post_title", lang, title=b.title))
    if b.body:
        lines.append(t("crisis.post_body", lang, body=b.body))
    for url in b.links or []:
        lines.append(t("crisis.post_link", lang, url=url))
    if b.attachment_file_id:
        lines.append(t("crisis.post_attachment", lang))
    lines.append(t("crisis.post_source", lang, source=source_label(b.source, lang)))
    if b.replaces_id:
        lines.append(t("crisis.post_replaces", lang, number=b.replaces_id))
    return "\n".join(lines)


def ack_keyboard(bulletin_id: int, lang: str) -> list[list[tuple[str, str]]]:
    return [[(t("crisis.button_ack", lang, html=False), f"ca:ok:{bulletin_id}"), (t("crisis.button_not_concerned", lang, html=False), f"ca:no:{bulletin_id}")]]


def urgent_text(b: Bulletin, lang: str, *, reminder: bool = False, answer: str | None = None) -> str:
    """The private message of an urgent bulletin (or its reminder, or after an answer)."""
    head = t("crisis.urgent_reminder_head" if reminder else "crisis.urgent_head", lang)
    text = f"{head}\n\n{bulletin_text(b, lang)}"
    if answer is not None:
        return f"{text}\n\n" + t(f"crisis.answered_{answer}", lang)
    return f"{text}\n\n" + t("crisis.urgent_please_confirm", lang)


def attachment_payload(kind: str | None, file_id: str, caption: str) -> tuple[str, dict[str, Any]]:
    """(method, payload) re-sending a file Telegram already has, by its file_id."""
    if kind == "photo":  # a caption too long for Telegram is split by the outbox (bot/notify.split_payload)
        return "sendPhoto", {"photo": file_id, "caption": caption, "parse_mode": "HTML"}
    return "sendDocument", {"document": file_id, "caption": caption, "parse_mode": "HTML"}


def keyboard_rows(buttons: Sequence[tuple[str, str]], per_row: int = 2) -> list[list[tuple[str, str]]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


# -- /crise on|off ------------------------------------------------------------------------------
@handler
async def on_crisis_mode(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/crise on|off: daily digests (8 h, 18 h) instead of weekly; announced in the channel."""
    if not require_cell(ctx):
        return
    from bot.digest import next_digest_at

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
        from handlers.reports import deliver_waiting_reports  # reports builds on this module

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
            ctx.say("crisis.phone_shared", [[(ctx.t("crisis.phone_button_unshare"), "tel:off:0")]], phone=ctx.user.phone)
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


@handler
async def on_phone_button(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Button tel:off:0 — stop sharing my number."""
    parts = callback_parts(update, 3)
    if parts is None or parts[1] != "off":
        ctx.answer(ctx.t("common.stale_button"))
        return
    ctx.user.phone = None
    ctx.answer(ctx.t("crisis.phone_unshared"))
    ctx.edit(ctx.t("crisis.phone_unshared"))

