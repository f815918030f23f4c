"""bot.dates: free-text French dates → When, refusals with catalogue keys, Babel formatting."""

from __future__ import annotations

import re
import time as _time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import dates as dates_module
from bot.dates import DateParseError, When, error_message, format_when, parse_when

PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent

# Thursday 15 January 2026, 10:00 in Paris.
NOW = datetime(2026, 1, 15, 10, 0, tzinfo=PARIS)
# Friday 16 January 2026, 10:00 and 19:00; Wednesday 1 July 2026 (summer), given in UTC.
FRIDAY_MORNING = datetime(2026, 1, 16, 10, 0, tzinfo=PARIS)
FRIDAY_EVENING = datetime(2026, 1, 16, 19, 0, tzinfo=PARIS)
SUMMER = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # 10:00 in Paris


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def day(y: int, m: int, d: int) -> tuple[datetime, None, bool]:
    return paris(y, m, d), None, False


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> tuple[datetime, None, bool]:
    return paris(y, m, d, hh, mm), None, True


def span(y: int, m: int, d: int, h1: int, h2: int, m1: int = 0, m2: int = 0) -> tuple[datetime, datetime, bool]:
    return paris(y, m, d, h1, m1), paris(y, m, d, h2, m2), True


# --------------------------------------------------------------------------- accepted forms

