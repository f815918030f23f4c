"""Crisis communication, shared parts: roles, labels, how a bulletin reads, and the small
crisis commands (/crise, /cellule, /telephone).

The bulletin workflow is in handlers/bulletins.py, field reports in handlers/reports.py,
digests and the printable kit in handlers/digests.py and bot/digest.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import notify
from bot.i18n import t
from bot.patient_data import find_patient_data
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


def refuse_patient_data(ctx: Ctx, text: str | None) -> bool:
    """Refuse (and say why) text that looks like it identifies a patient; nothing is stored."""
    finding = find_patient_data(text)
    if finding is None:
        return False
    ctx.say(f"crisis.patient_data_{finding}")
    return True


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


_RESOLVED: dict[str, int] = {}


async def channel_chat_id(services: Services, bot: Bot | None) -> int | None:
    """The crisis channel's numeric id (the outbox addresses chats by id).

    CRISIS_CHANNEL_ID may be "@name": it is resolved once per process with getChat (the
    only Telegram call made before a reply; it happens once, then comes from memory).
    """
    chat = services.settings.crisis_channel_id
    if chat is None or isinstance(chat, int):
        return chat
    if chat in _RESOLVED:
        return _RESOLVED[chat]
    if bot is None:
        return None
    try:
        _RESOLVED[chat] = (await bot.get_chat(chat)).id
    except TelegramError as exc:
        log.error("CRISIS_CHANNEL_ID %s: %s", chat, exc)
        return None
    return _RESOLVED[chat]


async def audience_label(session: AsyncSession, audience: dict[str, Any], lang: str) -> str:
    kind = audience.get("kind", "all")
    values = list(audience.get("values") or [])
    if kind == "professions":
        return ", ".join(t(f"profession.{v}", lang, html=False) for v in values)
    if kind == "groups":
        ids = {int(v) for v in values}
        names = [g.name for g in await users_store.list_groups(session) if g.id in ids]
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
    ctx.say("crisis.mode_switched_on" if on else "crisis.mode_switched_off", next=when_label(ctx, when))
    channel = await channel_chat_id(ctx.services, context.bot)
    if channel is not None:
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
    from babel.dates import format_datetime

    return format_datetime(when, "EEEE d MMMM, HH:mm", tzinfo=ctx.services.tz, locale=ctx.lang)


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

