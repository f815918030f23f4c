"""Free-text French dates → `When`, and `When` → a friendly French/English label.

What coordinators type ("mardi 3 février au matin", "vendredi 3 avril 2026 de 9h à 12h à
l'ISEL", "demain 14h", "lundi en huit"…) is parsed in three steps:

1. **Normalise**: lower case, accents removed ("fevrier" == "février"), dashes and quotes
   unified, "(lieu à définir)" and a final period dropped, "1er" → "1".
2. **Times first**: a time range ("de 9h à 12h", "14h-17h", "entre 14h et 16h", "de 9 à 12h"),
   a single time ("à 14h", "14:30", "9h00", "8h du soir") or a day part ("au matin" 9–12 h,
   "midi" 12–14 h, "l'après-midi" 14–17 h, "en soirée" 18–20 h) is cut out with regexes.
3. **Date**: what is left is matched against our own rules (weekday, "3 avril 2026",
   "26/01/26", "2026-01-26", "demain", "jeudi prochain", "lundi en huit", "dans 2 semaines",
   "le 14"…).  Anything after the date must look like a place ("à Verdun", "au Centre…",
   ", salle B"); otherwise the text is refused rather than guessed.  Only when no rule
   matches is `dateparser` consulted (lazily imported; it is slow to load and, measured,
   wrong on several of the forms above), and only a result precise to the day is kept.

Conventions (documented choices):

* A day without a time gives ``has_time=False``, ``start`` = 00:00 local that day,
  ``end=None``.  Such a day is accepted when it is today or later (so "aujourd'hui" and
  "jeudi" typed on a Thursday mean today).  With a time, ``start`` must be after ``now``.
* A weekday alone ("jeudi", "vendredi 18h") is its next occurrence, today included while the
  time (if any) is still ahead.  "jeudi prochain" is the next Thursday strictly after today.
  "lundi en huit" is one week after "lundi".  A time alone ("14h", "ce soir" excepted) is
  today if still ahead, otherwise tomorrow.  Day + month without a year is this year, or
  next year once that day is over.  "dans huit jours" / "dans quinze jours" (in words) are
  one and two weeks, as in everyday French.
* A wall-clock time that does not exist (spring DST gap, "29 mars 2026 à 2h30") is refused
  with ``dates.error.nonexistent_time`` (the message suggests the shifted time).  An
  ambiguous one (autumn, "25 octobre 2026 2h30") is the first occurrence (summer time).
* An end before or equal to the start is refused (no silent overnight wrap: "de 22h à 2h"
  must be written "du 3 avril 22h au 4 avril 2h").  A slot may not exceed 24 h.

Error messages live in ``locales/<lang>/LC_MESSAGES/dates.po`` (keys as msgids).
`DateParseError.params` are formatted in French (the primary language); use
`DateParseError.params_for(lang)` or `error_message(err, lang)` for another language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_interval, get_day_names, get_month_names
from babel.dates import format_time as _babel_time

__all__ = [
    "When",
    "DateParseError",
    "parse_when",
    "format_when",
    "format_hours",
    "format_time",
    "format_moment",
    "error_message",
    "date_examples",
    "date_hint",
    "message",
    "warm_up",
    "PERIODS",
]

UTC = UTC
MAX_YEARS_AHEAD = 3
MAX_SPAN = timedelta(hours=24)
MAX_TEXT_LEN = 200
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "dates"

#: Conventional spans of the day parts.
PERIODS: dict[str, tuple[time, time]] = {
    "morning": (time(9), time(12)),
    "noon": (time(12), time(14)),
    "afternoon": (time(14), time(17)),
    "evening": (time(18), time(20)),
}


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class When:
    """A parsed date.  `start`/`end` are aware, in the requested zone.

    ``has_time=False``: only a day was given; ``start`` is 00:00 local, ``end`` is None.
    ``period`` ("morning", "noon", "afternoon", "evening") remembers a day part so that
    `format_when` can say "matin" rather than "9 h – 12 h"; it is not compared.
    """

    start: datetime
    end: datetime | None = None
    has_time: bool = True
    period: str | None = field(default=None, compare=False)


class DateParseError(ValueError):
    """Refusal with a catalogue key (``dates.error.*``) and its placeholder values.

    ``params`` holds ready-to-use *French* strings.  ``params_for(lang)`` gives them for
    another language (dates and weekday names re-formatted with Babel).
    """

    def __init__(self, key: str, values: Mapping[str, Any] | None = None) -> None:
        self.key = key
        self._values = dict(values or {})
        self.params: dict[str, str] = self.params_for("fr")
        super().__init__(key, self.params)

    def params_for(self, lang: str) -> dict[str, str]:
        lang = _norm_lang(lang)
        return {name: _render_value(value, lang) for name, value in self._values.items()}

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.key} {self.params}"


# --------------------------------------------------------------------------- catalogues


def _norm_lang(lang: str | None) -> str:
    base = (lang or "fr").replace("_", "-").split("-", 1)[0].lower()
    return "en" if base == "en" else "fr"


@cache
def _catalogue(lang: str) -> dict[str, str]:
    from babel.messages.pofile import read_po

    path = LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
    except FileNotFoundError:
        return {}
    return {
        m.id: m.string for m in catalog if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string
    }


def message(key: str, lang: str = "fr", /, **params: Any) -> str:
    """The catalogue text for `key` in `lang` (falls back to French, then to the key)."""
    lang = _norm_lang(lang)
    template = _catalogue(lang).get(key) or _catalogue("fr").get(key) or key
    return template.format(**params) if params else template


def error_message(
    err: DateParseError, lang: str = "fr", *, hint: bool = False, now: datetime | None = None, tz: str = "Europe/Paris"
) -> str:
    """The user-facing text of a refusal; with ``hint=True`` the example line is appended."""
    text = message(err.key, lang, **err.params_for(lang))
    if hint:
        text = f"{text}\n{date_hint(lang, now, tz)}"
    return text


def date_examples(now: datetime | None = None, tz: str = "Europe/Paris") -> dict[str, str]:
    """Dates to show as examples, the way people type them ("mardi 16 décembre"), computed from
    `now`: a written-down example goes stale (its day passes, its weekday is wrong another year).

    ``day`` and ``day2`` are ten and twelve days ahead with their weekday, ``date`` is ``day``
    without it. Typed dates are French whatever the interface language.
    """
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date()
    first, second = today + timedelta(days=10), today + timedelta(days=12)
    return {"day": _spoken(first), "day2": _spoken(second), "date": _spoken(first, weekday=False)}


def _spoken(value: date, *, weekday: bool = True) -> str:
    pattern = ("EEEE " if weekday else "") + ("d'er' MMMM" if value.day == 1 else "d MMMM")
    return _clean_spaces(format_date(value, pattern, locale="fr"))


def date_hint(lang: str = "fr", now: datetime | None = None, tz: str = "Europe/Paris") -> str:
    """The line of examples shown under every question that asks for a date."""
    return message("dates.hint", lang, **date_examples(now, tz))


# --------------------------------------------------------------------------- formatting


def _clean_spaces(text: str) -> str:
    return text.replace("\u2009", " ").replace("\u202f", " ").replace("\u00a0", " ")


@lru_cache(maxsize=4096)  # Babel is slow and /rencontres formats the same few dates all day
def _fmt_day(value: date, lang: str, *, weekday: bool = True) -> str:
    if lang == "fr":
        pattern = "d'er' MMMM y" if value.day == 1 else "d MMMM y"
    else:
        pattern = "d MMMM y"
    if weekday:
        pattern = "EEEE " + pattern
    return _clean_spaces(format_date(value, pattern, locale=lang))


@lru_cache(maxsize=1024)
def _fmt_time(value: time, lang: str) -> str:
    if lang == "fr":
        return _babel_time(value, "H 'h'" if value.minute == 0 else "H 'h' mm", locale="fr")
    return _clean_spaces(_babel_time(value, "h:mm a", locale="en"))


def _fmt_time_range(a: time, b: time, lang: str) -> str:
    if lang == "fr" or b <= a:  # b <= a: ends at midnight; Babel would print "9:00 – 12:00 AM"
        return f"{_fmt_time(a, lang)} – {_fmt_time(b, lang)}"
    return _clean_spaces(format_interval(a, b, "hm", locale="en"))


def format_when(when: When, locale: str = "fr", tz: str = "Europe/Paris") -> str:
    """ "jeudi 26 janvier 2023, 14 h – 17 h", "mardi 3 février 2026, matin",
    "Thursday 26 January 2023, 2:00 – 5:00 PM".  `locale` "en*" → English, else French."""
    lang = _norm_lang(locale)
    day = _fmt_day(when.start.astimezone(ZoneInfo(tz)).date(), lang)
    hours = format_hours(when, lang, tz)
    return f"{day}, {hours}" if hours else day


def format_deadline(at: datetime, locale: str = "fr", tz: str = "Europe/Paris") -> str:
    """An instant shown as a deadline: "jeudi 26 janvier 2023, 14 h"."""
    return format_when(When(at, None, True), locale, tz)


def format_hours(when: When, locale: str = "fr", tz: str = "Europe/Paris") -> str:
    """The time part of `format_when` alone: "14 h – 17 h", "matin", "" for a whole day."""
    lang = _norm_lang(locale)
    zone = ZoneInfo(tz)
    start = when.start.astimezone(zone)
    end = when.end.astimezone(zone) if when.end is not None else None
    if not when.has_time:
        return ""
    if end is None:
        return _fmt_time(start.time(), lang)
    if when.period in PERIODS:
        return message(f"dates.part.{when.period}", lang)
    same_day = end.date() == start.date() or (end.date() == start.date() + timedelta(days=1) and end.time() == time(0))
    if same_day:
        return _fmt_time_range(start.time(), end.time(), lang)
    return f"{_fmt_time(start.time(), lang)} – {_fmt_day(end.date(), lang)}, {_fmt_time(end.time(), lang)}"


def format_time(value: time | datetime, locale: str = "fr", tz: str | ZoneInfo | None = None) -> str:
    """A clock time the one way the bot writes it: "18 h 30", "8 h" (English "6:30 PM").

    A datetime is first put in `tz` (the bot's zone for display)."""
    if isinstance(value, datetime):
        if tz is not None:
            value = value.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
        value = value.time()
    return _fmt_time(value.replace(tzinfo=None), _norm_lang(locale))


def format_moment(
    value: datetime, locale: str = "fr", tz: str | ZoneInfo = "Europe/Paris", *, year: bool = False
) -> str:
    """A moment in a list a person reads: "26 janv., 18 h 30" ("26 janv. 2026, 18 h 30" with `year`)."""
    lang = _norm_lang(locale)
    local = value.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
    day = _clean_spaces(format_date(local.date(), "d MMM y" if year else "d MMM", locale=lang))
    return f"{day}, {_fmt_time(local.time().replace(tzinfo=None), lang)}"


# Placeholder values kept raw so that they can be rendered in any language.
@dataclass(frozen=True)
class _V:
    kind: str  # "when" | "day" | "date" | "time" | "datetime" | "weekday" | "daymonth" | "text"
    value: Any
    tz: str = "Europe/Paris"


def _render_value(v: Any, lang: str) -> str:
    if not isinstance(v, _V):
        return str(v)
    if v.kind == "when":
        return format_when(v.value, lang, v.tz)
    if v.kind == "day":
        return _fmt_day(v.value, lang)
    if v.kind == "date":
        return _fmt_day(v.value, lang, weekday=False)
    if v.kind == "time":
        return _fmt_time(v.value, lang)
    if v.kind == "datetime":
        return f"{_fmt_day(v.value.date(), lang)}, {_fmt_time(v.value.time(), lang)}"
    if v.kind == "weekday":
        return get_day_names("wide", locale=lang)[v.value]
    if v.kind == "daymonth":
        day, month, year = v.value
        if 1 <= month <= 12:
            text = f"{day} {get_month_names('wide', locale=lang)[month]}"
            return f"{text} {year}" if year is not None else text
        return f"{day:02d}/{month:02d}" + (f"/{year}" if year is not None else "")
    return str(v.value)


# --------------------------------------------------------------------------- normalisation

_TRANSLATE = {ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d"}
_TRANSLATE.update({ord(c): "'" for c in "\u2018\u2019\u201b\u02bc\u00b4\u0060\u2032"})
_TRANSLATE.update({ord(c): " " for c in '\u00ab\u00bb\u201c\u201d"_*'})

_FLAGS = re.ASCII
_BRACKETS = re.compile(r"\([^)]*\)?|\[[^\]]*\]?")
_FIXES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"\baujourd\s*'?\s*hui\b|\bce jour\b", _FLAGS), "aujourd'hui"),
    (re.compile(r"\bapres\s*-?\s*midi\b|\baprem\b", _FLAGS), "apres-midi"),
    (re.compile(r"\bapres\s*-?\s*demain\b", _FLAGS), "apres-demain"),
    (re.compile(r"\bjusqu\s*'?\s*(?=a\b|au\b)", _FLAGS), "jusqu'"),
    (re.compile(r"\b(\d{1,2})\s*(?:er|ere|eme|e)\b", _FLAGS), r"\1"),
    (re.compile(r"\bpremier\b|\b1\s*ere?\b", _FLAGS), "1"),
    (re.compile(r"(\d)t(\d)", _FLAGS), r"\1 \2"),
    (re.compile(r"\bl\s+'\s*", _FLAGS), "l'"),
    # Spoken times: "midi et demi" is 12h30, "minuit et quart" 0h15, "9h moins le quart" 8h45.
    (re.compile(r"\b(?<!apres-)midi\s+et\s+demie?\b", _FLAGS), "12h30"),
    (re.compile(r"\b(?<!apres-)midi\s+et\s+quart\b", _FLAGS), "12h15"),
    (re.compile(r"\b(?<!apres-)midi\s+moins\s+(?:le\s+)?quart\b", _FLAGS), "11h45"),
    (re.compile(r"\bminuit\s+et\s+demie?\b", _FLAGS), "0h30"),
    (re.compile(r"\bminuit\s+et\s+quart\b", _FLAGS), "0h15"),
    (re.compile(r"\bminuit\s+moins\s+(?:le\s+)?quart\b", _FLAGS), "23h45"),
    (re.compile(r"(?<![\d:])(\d{1,2})\s*h(?:eures?)?\s+et\s+demie?\b", _FLAGS), r"\1h30"),
    (re.compile(r"(?<![\d:])(\d{1,2})\s*h(?:eures?)?\s+et\s+quart\b", _FLAGS), r"\1h15"),
    (
        re.compile(r"(?<![\d:])(\d{1,2})\s*h(?:eures?)?\s+moins\s+(?:le\s+)?quart\b", _FLAGS),
        lambda m: f"{(int(m.group(1)) - 1) % 24}h45",
    ),
]