ACCEPTED = [
    # weekday + day + month (+ year)
    ("vendredi 3 avril 2026 de 9h à 12h", span(2026, 4, 3, 9, 12)),
    ("vendredi 3 avril 2026 de 9h à 12h00", span(2026, 4, 3, 9, 12)),
    ("Mardi 3 Février 2026 au matin", span(2026, 2, 3, 9, 12)),
    ("mardi 3 février au matin", span(2026, 2, 3, 9, 12)),
    ("le mardi 3 février", day(2026, 2, 3)),
    ("le 31 Mars 2026", day(2026, 3, 31)),
    ("9 Février 2026", day(2026, 2, 9)),
    ("1er décembre", day(2026, 12, 1)),
    ("premier avril à 9h", at(2026, 4, 1, 9)),
    ("sam. 4 avr.", day(2026, 4, 4)),
    ("3 février 26", day(2026, 2, 3)),
    ("29 février", day(2028, 2, 29)),
    ("jeudi 15 janvier", day(2026, 1, 15)),  # today, day only: accepted
    ("10 janvier", day(2027, 1, 10)),  # already over this year → next year
    # numeric
    ("26/01/2026", day(2026, 1, 26)),
    ("26/01/26", day(2026, 1, 26)),
    ("26.01.2026", day(2026, 1, 26)),
    ("26-01-2026", day(2026, 1, 26)),
    ("2026-01-26", day(2026, 1, 26)),
    ("lundi 26/01/2026", day(2026, 1, 26)),
    ("26/01", day(2026, 1, 26)),
    ("le 3/04 à 14h30", at(2026, 4, 3, 14, 30)),
    ("2026-04-03T14:30", at(2026, 4, 3, 14, 30)),
    # times
    ("3 avril 2026 14h", at(2026, 4, 3, 14)),
    ("3 avril 2026 14h30", at(2026, 4, 3, 14, 30)),
    ("3 avril 2026 14 h", at(2026, 4, 3, 14)),
    ("3 avril 2026 14 h 30", at(2026, 4, 3, 14, 30)),
    ("3 avril 2026 14:30", at(2026, 4, 3, 14, 30)),
    ("3 avril 2026 à 14h", at(2026, 4, 3, 14)),
    ("3 avril 2026, 14h", at(2026, 4, 3, 14)),
    ("3 avril 2026 9h00", at(2026, 4, 3, 9)),
    ("3 avril 2026 12h00", at(2026, 4, 3, 12)),
    ("3 avril 2026 14 heures", at(2026, 4, 3, 14)),
    ("3 avril 2026 vers 14h", at(2026, 4, 3, 14)),
    ("3 avril 2026 à partir de 14h", at(2026, 4, 3, 14)),
    ("3 avril 2026 dès 9h", at(2026, 4, 3, 9)),
    ("3 avril 2026 8h du soir", at(2026, 4, 3, 20)),
    ("3 avril 2026 de 9h à 12h00", span(2026, 4, 3, 9, 12)),
    ("3 avril 2026 14h-17h", span(2026, 4, 3, 14, 17)),
    ("3 avril 2026 14h – 17h", span(2026, 4, 3, 14, 17)),
    ("3 avril 2026 14h—17h", span(2026, 4, 3, 14, 17)),
    ("3 avril 2026 entre 14h et 16h", span(2026, 4, 3, 14, 16)),
    ("3 avril 2026 de 9 à 12h", span(2026, 4, 3, 9, 12)),
    ("3 avril 2026 9-12h", span(2026, 4, 3, 9, 12)),
    ("3 avril 2026 de 9h30 à 11h", span(2026, 4, 3, 9, 11, 30, 0)),
    ("3 avril 2026 14:00-17:30", span(2026, 4, 3, 14, 17, 0, 30)),
    ("3 avril 2026 de midi à 14h", span(2026, 4, 3, 12, 14)),
    ("3 avril 2026 de 20h à minuit", (paris(2026, 4, 3, 20), paris(2026, 4, 4), True)),
    ("3 avril 2026 toute la journée", day(2026, 4, 3)),
    # spoken times
    ("demain à midi et demi", at(2026, 1, 16, 12, 30)),
    ("demain à midi et demie", at(2026, 1, 16, 12, 30)),
    ("demain midi et quart", at(2026, 1, 16, 12, 15)),
    ("demain midi moins le quart", at(2026, 1, 16, 11, 45)),
    ("demain à minuit et demi", at(2026, 1, 16, 0, 30)),
    ("demain minuit et quart", at(2026, 1, 16, 0, 15)),
    ("demain 14h et demie", at(2026, 1, 16, 14, 30)),
    ("demain à 14 heures et quart", at(2026, 1, 16, 14, 15)),
    ("demain à 9h moins le quart", at(2026, 1, 16, 8, 45)),
    ("3 avril 2026 de midi et demi à 14h", span(2026, 4, 3, 12, 14, 30, 0)),
    ("3 avril 2026 de 9h à midi et demi", span(2026, 4, 3, 9, 12, 0, 30)),
    # day parts
    ("3 avril 2026 au matin", span(2026, 4, 3, 9, 12)),
    ("3 avril 2026 le matin", span(2026, 4, 3, 9, 12)),
    ("3 avril 2026 matin", span(2026, 4, 3, 9, 12)),
    ("3 avril 2026 l'après-midi", span(2026, 4, 3, 14, 17)),
    ("3 avril 2026 après-midi", span(2026, 4, 3, 14, 17)),
    ("3 avril 2026 apres-midi", span(2026, 4, 3, 14, 17)),
    ("3 avril 2026 apres midi", span(2026, 4, 3, 14, 17)),
    ("3 avril 2026 en soirée", span(2026, 4, 3, 18, 20)),
    ("3 avril 2026 le soir", span(2026, 4, 3, 18, 20)),
    ("3 avril 2026 midi", span(2026, 4, 3, 12, 14)),
    ("3 avril 2026 à midi", span(2026, 4, 3, 12, 14)),
    ("demain matin", span(2026, 1, 16, 9, 12)),
    ("vendredi soir", span(2026, 1, 16, 18, 20)),
    ("ce soir", span(2026, 1, 15, 18, 20)),
    ("cet après-midi", span(2026, 1, 15, 14, 17)),
    ("midi", span(2026, 1, 15, 12, 14)),
    # relative
    ("demain", day(2026, 1, 16)),
    ("demain 14h", at(2026, 1, 16, 14)),
    ("demain à 14h à Verdun", at(2026, 1, 16, 14)),
    ("14h30 demain", at(2026, 1, 16, 14, 30)),
    ("après-demain", day(2026, 1, 17)),
    ("apres demain 9h", at(2026, 1, 17, 9)),
    ("aujourd'hui 18h", at(2026, 1, 15, 18)),
    ("aujourd’hui", day(2026, 1, 15)),
    ("jeudi prochain", day(2026, 1, 22)),
    ("lundi prochain 14h", at(2026, 1, 19, 14)),
    ("jeudi", day(2026, 1, 15)),  # today is Thursday: the day is not over
    ("jeudi 9h", at(2026, 1, 22, 9)),  # 9h is over today → next Thursday
    ("jeudi 18h", at(2026, 1, 15, 18)),  # still ahead today
    ("vendredi 18h", at(2026, 1, 16, 18)),
    ("ce vendredi", day(2026, 1, 16)),
    ("mercredi de la semaine prochaine", day(2026, 1, 21)),
    ("dans 2 semaines", day(2026, 1, 29)),
    ("dans 3 jours", day(2026, 1, 18)),
    ("dans huit jours", day(2026, 1, 22)),
    ("dans quinze jours", day(2026, 1, 29)),
    ("dans une semaine", day(2026, 1, 22)),
    ("dans 2 mois", day(2026, 3, 15)),
    ("lundi en huit", day(2026, 1, 26)),
    ("lundi en huit à 14h", at(2026, 1, 26, 14)),
    ("dans 2 heures", (paris(2026, 1, 15, 12), None, True)),
    ("14h", at(2026, 1, 15, 14)),
    ("9h", at(2026, 1, 16, 9)),  # over today → tomorrow
    ("le 14", day(2026, 2, 14)),
    ("samedi 14", day(2026, 2, 14)),
    ("le 20 à 14h", at(2026, 1, 20, 14)),
    # multi-day slot (< 24 h)
    ("du 3 avril 2026 20h au 4 avril 2026 8h", (paris(2026, 4, 3, 20), paris(2026, 4, 4, 8), True)),
    ("du 3 avril 2026 20h au lendemain 8h", (paris(2026, 4, 3, 20), paris(2026, 4, 4, 8), True)),
    # noise
    ("vendredi 3 avril 2026 (lieu à définir)", day(2026, 4, 3)),
    ("vendredi 3 avril 2026 à l'ISEL", day(2026, 4, 3)),
    ("vendredi 3 avril 2026 de 9h à 12h à l'ISEL", span(2026, 4, 3, 9, 12)),
    ("vendredi 3 avril 2026 à Verdun", day(2026, 4, 3)),
    ("vendredi 3 avril 2026 de 9h à 12h au Centre Palestra de Chaumont", span(2026, 4, 3, 9, 12)),
    ("mardi 3 février au matin à l'hôpital de Verdun", span(2026, 2, 3, 9, 12)),
    ("vendredi 3 avril 2026 14h30-16h30 (visio)", span(2026, 4, 3, 14, 16, 30, 30)),
    ("3 février 2026 à 9h30 salle B", at(2026, 2, 3, 9, 30)),
    ("le 3 avril à 14h au 12/14 rue Victor Hugo", at(2026, 4, 3, 14)),
    ("RDV le 3 avril à 14h", at(2026, 4, 3, 14)),
    ("Vendredi 3 avril 2026 de 9h à 12h.", span(2026, 4, 3, 9, 12)),
    ("  VENDREDI   3   AVRIL   2026  ", day(2026, 4, 3)),
    ("mardi 3 fevrier apres-midi", span(2026, 2, 3, 14, 17)),
    ("MARDI 3 FÉVRIER 2026 AU MATIN", span(2026, 2, 3, 9, 12)),
    ("mardi\u00a03\u00a0février\u202f2026", day(2026, 2, 3)),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_accepted(text: str, expected: tuple[datetime, datetime | None, bool]) -> None:
    start, end, has_time = expected
    when = parse_when(text, now=NOW)
    assert when.start == start
    assert when.start.utcoffset() == start.utcoffset()
    assert when.end == end
    assert when.has_time is has_time
    assert when.start.tzinfo is not None and (when.end is None or when.end.tzinfo is not None)
    assert str(when.start.tzinfo) == "Europe/Paris"


OTHER_NOWS = [
    ("vendredi 18h", FRIDAY_MORNING, at(2026, 1, 16, 18)),  # today, still ahead
    ("vendredi 18h", FRIDAY_EVENING, at(2026, 1, 23, 18)),  # over → next Friday
    ("vendredi", FRIDAY_EVENING, day(2026, 1, 16)),  # a day only: today counts
    ("vendredi prochain", FRIDAY_MORNING, day(2026, 1, 23)),
    ("aujourd'hui 20h", FRIDAY_EVENING, at(2026, 1, 16, 20)),
    ("14h", FRIDAY_EVENING, at(2026, 1, 17, 14)),
    ("ce soir", FRIDAY_EVENING, span(2026, 1, 16, 18, 20)),  # 18h is over but ce soir = today → refused below
    ("3 février", SUMMER, day(2027, 2, 3)),
    ("3 février au matin", SUMMER, span(2027, 2, 3, 9, 12)),
    ("demain 14h", SUMMER, at(2026, 7, 2, 14)),
    ("dans 3 jours", SUMMER, day(2026, 7, 4)),
    ("le 1er", SUMMER, day(2026, 7, 1)),  # today
    ("le 1er", datetime(2026, 7, 2, 10, tzinfo=PARIS), day(2026, 8, 1)),
    ("le 31", datetime(2026, 4, 5, 10, tzinfo=PARIS), day(2026, 5, 31)),  # no 31 April
]


@pytest.mark.parametrize(("text", "now", "expected"), [c for c in OTHER_NOWS if c[0] != "ce soir"])
def test_accepted_other_nows(text: str, now: datetime, expected: tuple[datetime, datetime | None, bool]) -> None:
    start, end, has_time = expected
    when = parse_when(text, now=now)
    assert (when.start, when.end, when.has_time) == (start, end, has_time)


def test_ce_soir_after_evening_started_is_past() -> None:
    with pytest.raises(DateParseError) as info:
        parse_when("ce soir", now=FRIDAY_EVENING)
    assert info.value.key == "dates.error.past"


def test_day_parts_are_remembered_for_display() -> None:
    assert parse_when("mardi 3 février au matin", now=NOW).period == "morning"
    assert parse_when("3 avril 2026 l'après-midi", now=NOW).period == "afternoon"
    assert parse_when("3 avril 2026 en soirée", now=NOW).period == "evening"
    assert parse_when("3 avril 2026 midi", now=NOW).period == "noon"
    assert parse_when("3 avril 2026 de 9h à 12h", now=NOW).period is None
    # `period` does not take part in equality
    assert parse_when("3 avril 2026 au matin", now=NOW) == parse_when("3 avril 2026 de 9h à 12h", now=NOW)


# --------------------------------------------------------------------------- refusals

REFUSED = [
    ("", "dates.error.empty", {}),
    ("   ", "dates.error.empty", {}),
    ("bientôt", "dates.error.imprecise", {}),
    ("mars 2026", "dates.error.imprecise", {}),
    ("la semaine prochaine", "dates.error.imprecise", {}),
    ("n'importe quoi", "dates.error.unknown", {"text": "n'importe quoi"}),
    ("(lieu à définir)", "dates.error.unknown", {}),
    ("demain 3", "dates.error.unknown", {}),
    ("n'importe quoi à 14h", "dates.error.unknown", {}),
    ("x" * 500, "dates.error.unknown", {}),
    ("32 janvier", "dates.error.invalid_date", {"date": "32 janvier"}),
    ("30 février 2026", "dates.error.invalid_date", {"date": "30 février 2026"}),
    ("31/04/2026", "dates.error.invalid_date", {"date": "31 avril 2026"}),
    ("26/13/2026", "dates.error.invalid_date", {}),
    ("le 32", "dates.error.invalid_date", {}),
    ("3 avril 2026 25h", "dates.error.invalid_time", {"time": "25h"}),
    ("3 avril 2026 14h75", "dates.error.invalid_time", {}),
    ("3 avril 2026 14h 16h", "dates.error.several_times", {}),
    ("3 avril 2026 9h-12h / 14h-17h", "dates.error.several_times", {}),
    ("3 avril 2026 matin et après-midi", "dates.error.several_times", {}),
    ("jeudi 26 janvier 2023", "dates.error.past", {"when": "jeudi 26 janvier 2023"}),
    ("jeudi 26 janvier 2023 de 14h à 17h", "dates.error.past", {"when": "jeudi 26 janvier 2023, 14 h – 17 h"}),
    ("hier", "dates.error.past", {"when": "mercredi 14 janvier 2026"}),
    ("aujourd'hui 9h", "dates.error.past", {"when": "jeudi 15 janvier 2026, 9 h"}),
    ("ce matin", "dates.error.past", {"when": "jeudi 15 janvier 2026, matin"}),
    ("jeudi 15 janvier 2026 à 10h", "dates.error.past", {}),  # == now is not "after now"
    ("3 avril 2026 de 12h à 9h", "dates.error.end_before_start", {"start": "12 h", "end": "9 h"}),
    ("3 avril 2026 de 9h à 9h", "dates.error.end_before_start", {}),
    ("3 avril 2026 de 22h à 2h", "dates.error.end_before_start", {}),
    ("du 3 avril 2026 8h au 4 avril 2026 10h", "dates.error.too_long", {}),
    ("du 3 avril au 5 avril", "dates.error.too_long", {}),
    ("du 4 avril 2026 10h au 3 avril 2026 8h", "dates.error.end_before_start", {}),
    ("3 avril 2030", "dates.error.too_far", {"when": "mercredi 3 avril 2030", "years": "3"}),
    ("31/12/9999 23h", "dates.error.too_far", {}),
    ("dans 999 ans", "dates.error.too_far", {}),
    (
        "mardi 4 février 2026",
        "dates.error.weekday_mismatch",
        {"date": "4 février 2026", "written": "mardi", "actual": "mercredi"},
    ),
    ("jeudi 26 janvier", "dates.error.weekday_mismatch", {"actual": "lundi", "written": "jeudi"}),
    ("lundi 3", "dates.error.weekday_mismatch", {}),
    (
        "dimanche 29 mars 2026 à 2h30",
        "dates.error.nonexistent_time",
        {"date": "dimanche 29 mars 2026", "time": "2 h 30", "suggestion": "3 h 30"},
    ),
]


@pytest.mark.parametrize(("text", "key", "params"), REFUSED, ids=[t[:40] or "<empty>" for t, _, _ in REFUSED])
def test_refused(text: str, key: str, params: dict[str, str]) -> None:
    with pytest.raises(DateParseError) as info:
        parse_when(text, now=NOW)
    err = info.value
    assert err.key == key
    assert isinstance(err, ValueError)
    for name, value in params.items():
        assert err.params[name] == value
    # every refusal renders in both languages, placeholders all provided
    for lang in ("fr", "en"):
        text_out = error_message(err, lang)
        assert text_out and "{" not in text_out and not text_out.startswith("dates.")


def test_past_with_summer_now_and_mismatch_next_year() -> None:
    # 3 Feb 2027 is a Wednesday: the year is inferred first, then the weekday is checked.
    with pytest.raises(DateParseError) as info:
        parse_when("mardi 3 février", now=SUMMER)
    assert info.value.key == "dates.error.weekday_mismatch"
    assert info.value.params["date"] == "3 février 2027"


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError) as info:
        parse_when("demain", now=datetime(2026, 1, 15, 10))
    assert not isinstance(info.value, DateParseError)


