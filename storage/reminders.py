"""Reminder queries: sessions coming up, their marks, and queueing recipients in one statement.

The planner never scans registrations: it reads the few sessions starting within the largest
reminder offset (index `ix_meeting_sessions_status_starts`), their marks, and for each reminder
that comes due runs one INSERT … SELECT per language over that session's registrations (index
`ix_registrations_session_status`) straight into the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, false, func, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import JSON, Integer, SmallInteger, String

from storage import core
from storage.db import dialect_insert
from storage.models import Meeting, MeetingSession, Membership, OutboxMessage, Registration, Send, User
from storage.privacy_models import is_person_chat
from storage.reminders_models import CalendarCopy, ReminderMark
from storage.types import UTCDateTime

LIVE_STATUSES = ("open", "closed")


async def sessions_starting_between(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[MeetingSession, Meeting]]:
    """Sessions not cancelled, of published meetings, starting in (start, end]."""
    rows = await session.execute(
        select(MeetingSession, Meeting)
        .join(Meeting, MeetingSession.meeting_id == Meeting.id)
        .where(
            MeetingSession.status.in_(LIVE_STATUSES),
            MeetingSession.starts_at > start,
            MeetingSession.starts_at <= end,
            Meeting.status == "published",
        )
        .order_by(MeetingSession.starts_at)
    )
    return [(ms, meeting) for ms, meeting in rows]


async def marks_for(session: AsyncSession, session_ids: list[int]) -> dict[tuple[int, int], ReminderMark]:
    marks: dict[tuple[int, int], ReminderMark] = {}
    for start in range(0, len(session_ids), 500):
        chunk = session_ids[start : start + 500]
        for mark in await session.scalars(select(ReminderMark).where(ReminderMark.session_id.in_(chunk))):
            marks[(mark.session_id, mark.offset_min)] = mark
    return marks


async def lock_mark(session: AsyncSession, session_id: int, offset: int) -> ReminderMark | None:
    return await session.scalar(
        select(ReminderMark)
        .where(ReminderMark.session_id == session_id, ReminderMark.offset_min == offset)
        .with_for_update()
    )


async def queue_reminders(
    session: AsyncSession,
    *,
    session_id: int,
    registered_before: datetime,
    purpose: str,
    payloads: dict[str, dict[str, Any]],
    default_lang: str,
    send_id: int | None,
    priority: int,
    now: datetime,
    not_after: datetime | None,
) -> int:
    """Queue one reminder per confirmed, reachable, unmuted registrant, in their language.

    Registrations made after the reminder's time are left out (they just got a confirmation).
    """
    others = [lang for lang in payloads if lang != default_lang]
    queued = 0
    for lang, payload in payloads.items():
        language = (
            User.language == lang
            if lang != default_lang
            else or_(User.language.is_(None), User.language.not_in(others or ["-"]))
        )
        recipients = (
            select(
                literal(purpose, String()),
                Registration.user_id,
                Registration.user_id,
                literal(send_id, Integer()) if send_id is not None else null(),
                literal(priority, SmallInteger()),
                literal("sendMessage", String()),
                literal(payload, JSON()),
                literal("pending", String()),
                literal(now, UTCDateTime()),
                literal(not_after, UTCDateTime()) if not_after is not None else null(),
                literal(0, Integer()),
                literal(now, UTCDateTime()),
            )
            .select_from(Registration)
            .join(User, User.id == Registration.user_id)
            .where(
                Registration.session_id == session_id,
                Registration.status == "confirmed",
                Registration.reminders_muted == false(),
                Registration.created_at <= registered_before,
                User.reminders_muted == false(),
                User.unreachable_at.is_(None),
                language,
            )
        )
        columns = [
            "purpose",
            "chat_id",
            "user_id",
            "send_id",
            "priority",
            "method",
            "payload",
            "status",
            "due_at",
            "not_after",
            "attempts",
            "created_at",
        ]
        stmt = (
            dialect_insert(session, OutboxMessage)
            .from_select(columns, recipients)
            .on_conflict_do_nothing(index_elements=["purpose", "chat_id"])
        )
        result = await core.execute_dml(session, stmt)
        queued += max(result.rowcount or 0, 0)
    return queued


async def new_send(session: AsyncSession, *, label: str, created_by: int | None) -> Send:
    send = Send(kind="reminder", label=label[:200], created_by=created_by)
    session.add(send)
    await session.flush()
    return send


async def drop_send(session: AsyncSession, send_id: int) -> None:
    await session.execute(delete(Send).where(Send.id == send_id))


# -- muting ---------------------------------------------------------------------------------
async def set_registration_muted(session: AsyncSession, user_id: int, session_id: int, muted: bool) -> bool:
    """Mute or unmute one registration's reminders; False if the user is not registered there."""
    result = await core.execute_dml(
        session,
        update(Registration)
        .where(
            Registration.user_id == user_id, Registration.session_id == session_id, Registration.status != "cancelled"
        )
        .values(reminders_muted=muted),
    )
    return bool(result.rowcount)


async def drop_pending_for(session: AsyncSession, user_id: int, session_id: int | None = None) -> int:
    """A muted person's reminders already queued are not sent."""
    where = [OutboxMessage.user_id == user_id, OutboxMessage.status == "pending"]
    where.append(
        OutboxMessage.purpose.like(f"rem:s{session_id}:%")
        if session_id is not None
        else OutboxMessage.purpose.like("rem:%")
    )
    result = await core.execute_dml(
        session, update(OutboxMessage).where(*where).values(status="skipped", last_error="reminders muted")
    )
    return result.rowcount or 0


