"""Tables of crisis communication: bulletins, their acknowledgements, digests, field reports.

A bulletin is the unit the crisis cell publishes; its channel post and private sends are
outbox rows (purposes "bulletin:<id>:…"), so what was delivered is read from the outbox,
never duplicated here. Field reports hold what a professional saw on the ground, never a
patient's identity (text is screened by bot/patient_data.py before it is stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models import utcnow
from storage.types import UTCDateTime


class Bulletin(Base):
    """One recommendation published by the crisis cell (its number is `id`)."""

    __tablename__ = "crisis_bulletins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(12))  # urgent | important | info
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    attachment_file_id: Mapped[str | None] = mapped_column(String(255))
    attachment_kind: Mapped[str | None] = mapped_column(String(12))  # document | photo
    audience: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # {"kind": "all"|"professions"|"groups", "values": [...]}
    audience_count: Mapped[int] = mapped_column(Integer, default=0)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("crisis_bulletins.id", ondelete="SET NULL"))
    replaced_by_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="published")  # published | replaced
    channel_edit_done: Mapped[bool] = mapped_column(Boolean, default=False)
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id", ondelete="SET NULL"))
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    lang: Mapped[str] = mapped_column(String(8), default="fr")  # language of the channel post
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_crisis_bulletins_status_published", "status", "published_at"),)


class BulletinAck(Base):
    """A professional's answer to an urgent bulletin: "ack" (bien reçu) or "not_concerned"."""

    __tablename__ = "crisis_acks"

    bulletin_id: Mapped[int] = mapped_column(ForeignKey("crisis_bulletins.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    answer: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DigestOptOut(Base):
    """A category a professional does NOT want in their personal digest (default: all wanted)."""

    __tablename__ = "crisis_optouts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(24), primary_key=True)


class CrisisRun(Base):
    """One scheduled run (a digest, a crisis kit) per period: the unique key makes it happen once."""

    __tablename__ = "crisis_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period_key: Mapped[str] = mapped_column(String(64))
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime())
    since_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    items: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "period_key"), Index("ix_crisis_runs_kind_slot", "kind", "slot_at"))


class FieldReport(Base):
    """What a professional reports from the field to the crisis cell."""

    __tablename__ = "crisis_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    category: Mapped[str] = mapped_column(String(24))
    commune: Mapped[str] = mapped_column(String(100))
    product: Mapped[str | None] = mapped_column(String(200))
    place: Mapped[str | None] = mapped_column(String(200))
    stock: Mapped[str | None] = mapped_column(String(12))  # out | low | ok
    text: Mapped[str] = mapped_column(Text, default="")
    file_id: Mapped[str | None] = mapped_column(String(255))
    file_kind: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | handled
    handled_by: Mapped[int | None] = mapped_column(BigInteger)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replies: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_crisis_reports_created", "created_at"),)