def test_english_params() -> None:
    with pytest.raises(DateParseError) as info:
        parse_when("mardi 4 février 2026", now=NOW)
    assert info.value.params_for("en") == {"date": "4 February 2026", "written": "Tuesday", "actual": "Wednesday"}
    assert error_message(info.value, "en") == "4 February 2026 is a Wednesday, not a Tuesday. Could you check the date?"
    assert error_message(info.value, "fr") == "Le 4 février 2026 tombe un mercredi, pas un mardi. Pouvez-vous vérifier la date ?"
    with_hint = error_message(info.value, "fr", hint=True)
    assert with_hint.endswith("« demain 14h »")


# --------------------------------------------------------------------------- DST & UTC


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("3 avril 2026 14h", datetime(2026, 4, 3, 12, 0, tzinfo=UTC)),  # CEST, UTC+2
        ("3 février 2026 14h", datetime(2026, 2, 3, 13, 0, tzinfo=UTC)),  # CET, UTC+1
        ("dimanche 29 mars 2026 à 3h30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # just after the jump
        ("samedi 28 mars 2026 à 2h30", datetime(2026, 3, 28, 1, 30, tzinfo=UTC)),
        ("dimanche 25 octobre 2026 2h30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # ambiguous → first (CEST)
        ("dimanche 25 octobre 2026 3h30", datetime(2026, 10, 25, 2, 30, tzinfo=UTC)),
        ("3 avril 2026", datetime(2026, 4, 2, 22, 0, tzinfo=UTC)),  # day only: 00:00 local
    ],
)
def test_utc_conversion(text: str, utc: datetime) -> None:
    assert parse_when(text, now=NOW).start.astimezone(UTC) == utc


