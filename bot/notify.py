"""Queue a localized message to people who are not the one talking to the bot right now.

Each recipient reads it in their own language; it goes through the outbox, so it is sent
once, at Telegram's pace, even if the process stops right after the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from storage import outbox
from storage.models import User

Keyboard = list[list[tuple[str, str]]]


def keyboard_json(keyboard: Keyboard | None) -> dict[str, Any] | None:
    """Our (label, data) rows as the JSON `reply_markup` Telegram expects."""
    if not keyboard:
        return None
    return {
        "inline_keyboard": [
            [{"text": label, "url": data[4:]} if data.startswith("url:") else {"text": label, "callback_data": data} for label, data in row]
            for row in keyboard
            if row
        ]
    }


def message_payload(text: str, keyboard: Keyboard | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text, "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
    markup = keyboard_json(keyboard)
    if markup:
        payload["reply_markup"] = markup
    return payload


async def languages(session: AsyncSession, user_ids: Iterable[int], default: str) -> dict[int, str]:
    """Each reachable recipient's language; unreachable users (blocked the bot) are left out."""
    ids = list(user_ids)
    result: dict[int, str] = {}
    for start in range(0, len(ids), 1000):
        rows = await session.execute(
            select(User.id, User.language).where(User.id.in_(ids[start : start + 1000]), User.unreachable_at.is_(None))
        )
        result.update({uid: lang or default for uid, lang in rows})
    return result


async def notify(
    session: AsyncSession,
    user_ids: Iterable[int],
    *,
    purpose: str,
    render: Callable[[str], tuple[str, Keyboard | None]],
    default_lang: str = "fr",
    priority: int = outbox.HIGH,
    due_at: datetime | None = None,
    not_after: datetime | None = None,
    send_id: int | None = None,
    mentions: Sequence[int] = (),
) -> int:
    """Queue `render(lang)` (text, keyboard) for each user; returns how many were queued.

    `mentions`: the people the text names (its author…), recorded for /mesdonnees and /oublier.
    """
    langs = await languages(session, user_ids, default_lang)
    rendered: dict[str, dict[str, Any]] = {}
    rows = []
    for uid, lang in langs.items():
        if lang not in rendered:
            text, keyboard = render(lang)
            rendered[lang] = message_payload(text, keyboard)
        rows.append({"purpose": purpose, "chat_id": uid, "user_id": uid, "payload": rendered[lang]})
    await outbox.enqueue_many(
        session, rows, priority=priority, due_at=due_at, not_after=not_after, send_id=send_id, mentions=mentions
    )
    return len(rows)


def simple(key: str, keyboard: Callable[[str], Keyboard | None] | None = None, **params: Any) -> Callable[[str], tuple[str, Keyboard | None]]:
    """A `render` for a plain catalogue message."""
    return lambda lang: (t(key, lang, **params), keyboard(lang) if keyboard else None)
