"""The reminder planner: which reminders are due, decided from the database alone.

Offsets are minutes before the start (`10080` = 7 days, `120` = 2 hours); a negative value
`-m` means "the day before, at m minutes past midnight" in the bot's time zone, so `-1080`
is "la veille à 18 h". Defaults: 7 days before, the day before at 18:00, 2 hours before.
`Meeting.reminder_offsets` overrides them per meeting (`[]` = no reminder).

Every minute (bot/background.py) the planner reads the sessions starting within the largest
offset and, for each (session, offset) whose time has come and that has no mark yet, writes
the mark and queues the reminders in one transaction (INSERT … SELECT into the outbox). So:

* a reminder is decided once, whatever the number of planners or restarts (unique mark);
* the bot down across a reminder's time: on restart the latest due reminder of a session that
  has not started is sent once, earlier ones are marked "superseded"; a session that started
  meanwhile gets its missed reminders marked "stale", and queued ones past the start are
  skipped by the dispatcher as stale (`not_after`);
* a session that moves re-plans the reminders still ahead (their marks were made for the old
  start); its pending reminders are dropped and people holding its .ics get the new one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import Application

from bot.dates import format_time
from bot.i18n import SUPPORTED, t, tn
from bot.notify import message_payload
from bot.services import Services
from bot.transport import file_param
from handlers.core.dialog import normalized
from handlers.core.render import place_text, when_text
from handlers.meetings import ics
from storage import outbox
from storage import reminders as store
from storage.db import Database
from storage.models import Meeting, MeetingSession, utcnow
from storage.reminders_models import ReminderMark

log = logging.getLogger(__name__)

DAY = 24 * 60
EVE_18 = -18 * 60
DEFAULT_OFFSETS: tuple[int, ...] = (7 * DAY, EVE_18, 120)
MAX_OFFSET = 28 * DAY  # the planner looks this far ahead (plus the day an "eve" offset adds)
STALE_LOOKBACK = timedelta(days=2)
PRIORITY = outbox.NORMAL


@dataclass
class Context:
    """What the change listener needs from the running process (set by `configure`)."""

    timezone: str = "Europe/Paris"
    default_lang: str = "fr"
    bot_username: str | None = None


CONTEXT = Context()


def configure(services: Services) -> None:
    CONTEXT.timezone = services.settings.timezone
    CONTEXT.default_lang = services.settings.default_locale
    CONTEXT.bot_username = services.bot_username


# -------------------------------------------------------------------------------- offsets
class OffsetError(ValueError):
    """A typed reminder list that could not be read; `token` is the part at fault."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


_UNITS = {"sem": 7 * DAY, "semaine": 7 * DAY, "semaines": 7 * DAY, "w": 7 * DAY, "week": 7 * DAY, "weeks": 7 * DAY,
          "j": DAY, "jour": DAY, "jours": DAY, "d": DAY, "day": DAY, "days": DAY,
          "h": 60, "heure": 60, "heures": 60, "hour": 60, "hours": 60,
          "min": 1, "mn": 1, "minute": 1, "minutes": 1, "m": 1}  # fmt: skip
_RELATIVE = re.compile(r"^(?:j-|d-)?(\d+)\s*([a-z]+)?(?:\s+(?:avant|before))?$")
_EVE = re.compile(r"^(?:la\s+)?(?:veille|eve|day\s+before)(?:\s+(?:a|at))?\s*(\d{1,2})?\s*(?:h|:)?\s*(\d{2})?$")


def parse_offsets(text: str) -> list[int] | None:
    """ "7j, veille 18h, 2h" → [10080, -1080, 120]; "2 semaines" → [20160]; "défaut" → None; "aucun" → []."""
    cleaned = normalized(text)
    if cleaned in ("defaut", "default", "par defaut"):
        return None
    if cleaned in ("aucun", "aucun rappel", "none", "no", "non", "0"):
        return []
    offsets: list[int] = []
    for token in re.split(r"[,;/]|\s+et\s+|\s+and\s+", cleaned):
        token = token.strip()
        if not token:
            continue
        eve = _EVE.match(token)
        if eve:
            hour, minute = int(eve.group(1) or 18), int(eve.group(2) or 0)
            if hour > 23 or minute > 59:
                raise OffsetError(token)
            offsets.append(-(hour * 60 + minute))
            continue
        rel = _RELATIVE.match(token)
        if rel and (rel.group(2) or "j") in _UNITS:
            minutes = int(rel.group(1)) * _UNITS[rel.group(2) or "j"]
            if not 0 < minutes <= MAX_OFFSET:
                raise OffsetError(token)
            offsets.append(minutes)
            continue
        raise OffsetError(token)
    return sorted(set(offsets), key=lambda o: -sort_key(o))