def test_range_across_dst_change_has_real_duration() -> None:
    # Same-tzinfo subtraction is wall-clock in Python: measure in UTC.
    when = parse_when("dimanche 29 mars 2026 de 1h à 4h", now=NOW)
    assert when.end.astimezone(UTC) - when.start.astimezone(UTC) == timedelta(hours=2)  # 1h CET → 4h CEST
    autumn = parse_when("dimanche 25 octobre 2026 de 1h à 4h", now=NOW)
    assert autumn.end.astimezone(UTC) - autumn.start.astimezone(UTC) == timedelta(hours=4)


def test_past_check_is_done_in_utc_during_the_repeated_hour() -> None:
    # 02:15 on the second pass (CET); "2h30" is the first occurrence (CEST), an hour ago.
    now = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=PARIS)
    with pytest.raises(DateParseError) as info:
        parse_when("aujourd'hui 2h30", now=now)
    assert info.value.key == "dates.error.past"


def test_other_time_zone() -> None:
    now = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
    when = parse_when("3 avril 2026 14h", now=now, tz="America/Martinique")
    assert when.start.astimezone(UTC) == datetime(2026, 4, 3, 18, 0, tzinfo=UTC)
    assert format_when(when, "fr", tz="America/Martinique") == "vendredi 3 avril 2026, 14 h"


