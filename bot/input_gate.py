"""One gate for everything a person types: what reaches a feature is clean, visible and patient-free.

Every free text (an answer in a guided conversation, a command's arguments, a file's caption)
passes here before any feature sees it (`handlers/common.handler`):

* normalised to Unicode NFC (an "é" typed as e + accent compares and counts as one letter);
* bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) are removed: a
  right-to-left override can make a stored title read as something else (spoofing);
* zero-width and other invisible characters (U+200B–U+200D, U+2060–U+2064, U+FEFF, U+180E, soft
  hyphen, control characters) are removed; a zero-width joiner inside an emoji sequence stays;
  blank look-alikes (Hangul filler, Braille blank…) become spaces;
* a text with nothing visible left is refused (a title made only of zero-width characters);
* a text that looks like it identifies a patient (bot/patient_data.py) is refused.

A refusal is the catalogue key of the message that says why; nothing is stored and the person
types again at the same step.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.patient_data import find_patient_data

BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
ZERO_WIDTH = frozenset({0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, *range(0x2060, 0x2065), 0xFEFF})
ZWJ = 0x200D
# Letters that render as nothing or as a blank: read as a plain space.
BLANK_LOOKALIKES = frozenset({0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0})
_KEPT_CONTROLS = {"\n", "\t"}
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"})


@dataclass(frozen=True)
class Screened:
    """What the gate made of a text: the cleaned text, or the key of the refusal to show."""

    text: str
    refusal: str | None = None


def _is_emoji_part(char: str) -> bool:
    code = ord(char)
    return unicodedata.category(char) in ("So", "Sk") or 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF


def _joiner(match: re.Match[str]) -> str:
    """A zero-width joiner stays between two emoji parts (👩‍⚕️ is one emoji), and goes elsewhere."""
    text, i = match.string, match.start()
    inside = 0 < i < len(text) - 1 and _is_emoji_part(text[i - 1]) and _is_emoji_part(text[i + 1])
    return match.group() if inside else ""


_ZWJ = re.compile("\u200d")
_CONTROLS = [code for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in _KEPT_CONTROLS]
_TRANSLATION = {
    **dict.fromkeys((*BIDI_CONTROLS, *(ZERO_WIDTH - {ZWJ}), *_CONTROLS)),  # removed
    **dict.fromkeys(BLANK_LOOKALIKES, " "),
}


def clean(text: str) -> str:
    """`text` in NFC, without bidi controls, zero-width or control characters (see module docstring)."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if "\u200d" in text:
        text = _ZWJ.sub(_joiner, text)
    return text.translate(_TRANSLATION)


def is_visible(text: str) -> bool:
    """Whether anything in `text` would show on screen (a letter, a digit, a sign, an emoji)."""
    return any(
        unicodedata.category(char) not in _INVISIBLE_CATEGORIES and not 0xFE00 <= ord(char) <= 0xFE0F for char in text
    )


def screen(text: str) -> Screened:
    """Clean `text`, then refuse it if nothing visible is left or if it holds patient data."""
    cleaned = clean(text)
    if not is_visible(cleaned):
        return Screened(cleaned, "input.invisible")
    finding = find_patient_data(cleaned)
    if finding is not None:
        return Screened(cleaned, f"input.patient_data_{finding}")
    return Screened(cleaned)