# -- calendar files -------------------------------------------------------------------------
async def record_calendar_copy(
    session: AsyncSession, user_id: int, session_id: int, sequence: int, now: datetime
) -> None:
    copy = await session.get(CalendarCopy, (user_id, session_id))
    if copy is None:
        session.add(CalendarCopy(user_id=user_id, session_id=session_id, sequence=sequence, sent_at=now))
    else:
        copy.sequence, copy.sent_at = sequence, now


async def drop_calendar_copy(session: AsyncSession, user_id: int, session_id: int) -> bool:
    """Forget that the user holds this session's calendar file; True if they did (then they need
    the file that removes it, and no later update of a session they left)."""
    copy = delete(CalendarCopy).where(CalendarCopy.user_id == user_id, CalendarCopy.session_id == session_id)
    result = await core.execute_dml(session, copy)
    return bool(result.rowcount)


async def calendar_holders(
    session: AsyncSession, session_id: int, *, registered_only: bool
) -> list[tuple[int, str | None]]:
    """(user id, language) of reachable people holding an older .ics of this session."""
    stmt = (
        select(User.id, User.language)
        .join(CalendarCopy, CalendarCopy.user_id == User.id)
        .where(CalendarCopy.session_id == session_id, User.unreachable_at.is_(None))
    )
    if registered_only:
        stmt = stmt.where(
            User.id.in_(
                select(Registration.user_id).where(
                    Registration.session_id == session_id, Registration.status.in_(("confirmed", "waitlisted"))
                )
            )
        )
    return [(uid, lang) for uid, lang in await session.execute(stmt)]


async def may_see_session(session: AsyncSession, user_id: int, session_id: int) -> bool:
    """Registered there (now or before), or a member of the meeting's group."""
    registered = await session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(Registration.session_id == session_id, Registration.user_id == user_id)
    )
    if registered:
        return True
    member = await session.scalar(
        select(func.count())
        .select_from(MeetingSession)
        .join(Meeting, Meeting.id == MeetingSession.meeting_id)
        .join(Membership, and_(Membership.group_id == Meeting.group_id, Membership.user_id == user_id))
        .where(MeetingSession.id == session_id)
    )
    return bool(member)


# -- sends, for /envois ---------------------------------------------------------------------
# One person may get several messages of a send (a poll's intro and the poll): /envois counts
# people, each by the state of their least advanced message, in this order.
RECIPIENT_STATES = ("unreachable", "refused", "failed", "unknown", "sending", "pending", "skipped", "sent")


@dataclass(frozen=True)
class ChatDelivery:
    """A send's messages to one group or channel (a bulletin's post, a poll in a group chat)."""

    chat_id: int
    status: str
    error: str | None


async def recent_sends(
    session: AsyncSession, *, created_by: int | None, limit: int = 10
) -> list[tuple[Send, dict[str, int]]]:
    """The latest sends (all, or those of one coordinator) with, for each, how many people are in
    each state (a person counted once, by their least advanced message)."""
    stmt = select(Send).order_by(Send.id.desc()).limit(limit)
    if created_by is not None:
        stmt = stmt.where(Send.created_by == created_by)
    sends = list(await session.scalars(stmt))
    counts: dict[int, dict[str, int]] = {s.id: {} for s in sends}
    if sends:
        rank = case(
            *[(OutboxMessage.status == state, i) for i, state in enumerate(RECIPIENT_STATES)],
            else_=len(RECIPIENT_STATES),
        )
        per_person = (
            select(OutboxMessage.send_id, OutboxMessage.chat_id, func.min(rank).label("worst"))
            .where(OutboxMessage.send_id.in_(list(counts)), is_person_chat(OutboxMessage.chat_id))
            .group_by(OutboxMessage.send_id, OutboxMessage.chat_id)
            .subquery()
        )
        rows = await session.execute(
            select(per_person.c.send_id, per_person.c.worst, func.count()).group_by(
                per_person.c.send_id, per_person.c.worst
            )
        )
        for send_id, worst, n in rows:
            state = RECIPIENT_STATES[worst] if worst < len(RECIPIENT_STATES) else "unknown"
            counts[send_id][state] = counts[send_id].get(state, 0) + n
    return [(s, counts[s.id]) for s in sends]


async def chat_deliveries(session: AsyncSession, send_ids: list[int]) -> dict[int, list[ChatDelivery]]:
    """Each send's groups and channels, each by the state of its least advanced message."""
    found: dict[int, dict[int, ChatDelivery]] = {}
    if not send_ids:
        return {}
    rows = await session.execute(
        select(OutboxMessage.send_id, OutboxMessage.chat_id, OutboxMessage.status, OutboxMessage.last_error)
        .where(OutboxMessage.send_id.in_(send_ids), ~is_person_chat(OutboxMessage.chat_id))
        .order_by(OutboxMessage.id)
    )
    order = {state: i for i, state in enumerate(RECIPIENT_STATES)}
    for send_id, chat_id, status, error in rows:
        chats = found.setdefault(send_id, {})
        current = chats.get(chat_id)
        if current is None or order.get(status, 99) < order.get(current.status, 99):
            chats[chat_id] = ChatDelivery(chat_id, status, error)
    return {send_id: list(chats.values()) for send_id, chats in found.items()}