# --------------------------------------------------------------------------- format_when


@pytest.mark.parametrize(
    ("text", "fr", "en"),
    [
        ("vendredi 3 avril 2026 de 9h à 12h", "vendredi 3 avril 2026, 9 h – 12 h", "Friday 3 April 2026, 9:00 AM – 12:00 PM"),
        ("jeudi 26 janvier 2028 de 14h à 17h", "mercredi 26 janvier 2028, 14 h – 17 h", None),
        ("26 janvier 2027 14h-17h", "mardi 26 janvier 2027, 14 h – 17 h", "Tuesday 26 January 2027, 2:00 – 5:00 PM"),
        ("mardi 3 février au matin", "mardi 3 février 2026, matin", "Tuesday 3 February 2026, morning"),
        ("3 avril 2026 l'après-midi", "vendredi 3 avril 2026, après-midi", "Friday 3 April 2026, afternoon"),
        ("3 avril 2026 14h30", "vendredi 3 avril 2026, 14 h 30", "Friday 3 April 2026, 2:30 PM"),
        ("1er décembre", "mardi 1er décembre 2026", "Tuesday 1 December 2026"),
        ("9 février 2026", "lundi 9 février 2026", "Monday 9 February 2026"),
        (
            "du 3 avril 2026 20h au 4 avril 2026 8h",
            "vendredi 3 avril 2026, 20 h – samedi 4 avril 2026, 8 h",
            "Friday 3 April 2026, 8:00 PM – Saturday 4 April 2026, 8:00 AM",
        ),
        ("3 avril 2026 de 20h à minuit", "vendredi 3 avril 2026, 20 h – 0 h", "Friday 3 April 2026, 8:00 PM – 12:00 AM"),
    ],
)
def test_format_when(text: str, fr: str, en: str | None) -> None:
    try:
        when = parse_when(text, now=NOW)
    except DateParseError as err:  # "jeudi 26 janvier 2028" is a Wednesday
        assert err.key == "dates.error.weekday_mismatch"
        when = parse_when(text.replace("jeudi ", ""), now=NOW)
    assert format_when(when) == fr
    if en is not None:
        assert format_when(when, "en") == en


