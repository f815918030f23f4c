"""Telegram's documented broadcast limits, as sliding windows.

A bot that sends faster than Telegram allows gets 429 "retry after N" in production; enforcing
the same limits here lets benchmarks prove the bot's throttling, not just its speed.
Each check is amortised O(1): every window is a deque pruned from the left.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class RateLimits:
    """Limits as (messages, window in seconds). Defaults: core.telegram.org/bots/faq."""

    global_limit: tuple[int, float] = (30, 1.0)
    paid_global_limit: tuple[int, float] = (1000, 1.0)  # allow_paid_broadcast=True
    private_chat_limit: tuple[int, float] = (1, 1.0)
    group_chat_limit: tuple[int, float] = (20, 60.0)  # groups, supergroups and channels


def _retry_after(window: deque[float], limit: int, span: float, now: float) -> int | None:
    """None if one more event fits in the window, else whole seconds until it does."""
    while window and window[0] <= now - span:
        window.popleft()
    if len(window) < limit:
        return None
    return max(1, math.ceil(window[-limit] + span - now))


class RateLimiter:
    """Decides whether a send is accepted; records it when it is."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]):
        if limits.global_limit[1] != limits.paid_global_limit[1]:
            raise ValueError("global and paid limits share one window: give them the same span")
        self.limits = limits
        self._clock = clock
        self._global: deque[float] = deque()
        self._per_chat: dict[int, deque[float]] = {}

    def acquire(self, chat_id: int, private: bool, paid: bool) -> int | None:
        """Record a send to chat_id and return None, or return retry_after without recording."""
        now = self._clock()
        limit, span = self.limits.paid_global_limit if paid else self.limits.global_limit
        # A paid send still takes room in the shared window, so unpaid sends after a paid burst wait.
        wait = _retry_after(self._global, limit, span, now)
        chat_limit, chat_span = self.limits.private_chat_limit if private else self.limits.group_chat_limit
        chat_window = self._per_chat.get(chat_id)
        if chat_window is None:
            chat_window = self._per_chat[chat_id] = deque()
        chat_wait = _retry_after(chat_window, chat_limit, chat_span, now)
        if wait is not None or chat_wait is not None:
            return max(wait or 0, chat_wait or 0)
        self._global.append(now)
        chat_window.append(now)
        return None
