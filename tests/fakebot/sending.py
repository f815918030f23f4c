"""Sending, editing and deleting messages: the part of the Bot API the bot mostly uses.

Each handler validates like Telegram (markup, lengths, keyboards, files), then goes through
`deliver`, the single place where blocking, flood limits and recording happen.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from .formatting import EntityError, render, utf16_len
from .objects import Upload, image_size, photo_sizes
from .registry import method
from .spec import ApiError, MethodSpec, bad_request, missing_param_error, type_fields
from .store import ChatState

if TYPE_CHECKING:
    from .server import FakeBotAPI

JSON = dict[str, Any]
P = dict[str, Any]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
UPLOAD_LIMIT = 50 * 1024 * 1024
PHOTO_LIMIT = 10 * 1024 * 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_BUTTON_ACTIONS = frozenset(type_fields("InlineKeyboardButton")) - {"text", "icon_custom_emoji_id", "style"}
_BUTTON_URL = re.compile(r"^(?:(?:https?|tg|ton)://)?[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?$|^tg://\S+$", re.I)


# --------------------------------------------------------------------------- validation
def formatted(text: str, parse_mode: str | None, entities: list[JSON] | None, *, caption: bool) -> JSON:
    """{"text"/"caption": plain, "entities"/"caption_entities": [...]} as Telegram stores them."""
    try:
        plain, ents = render(text, parse_mode, entities)
    except EntityError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    except ValueError:
        raise bad_request("unsupported parse_mode") from None
    # Telegram counts the text as parsed (tags gone, entities decoded), in UTF-16 code units.
    if caption:
        if utf16_len(plain) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        if not plain:
            return {}
        return {"caption": plain, "caption_entities": ents} if ents else {"caption": plain}
    if not plain:
        raise bad_request("message text is empty")
    if utf16_len(plain) > TEXT_LIMIT:
        raise bad_request("message is too long")
    return {"text": plain, "entities": ents} if ents else {"text": plain}


def caption_of(p: P) -> JSON:
    if not p.get("caption"):
        return {}
    return formatted(p["caption"], p.get("parse_mode"), p.get("caption_entities"), caption=True)


def inline_markup(markup: Any) -> JSON | None:
    """Validate reply_markup; return what Telegram echoes in Message (inline keyboards only)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    for row in rows:
        for b in row:
            if not isinstance(b, dict) or not isinstance(b.get("text"), str):
                raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
            if not any(k in b for k in _BUTTON_ACTIONS):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in b:
                data = b["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in b and (not isinstance(b["url"], str) or not _valid_button_url(b["url"])):
                raise bad_request(f"inline keyboard button URL '{b['url']}' is invalid: Wrong HTTP URL")
    rows = [r for r in rows if r]
    return {"inline_keyboard": rows} if rows else None


def _valid_button_url(url: str) -> bool:
    if not _BUTTON_URL.match(url):
        return False
    host = re.sub(r"^[a-z]+://", "", url, flags=re.I).split("/")[0].split(":")[0].lower()
    return host != "localhost" and not re.fullmatch(r"[\d.]+", host)


# --------------------------------------------------------------------------- delivery
def target(api: FakeBotAPI, p: P) -> ChatState:
    return api.store.chat(p["chat_id"])


def _reply_to(api: FakeBotAPI, chat: ChatState, p: P) -> JSON | None:
    rp = p.get("reply_parameters")
    if not isinstance(rp, dict) or "message_id" not in rp:
        return None
    src_chat = api.store.chat(rp["chat_id"]) if rp.get("chat_id") not in (None, chat.id) else chat
    msg = src_chat.msgs.get(rp["message_id"])
    if msg is None:
        if rp.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")
    return {k: v for k, v in msg.items() if k != "reply_to_message"}


def deliver(api: FakeBotAPI, chat: ChatState, p: P, content: JSON, markup: Any = None) -> JSON:
    """Common tail of every send: 403/429 checks, then build, record and return the Message."""
    echoed = inline_markup(markup if markup is not None else p.get("reply_markup"))
    reply = _reply_to(api, chat, p)
    if not p.get("_admitted"):
        api._admit_send(chat, bool(p.get("allow_paid_broadcast")))
    msg: JSON = {"message_id": chat.take_message_id()}
    if chat.chat["type"] == "channel":
        msg["sender_chat"] = chat.chat
    else:
        msg["from"] = api.bot_user
    msg["chat"] = chat.chat
    msg["date"] = int(time.time())
    if reply is not None:
        msg["reply_to_message"] = reply
    msg.update(content)
    if p.get("protect_content"):
        msg["has_protected_content"] = True
    if echoed is not None:
        msg["reply_markup"] = echoed
    api._record_send(chat, msg)
    return msg


# --------------------------------------------------------------------------- sends
@method("sendMessage")
def send_message(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = target(api, p)
    content = formatted(p["text"], p.get("parse_mode"), p.get("entities"), caption=False)
    return deliver(api, chat, p, content)


def _check_upload(up: Upload) -> None:
    if not up.content:
        raise bad_request("file must be non-empty")
    if len(up.content) > UPLOAD_LIMIT:
        raise ApiError(413, "Request Entity Too Large")


def document_of(api: FakeBotAPI, value: Any, kind: str = "document") -> tuple[JSON, Upload | None]:
    """The Document-like object for an upload, a known file_id, or an HTTP URL."""
    if isinstance(value, Upload):
        _check_upload(value)
        sf = api.store.store_upload(kind, value)
        return {
            "file_name": sf.file_name,
            "mime_type": sf.mime_type,
            "file_id": sf.file_id,
            "file_unique_id": sf.file_unique_id,
            "file_size": len(sf.content),
        }, value
    if isinstance(value, str):
        known = api.store.files.get(value)
        if known is not None:
            doc = {"file_id": known.file_id, "file_unique_id": known.file_unique_id, "file_size": len(known.content)}
            if known.file_name:
                doc["file_name"] = known.file_name
            if known.mime_type:
                doc["mime_type"] = known.mime_type
            return doc, None
        if re.match(r"^https?://", value):
            name = value.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "file"
            sf = api.store.store_file(kind, b"", name, None)
            return {"file_name": name, "file_id": sf.file_id, "file_unique_id": sf.file_unique_id}, None
    raise bad_request("wrong file identifier/HTTP URL specified")


@method("sendDocument")
def send_document(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = target(api, p)
    doc, up = document_of(api, p["document"])
    content = {"document": doc, **caption_of(p)}
    msg = deliver(api, chat, p, content)
    if up is not None:
        api.store.uploads.append((chat.id, doc["file_name"], up.content, content.get("caption")))
    return msg


def photo_of(api: FakeBotAPI, value: Any) -> tuple[list[JSON], Upload | None]:
    if isinstance(value, Upload):
        _check_upload(value)
        if len(value.content) > PHOTO_LIMIT:
            raise bad_request("PHOTO_SAVE_FILE_INVALID")
        wh = image_size(value.content)
        if wh is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        w, h = wh
        if w + h > 10000 or max(w, h) > 20 * max(1, min(w, h)):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        sf = api.store.store_upload("photo", value)
        sizes = photo_sizes(sf.file_id, sf.file_unique_id, len(sf.content), wh)
        for s in sizes:
            api.store.alias_file(s["file_id"], sf)
        return sizes, value
    if isinstance(value, str):
        known = api.store.files.get(value)
        if known is not None:
            wh = image_size(known.content) or (800, 600)
            return photo_sizes(known.file_id, known.file_unique_id, len(known.content), wh), None
        if re.match(r"^https?://", value):
            sf = api.store.store_file("photo", b"", value.rsplit("/", 1)[-1] or "photo.jpg", "image/jpeg")
            return photo_sizes(sf.file_id, sf.file_unique_id, 0, (800, 600)), None
    raise bad_request("wrong file identifier/HTTP URL specified")


@method("sendPhoto")
def send_photo(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = target(api, p)
    sizes, up = photo_of(api, p["photo"])
    content = {"photo": sizes, **caption_of(p)}
    msg = deliver(api, chat, p, content)
    if up is not None:
        api.store.uploads.append((chat.id, up.filename or "photo.jpg", up.content, content.get("caption")))
    return msg


@method("sendMediaGroup")
def send_media_group(api: FakeBotAPI, spec: MethodSpec, p: P) -> list[JSON]:
    chat = target(api, p)
    media = p["media"]
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise bad_request("wrong number of media specified")
    contents: list[tuple[JSON, Upload | None, str]] = []
    for item in media:
        if not isinstance(item, dict) or item.get("type") not in ("photo", "document", "video", "audio"):
            raise bad_request("wrong media type specified")
        cap = caption_of(item)
        if item["type"] == "photo":
            sizes, up = photo_of(api, item.get("media"))
            contents.append(({"photo": sizes, **cap}, up, up.filename if up and up.filename else "photo.jpg"))
        else:
            doc, up = document_of(api, item.get("media"), item["type"])
            contents.append(({item["type"]: doc, **cap}, up, doc.get("file_name", "file")))
    api._admit_send(chat, bool(p.get("allow_paid_broadcast")))
    group_id = str(10**17 + len(api.store.sent))
    out = []
    for content, up, name in contents:
        msg = deliver(api, chat, {**p, "reply_markup": None, "_admitted": True}, {"media_group_id": group_id, **content})
        if up is not None:
            api.store.uploads.append((chat.id, name, up.content, content.get("caption")))
        out.append(msg)
    return out


@method("copyMessage", "forwardMessage")
def copy_or_forward(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = target(api, p)
    src_chat = api.store.chat(p["from_chat_id"])
    src = src_chat.msgs.get(p["message_id"])
    verb = "copy" if spec.name == "copyMessage" else "forward"
    if src is None:
        raise bad_request(f"message to {verb} not found")
    content = {k: v for k, v in src.items() if k in _CONTENT_KEYS}
    if verb == "forward":
        if "sender_chat" in src and src_chat.chat["type"] == "channel":
            origin = {"type": "channel", "date": src["date"], "chat": src_chat.chat, "message_id": src["message_id"]}
        elif "from" in src:
            origin = {"type": "user", "date": src["date"], "sender_user": src["from"]}
        else:
            origin = {"type": "chat", "date": src["date"], "sender_chat": src_chat.chat}
        msg = deliver(api, chat, {**p, "reply_markup": None}, {"forward_origin": origin, **content})
        return msg
    if "caption" in p:
        content.pop("caption", None)
        content.pop("caption_entities", None)
        content.update(caption_of(p))
    msg = deliver(api, chat, p, content)
    return {"message_id": msg["message_id"]}


_CONTENT_KEYS = frozenset(
    ("text", "entities", "caption", "caption_entities", "document", "photo", "poll", "audio", "video",
     "voice", "sticker", "animation", "location", "contact", "venue", "dice", "video_note")
)


# --------------------------------------------------------------------------- edits
def edit_target(api: FakeBotAPI, p: P) -> tuple[ChatState, JSON] | None:
    """(chat, current message) for chat_id+message_id edits; None for inline-message edits."""
    if p.get("inline_message_id"):
        return None
    for name in ("chat_id", "message_id"):
        if p.get(name) in (None, ""):
            raise missing_param_error(name)
    chat = api.store.chat(p["chat_id"])
    api._check_bot_in_chat(chat)
    msg = chat.msgs.get(p["message_id"])
    if msg is None:
        raise bad_request("message to edit not found")
    if p["message_id"] not in chat.live:
        raise bad_request("message can't be edited")
    return chat, msg


def _apply_edit(api: FakeBotAPI, chat: ChatState, msg: JSON, drop: tuple[str, ...], content: JSON, markup: JSON | None) -> JSON:
    new = {k: v for k, v in msg.items() if k not in drop and k not in ("reply_markup", "edit_date")}
    new.update(content)
    new["edit_date"] = int(time.time())
    if markup is not None:
        new["reply_markup"] = markup
    api.store.replace(chat, new)
    return new


@method("editMessageText")
def edit_message_text(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON | bool:
    where = edit_target(api, p)
    if not p.get("text"):
        raise bad_request("message text is empty")
    content = formatted(p["text"], p.get("parse_mode"), p.get("entities"), caption=False)
    markup = inline_markup(p.get("reply_markup"))
    if where is None:
        return True
    chat, msg = where
    if "text" not in msg:
        raise bad_request("there is no text in the message to edit")
    if (
        msg["text"] == content["text"]
        and msg.get("entities", []) == content.get("entities", [])
        and msg.get("reply_markup") == markup
    ):
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(api, chat, msg, ("text", "entities"), content, markup)


@method("editMessageCaption")
def edit_message_caption(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON | bool:
    where = edit_target(api, p)
    content = caption_of(p)
    markup = inline_markup(p.get("reply_markup"))
    if where is None:
        return True
    chat, msg = where
    if "text" in msg or "poll" in msg:
        raise bad_request("there is no caption in the message to edit")
    if (
        msg.get("caption") == content.get("caption")
        and msg.get("caption_entities", []) == content.get("caption_entities", [])
        and msg.get("reply_markup") == markup
    ):
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(api, chat, msg, ("caption", "caption_entities"), content, markup)


@method("editMessageReplyMarkup")
def edit_message_reply_markup(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON | bool:
    where = edit_target(api, p)
    markup = inline_markup(p.get("reply_markup"))
    if where is None:
        return True
    chat, msg = where
    if msg.get("reply_markup") == markup:
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(api, chat, msg, (), {}, markup)


@method("deleteMessage")
def delete_message(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    chat = target(api, p)
    if p["message_id"] not in chat.msgs:
        raise bad_request("message to delete not found")
    api.store.remove(chat, p["message_id"])
    return True


@method("deleteMessages")
def delete_messages(api: FakeBotAPI, spec: MethodSpec, p: P) -> bool:
    chat = target(api, p)
    ids = p["message_ids"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise bad_request("message_ids must be a non-empty list of at most 100 identifiers")
    for mid in ids:
        api.store.remove(chat, mid)
    return True


# --------------------------------------------------------------------------- polls
@method("sendPoll")
def send_poll(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = target(api, p)
    question = p["question"]
    if not 1 <= len(question) <= 300:
        raise bad_request("POLL_QUESTION_INVALID")
    options = p["options"]
    if not isinstance(options, list) or not 1 <= len(options) <= 12:
        raise bad_request("POLL_ANSWERS_INVALID")
    texts = [o if isinstance(o, str) else (o.get("text") if isinstance(o, dict) else None) for o in options]
    if any(not isinstance(t, str) or not 1 <= len(t) <= 100 for t in texts):
        raise bad_request("POLL_OPTION_INVALID")
    poll_type = p.get("type") or "regular"
    if poll_type not in ("regular", "quiz"):
        raise bad_request("wrong poll type specified")
    anonymous = p.get("is_anonymous", True)
    if chat.chat["type"] == "channel" and not anonymous:
        raise bad_request("non-anonymous polls can't be sent to channel chats")
    poll_id = str(5_000_000_000_000_000_000 + len(api.store.polls))
    poll: JSON = {
        "id": poll_id,
        "question": question,
        "options": [{"persistent_id": str(i), "text": t, "voter_count": 0} for i, t in enumerate(texts)],
        "total_voter_count": 0,
        "is_closed": bool(p.get("is_closed", False)),
        "is_anonymous": anonymous,
        "type": poll_type,
        "allows_multiple_answers": bool(p.get("allows_multiple_answers", False)),
        "allows_revoting": bool(p.get("allows_revoting", poll_type == "regular")),
        "members_only": bool(p.get("members_only", False)),
    }
    for key in ("correct_option_ids", "explanation", "open_period", "close_date", "description"):
        if p.get(key) is not None:
            poll[key] = p[key]
    msg = deliver(api, chat, p, {"poll": poll})
    api.store.polls[poll_id] = (chat.id, msg["message_id"])
    api.store.poll_votes[poll_id] = {}
    return msg


@method("stopPoll")
def stop_poll(api: FakeBotAPI, spec: MethodSpec, p: P) -> JSON:
    chat = target(api, p)
    msg = chat.live.get(p["message_id"])
    if msg is None or "poll" not in msg:
        raise bad_request("message with poll to stop not found")
    if msg["poll"]["is_closed"]:
        raise bad_request("poll has already been closed")
    poll = {**msg["poll"], "is_closed": True}
    markup = inline_markup(p.get("reply_markup"))
    new = {k: v for k, v in msg.items() if k != "reply_markup"}
    new["poll"] = poll
    if markup is not None:
        new["reply_markup"] = markup
    api.store.replace(chat, new)
    return poll
