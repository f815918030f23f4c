"""Reminder bookkeeping: which reminder moments were decided, and who holds a calendar file.

A `ReminderMark` is written once per (session, offset) when that reminder comes due: the
planner's "already done" marker, so a restart or a second planner never sends it twice. It
keeps the session start it was computed for: when a session moves, marks that no longer
match are re-planned (future) or superseded by the change notice (past).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models import utcnow
from storage.types import UTCDateTime


class ReminderMark(Base):
    """One reminder of one session, decided: "queued" (with its send), "none", "superseded" or "stale"."""

    __tablename__ = "reminder_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("meeting_sessions.id", ondelete="CASCADE"))
    offset_min: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id", ondelete="SET NULL"))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("session_id", "offset_min"),)


class CalendarCopy(Base):
    """Someone took a session's .ics: they get the updated file when the session changes."""

    __tablename__ = "calendar_copies"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
