"""What the privacy rights need beside the features' tables: pseudonyms of forgotten people,
and who a queued message names.

Forgetting someone keeps the totals they counted in (a vote, an answer, a message sent to
them): such rows keep their place but their person columns get a *pseudonym*, a random number
below any Telegram id, drawn once per erasure and never stored with anything that names them.
It keeps "one person" distinct in counts ("3 voters"), names nobody, and can never be a chat
the bot writes to.
"""

from __future__ import annotations

import secrets

from sqlalchemy import BigInteger, ColumnElement, ForeignKey, Integer, SQLColumnExpression, or_
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base

# Telegram ids have at most 52 significant bits (Bot API): nothing real lives below this.
FORGOTTEN_BELOW = -(1 << 53)


def new_pseudonym() -> int:
    """A fresh number for one forgotten person (61 random bits: collisions are not a concern)."""
    return FORGOTTEN_BELOW - 1 - secrets.randbelow(1 << 61)


def is_pseudonym(value: int | None) -> bool:
    """Whether a user or chat id column holds a forgotten person's pseudonym."""
    return value is not None and value < FORGOTTEN_BELOW


def is_person_chat(chat_id: SQLColumnExpression[int]) -> ColumnElement[bool]:
    """SQL: the chat is a person's (a private chat, or a forgotten person's pseudonym), not a
    group or channel (negative ids above the pseudonyms)."""
    return or_(chat_id > 0, chat_id < FORGOTTEN_BELOW)


class OutboxMention(Base):
    """A person named in a message addressed to someone else (a report card sent to the cell,
    a poll's results sent to its author…), recorded when the message is queued.

    /mesdonnees lists these messages; /oublier removes the name from them.
    """

    __tablename__ = "outbox_mentions"
    __table_args__ = {"info": {"export": "mentions"}}

    outbox_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, index=True)
