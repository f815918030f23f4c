"""What the privacy rights need beside the features' tables: pseudonyms of forgotten people.

Forgetting someone keeps the totals they counted in (a vote, an answer, a message sent to
them): such rows keep their place but their person columns get a *pseudonym*, a random number
below any Telegram id, drawn once per erasure and never stored with anything that names them.
It keeps "one person" distinct in counts ("3 voters"), names nobody, and can never be a chat
the bot writes to.
"""

from __future__ import annotations

import secrets

# Telegram ids have at most 52 significant bits (Bot API): nothing real lives below this.
FORGOTTEN_BELOW = -(1 << 53)


def new_pseudonym() -> int:
    """A fresh number for one forgotten person (61 random bits: collisions are not a concern)."""
    return FORGOTTEN_BELOW - 1 - secrets.randbelow(1 << 61)


def is_pseudonym(value: int | None) -> bool:
    """Whether a user or chat id column holds a forgotten person's pseudonym."""
    return value is not None and value < FORGOTTEN_BELOW