def _normalize(text: str) -> str:
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not unicodedata.combining(c)).translate(_TRANSLATE).casefold()
    s = _BRACKETS.sub(" ", s)
    s = re.sub(r"\s+", " ", s)
    for pattern, repl in _FIXES:
        s = pattern.sub(repl, s)
    return s.strip(" .!;,:?-")


# --------------------------------------------------------------------------- vocabulary

_WEEKDAYS = {
    "lundi": 0,
    "mardi": 1,
    "mercredi": 2,
    "jeudi": 3,
    "vendredi": 4,
    "samedi": 5,
    "dimanche": 6,
    "lun": 0,
    "mar": 1,
    "mer": 2,
    "jeu": 3,
    "ven": 4,
    "sam": 5,
    "dim": 6,
}
_MONTHS = {
    "janvier": 1,
    "janv": 1,
    "jan": 1,
    "fevrier": 2,
    "fevr": 2,
    "fev": 2,
    "mars": 3,
    "avril": 4,
    "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "juil": 7,
    "aout": 8,
    "septembre": 9,
    "sept": 9,
    "sep": 9,
    "octobre": 10,
    "oct": 10,
    "novembre": 11,
    "nov": 11,
    "decembre": 12,
    "dec": 12,
}
_NUMBERS = {
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "quinze": 15,
    "vingt": 20,
}


