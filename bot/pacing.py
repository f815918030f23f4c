"""Telegram's send limits, applied before a request leaves rather than learnt from 429s.

Telegram allows about 30 messages/s per bot, 1/s per private chat and 20/min per group or
channel (`allow_paid_broadcast` raises the bot-wide limit to 1000/s). Counting is done on
*actual* start times with a cell-rate pacer (GCRA, a token bucket that starts with one token,
so there is no first-second burst: PTB's AIORateLimiter lets ~60 through in the first second)
that spaces sends `1/rate` apart and may catch up `burst - 1` late ones, capped by a strict
sliding window of actual starts (30 in any 1.05 s): no window of one second ever holds more
than 30 sends even when up to 50 ms of network jitter bunches them on Telegram's side.
When several processes send for one bot (bot/senders.py), each takes `share(n)`: 1/n of the
rate and of the window.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

STANDARD_RATE = 29.5  # messages/s on average (30 allowed)
STANDARD_BURST = 2  # a send that started late may be caught up, one at most…
STANDARD_WINDOW = (30, 1.05)  # …but never more than 30 starts in any 1.05 s (50 ms for network jitter)
PAID_RATE = 950.0  # with allow_paid_broadcast; 1000 allowed
PAID_BURST = 10
PAID_WINDOW = (960, 1.03)  # 40 spare: jitter bunches arrivals on Telegram's side
PRIVATE_GAP = 1.05  # s between two messages to one person (1/s allowed; 50 ms for network jitter)
GROUP_GAP = 3.025  # groups and channels: 20 messages per 60.5 s window (20/min allowed)


@dataclass
class PaceConfig:
    """How fast the dispatcher may go. Tests raise `rate`; the limits themselves come from Telegram."""

    rate: float = STANDARD_RATE
    burst: int = 1
    window: tuple[int, float] | None = None
    private_gap: float = PRIVATE_GAP
    group_gap: float = GROUP_GAP
    paid: bool = False

    @classmethod
    def for_settings(cls, paid_broadcast: bool) -> PaceConfig:
        if paid_broadcast:
            return cls(rate=PAID_RATE, burst=PAID_BURST, window=PAID_WINDOW, paid=True)
        return cls(rate=STANDARD_RATE, burst=STANDARD_BURST, window=STANDARD_WINDOW)

    @classmethod
    def unlimited(cls, rate: float, **kw: object) -> PaceConfig:
        """For tests that are not about the limits: `rate` per second, no per-chat gaps."""
        return cls(rate=rate, burst=1, window=None, private_gap=0.0, group_gap=0.0, **kw)  # type: ignore[arg-type]


class CellRate:
    """At most `rate` starts per second on average, never more than `burst` back to back, and
    (optionally) never more than `window[0]` starts within any `window[1]` seconds."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        window: tuple[int, float] | None = None,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate  # the bot's whole allowance; a process sending with others takes 1/n (share)
        self.burst = burst
        self.full_window = window
        self.clock = clock
        self._starts: deque[float] = deque()
        self._tat = 0.0  # theoretical arrival time of the next send
        self.paused_until = 0.0
        self.interval = 0.0
        self.share(1)

    def share(self, n: int) -> None:
        """Pace at 1/n of the allowance, because n processes send for this bot at once (bot/senders.py):
        `rate / n` on average and at most `max(1, limit // n)` starts per window span, so the n
        windows together never exceed the bot's limit. Starts already made keep counting."""
        if n < 1:
            raise ValueError("a share is 1/n with n at least 1")
        self.n = n
        interval, self.interval = self.interval, n / self.rate
        if interval and self._tat > self.clock():  # the next start counts from the last one at the new spacing
            self._tat += self.interval - interval
        self.tolerance = (self.burst - 1) * self.interval
        self.window = None if self.full_window is None else (max(1, self.full_window[0] // n), self.full_window[1])

    def delay(self) -> float:
        """Seconds to wait before the next send may start (0: now)."""
        now = self.clock()
        wait = max(self._tat - self.tolerance - now, self.paused_until - now, 0.0)
        if self.window is not None:
            limit, span = self.window
            while self._starts and self._starts[0] <= now - span:
                self._starts.popleft()
            if len(self._starts) >= limit:
                wait = max(wait, self._starts[-limit] + span - now)
        return wait

    def available(self, horizon: float) -> int:
        """About how many sends may start within `horizon` seconds from now (to claim that many)."""
        now = self.clock()
        start = max(self._tat - self.tolerance, self.paused_until, now)
        if start > now + horizon:
            return 0
        count = (
            1
            + int((now + horizon - start) / self.interval)
            + (int(self.tolerance / self.interval) if self._tat - self.tolerance < now else 0)
        )
        if self.window is not None:
            limit, span = self.window
            recent = sum(1 for t in self._starts if t > now + horizon - span)
            count = min(count, max(limit - recent, 0))
        return count

    def take(self) -> None:
        """Record a send starting now (call only when `delay()` is 0)."""
        now = self.clock()
        self._tat = max(self._tat, now) + self.interval
        if self.window is not None:
            self._starts.append(now)

    async def wait(self) -> None:
        while (pause := self.delay()) > 0:
            await asyncio.sleep(pause)
        self.take()

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nobody sends for that long."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)


class ChatGaps:
    """When each chat may receive its next message, in memory.

    A person: one message per `private_gap` (1/s allowed). A group or channel: a sliding window
    of 20 messages per `20 × group_gap` seconds (20/min allowed), so a post and its attachment
    go together while a 21st message waits for the oldest to leave the window. Only a hint kept
    to avoid 429s: after a restart it is empty, and the worst case is one 429 whose
    `retry_after` the dispatcher honours.
    """

    GROUP_BURST = 20

    def __init__(
        self,
        private_gap: float = PRIVATE_GAP,
        group_gap: float = GROUP_GAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.private_gap = private_gap
        self.group_span = group_gap * self.GROUP_BURST
        self.clock = clock
        self._ready: dict[int, float] = {}  # private chats, and holds after a 429
        self._windows: dict[int, deque[float]] = {}  # groups: (estimated) send times

    def gap(self, chat_id: int) -> float:
        """Average spacing, to queue several postponed rows of one chat. Private chats have positive ids."""
        return self.private_gap if chat_id > 0 else self.group_span / self.GROUP_BURST

    def ready_in(self, chat_id: int) -> float:
        """Seconds until `chat_id` may receive again (0: now)."""
        now = self.clock()
        wait = self._ready.get(chat_id, 0.0) - now
        window = self._windows.get(chat_id) if chat_id <= 0 else None
        if window:
            while window and window[0] <= now - self.group_span:
                window.popleft()
            if len(window) >= self.GROUP_BURST:
                wait = max(wait, window[-self.GROUP_BURST] + self.group_span - now)
        return max(wait, 0.0)

    def reserve(self, chat_id: int, lead: float = 0.0) -> None:
        """A message to `chat_id` will leave within `lead` seconds (claimed)."""
        if chat_id > 0:
            if self.private_gap > 0:  # its launch sets the real time; this only stops a second claim meanwhile
                self._ready[chat_id] = self.clock() + self.private_gap
        elif self.group_span > 0:
            self._windows.setdefault(chat_id, deque()).append(self.clock() + lead)

    def sent(self, chat_id: int) -> None:
        """It left now (a person's next message counts from here)."""
        if chat_id > 0 and self.private_gap > 0:
            self._ready[chat_id] = self.clock() + self.private_gap

    def hold(self, chat_id: int, seconds: float) -> None:
        self._ready[chat_id] = max(self._ready.get(chat_id, 0.0), self.clock() + seconds)

    def prune(self) -> None:
        """Forget chats that are ready anyway (keeps memory flat over a 10,000-person send)."""
        now = self.clock()
        self._ready = {chat: at for chat, at in self._ready.items() if at > now}
        self._windows = {chat: w for chat, w in self._windows.items() if w and w[-1] > now - self.group_span}