def test_format_when_from_stored_utc_values() -> None:
    # What callers read back from the database: UTC, no period.
    when = When(datetime(2023, 1, 26, 13, 0, tzinfo=UTC), datetime(2023, 1, 26, 16, 0, tzinfo=UTC), True)
    assert format_when(when) == "jeudi 26 janvier 2023, 14 h – 17 h"
    assert format_when(when, "en") == "Thursday 26 January 2023, 2:00 – 5:00 PM"
    assert format_when(when, "en-GB") == "Thursday 26 January 2023, 2:00 – 5:00 PM"
    assert format_when(when, "de") == "jeudi 26 janvier 2023, 14 h – 17 h"  # unsupported → French


# --------------------------------------------------------------------------- catalogues


def _po(lang: str) -> dict[str, str]:
    with (ROOT / "locales" / lang / "LC_MESSAGES" / "dates.po").open("rb") as handle:
        return {m.id: m.string for m in read_po(handle, locale=lang) if m.id}


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_catalogues_complete_and_consistent() -> None:
    fr, en = _po("fr"), _po("en")
    assert set(fr) == set(en)
    for key in fr:
        assert fr[key] and en[key], key
        assert _placeholders(fr[key]) == _placeholders(en[key]), key
    source = (ROOT / "bot" / "dates.py").read_text(encoding="utf-8")
    used = set(re.findall(r"\"(dates\.(?:error|part)\.[a-z_]+)\"", source)) | {
        f"dates.part.{p}" for p in dates_module.PERIODS
    }
    assert used <= set(fr), used - set(fr)
    for key in REFUSED:
        assert key[1] in fr
    # The hint's examples are computed from today, so they never go stale or contradict themselves.
    nows = (NOW, FRIDAY_EVENING, SUMMER, paris(2026, 12, 31, 23, 59), paris(2031, 2, 20, 12))
    for now in nows:
        for example in re.findall(r"« ([^»]+) »", dates_module.date_hint("fr", now)):
            parse_when(example, now=now)


