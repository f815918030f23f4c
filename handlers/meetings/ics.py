"""Calendar files (.ics) for a meeting session, so a professional's agenda follows the bot.

The UID is stable per session and SEQUENCE is `session.version` (bumped by every change), so
importing a newer file updates the same agenda entry instead of adding a second one; a
cancelled session is sent as METHOD:CANCEL with STATUS:CANCELLED, which removes or strikes it.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.i18n import t
from storage.models import Meeting, MeetingSession

DEFAULT_LENGTH = timedelta(hours=2)
UID_DOMAIN = "relais-sante"


def session_uid(session_id: int) -> str:
    return f"session-{session_id}@{UID_DOMAIN}"


def filename(ms: MeetingSession) -> str:
    return f"rencontre-{ms.id}.ics"


def session_calendar(
    ms: MeetingSession,
    meeting: Meeting,
    *,
    lang: str,
    tz: str,
    bot_username: str | None = None,
    withdrawn: bool = False,
) -> bytes:
    """The session as an iCalendar file (bytes), in `lang` for its free text.

    `withdrawn`: the reader gave up their seat, so their copy is cancelled (METHOD:CANCEL, same
    UID) while the session itself goes on (its title is not marked cancelled).
    """
    from icalendar import Calendar, Event  # on first use: 3 MiB the bot does not carry otherwise

    session_cancelled = ms.status == "cancelled" or meeting.status == "cancelled"
    cancelled = session_cancelled or withdrawn
    cal = Calendar()
    cal.add("prodid", "-//Relais Santé//Rencontres//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", session_uid(ms.id))
    event.add("sequence", ms.version)
    event.add("dtstamp", ms.updated_at)
    if ms.has_time:
        event.add("dtstart", ms.starts_at)
        event.add("dtend", ms.ends_at or ms.starts_at + DEFAULT_LENGTH)
    else:  # a whole day (or "in the morning" without hours): an all-day entry
        day = ms.starts_at.astimezone(ZoneInfo(tz)).date()
        last = ms.ends_at.astimezone(ZoneInfo(tz)).date() if ms.ends_at else day
        event.add("dtstart", day)
        event.add("dtend", last + timedelta(days=1))
    summary = meeting.title
    if session_cancelled:
        summary = t("reminders.ics_cancelled_title", lang, html=False, title=meeting.title)
    event.add("summary", summary)
    place = ", ".join(part for part in (ms.site, ms.address) if part)
    if place:
        event.add("location", place)
    lines = [meeting.theme] if meeting.theme else []
    if bot_username:
        link = f"https://t.me/{bot_username}?start=r{ms.id}"
        event.add("url", link)
        lines.append(t("reminders.ics_description_link", lang, html=False, link=link))
    if lines:
        event.add("description", "\n".join(lines))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()