def _alt(words: Mapping[str, Any]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_WD = rf"(?P<wd>{_alt(_WEEKDAYS)})\b\.?"
_MO = rf"(?P<mo>{_alt(_MONTHS)})\b\.?"
_NUM = rf"(?P<n>\d{{1,3}}|{_alt(_NUMBERS)})"


def _time_atom(tag: str, words: bool) -> str:
    atom = rf"(?<!\d)(?P<{tag}h>\d{{1,2}})\s*(?:h(?:eures?)?|:(?=\s*\d\d))\s*(?P<{tag}m>\d\d)?(?![\da-z])"
    if words:
        atom = rf"(?:{atom}|\b(?P<{tag}w>(?<!apres-)midi|minuit)\b)"
    return atom


_SEP = r"\s*(?:-|/|\ba\b|\bet\b|\bjusqu'a\b)\s*"
_RANGE = re.compile(rf"(?:\b(?:de|entre|des|du)\s+)?{_time_atom('a', True)}{_SEP}{_time_atom('b', True)}", _FLAGS)
_RANGE_BARE = re.compile(
    rf"(?:\b(?:de|entre)\s+(?P<ah>\d{{1,2}})(?!\s*[\d/.:])|(?<![\d/.:-])(?P<xh>\d{{1,2}})(?=\s*-\s*\d))"
    rf"{_SEP}{_time_atom('b', False)}",
    _FLAGS,
)
_SINGLE = re.compile(
    rf"(?:\b(?:a partir de|a|vers|des|pour|de)\s+)?{_time_atom('a', False)}"
    rf"(?P<suffix>\s+(?:du soir|de l'apres-midi|du matin|de la nuit))?",
    _FLAGS,
)
_EXACT = re.compile(rf"\bdans\s+{_NUM}\s*(?P<u>heures?|h|minutes?|min|mn)\b", _FLAGS)
_PARTS = [
    (
        "afternoon",
        re.compile(
            r"(?:\b(?P<this>cet)\s+|\b(?:dans|en|de|pour)\s+l'|\bl'|\b(?:le|en|dans|pour)\s+)?\bapres-midi\b", _FLAGS
        ),
    ),
    (
        "morning",
        re.compile(
            r"\b(?:(?P<this>ce|cette)\s+|(?:au|le|en|du|dans la|la|de la|dans le|pour le|pour la)\s+)?matin(?:ee)?\b",
            _FLAGS,
        ),
    ),
    (
        "evening",
        re.compile(
            r"\b(?:(?P<this>ce|cette)\s+|(?:en|le|du|dans la|la|de la|pour la|pour le)\s+)?soir(?:ee)?\b", _FLAGS
        ),
    ),
    ("noon", re.compile(r"\b(?:(?P<this>ce)\s+|(?:a|le|vers|pour|de|du|au|entre)\s+)?(?<!apres-)midi\b", _FLAGS)),
]
_FULL_DAY = re.compile(r"\b(?:(?:toute|sur|pour)\s+la\s+|la\s+)?journee(?:\s+(?:entiere|complete))?\b", _FLAGS)

_FILLERS = re.compile(
    r"^(?:(?:ce|cet|cette|pour|du|date|rdv|rendez-vous|prevue?|a partir du|des|a compter du|des le)\b\s*[:,]?\s*)+",
    _FLAGS,
)
_TAIL_OK = re.compile(
    r"^(?:$|[,;:\-/|@&+>]|(?:a|au|aux|chez|en|dans|sur|salle|lieu|pres|avec|par|via|visio|visioconference"
    r"|zoom|teams|rue|avenue|bd|boulevard|place|hopital|centre|clinique|ehpad|cabinet|maison|locaux|amphi"
    r"|amphitheatre|bat|batiment|adresse|mairie|site|l'|au sein|lieu)\b)",
    _FLAGS,
)

_D = r"(?P<d>\d{1,2})(?!\d)"
_DATE_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("today", re.compile(r"aujourd'hui\b", _FLAGS)),
    ("offset2", re.compile(r"apres-demain\b", _FLAGS)),
    ("offset1", re.compile(r"demain\b", _FLAGS)),
    ("quinzaine", re.compile(r"dans\s+une\s+(?P<q>quinzaine|huitaine)(?:\s+de\s+jours)?\b", _FLAGS)),
    ("in", re.compile(rf"dans\s+{_NUM}\s*(?P<u>jours?|j|semaines?|sem|mois|ans?|annees?)\b", _FLAGS)),
    (
        "dm",
        re.compile(
            rf"(?:{_WD}\s+)?(?:le\s+)?{_D}\s*{_MO}(?:\s*(?P<y>\d{{4}}|'?\d{{2}})(?![\d:h]))?(?:\s+prochain\b)?", _FLAGS
        ),
    ),
    ("iso", re.compile(rf"(?:{_WD}\s+)?(?P<y>\d{{4}})[-/.](?P<m>\d{{1,2}})[-/.]{_D}", _FLAGS)),
    (
        "num",
        re.compile(
            rf"(?:{_WD}\s+)?(?:le\s+)?{_D}[/.-](?P<m>\d{{1,2}})(?:[/.-](?P<y>\d{{4}}|\d{{2}}))?(?![\d/.-]*\d)", _FLAGS
        ),
    ),
    ("next", re.compile(rf"{_WD}\s+(?:prochain|qui vient|suivant)\b", _FLAGS)),
    ("nextweek", re.compile(rf"{_WD}\s+(?:de\s+)?(?:la\s+)?semaine\s+(?:prochaine|suivante|d'apres)\b", _FLAGS)),
    ("enhuit", re.compile(rf"{_WD}\s+en\s+(?P<k>huit|quinze|8|15)\b", _FLAGS)),
    ("dom", re.compile(rf"(?:{_WD}\s+(?:le\s+)?|le\s+){_D}(?!\s*[/.:\d])", _FLAGS)),
    ("weekday", re.compile(_WD, _FLAGS)),
    (
        "vague",
        re.compile(
            r"(?:(?:en|courant|debut|fin|mi|a la fin de|au debut de|dans le courant de)\s*-?\s*)?"
            rf"(?:{_MO}(?:\s*\d{{4}})?)"
            r"|(?:la\s+|cette\s+)?semaine(?:\s+(?:prochaine|suivante))?|(?:le\s+|ce\s+)?mois(?:\s+(?:prochain|-?ci))?"
            r"|(?:en\s+)?\d{4}\b|bientot\b|prochainement\b|plus tard\b",
            _FLAGS,
        ),
    ),
]
_HAS_WEEKDAY = re.compile(rf"\b{_WD}", _FLAGS)
_LE_WEEKDAY = re.compile(rf"^le\s+(?=(?:{_alt(_WEEKDAYS)})\b)", _FLAGS)


