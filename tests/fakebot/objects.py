"""Builders for the Bot API objects the fake hands out (User, Chat, files, entities).

Kept apart from the server so that the shapes, which must match api.json, are easy to audit.
"""

from __future__ import annotations

import itertools
import mimetypes
import re
import struct
from dataclasses import dataclass
from typing import Any

from .formatting import utf16_len

JSON = dict[str, Any]

CHAT_TYPES = ("private", "group", "supergroup", "channel")


def _drop_none(d: JSON) -> JSON:
    return {k: v for k, v in d.items() if v is not None}


def user(
    user_id: int,
    first_name: str,
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
    is_bot: bool = False,
) -> JSON:
    """A User object as it appears in updates."""
    return _drop_none(
        {
            "id": user_id,
            "is_bot": is_bot,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
    )


def private_chat(u: JSON) -> JSON:
    """The Chat of a user's private conversation with the bot."""
    return _drop_none(
        {
            "id": u["id"],
            "type": "private",
            "first_name": u["first_name"],
            "last_name": u.get("last_name"),
            "username": u.get("username"),
        }
    )


def group_chat(chat_id: int, type_: str, title: str, username: str | None = None) -> JSON:
    return _drop_none({"id": chat_id, "type": type_, "title": title, "username": username})


_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def command_entities(text: str) -> list[JSON]:
    """bot_command entities Telegram attaches to a user's message ("/start", "/cmd@bot")."""
    if "/" not in text:
        return []
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        for m in _COMMAND.finditer(text)
    ]


# --------------------------------------------------------------------------- files
@dataclass(slots=True)
class Upload:
    """A file part received in a multipart request."""

    filename: str | None
    content: bytes
    content_type: str | None

    def __repr__(self) -> str:  # keep api.calls readable
        return f"Upload({self.filename!r}, {len(self.content)} bytes)"


@dataclass(slots=True)
class StoredFile:
    """A file known to the fake: downloadable through getFile + the file URL."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None
    mime_type: str | None

    def as_file(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


class FileIds:
    """Telegram-looking, unique file ids."""

    _PREFIX = {"document": "BQACAgQAAxkBAAI", "photo": "AgACAgQAAxkBAAI"}

    def __init__(self) -> None:
        self._seq = itertools.count(1)

    def new(self, kind: str, filename: str | None) -> tuple[str, str, str]:
        n = next(self._seq)
        prefix = self._PREFIX.get(kind, "CAACAgQAAxkBAAI")
        ext = "jpg" if kind == "photo" else (filename.rsplit(".", 1)[-1] if filename and "." in filename else "bin")
        folder = {"photo": "photos", "document": "documents"}.get(kind, kind + "s")
        return f"{prefix}{n:08d}", f"AgAD{n:06d}", f"{folder}/file_{n}.{ext}"


def guess_mime(filename: str | None, declared: str | None) -> str:
    """Telegram derives the MIME type from the file name, like this."""
    guessed = mimetypes.guess_type(filename or "")[0]
    return guessed or declared or "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG/JPEG/GIF/WEBP/BMP image, None when it is not one Telegram reads."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return w, h
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return w, abs(h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L":
            b = data[21:25]
            w = 1 + (((b[1] & 0x3F) << 8) | b[0])
            h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
            return w, h
        if chunk == b"VP8X":
            w = 1 + int.from_bytes(data[24:27], "little")
            h = 1 + int.from_bytes(data[27:30], "little")
            return w, h
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + seg_len
    return None


def photo_sizes(file_id: str, unique_id: str, size: int, wh: tuple[int, int]) -> list[JSON]:
    """PhotoSize list, smallest first, like Telegram (a thumbnail, then the full picture)."""
    w, h = wh
    scale = min(1.0, 1280 / max(w, h))
    full = {"file_id": file_id, "file_unique_id": unique_id, "file_size": size,
            "width": max(1, round(w * scale)), "height": max(1, round(h * scale))}
    if max(w, h) <= 90:
        return [full]
    t = 90 / max(w, h)
    thumb = {"file_id": file_id + "_s", "file_unique_id": unique_id + "s", "file_size": min(size, 4096),
             "width": max(1, round(w * t)), "height": max(1, round(h * t))}
    return [thumb, full]
