"""The text a PDF shows, for tests: what fpdf2 writes (Identity-H fonts with a ToUnicode map).

Enough to assert what a person reading the printed crisis kit sees, without a PDF library:
objects are found by regex, content streams inflated, and each shown string decoded through
its font's ToUnicode table (two bytes per glyph).
"""

from __future__ import annotations

import re
import zlib

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_FONT_REF = re.compile(rb"/(F\d+) (\d+) 0 R")
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>")
_SHOW = re.compile(rb"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\)\s*Tj|\[((?:\\.|[^\]\\])*)\]\s*TJ", re.S)
_STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\)")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}


def _stream(body: bytes) -> bytes:
    found = _STREAM.search(body)
    if found is None:
        return b""
    raw = found.group(1)
    return zlib.decompress(raw) if b"FlateDecode" in body[: found.start()] else raw


def _unescape(literal: bytes) -> bytes:
    """A PDF literal string's bytes (backslash escapes, octal codes)."""
    out = bytearray()
    i = 0
    while i < len(literal):
        if literal[i] != 0x5C:
            out.append(literal[i])
            i += 1
            continue
        following = literal[i + 1]
        if following in b"01234567":
            j = i + 1
            while j < len(literal) and j < i + 4 and literal[j] in b"01234567":
                j += 1
            out.append(int(literal[i + 1 : j], 8) & 0xFF)
            i = j
            continue
        out.append(_ESCAPES.get(following, following))
        i += 2
    return bytes(out)


def pdf_text(data: bytes) -> str:
    """Every string the PDF shows, one per line, in drawing order."""
    objects = {int(m.group(1)): m.group(2) for m in _OBJECT.finditer(data)}
    fonts = {name.decode(): int(ref) for body in objects.values() for name, ref in _FONT_REF.findall(body)}
    maps: dict[str, dict[int, str]] = {}
    for name, ref in fonts.items():
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", objects[ref])
        table = _stream(objects[int(to_unicode.group(1))]) if to_unicode else b""
        maps[name] = {int(a, 16): bytes.fromhex(b.decode()).decode("utf-16-be") for a, b in _BFCHAR.findall(table)}
    lines = []
    for _, body in sorted(objects.items()):
        content = _stream(body) if b"stream" in body else b""
        if b" Tf" not in content:
            continue
        font: str | None = None
        for token in _SHOW.finditer(content):
            if token.group(1):
                font = token.group(1).decode()
                continue
            if token.group(2) is not None:
                raw = _unescape(token.group(2))
            else:
                raw = b"".join(_unescape(part) for part in _STRING.findall(token.group(3)))
            table = maps.get(font or "", {})
            lines.append(
                "".join(table.get(int.from_bytes(raw[i : i + 2], "big"), "?") for i in range(0, len(raw) - 1, 2))
            )
    return "\n".join(lines)