# --------------------------------------------------------------------------- helpers


def _int(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBERS[token]


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise ValueError("unreachable")


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


@dataclass
class _Times:
    start: time | None = None
    end: time | None = None
    end_next_day: bool = False
    period: str | None = None
    this: bool = False  # "ce soir", "cet après-midi": today, no rolling


@dataclass
class _Day:
    kind: str  # fixed months explicit weekday next nextweek roll_year dom none
    day: date | None = None
    weekday: int | None = None  # written weekday to check
    target: int | None = None  # weekday to find / day of month
    month: int | None = None
    extra_days: int = 0


def _hm(match: re.Match[str], tag: str, raw_text: str, *, end: bool) -> tuple[time, bool]:
    """(time, next_day) from a time atom; validates ranges."""
    word = match.groupdict().get(f"{tag}w")
    if word == "midi":
        return time(12), False
    if word == "minuit":
        return time(0), end
    hour = int(match.group(f"{tag}h"))
    minute = int(match.group(f"{tag}m") or 0)
    if end and hour == 24 and minute == 0:
        return time(0), True
    if hour > 23 or minute > 59:
        raise DateParseError("dates.error.invalid_time", {"time": _V("text", raw_text.strip())})
    return time(hour, minute), False


def _extract_times(s: str) -> tuple[str, _Times]:
    tm = _Times()
    m = _RANGE.search(s)
    bare = False
    if m is None:
        m = _RANGE_BARE.search(s)
        bare = m is not None
    if m is not None:
        frag = m.group(0)
        if bare:
            hour = int(m.group("ah") or m.group("xh"))
            if hour > 23:
                raise DateParseError("dates.error.invalid_time", {"time": _V("text", frag.strip())})
            tm.start = time(hour)
        else:
            tm.start, _ = _hm(m, "a", frag, end=False)
        tm.end, tm.end_next_day = _hm(m, "b", frag, end=True)
        s = f"{s[: m.start()]} {s[m.end() :]}"
    singles = list(_SINGLE.finditer(s))
    if len(singles) > 1 or (singles and tm.start is not None):
        raise DateParseError("dates.error.several_times")
    if singles:
        m = singles[0]
        start, _ = _hm(m, "a", m.group(0), end=False)
        suffix = (m.group("suffix") or "").strip()
        if suffix in ("du soir", "de l'apres-midi") and 1 <= start.hour < 12:
            start = start.replace(hour=start.hour + 12)
        tm.start = start
        s = f"{s[: m.start()]} {s[m.end() :]}"
    found: list[tuple[str, re.Match[str]]] = []
    for name, pattern in _PARTS:
        for pm in pattern.finditer(s):
            found.append((name, pm))
        s = pattern.sub(" ", s)
    s = _FULL_DAY.sub(" ", s)
    if found:
        if len({name for name, _ in found}) > 1:
            raise DateParseError("dates.error.several_times")
        name, pm = found[0]
        tm.this = bool(pm.groupdict().get("this"))
        if tm.start is None:
            tm.period = name
            tm.start, tm.end = PERIODS[name]
    return re.sub(r"\s+", " ", s).strip(" ,;:-"), tm


def _tail_ok(tail: str) -> bool:
    return bool(_TAIL_OK.match(tail.strip()))


def _match_day(rest: str) -> _Day | None:
    """Our own rules on the date part; None when none applies (then dateparser is tried)."""
    rest = _LE_WEEKDAY.sub("", _FILLERS.sub("", rest).strip())
    if not rest:
        return _Day("none")
    prefix_seen = False
    for kind, pattern in _DATE_RULES:
        m = pattern.match(rest)
        if m is None:
            continue
        if not _tail_ok(rest[m.end() :]):
            prefix_seen = True
            continue
        g = m.groupdict()
        wd = _WEEKDAYS[g["wd"]] if g.get("wd") else None
        if kind == "today":
            return _Day("fixed", extra_days=0)
        if kind == "offset1":
            return _Day("fixed", extra_days=1)
        if kind == "offset2":
            return _Day("fixed", extra_days=2)
        if kind == "quinzaine":
            return _Day("fixed", extra_days=14 if g["q"] == "quinzaine" else 7)
        if kind == "in":
            n = _int(g["n"])
            unit = g["u"]
            if unit.startswith("j"):
                days = {"huit": 7, "quinze": 14}.get(g["n"], n)
                return _Day("fixed", extra_days=days)
            if unit.startswith("s"):
                return _Day("fixed", extra_days=7 * n)
            if unit == "mois":
                return _Day("months", target=n)
            return _Day("months", target=12 * n)
        if kind == "dm":
            day, month = int(g["d"]), _MONTHS[g["mo"]]
            year = g.get("y")
            if year:
                y = int(year.lstrip("'"))
                y = y + 2000 if len(year.lstrip("'")) == 2 else y
                return _Day("explicit", weekday=wd, target=day, month=month, day=_checked(y, month, day))
            return _Day("roll_year", weekday=wd, target=day, month=month)
        if kind in ("iso", "num"):
            day, month = int(g["d"]), int(g["m"])
            year = g.get("y")
            if year:
                y = int(year) + (2000 if len(year) == 2 else 0)
                return _Day("explicit", weekday=wd, target=day, month=month, day=_checked(y, month, day))
            return _Day("roll_year", weekday=wd, target=day, month=month)
        if kind == "next":
            return _Day("next", target=wd)
        if kind == "nextweek":
            return _Day("nextweek", target=wd)
        if kind == "enhuit":
            return _Day("weekday", target=wd, extra_days=7 if g["k"] in ("huit", "8") else 14)
        if kind == "dom":
            day = int(g["d"])
            if not 1 <= day <= 31:
                raise DateParseError("dates.error.invalid_date", {"date": _V("text", f"{day}")})
            return _Day("dom", weekday=wd, target=day)
        if kind == "weekday":
            return _Day("weekday", target=wd)
        if kind == "vague":
            raise DateParseError("dates.error.imprecise")
    if prefix_seen:
        # A date we know followed by something we do not ("demain 3", "le 3 du mois
        # prochain"): refuse rather than let dateparser drop the unknown part.
        raise DateParseError("dates.error.unknown")
    return None


def _checked(y: int, m: int, d: int) -> date:
    value = _safe_date(y, m, d)
    if value is None:
        raise DateParseError("dates.error.invalid_date", {"date": _V("daymonth", (d, m, y))})
    return value


_DATEPARSER: Any = None


def warm_up() -> None:
    """Import dateparser and load its French data (call once at start-up, ~0.3 s)."""
    _dateparser_day("3 avril 2026", datetime(2026, 1, 1))


def _dateparser_day(text: str, base: datetime) -> tuple[date | None, str | None]:
    """(day, period) from dateparser; never raises."""
    global _DATEPARSER
    try:
        if _DATEPARSER is None:
            from dateparser.date import DateDataParser

            _DATEPARSER = DateDataParser
        parser = _DATEPARSER(
            languages=["fr"],
            settings={
                "RELATIVE_BASE": base,
                "PREFER_DATES_FROM": "future",
                "DATE_ORDER": "DMY",
                "RETURN_AS_TIMEZONE_AWARE": False,
            },
        )
        data = parser.get_date_data(text)
    except Exception:  # dateparser can fail in many ways on odd input
        return None, None
    if data is None or data.date_obj is None:
        return None, None
    return data.date_obj.date(), data.period


def _resolve(spec: _Day, tm: _Times, today: date, naive_now: datetime, raw: str, rest: str) -> date:
    def ahead(d: date) -> bool:
        if tm.start is None:
            return d >= today
        return datetime.combine(d, tm.start) > naive_now

    if spec.kind == "fixed":
        return today + timedelta(days=spec.extra_days)
    if spec.kind == "months":
        return _add_months(today, spec.target or 0)
    if spec.kind == "explicit":
        assert spec.day is not None
        return spec.day
    if spec.kind == "weekday":
        assert spec.target is not None
        d = today + timedelta(days=(spec.target - today.weekday()) % 7)
        if spec.extra_days:
            return d + timedelta(days=spec.extra_days)
        return d if ahead(d) else d + timedelta(days=7)
    if spec.kind == "next":
        assert spec.target is not None
        return today + timedelta(days=(spec.target - today.weekday() - 1) % 7 + 1)
    if spec.kind == "nextweek":
        assert spec.target is not None
        return today - timedelta(days=today.weekday()) + timedelta(days=7 + spec.target)
    if spec.kind == "roll_year":
        assert spec.target is not None and spec.month is not None
        valid_somewhere = False
        for y in range(today.year, today.year + 9):
            candidate = _safe_date(y, spec.month, spec.target)
            if candidate is not None:
                valid_somewhere = True
                if candidate >= today:
                    return candidate
        if not valid_somewhere:
            raise DateParseError("dates.error.invalid_date", {"date": _V("daymonth", (spec.target, spec.month, None))})
        raise DateParseError("dates.error.unknown", {"text": _V("text", raw)})  # pragma: no cover
    if spec.kind == "dom":
        assert spec.target is not None
        first = today.replace(day=1)
        for k in range(0, 13):
            month_start = _add_months(first, k)
            candidate = _safe_date(month_start.year, month_start.month, spec.target)
            if candidate is not None and candidate >= today:
                return candidate
        raise DateParseError("dates.error.invalid_date", {"date": _V("text", rest)})  # pragma: no cover
    # "none": only a time or a day part
    if tm.this:
        return today
    return today if ahead(today) else today + timedelta(days=1)


def _localize(naive: datetime, zone: ZoneInfo) -> tuple[datetime, bool]:
    """(aware, existed).  Ambiguous → first occurrence (fold=0); gap → shifted forward."""
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone)
    return back, back.replace(tzinfo=None) == naive


