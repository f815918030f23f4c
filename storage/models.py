"""Tables shared by every feature: people, groups, meetings, conversations and the outbox.

Times are stored in UTC (`DateTime(timezone=True)`); the bot converts to Europe/Paris only
to display. Telegram ids are 64-bit. Nothing here may hold patient data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.db import Base
from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(Base):
    """A person who talked to the bot. `id` is their Telegram user id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(128), default="")
    last_name: Mapped[str | None] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    profession: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    is_coordinator: Mapped[bool] = mapped_column(Boolean, default=False)
    is_crisis_cell: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    onboarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or f"#{self.id}"


class Group(Base):
    """A CPTS, an MSP, a GHT working group, a departmental coordinators' group…

    Coordinators create them with /groupes; `slug` is the short id typed in commands,
    `chat_id` the Telegram group chat linked to it (polls can be posted there).
    """

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="other")
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime()
    )  # set: gone from pickers and invitations, data kept


class Membership(Base):
    """A user follows a group; `role` "coordinator" makes them a coordinator of that group only."""

    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    group: Mapped[Group] = relationship()

    __table_args__ = (Index("ix_memberships_group_role", "group_id", "role"),)


class Meeting(Base):
    """A "rencontre": one theme, held as one or several sessions (sites and dates)."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="published")
    reminder_offsets: Mapped[list[int] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    group: Mapped[Group] = relationship()
    sessions: Mapped[list[MeetingSession]] = relationship(
        back_populates="meeting", order_by="MeetingSession.starts_at", cascade="all, delete-orphan"
    )


class MeetingSession(Base):
    """One date at one site, with its own capacity. `version` grows with every change (ICS SEQUENCE)."""

    __tablename__ = "meeting_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    has_time: Mapped[bool] = mapped_column(Boolean, default=True)
    site: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    capacity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="sessions")

    __table_args__ = (Index("ix_meeting_sessions_status_starts", "status", "starts_at"),)


class Registration(Base):
    """A seat (status "confirmed") or a place in the queue ("waitlisted") for one session.

    The id orders the waiting list (assigned under the session lock); `user_id` becomes NULL when a user asks to be
    forgotten, so coordinators' counts stay right.
    """

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("meeting_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reminders_muted: Mapped[bool] = mapped_column(Boolean, default=False)

    session: Mapped[MeetingSession] = relationship()
    user: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("session_id", "user_id"),
        Index(
            "ix_registrations_session_status_user", "session_id", "status", "user_id"
        ),  # covering for seat counts (0005_perf)
        Index("ix_registrations_user_status", "user_id", "status"),
    )


class Dialog(Base):
    """Where a user is in a guided conversation (e.g. half-way through /nouvelle_rencontre).

    Kept in the database so that a restart, or the next message reaching another process,
    picks the conversation up where it was.
    """

    __tablename__ = "dialogs"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Send(Base):
    """One logical send to many (a reminder wave, a bulletin, a poll): groups outbox rows for counts."""

    __tablename__ = "sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(Base):
    """A message that must leave the bot: written in the transaction that decided it.

    `(purpose, chat_id)` is unique, so enqueueing the same thing twice is harmless. The
    dispatcher claims due rows (`claimed_until` is a lease, so a crashed process's claims
    expire), calls Telegram, then records the outcome.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(160))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id", ondelete="SET NULL"), index=True)
    priority: Mapped[int] = mapped_column(SmallInteger, default=5)
    method: Mapped[str] = mapped_column(String(32), default="sendMessage")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("purpose", "chat_id"),
        Index("ix_outbox_due", "status", "priority", "due_at"),
    )


class Setting(Base):
    """Small runtime switches shared by all processes (crisis mode, last digest time…)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ChatMove(Base):
    """A group Telegram upgraded to a supergroup: its old id answers only "migrate_to_chat_id".

    Kept in the database (not in memory) so that every process follows it, and so that chat
    ids configured in the environment (CRISIS_CELL_CHAT_ID, CRISIS_CHANNEL_ID) keep working:
    bot/chats.py resolves every configured chat through this table.
    """

    __tablename__ = "chat_moves"

    old_chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    new_chat_id: Mapped[int] = mapped_column(BigInteger)
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
