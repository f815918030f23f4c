"""Translations: every user-visible sentence comes from `locales/<lang>/LC_MESSAGES/*.po`.

Catalogues use stable keys as msgids ("meetings.registered") and `str.format` placeholders,
so French and English can be checked for completeness key by key. Babel reads the `.po` files
directly at start-up (no compile step to forget); plural choices follow CLDR via Babel
(`key.one` / `key.other`, French treats 0 and 1 as singular; an optional `key.zero` for 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache, lru_cache
from html import escape
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
SUPPORTED = ("fr", "en")
DEFAULT = "fr"


class SafeHTML(str):
    """A string already escaped for Telegram's HTML parse mode (not escaped again)."""


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """All messages of one language, merged from every domain file."""
    messages: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if message.id and isinstance(message.id, str):
                    messages[message.id] = message.string if isinstance(message.string, str) else ""
    return messages


def keys_with_prefix(prefix: str, lang: str = DEFAULT) -> list[str]:
    """Sorted keys starting with `prefix` (help sections are assembled from these)."""
    return sorted(key for key in catalogue(lang) if key.startswith(prefix))


def normalize_locale(code: str | None, default: str = DEFAULT) -> str:
    """Map Telegram's `language_code` ("fr-FR", "en", "de") onto a supported language."""
    if not code:
        return default
    base = code.split("-", 1)[0].split("_", 1)[0].lower()
    return base if base in SUPPORTED else default


def _templates(lang: str) -> Mapping[str, str]:
    """`lang`'s messages over French ones: a single dict lookup per string (it was two
    cached-function calls and up to two lookups, about 20 times per update)."""
    merged = _MERGED.get(lang)
    if merged is None:
        merged = _MERGED[lang] = {**catalogue(DEFAULT), **catalogue(lang)}
    return merged


_MERGED: dict[str, dict[str, str]] = {}


def _render(template: str, params: Mapping[str, Any], html: bool) -> str:
    if not params:
        return template
    if html:
        params = {
            k: (escape(v, quote=False) if isinstance(v, str) and not isinstance(v, SafeHTML) else v)
            for k, v in params.items()
        }
    return template.format(**params)


def t(key: str, lang: str = DEFAULT, /, *, html: bool = True, **params: Any) -> str:
    """The message `key` in `lang` with `params` filled in.

    With `html=True` (the default, our replies use HTML parse mode) string parameters are
    escaped so that a user's `<b>` or `&` can never break or inject formatting.
    """
    try:
        template = (_MERGED.get(lang) or _templates(lang))[key]
    except KeyError:
        raise KeyError(f"missing translation key {key!r}") from None
    if not params:
        return template
    return _render(template, params, html)


@cache
def _plural_rule(lang: str) -> Any:
    """The language's CLDR plural rule (parsing the locale each time cost more than the rule)."""
    return Locale.parse(lang).plural_form


@lru_cache(maxsize=4096)
def _plural_key(key: str, n: int, lang: str) -> str:
    """The catalogue key `tn` uses for `n` (a Babel rule evaluation and up to three lookups, once)."""
    messages = catalogue(lang)
    form = "zero" if n == 0 and f"{key}.zero" in messages else _plural_rule(lang)(abs(n))
    return f"{key}.{form}" if f"{key}.{form}" in messages else f"{key}.other"


def tn(key: str, n: int, lang: str = DEFAULT, /, *, html: bool = True, **params: Any) -> str:
    """Plural-aware `t`: picks `key.one` or `key.other` for `n` by the language's CLDR rule.

    A `key.zero` entry, when the catalogue has one, is used for 0 ("Personne n'est inscrit"
    reads better than "0 personne est inscrite", which French's CLDR "one" would give).
    """
    return t(_plural_key(key, n, lang), lang, html=html, n=n, **params)


def fmt_date(value: date | datetime, lang: str, *, fmt: str = "full", tz: Any = None) -> str:
    """A date the way people write it: "jeudi 26 janvier 2023"."""
    if isinstance(value, datetime):
        if tz is not None:
            value = value.astimezone(tz)
        return format_date(value.date(), format=fmt, locale=lang)
    return format_date(value, format=fmt, locale=lang)


def fmt_datetime(value: datetime, lang: str, *, tz: Any, fmt: str = "medium") -> str:
    """A timestamp for lists and exports, in the user's time zone."""
    return format_datetime(value, format=fmt, tzinfo=tz, locale=lang)