@dataclass
class _Point:
    day: date
    tm: _Times
    weekday: int | None


def _parse_point(s: str, today: date, naive_now: datetime, raw: str) -> _Point | None:
    """One date (+ time) from normalised text.  None when nothing date-like is found."""
    rest, tm = _extract_times(s)
    try:
        spec = _match_day(rest)
    except DateParseError as err:
        if err.key == "dates.error.unknown" and "text" not in err.params:
            raise DateParseError("dates.error.unknown", {"text": _V("text", raw)}) from None
        raise
    if spec is None:
        spec = _dateparser_spec(rest, naive_now, raw)
    if spec.kind == "none" and tm.start is None:
        return None
    day = _resolve(spec, tm, today, naive_now, raw, rest)
    return _Point(day, tm, spec.weekday)


def _dateparser_spec(rest: str, naive_now: datetime, raw: str) -> _Day:
    candidates = [rest]
    cut = re.search(r"\s(?:a|au|aux|chez|en|salle|,)\s", rest, _FLAGS)
    if cut:
        candidates.append(rest[: cut.start()])
    vague = False
    for candidate in candidates:
        if not re.search(r"[a-z0-9]", candidate, _FLAGS):
            continue
        day, period = _dateparser_day(candidate, naive_now)
        if day is None:
            continue
        if period != "day":
            vague = True
            continue
        wd_match = _HAS_WEEKDAY.search(candidate)
        weekday = _WEEKDAYS[wd_match.group("wd")] if wd_match else None
        return _Day("explicit", day=day, weekday=weekday)
    if vague:
        raise DateParseError("dates.error.imprecise")
    raise DateParseError("dates.error.unknown", {"text": _V("text", raw)})


