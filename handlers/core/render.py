"""How a meeting session reads in a message (one place, so every feature shows it alike)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
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
    """A short button label, "Verdun — 26 janv.": the site cut on a word, then the day."""
    day = format_date(ms.starts_at.astimezone(ZoneInfo(tz)).date(), "d MMM", locale=lang)
    where = shorten(ms.site, 40) if ms.site else t("meetings.place_tbd_short", lang)
    return f"{where} — {day}"


PICKER_TITLE_MAX = 40  # characters of a title on a picker button, before " · Verdun — 26 janv."


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut at the last whole word that fits with "…" (a cut word reads as a typo)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " ":  # the cut falls inside a word: drop it
        space = cut.rfind(" ")
        if space >= limit // 2:
            cut = cut[:space]
    return cut.rstrip(" ,;:.-–—'’(") + "…"


def next_open_session(sessions: Iterable[SessionLike], now: datetime) -> SessionLike | None:
    """The soonest session still ahead that is not cancelled: what a meeting is known by."""
    ahead = [ms for ms in sessions if ms.status != "cancelled" and ms.starts_at > now]
    return min(ahead, key=lambda ms: (ms.starts_at, ms.id)) if ahead else None


def picker_label(meeting: Meeting | MeetingInfo, ms: SessionLike, lang: str, tz: str) -> str:
    """ "Rencontre des professionnels de… · Verdun — 26 janv.": a title cut on a word, then the session."""
    return f"{shorten(meeting.title, PICKER_TITLE_MAX)} · {session_label(ms, meeting, lang, tz)}"


def meeting_picker(
    meetings: Sequence[Meeting], data: Callable[[Meeting], str], *, lang: str, tz: str, now: datetime, limit: int
) -> list[list[tuple[str, str]]]:
    """One button per meeting with an open session ahead, soonest first, labelled by that session.

    Every coordinator picker (/inscrits, /gerer, /lien, /rappels_rencontre, a poll's audience)
    is this one, so they all read the same way.
    """
    dated = [(ms, meeting) for meeting in meetings if (ms := next_open_session(meeting.sessions, now)) is not None]
    dated.sort(key=lambda pair: (pair[0].starts_at, pair[1].id))
    return [[(picker_label(meeting, ms, lang, tz), data(meeting))] for ms, meeting in dated[:limit]]


def session_picker(
    views: Iterable[SessionView], data: Callable[[SessionView], str], *, lang: str, tz: str
) -> list[list[tuple[str, str]]]:
    """One button per session (already in date order), labelled like `meeting_picker`'s buttons."""
    return [[(picker_label(view.meeting, view.session, lang, tz), data(view))] for view in views]