def sort_key(offset: int) -> int:
    """Minutes before the start, roughly (the eve counts as a day), for ordering."""
    return offset if offset > 0 else DAY - (-offset) + 6 * 60


def offsets_of(meeting: Meeting) -> list[int]:
    return list(DEFAULT_OFFSETS) if meeting.reminder_offsets is None else [int(o) for o in meeting.reminder_offsets]


def offset_label(offset: int, lang: str) -> str:
    if offset < 0:
        minutes = -offset
        return t("reminders.offset_eve", lang, time=format_time(time(minutes // 60, minutes % 60), lang))
    if offset % DAY == 0:
        return tn("reminders.offset_days", offset // DAY, lang)
    if offset % 60 == 0:
        return tn("reminders.offset_hours", offset // 60, lang)
    return tn("reminders.offset_minutes", offset, lang)


def describe_offsets(offsets: list[int] | None, lang: str) -> str:
    chosen = list(DEFAULT_OFFSETS) if offsets is None else offsets
    if not chosen:
        return t("reminders.no_reminder", lang)
    return ", ".join(offset_label(o, lang) for o in sorted(chosen, key=lambda o: -sort_key(o)))


def due_time(offset: int, starts_at: datetime, tz: ZoneInfo) -> datetime:
    if offset > 0:
        return starts_at - timedelta(minutes=offset)
    eve = starts_at.astimezone(tz).date() - timedelta(days=1)
    minutes = -offset
    return datetime.combine(eve, time(minutes // 60, minutes % 60), tzinfo=tz).astimezone(UTC)


def applies(offset: int, ms: MeetingSession) -> bool:
    """A whole-day session has no "2 hours before"."""
    return ms.has_time or offset < 0 or offset >= DAY


# -------------------------------------------------------------------------------- decisions
@dataclass
class Decision:
    """What the planner does for one session now."""

    plan: tuple[int, datetime] | None = None  # (offset, due) to send now
    superseded: list[tuple[int, datetime]] = field(default_factory=list)
    stale: list[tuple[int, datetime]] = field(default_factory=list)
    forget: list[int] = field(default_factory=list)  # marks made for an old start, reminder ahead again


def decide(
    ms: MeetingSession, offsets: list[int], marks: dict[int, ReminderMark], now: datetime, tz: ZoneInfo
) -> Decision:
    decision = Decision()
    due_now: list[tuple[datetime, int]] = []
    for offset in offsets:
        if not applies(offset, ms):
            continue
        due = due_time(offset, ms.starts_at, tz)
        mark = marks.get(offset)
        if mark is not None:
            if mark.starts_at == ms.starts_at:
                continue  # decided for this start already
            if due > now:
                decision.forget.append(offset)  # the session moved: this reminder is ahead again
            else:
                decision.superseded.append((offset, due))  # moved, and its time passed: the change notice told them
            continue
        if due > now:
            continue
        if ms.starts_at <= now:
            decision.stale.append((offset, due))
        else:
            due_now.append((due, offset))
    if due_now:
        due_now.sort()
        latest_due, latest = due_now[-1]
        decision.plan = (latest, latest_due)
        decision.superseded += [(o, d) for d, o in due_now[:-1]]
    return decision


# -------------------------------------------------------------------------------- messages
def map_url(ms: MeetingSession) -> str | None:
    where = ", ".join(part for part in (ms.site, ms.address) if part)
    return f"https://www.openstreetmap.org/search?query={quote_plus(where)}" if where else None


def relative_text(starts_at: datetime, now: datetime, lang: str, tz: ZoneInfo) -> str:
    delta = starts_at - now
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return tn("reminders.in_minutes", max(minutes, 1), lang)
    if minutes < 6 * 60:
        return tn("reminders.in_hours", round(minutes / 60), lang)
    days = (starts_at.astimezone(tz).date() - now.astimezone(tz).date()).days
    if days <= 0:
        return t("reminders.today", lang)
    if days == 1:
        return t("reminders.tomorrow", lang)
    return tn("reminders.in_days", days, lang)


def reminder_payload(ms: MeetingSession, meeting: Meeting, lang: str, tz: str, now: datetime) -> dict[str, Any]:
    """What, when, where (with a map link), and the buttons: can't come, calendar, mute."""
    zone = ZoneInfo(tz)
    lines = [
        t("reminders.message_title", lang, title=meeting.title, relative=relative_text(ms.starts_at, now, lang, zone)),
        t("reminders.message_when", lang, when=when_text(ms, lang, tz)),
        t("reminders.message_where", lang, place=place_text(ms, lang)),
    ]
    url = map_url(ms)
    if url:
        lines.append(t("reminders.message_map", lang, url=url))
    keyboard = [
        [(t("meetings.button_cannot_come", lang), f"m:can:{ms.id}")],
        [
            (t("reminders.button_calendar", lang), f"m:ics:{ms.id}"),
            (t("reminders.button_mute", lang), f"r:mute:{ms.id}"),
        ],
    ]
    return message_payload("\n".join(lines), keyboard)


def calendar_payload(ms: MeetingSession, meeting: Meeting, lang: str) -> dict[str, Any]:
    content = ics.session_calendar(ms, meeting, lang=lang, tz=CONTEXT.timezone, bot_username=CONTEXT.bot_username)
    key = "reminders.calendar_cancelled" if ms.status == "cancelled" else "reminders.calendar_updated"
    return {
        "document": file_param(content, ics.filename(ms), "text/calendar"),
        "caption": t(key, lang, title=meeting.title),
        "parse_mode": "HTML",
    }


# -------------------------------------------------------------------------------- planner
@dataclass
class PlanReport:
    sessions: int = 0
    planned: int = 0
    queued: int = 0
    superseded: int = 0
    stale: int = 0


async def plan_due(
    db: Database, *, tz: str = "Europe/Paris", default_lang: str = "fr", now: datetime | None = None
) -> PlanReport:
    """Decide every reminder whose time has come; returns what was done."""
    now = now or utcnow()
    zone = ZoneInfo(tz)
    report = PlanReport()
    async with db.begin() as session:
        found = await store.sessions_starting_between(
            session, now - STALE_LOOKBACK, now + timedelta(minutes=MAX_OFFSET) + timedelta(days=1)
        )
        marks = await store.marks_for(session, [ms.id for ms, _ in found])
    report.sessions = len(found)
    by_session: dict[int, dict[int, ReminderMark]] = {}
    for (sid, offset), mark in marks.items():
        by_session.setdefault(sid, {})[offset] = mark
    for ms, meeting in found:
        mine = by_session.get(ms.id, {})
        decision = decide(ms, offsets_of(meeting), mine, now, zone)
        if decision.plan or decision.superseded or decision.stale or decision.forget:
            await _apply(db, ms, meeting, decision, now, tz, default_lang, report)
    return report


async def _apply(
    db: Database,
    ms: MeetingSession,
    meeting: Meeting,
    decision: Decision,
    now: datetime,
    tz: str,
    default_lang: str,
    report: PlanReport,
) -> None:
    """One session's decision in one transaction; a concurrent planner's mark makes it a no-op."""
    try:
        async with db.begin() as session:
            for offset in decision.forget:
                mark = await store.lock_mark(session, ms.id, offset)
                if mark is not None:
                    await session.delete(mark)
            for offset, due in decision.superseded:
                await _mark(session, ms, offset, due, "superseded")
            for offset, due in decision.stale:
                await _mark(session, ms, offset, due, "stale")
            if decision.plan is not None:
                offset, due = decision.plan
                label = t(
                    "reminders.send_label",
                    default_lang,
                    html=False,
                    title=meeting.title,
                    offset=offset_label(offset, default_lang),
                )
                send = await store.new_send(
                    session, label=f"{label} · {ms.site or ''}".rstrip(" ·"), created_by=meeting.created_by
                )
                count = await store.queue_reminders(
                    session,
                    session_id=ms.id,
                    registered_before=due,
                    purpose=f"rem:s{ms.id}:o{offset}:{int(ms.starts_at.timestamp())}",
                    payloads={lang: reminder_payload(ms, meeting, lang, tz, now) for lang in SUPPORTED},
                    default_lang=default_lang,
                    send_id=send.id,
                    priority=PRIORITY,
                    now=now,
                    not_after=ms.starts_at,
                )
                if count == 0:
                    await store.drop_send(session, send.id)
                await _mark(
                    session,
                    ms,
                    offset,
                    due,
                    "queued" if count else "none",
                    send_id=send.id if count else None,
                    recipients=count,
                )
                report.planned += 1
                report.queued += count
        report.superseded += len(decision.superseded)
        report.stale += len(decision.stale)
    except IntegrityError:  # another planner decided this session first
        log.info("rappels : session %s déjà planifiée ailleurs", ms.id)


async def _mark(
    session: AsyncSession,
    ms: MeetingSession,
    offset: int,
    due: datetime,
    status: str,
    *,
    send_id: int | None = None,
    recipients: int = 0,
) -> None:
    mark = await store.lock_mark(session, ms.id, offset)
    if mark is None:
        session.add(
            ReminderMark(
                session_id=ms.id,
                offset_min=offset,
                due_at=due,
                starts_at=ms.starts_at,
                status=status,
                send_id=send_id,
                recipients=recipients,
            )
        )
    else:
        mark.due_at, mark.starts_at, mark.status, mark.send_id, mark.recipients = (
            due,
            ms.starts_at,
            status,
            send_id,
            recipients,
        )
    await session.flush()


async def offsets_changed(session: AsyncSession, meeting: Meeting, old: list[int], now: datetime) -> None:
    """A coordinator added reminder times: those already past are not sent late (marked superseded)."""
    added = set(offsets_of(meeting)) - set(old)
    zone = ZoneInfo(CONTEXT.timezone)
    for ms in meeting.sessions:
        if ms.status == "cancelled" or ms.starts_at <= now:
            continue
        marks = {offset: mark for (_, offset), mark in (await store.marks_for(session, [ms.id])).items()}
        for offset in added:
            due = due_time(offset, ms.starts_at, zone)
            if offset not in marks and due <= now and applies(offset, ms):
                await _mark(session, ms, offset, due, "superseded")


async def run_planner(application: Application) -> None:
    """The periodic job: plan, then wake the dispatcher if anything was queued."""
    services: Services = application.bot_data["services"]
    report = await plan_due(services.db, tz=services.settings.timezone, default_lang=services.settings.default_locale)
    if report.queued:
        log.info("rappels : %d message(s) pour %d rappel(s)", report.queued, report.planned)
        services.wake_outbox()


# -------------------------------------------------------------------------------- changes
async def follow_session_change(session: AsyncSession, ms: MeetingSession, kind: str) -> None:
    """A session moved, changed place or was cancelled: reminders and calendar files follow.

    Registrants are told by the coordinator's handler (handlers/meetings/session_events.py callers); here
    pending reminders carrying the old details are dropped, marks made for the old start are
    re-planned (if still ahead) or superseded, and holders of the .ics get the new version.
    """
    await outbox.drop_pending(session, f"rem:s{ms.id}:")
    now = utcnow()
    if kind == "date":
        zone = ZoneInfo(CONTEXT.timezone)
        marks = {offset: mark for (_, offset), mark in (await store.marks_for(session, [ms.id])).items()}
        decision = decide(ms, offsets_of(ms.meeting), marks, now, zone)
        for offset in decision.forget:
            await session.delete(marks[offset])
        # Whatever came due by the move is covered by the change notice registrants just got.
        for offset, due in decision.superseded + ([decision.plan] if decision.plan else []):
            await _mark(session, ms, offset, due, "superseded")
        await session.flush()
    holders = await store.calendar_holders(session, ms.id, registered_only=kind != "cancelled")
    rows = []
    payloads: dict[str, dict[str, Any]] = {}
    for user_id, language in holders:
        lang = language if language in SUPPORTED else CONTEXT.default_lang
        if lang not in payloads:
            payloads[lang] = calendar_payload(ms, ms.meeting, lang)
        rows.append(
            {
                "purpose": f"ics:s{ms.id}:v{ms.version}",
                "chat_id": user_id,
                "user_id": user_id,
                "payload": payloads[lang],
            }
        )
        await store.record_calendar_copy(session, user_id, ms.id, ms.version, now)
    await outbox.enqueue_many(session, rows, method="sendDocument", priority=outbox.HIGH)