_DAY_RANGE = re.compile(
    rf"^(?:du\s+)?(?P<a>.+?)\s+(?:au|jusqu'au|jusqu'a|-|a)\s+(?P<b>(?:le\s+)?(?:{_WD}\s+)?(?:le\s+)?"
    rf"(?:\d{{1,2}}\s*(?:{_alt(_MONTHS)})\b|\d{{1,2}}[/.]\d{{1,2}}|\d{{4}}-\d{{1,2}}-\d{{1,2}}|lendemain|demain).*)$",
    _FLAGS,
)


def _short(raw: str) -> str:
    raw = " ".join(raw.split())
    return raw if len(raw) <= 60 else raw[:59] + "…"


# --------------------------------------------------------------------------- parse_when


def parse_when(text: str, *, now: datetime, tz: str = "Europe/Paris") -> When:
    """Parse what a coordinator typed into a `When` in zone `tz`.

    Raises `DateParseError` (a ValueError) with a ``dates.error.*`` key on refusal;
    `ValueError` (not DateParseError) if `now` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(text, str) or not text.strip():
        raise DateParseError("dates.error.empty")
    raw = _short(text)
    if len(text) > MAX_TEXT_LEN:
        raise DateParseError("dates.error.unknown", {"text": _V("text", raw)})
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    today = local_now.date()
    naive_now = local_now.replace(tzinfo=None, fold=0)
    s = _normalize(text)
    if not s:
        raise DateParseError("dates.error.unknown", {"text": _V("text", raw)})

    # "dans 2 heures": relative to now, nothing else allowed but noise.
    exact = _EXACT.match(_FILLERS.sub("", s))
    if exact and _tail_ok(_FILLERS.sub("", s)[exact.end() :]):
        n = _int(exact.group("n"))
        delta = timedelta(hours=n) if exact.group("u").startswith("h") else timedelta(minutes=n)
        start = (now.astimezone(UTC) + delta).astimezone(zone)
        return _validate(When(start, None, True), now, today, tz, raw)

    # "du 3 avril 20h au 4 avril 8h": two dated ends.  If either end does not parse on its
    # own, the text is parsed as a single date instead ("à 14h au 12/14 rue X").
    ranged = _DAY_RANGE.match(s)
    if ranged:
        try:
            left = _parse_point(ranged.group("a"), today, naive_now, raw)
            right = None
            if left is not None:
                right_text = re.sub(r"^(?:le\s+)?lendemain\b", "demain", ranged.group("b"))
                right = _parse_point(right_text, left.day, datetime.combine(left.day, time(0)), raw)
        except DateParseError:
            left = right = None
        if left is not None and right is not None:
            return _build_range(left, right, zone, now, today, tz, raw)

    point = _parse_point(s, today, naive_now, raw)
    if point is None:
        raise DateParseError("dates.error.unknown", {"text": _V("text", raw)})
    return _build_point(point, zone, now, today, tz, raw)


def _check_weekday(point: _Point) -> None:
    if point.weekday is not None and point.weekday != point.day.weekday():
        raise DateParseError(
            "dates.error.weekday_mismatch",
            {
                "date": _V("date", point.day),
                "written": _V("weekday", point.weekday),
                "actual": _V("weekday", point.day.weekday()),
            },
        )


def _build_point(point: _Point, zone: ZoneInfo, now: datetime, today: date, tz: str, raw: str) -> When:
    tm = point.tm
    _check_not_too_far(point.day, today)
    if tm.start is None:
        start, _ = _localize(datetime.combine(point.day, time(0)), zone)
        when = When(start, None, False)
        return _validate(when, now, today, tz, raw, point=point)
    naive_start = datetime.combine(point.day, tm.start)
    start, start_ok = _localize(naive_start, zone)
    end = None
    end_ok = True
    naive_end = None
    if tm.end is not None:
        naive_end = datetime.combine(point.day + timedelta(days=1 if tm.end_next_day else 0), tm.end)
        end, end_ok = _localize(naive_end, zone)
    when = When(start, end, True, tm.period)
    _validate(when, now, today, tz, raw, point=point)
    if not start_ok or not end_ok:
        bad = naive_start if not start_ok else naive_end
        moved = start if not start_ok else end
        assert bad is not None and moved is not None  # end_ok is False only when there is an end
        shifted = moved.astimezone(zone)
        raise DateParseError(
            "dates.error.nonexistent_time",
            {"date": _V("day", bad.date()), "time": _V("time", bad.time()), "suggestion": _V("time", shifted.time())},
        )
    return when


def _build_range(left: _Point, right: _Point, zone: ZoneInfo, now: datetime, today: date, tz: str, raw: str) -> When:
    _check_not_too_far(left.day, today)
    _check_not_too_far(right.day, today)
    if left.tm.start is None or right.tm.start is None:
        if left.day == right.day:
            return _build_point(left if left.tm.start is not None else right, zone, now, today, tz, raw)
        _check_weekday(left)
        _check_weekday(right)
        lo, _ = _localize(datetime.combine(left.day, time(0)), zone)
        hi, _ = _localize(datetime.combine(right.day, time(0)), zone)
        if hi.astimezone(UTC) < lo.astimezone(UTC):
            raise DateParseError(
                "dates.error.end_before_start", {"start": _V("day", left.day), "end": _V("day", right.day)}
            )
        raise DateParseError("dates.error.too_long", {"start": _V("day", left.day), "end": _V("day", right.day)})
    naive_start = datetime.combine(left.day, left.tm.start)
    naive_end = datetime.combine(right.day, right.tm.start)
    start, start_ok = _localize(naive_start, zone)
    end, end_ok = _localize(naive_end, zone)
    _check_weekday(right)
    when = When(start, end, True)
    _validate(
        when,
        now,
        today,
        tz,
        raw,
        point=left,
        start_label=_V("datetime", naive_start),
        end_label=_V("datetime", naive_end),
    )
    if not start_ok or not end_ok:
        bad = naive_start if not start_ok else naive_end
        shifted = start if not start_ok else end
        raise DateParseError(
            "dates.error.nonexistent_time",
            {"date": _V("day", bad.date()), "time": _V("time", bad.time()), "suggestion": _V("time", shifted.time())},
        )
    return when


def _check_not_too_far(day: date, today: date) -> None:
    if day > _add_months(today, 12 * MAX_YEARS_AHEAD):
        raise DateParseError("dates.error.too_far", {"when": _V("day", day), "years": MAX_YEARS_AHEAD})


def _validate(
    when: When,
    now: datetime,
    today: date,
    tz: str,
    raw: str,
    *,
    point: _Point | None = None,
    start_label: _V | None = None,
    end_label: _V | None = None,
) -> When:
    # Compare in UTC: aware datetimes sharing a tzinfo compare and subtract by wall clock.
    start_utc = when.start.astimezone(UTC)
    start_day = when.start.date()
    past = start_day < today if not when.has_time else start_utc <= now.astimezone(UTC)
    if past:
        raise DateParseError("dates.error.past", {"when": _V("when", when, tz)})
    _check_not_too_far(start_day, today)
    if point is not None:
        _check_weekday(point)
    if when.end is not None:
        labels = {
            "start": start_label or _V("time", when.start.timetz().replace(tzinfo=None)),
            "end": end_label or _V("time", when.end.timetz().replace(tzinfo=None)),
        }
        end_utc = when.end.astimezone(UTC)
        if end_utc <= start_utc:
            raise DateParseError("dates.error.end_before_start", labels)
        if end_utc - start_utc > MAX_SPAN:
            raise DateParseError("dates.error.too_long", labels)
    return when
