"""Tables for quick polls, date polls and questionnaires.

One `Poll` row per survey whatever its kind ("quick": a native Telegram poll, "dates": slots
answered oui / si besoin / non with buttons, "form": a questionnaire answered one question at
a time). Votes are keyed by user so a vote can be changed or retracted; for anonymous polls
only totals ever leave the database (see storage/polls.py). No patient data here.
"""

from __future__ import annotations

from datetime import datetime
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
from storage.models import utcnow as _now
from storage.types import UTCDateTime


class Poll(Base):
    """A survey sent by a coordinator to an audience, open until `closes_at`."""

    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # quick | dates | form
    question: Mapped[str] = mapped_column(Text)  # the question, or the title (dates, form)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"))
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)

    options: Mapped[list[PollOption]] = relationship(order_by="PollOption.position", cascade="all, delete-orphan")

    __table_args__ = (Index("ix_polls_status_closes", "status", "closes_at"),)


class PollOption(Base):
    """A choice (quick poll), a slot (date poll) or a question (form, `choices` None = free text).

    For a slot, `text` keeps the day part typed ("morning"…, or empty) so it reads "matin" again.
    """

    __tablename__ = "poll_options"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    has_time: Mapped[bool] = mapped_column(Boolean, default=True)
    choices: Mapped[list[str] | None] = mapped_column(JSON)


class PollRecipient(Base):
    """Who the poll was sent to: a private chat (user_id set) or a group chat (user_id None).

    `tg_poll_id` is Telegram's id of the native poll this chat received (recorded when the
    outbox sends it), so a `poll_answer` update finds its poll. `counts` holds the totals that
    Telegram reports for an anonymous poll in a group chat (no per-voter answers exist there).
    """

    __tablename__ = "poll_recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    tg_poll_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("poll_id", "chat_id"),)


class PollVote(Base):
    """One chosen option of one voter; for date polls `value` is 2 oui, 1 si besoin, 0 non."""

    __tablename__ = "poll_votes"

    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[int] = mapped_column(SmallInteger, default=1)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class PollTextAnswer(Base):
    """A questionnaire answer: a choice index or free text, one per (poll, user, question)."""

    __tablename__ = "poll_text_answers"

    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"), primary_key=True)
    choice: Mapped[int | None] = mapped_column(SmallInteger)
    text: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class PollUnmatchedAnswer(Base):
    """A `poll_answer` that arrived before we learnt which poll its Telegram id belongs to.

    Replayed as soon as the mapping is recorded, so a very fast voter is never lost.
    """

    __tablename__ = "poll_unmatched_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tg_poll_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    option_ids: Mapped[list[int]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
