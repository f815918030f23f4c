"""Telegram's text formatting (HTML, MarkdownV2, legacy Markdown) parsed like the server does.

Telegram refuses a message whose markup it cannot parse ("can't parse entities: ..."), and it
returns the message as plain text plus entities. Doing the same here lets tests prove that the
bot escapes user-supplied text, and that what the user sees is what the test reads.
Error wording follows TDLib's parsers (which produce Telegram's descriptions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]


class EntityError(ValueError):
    """Markup Telegram cannot parse; the message is the part after "can't parse entities: "."""


def utf16_len(s: str) -> int:
    """Entity offsets/lengths are counted in UTF-16 code units."""
    return len(s.encode("utf-16-le")) // 2


def _byte_offset(text: str, pos: int) -> int:
    return len(text[:pos].encode("utf-8"))


_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _html_entity(text: str, i: int) -> tuple[str | None, int]:
    """Decode `&name;` / `&#N;` / `&#xN;` at i; (None, i) when it is not one (kept literally)."""
    end = text.find(";", i + 1, i + 12)
    if end < 0:
        return None, i
    body = text[i + 1 : end]
    if body.startswith("#"):
        try:
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
        except ValueError:
            return None, i
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), end + 1
        return None, i
    if body in _NAMED:
        return _NAMED[body], end + 1
    return None, i


_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
HTML_TAGS = frozenset(_HTML_SIMPLE) | {"a", "code", "pre", "blockquote", "tg-emoji"}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(slots=True)
class _Open:
    tag: str
    start: int  # utf-16 offset in the output
    byte: int  # byte offset of the opening marker in the input (for errors)
    attrs: dict[str, str] = field(default_factory=dict)


def _html_close(op: _Open, end: int, inner: str, entities: list[Entity]) -> None:
    length = end - op.start
    if length <= 0:
        return
    ent: Entity = {"offset": op.start, "length": length}
    tag = op.tag
    if tag in _HTML_SIMPLE:
        ent["type"] = _HTML_SIMPLE[tag]
    elif tag == "a":
        url = op.attrs.get("href") or inner
        if not url or url.startswith("tg://user?id="):
            return
        ent["type"] = "text_link"
        ent["url"] = url if _SCHEME.match(url) else "http://" + url
    elif tag == "code":
        ent["type"] = "code"
        lang = op.attrs.get("class", "")
        if (
            entities
            and entities[-1]["type"] == "pre"
            and entities[-1]["offset"] == op.start
            and entities[-1]["length"] == length
        ):
            return
        if lang.startswith("language-"):
            ent["_language"] = lang[len("language-") :]
    elif tag == "pre":
        last = entities[-1] if entities else None
        ent["type"] = "pre"
        if last and last["type"] == "code" and last["offset"] == op.start and last["length"] == length:
            entities.pop()
            if last.get("_language"):
                ent["language"] = last["_language"]
    elif tag == "blockquote":
        ent["type"] = "expandable_blockquote" if "expandable" in op.attrs else "blockquote"
    elif tag == "tg-emoji":
        emoji_id = op.attrs.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise EntityError("Invalid custom emoji identifier specified")
        ent["type"] = "custom_emoji"
        ent["custom_emoji_id"] = emoji_id
    entities.append(ent)


def parse_html(text: str) -> tuple[str, list[Entity]]:
    """Telegram "HTML style": returns (plain text, entities) or raises EntityError."""
    if "<" not in text and "&" not in text:
        return text, []
    out: list[str] = []
    u16 = 0
    entities: list[Entity] = []
    stack: list[_Open] = []
    starts: list[int] = []  # index in `out` where each open tag's content starts
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            dec, j = _html_entity(text, i)
            if dec is not None:
                out.append(dec)
                u16 += utf16_len(dec)
                i = j
                continue
        if c != "<":
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise EntityError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise EntityError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            top = stack[-1]
            if name and name != top.tag:
                raise EntityError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{top.tag}>", found "</{name}>"'
                )
            stack.pop()
            _html_close(top, u16, "".join(out[starts.pop() :]), entities)
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise EntityError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        name = text[i:j].lower()
        if name not in HTML_TAGS:
            raise EntityError(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}')
        attrs, j = _html_attrs(text, j, name, begin)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}'
            )
        stack.append(_Open(name, u16, _byte_offset(text, begin), attrs))
        starts.append(len(out))
        i = j
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    for e in entities:
        e.pop("_language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_attrs(text: str, j: int, name: str, begin: int) -> tuple[dict[str, str], int]:
    """Parse `attr=value ...>` from j; returns (attrs, index after '>')."""
    n = len(text)
    attrs: dict[str, str] = {}
    where = _byte_offset(text, begin)
    while True:
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise EntityError(f'Unclosed start tag "{name}" at byte offset {where}')
        if text[j] == ">":
            return attrs, j + 1
        a0 = j
        while j < n and not text[j].isspace() and text[j] not in "=>/\"'":
            j += 1
        attr = text[a0:j].lower()
        if not attr:
            raise EntityError(f'Empty attribute name in the tag "{name}" at byte offset {where}')
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise EntityError(f'Unclosed start tag "{name}" at byte offset {where}')
        if text[j] != "=":
            attrs[attr] = ""
            continue
        j += 1
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise EntityError(f'Unclosed start tag "{name}" at byte offset {where}')
        if text[j] in "\"'":
            quote = text[j]
            j += 1
            val: list[str] = []
            while j < n and text[j] != quote:
                if text[j] == "&":
                    dec, k = _html_entity(text, j)
                    if dec is not None:
                        val.append(dec)
                        j = k
                        continue
                val.append(text[j])
                j += 1
            if j >= n:
                raise EntityError(f"Unclosed start tag at byte offset {where}")
            j += 1
            attrs[attr] = "".join(val)
        else:
            v0 = j
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] in ".-"):
                j += 1
            if j < n and not text[j].isspace() and text[j] != ">":
                raise EntityError(f"Unexpected end of name token at byte offset {_byte_offset(text, j)}")
            attrs[attr] = text[v0:j].lower()


# --------------------------------------------------------------------------- MarkdownV2
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}


def _mdv2_is_end(kind: str, text: str, i: int) -> int:
    """Length of the closing marker of `kind` at i, or 0."""
    c = text[i]
    nxt = text[i + 1 : i + 2]
    if kind == "bold":
        return 1 if c == "*" else 0
    if kind == "italic":
        return 1 if c == "_" and nxt != "_" else 0
    if kind == "underline":
        return 2 if c == "_" and nxt == "_" else 0
    if kind == "strikethrough":
        return 1 if c == "~" else 0
    if kind == "spoiler":
        return 2 if c == "|" and nxt == "|" else 0
    if kind == "code":
        return 1 if c == "`" else 0
    if kind == "pre":
        return 3 if text.startswith("```", i) else 0
    if kind in ("text_link", "custom_emoji"):
        return 1 if c == "]" else 0
    return 0


def _mdv2_url(text: str, i: int) -> tuple[str | None, int]:
    """Parse `(url)` at i (escapes allowed); (None, i) when there is no '('."""
    if text[i : i + 1] != "(":
        return None, i
    url: list[str] = []
    j = i + 1
    n = len(text)
    while j < n and text[j] != ")":
        if text[j] == "\\" and j + 1 < n:
            j += 1
        url.append(text[j])
        j += 1
    if j >= n:
        raise EntityError(f"Can't find end of a url at byte offset {_byte_offset(text, i)}")
    return "".join(url), j + 1


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    """Telegram "MarkdownV2 style": every reserved character outside entities must be escaped."""
    out: list[str] = []
    u16 = 0
    entities: list[Entity] = []
    stack: list[_Open] = []
    starts: list[int] = []  # index in `out` where each open entity's content starts
    n = len(text)
    i = 0
    line_start = True

    def close(op: _Open, content_from: int, url: str | None = None) -> None:
        ent: Entity = {"type": op.tag, "offset": op.start, "length": u16 - op.start}
        if op.tag == "custom_emoji":
            m = re.fullmatch(r"tg://emoji\?id=(\d+)", url or "")
            if not m:
                raise EntityError("Custom emoji entity must contain a tg://emoji URL")
            ent["custom_emoji_id"] = m.group(1)
        elif op.tag == "text_link":
            ent["url"] = url if url is not None else "".join(out[content_from:])
            if not ent["url"]:
                return
        elif op.tag == "pre" and op.attrs.get("language"):
            ent["language"] = op.attrs["language"]
        if ent["length"] > 0:
            entities.append(ent)

    while i < n:
        c = text[i]
        top = stack[-1].tag if stack else None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            u16 += 1
            line_start = False
            i += 2
            continue
        if top in ("code", "pre") and c != "`":
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        if c == "\n":
            if stack and any(o.tag == "blockquote" for o in stack) and text[i + 1 : i + 2] != ">":
                if top != "blockquote":
                    raise _mdv2_unclosed(stack[-1])
                close(stack.pop(), starts.pop())
            out.append(c)
            u16 += 1
            line_start = True
            i += 1
            continue
        if c not in _MDV2_RESERVED:
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            line_start = False
            i += 1
            continue
        width = _mdv2_is_end(top, text, i) if top else 0
        if width:
            op = stack.pop()
            content_from = starts.pop()
            i += width
            url = None
            if op.tag in ("text_link", "custom_emoji"):
                url, i = _mdv2_url(text, i)
            close(op, content_from, url)
            line_start = False
            continue
        nxt = text[i + 1 : i + 2]
        byte = _byte_offset(text, i)
        attrs: dict[str, str] = {}
        if c == "_":
            kind, width = ("underline", 2) if nxt == "_" else ("italic", 1)
        elif c == "*":
            kind, width = "bold", 1
        elif c == "~":
            kind, width = "strikethrough", 1
        elif c == "|" and nxt == "|":
            kind, width = "spoiler", 2
        elif c == "[":
            kind, width = "text_link", 1
        elif c == "!" and nxt == "[":
            kind, width = "custom_emoji", 2
        elif c == "`" and text.startswith("```", i):
            kind, width = "pre", 3
            m = re.match(r"([^\s`]*)\n", text[i + 3 :])
            if m:
                width += m.end()
                if m.group(1):
                    attrs["language"] = m.group(1)
        elif c == "`":
            kind, width = "code", 1
        elif c == ">" and line_start:
            if not any(o.tag == "blockquote" for o in stack):
                stack.append(_Open("blockquote", u16, byte))
                starts.append(len(out))
            i += 1
            continue
        else:
            raise EntityError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        stack.append(_Open(kind, u16, byte, attrs))
        starts.append(len(out))
        line_start = False
        i += width
    if stack and stack[-1].tag == "blockquote":
        close(stack.pop(), starts.pop())
    if stack:
        raise _mdv2_unclosed(stack[-1])
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _mdv2_unclosed(op: _Open) -> EntityError:
    return EntityError(f"Can't find end of {_MDV2_NAMES[op.tag]} entity at byte offset {op.byte}")


# --------------------------------------------------------------------------- legacy Markdown
def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Telegram legacy "Markdown style": *bold* _italic_ `code` ```pre``` [text](url), no nesting."""
    out: list[str] = []
    u16 = 0
    entities: list[Entity] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            u16 += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        if text.startswith("```", i):
            marker, end_marker, kind = "```", "```", "pre"
        elif c == "[":
            marker, end_marker, kind = "[", "]", "text_link"
        else:
            marker, end_marker = c, c
            kind = {"*": "bold", "_": "italic", "`": "code"}[c]
        j = text.find(end_marker, i + len(marker))
        if j < 0:
            raise EntityError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        inner = text[i + len(marker) : j]
        language = ""
        if kind == "pre":
            m = re.match(r"([^\s`]*)\n", inner)
            if m:
                language, inner = m.group(1), inner[m.end() :]
        i = j + len(end_marker)
        ent: Entity = {"type": kind, "offset": u16, "length": utf16_len(inner)}
        if kind == "text_link":
            if text[i : i + 1] == "(":
                k = text.find(")", i)
                if k < 0:
                    raise EntityError(
                        f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
                    )
                ent["url"] = text[i + 1 : k]
                i = k + 1
            else:
                ent["url"] = inner
        if language:
            ent["language"] = language
        out.append(inner)
        u16 += ent["length"]
        if ent["length"] and (kind != "text_link" or ent["url"]):
            entities.append(ent)
    return "".join(out), entities


# --------------------------------------------------------------------------- entry point
_PARSERS = {"html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown}


def _strip(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Telegram trims leading/trailing whitespace; entities are shifted and clipped to match."""
    stripped = text.strip()
    if stripped == text or not entities:
        return stripped, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    kept: list[Entity] = []
    for e in entities:
        start = max(e["offset"] - shift, 0)
        end = min(e["offset"] + e["length"] - shift, total)
        if end > start:
            kept.append({**e, "offset": start, "length": end - start})
    return stripped, kept


def render(text: str, parse_mode: str | None, entities: list[Entity] | None = None) -> tuple[str, list[Entity]]:
    """What Telegram stores for `text` sent with `parse_mode` / explicit `entities`.

    Raises EntityError for unparsable markup and ValueError("unsupported parse_mode").
    """
    if entities:
        return _strip(text, list(entities))
    if not parse_mode:
        return text.strip(), []
    parser = _PARSERS.get(parse_mode.lower())
    if parser is None:
        raise ValueError("unsupported parse_mode")
    plain, ents = parser(text)
    return _strip(plain, ents)