# --------------------------------------------------------------------------- properties

FRAGMENTS = [
    "lundi", "mardi", "jeudi", "vendredi", "dimanche", "prochain", "en huit", "le", "1er", "3", "14", "29",
    "31", "32", "janvier", "février", "fevrier", "mars", "avril", "octobre", "2023", "2026", "2027", "2031",
    "26/01/2026", "31/02", "2026-13-40", "14h", "2h30", "9h00", "25h", "de", "à", "et", "entre", "-", "–",
    "au matin", "l'après-midi", "midi", "minuit", "en soirée", "ce soir", "demain", "après-demain",
    "aujourd'hui", "hier", "dans", "2", "jours", "semaines", "heures", "mois", "du", "au", "lendemain",
    "(lieu à définir)", "à Verdun", "au Centre Palestra", ".", ",", "  ",
]
texts = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(FRAGMENTS), max_size=8).map(" ".join),
)
nows = st.sampled_from([NOW, FRIDAY_EVENING, SUMMER, datetime(2026, 3, 28, 23, 30, tzinfo=PARIS), datetime(2026, 12, 31, 23, 59, tzinfo=PARIS)])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, now=nows)
def test_property_valid_when_or_date_parse_error(text: str, now: datetime) -> None:
    try:
        when = parse_when(text, now=now)
    except DateParseError as err:
        assert err.key.startswith("dates.")
        assert error_message(err, "fr") and error_message(err, "en")
        return
    assert when.start.tzinfo is not None
    if when.has_time:
        assert when.start.astimezone(UTC) > now.astimezone(UTC)
    else:  # a day only (00:00 local) is accepted from today on
        assert when.end is None
        assert when.start.astimezone(PARIS).date() >= now.astimezone(PARIS).date()
        assert when.start.astimezone(PARIS).time() == datetime.min.time()
    if when.end is not None:
        start_utc, end_utc = when.start.astimezone(UTC), when.end.astimezone(UTC)
        assert end_utc > start_utc
        assert end_utc - start_utc <= timedelta(hours=24)
    assert when.start.astimezone(UTC).astimezone(PARIS) == when.start
    assert format_when(when) and format_when(when, "en")


# --------------------------------------------------------------------------- speed


def test_typical_parse_is_fast() -> None:
    samples = ["vendredi 3 avril 2026 de 9h à 12h", "mardi 3 février au matin", "demain 14h", "26/01/2026", "jeudi prochain"]
    for text in samples:
        parse_when(text, now=NOW)
    runs = 200
    started = _time.perf_counter()
    for _ in range(runs):
        for text in samples:
            parse_when(text, now=NOW)
    per_call_ms = (_time.perf_counter() - started) / (runs * len(samples)) * 1000
    assert per_call_ms < 5


def test_readme_date_examples_are_valid_whenever_read() -> None:
    """The README's "typed in French" examples never go stale: no past date, no weekday that
    another year contradicts (tried at all hours over four years)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    typed = re.findall(r"en\s+français\s*\(([^)]*)\)", readme)
    examples = [e for group in typed for e in re.findall(r"« ([^»]+) »", group)]
    assert len(examples) >= 5, examples
    now = datetime(2026, 1, 1, 0, 30, tzinfo=PARIS)
    while now.year < 2030:
        for example in examples:
            parse_when(example, now=now)
        now += timedelta(days=4, hours=7)
