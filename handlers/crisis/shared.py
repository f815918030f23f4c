"""Crisis communication, shared parts: roles, labels, how a bulletin reads, who hears the cell.

The bulletin workflow is in handlers/crisis/bulletins.py, field reports in handlers/crisis/reports.py,
digests and the printable kit in handlers/crisis/digests.py and handlers/crisis/digest.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot

from bot import chats, notify
from bot.chats import configured_chat
from bot.i18n import t
from bot.services import Services
from handlers.core.common import Ctx
from storage import crisis as store
from storage import outbox
from storage import users as users_store
from storage.crisis_models import Bulletin

log = logging.getLogger(__name__)

PRIORITY_ICONS = {"urgent": "🔴", "important": "🟠", "info": "🔵"}
CATEGORY_ICONS = {"epidemic": "🦠", "shortage": "💊", "cyber": "🖥️", "care_org": "🏥", "prevention": "🛡️", "other": "📌"}


# -- roles --------------------------------------------------------------------------------------
def require_cell(ctx: Ctx) -> bool:
    """True for crisis-cell members; otherwise a polite refusal (button notice and message)."""
    if ctx.is_crisis_cell:
        return True
    ctx.refuse("crisis.not_allowed")
    return False


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
    b: Bulletin,
    lang: str,
    *,
    replaced_by: int | None = None,
    replaced_link: str | None = None,
    number: int | str | None = None,
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
    return [
        [
            (t("crisis.button_ack", lang, html=False), f"ca:ok:{bulletin_id}"),
            (t("crisis.button_not_concerned", lang, html=False), f"ca:no:{bulletin_id}"),
        ]
    ]


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
