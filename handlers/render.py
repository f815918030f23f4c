"""How a meeting session reads in a message (one place, so every feature shows it alike)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.dates import When, format_when
from bot.i18n import t, tn
from storage.meetings import MeetingInfo, SessionInfo, SessionView
from storage.models import Meeting, MeetingSession

SessionLike = MeetingSession | SessionInfo  # a tracked row, or one read for a listing


def when_text(ms: SessionLike, lang: str, tz: str) -> str:
    """ "jeudi 26 janvier 2023, 14 h – 17 h" in the bot's time zone."""
    return format_when(When(ms.starts_at, ms.ends_at, ms.has_time), lang, tz)


def place_text(ms: SessionLike, lang: str) -> str:
    if not ms.site and not ms.address:
        return t("meetings.place_tbd", lang)
    return ", ".join(part for part in (ms.site, ms.address) if part)


def seats_text(view: SessionView, lang: str) -> str:
    if view.session.status == "cancelled":
        return t("meetings.session_cancelled", lang)
    if view.session.status == "closed":
        return t("meetings.session_closed", lang)
    left = view.seats_left
    if left is None:
        return t("meetings.seats_unlimited", lang)
    if left == 0:
        return t("meetings.full_waitlist", lang)
    return tn("meetings.seats_left", left, lang)


def session_card(view: SessionView, lang: str, tz: str) -> str:
    """Title, theme, date, place, seats, and the reader's own status."""
    lines = [
        t("meetings.card_title", lang, title=view.meeting.title),
        t("meetings.card_when", lang, when=when_text(view.session, lang, tz)),
        t("meetings.card_place", lang, place=place_text(view.session, lang)),
    ]
    if view.meeting.theme:
        lines.append(t("meetings.card_theme", lang, theme=view.meeting.theme))
    lines.append(t("meetings.card_seats", lang, seats=seats_text(view, lang)))
    if view.my_status == "confirmed":
        lines.append(t("meetings.card_you_confirmed", lang))
    elif view.my_status == "waitlisted":
        lines.append(t("meetings.card_you_waitlisted", lang))
    return "\n".join(lines)


def session_label(ms: SessionLike, meeting: Meeting | MeetingInfo, lang: str, tz: str) -> str:
    """A short button label: "Verdun — 26/01" style, under Telegram's button width."""
    day = format_date(ms.starts_at.astimezone(ZoneInfo(tz)).date(), "d MMM", locale=lang)
    where = ms.site or t("meetings.place_tbd_short", lang)
    return f"{where} — {day}"[:60]
