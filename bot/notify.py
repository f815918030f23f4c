"""Queue a localized message to people who are not the one talking to the bot right now.

Each recipient reads it in their own language; it goes through the outbox, so it is sent
once, at Telegram's pace, even if the process stops right after the change.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from storage import outbox
from storage.users import reachable_languages

Keyboard = list[list[tuple[str, str]]]

# Telegram's limits, counted in UTF-16 code units of the text as shown (after HTML parsing).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CAPTIONED = frozenset({"sendDocument", "sendPhoto", "sendVideo", "sendAudio", "sendAnimation", "sendVoice"})
_HTML_TOKEN = re.compile(r"<[^>]*>|&#?[0-9A-Za-z]+;|\n|[^<&\n]+|[<&]")
_PLAIN_TOKEN = re.compile(r"\n|[^\n]+")
_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)")
_TAGS = re.compile(r"<[^>]*>")


def keyboard_json(keyboard: Keyboard | None) -> dict[str, Any] | None:
    """Our (label, data) rows as the JSON `reply_markup` Telegram expects."""
    if not keyboard:
        return None
    return {
        "inline_keyboard": [
            [
                {"text": label, "url": data[4:]} if data.startswith("url:") else {"text": label, "callback_data": data}
                for label, data in row
            ]
            for row in keyboard
            if row
        ]
    }


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: characters outside the BMP (most emoji) count twice."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def visible_length(text: str, *, is_html: bool = True) -> int:
    """How long Telegram finds `text`: tags removed, each entity counted as the character it stands for."""
    if is_html and ("<" in text or "&" in text):
        text = html.unescape(_TAGS.sub("", text))
    return utf16_len(text)


def split_text(text: str, limit: int = TEXT_LIMIT, *, first: int | None = None, is_html: bool = True) -> list[str]:
    """`text` as one or more messages Telegram accepts: each within `limit` (the first within
    `first`, e.g. a caption), cut after a line when a line ends in reach, else at a space,
    never inside an HTML tag or entity; elements open at a cut are closed there and opened
    again at the start of the next part, so every part is valid HTML on its own."""
    first_limit = limit if first is None else first
    # The usual case, without parsing: tags and entities only ever shorten what Telegram counts.
    if utf16_len(text) <= first_limit or visible_length(text, is_html=is_html) <= first_limit:
        return [text]
    parts: list[str] = []
    budget = first_limit
    pieces: list[str] = []
    width = 0
    stack: list[tuple[str, str]] = []  # (name, opening tag) of the elements open at the end of `pieces`
    line_end: tuple[int, int, list[tuple[str, str]]] | None = None  # after the last newline: (index, width, open)

    def cut(upto: int, cut_width: int, open_tags: list[tuple[str, str]]) -> None:
        """End the current part after pieces[:upto]; what follows starts the next one."""
        nonlocal pieces, width, budget, line_end
        body = "".join(pieces[:upto]).rstrip("\n")
        shown = html.unescape(_TAGS.sub("", body)) if is_html else body
        if shown.strip():
            parts.append(body + "".join(f"</{name}>" for name, _ in reversed(open_tags)))
        pieces = [tag for _, tag in open_tags] + pieces[upto:]
        width -= cut_width
        budget, line_end = (limit if parts else first_limit), None

    for token in (_HTML_TOKEN if is_html else _PLAIN_TOKEN).findall(text):
        tag = _TAG.match(token) if is_html and token.startswith("<") and token.endswith(">") else None
        if tag is not None:
            name = tag.group(2).lower()
            if tag.group(1):
                for i in range(len(stack) - 1, -1, -1):
                    if stack[i][0] == name:
                        del stack[i]
                        break
            else:
                stack.append((name, token))
            pieces.append(token)
            continue
        w = _token_width(token, is_html)
        while token and width + w > budget:
            if line_end is not None:  # after the last complete line
                cut(*line_end)
                continue
            splittable = token != "\n" and not (is_html and token.startswith("&"))
            head, rest = _fit(token, budget - width) if splittable else ("", token)
            if not head and width == 0:  # not even one character fits an empty part: take it anyway
                break
            if head:  # a line longer than a message: cut it at a space
                pieces.append(head)
                width += utf16_len(head)
                token, w = rest, utf16_len(rest)
            cut(len(pieces), width, list(stack))
        if not token:
            continue
        pieces.append(token)
        width += w
        if token == "\n":
            line_end = (len(pieces), width, list(stack))
    cut(len(pieces), width, list(stack))
    return parts or [text]


def _token_width(token: str, is_html: bool) -> int:
    if is_html and token.startswith("&") and token.endswith(";"):
        return utf16_len(html.unescape(token))
    return utf16_len(token)


def _fit(run: str, room: int) -> tuple[str, str]:
    """(head, rest) of a run of plain characters: the head within `room` UTF-16 units, ending at a
    space when there is one in reach (the space stays at the end of the head)."""
    if utf16_len(run) <= room:
        return run, ""
    used, end = 0, 0
    for end, ch in enumerate(run):  # noqa: B007  `end` is read after the loop: where the room ran out
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            break
    space = run.rfind(" ", 0, end)
    cut = space + 1 if space > 0 else end
    return run[:cut], run[cut:]


def split_payload(method: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Bot API call whose text or caption is too long for Telegram, as the call with its
    first part and the `sendMessage` payloads (no chat_id) of the parts that follow, the
    keyboard moving to the last one. For an edit: the message becomes the first part."""
    is_html = params.get("parse_mode") == "HTML"
    if params.get("parse_mode") not in (None, "HTML"):
        return params, []  # Markdown: never produced by this bot
    if method in ("sendMessage", "editMessageText") and isinstance(params.get("text"), str):
        key, parts = "text", split_text(params["text"], is_html=is_html)
    elif method in CAPTIONED and isinstance(params.get("caption"), str):
        key, parts = "caption", split_text(params["caption"], first=CAPTION_LIMIT, is_html=is_html)
    else:
        return params, []
    if len(parts) == 1:
        return params, []
    head = {k: v for k, v in params.items() if k != "reply_markup"}
    head[key] = parts[0]
    keyboard = params.get("reply_markup")
    rest: list[dict[str, Any]] = []
    for i, part in enumerate(parts[1:], start=2):
        payload: dict[str, Any] = {"text": part, "link_preview_options": {"is_disabled": True}}
        if is_html:
            payload["parse_mode"] = "HTML"
        if i == len(parts) and keyboard:
            payload["reply_markup"] = keyboard
        rest.append(payload)
    return head, rest


def message_payload(text: str, keyboard: Keyboard | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text, "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
    markup = keyboard_json(keyboard)
    if markup:
        payload["reply_markup"] = markup
    return payload


async def languages(session: AsyncSession, user_ids: Iterable[int], default: str) -> dict[int, str]:
    """Each reachable recipient's language; unreachable users (blocked the bot) are left out."""
    return await reachable_languages(session, user_ids, default)


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


def simple(
    key: str, keyboard: Callable[[str], Keyboard | None] | None = None, **params: Any
) -> Callable[[str], tuple[str, Keyboard | None]]:
    """A `render` for a plain catalogue message."""
    return lambda lang: (t(key, lang, **params), keyboard(lang) if keyboard else None)
