"""Concurrent update handling that keeps each user's updates in the order they were sent.

PTB's `SimpleUpdateProcessor` runs updates concurrently with no ordering at all, so two
quick messages of one user could race each other through a conversation. Here updates of
different users run in parallel while those of one user (or one chat) queue on a per-key
`asyncio.Lock` (FIFO: tasks reach the lock in the order PTB created them, i.e. update order).

The concurrency limit is taken *after* the per-user lock: a user firing a hundred messages
waits in their own queue instead of filling every slot and stalling everyone else (PTB's
built-in semaphore, taken before `do_process_update`, is therefore left unbounded).

The processor also remembers recently handled update ids (bounded), which lets tests,
benchmarks and the webhook wait for "this update is done" without sleeping.

`BackpressureQueue` bounds memory under a flood: PTB turns every fetched update into a task
at once, so 5,000 pending updates meant 5,000 live tasks (+35 MiB measured). Handed out only
while fewer than `in_flight` are being handled, updates wait at Telegram instead (long
polling pauses when the queue is full).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

_UNBOUNDED = 1 << 30
# Admitted updates, running or waiting their turn. Kept well above the running limit: a
# waiting update weighs a few KB while a running one holds a session, so one person's flood
# queued behind their own lock must never fill admission and hold back everyone else
# (tests/test_flood.py: 300 messages from one person, then one from someone else).
MIN_IN_FLIGHT = 512
RECENT = 50_000  # handled ids remembered for late `wait_handled` calls


def ordering_key(update: object) -> object:
    """Updates sharing a key are handled one after the other."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return ("u", update.effective_user.id)
        if update.effective_chat is not None:
            return ("c", update.effective_chat.id)
        if update.poll is not None:
            return ("p", update.poll.id)
    return ("other", id(update))


class PerUserOrderedProcessor(BaseUpdateProcessor):
    """At most `limit` updates running at once; each user's updates one at a time, in order."""

    def __init__(self, max_concurrent_updates: int, in_flight: int | None = None) -> None:
        super().__init__(_UNBOUNDED)
        if max_concurrent_updates < 1:
            raise ValueError("max_concurrent_updates must be a positive integer")
        self.limit = max_concurrent_updates
        self.in_flight = in_flight or max(2 * max_concurrent_updates, MIN_IN_FLIGHT)
        self._admission: asyncio.Semaphore | None = None
        self._admitted: set[int] = set()
        self._slots: asyncio.Semaphore | None = None  # created inside the running loop
        self._locks: dict[object, tuple[asyncio.Lock, int]] = {}
        self.handled = 0
        self.running = 0
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = ordering_key(update)
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        try:
            async with lock, self._slots:
                self.running += 1
                try:
                    await coroutine
                finally:
                    self.running -= 1
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
            self._mark_handled(update)

    @property
    def queued_users(self) -> int:
        """How many users (or chats) have updates in flight; for metrics."""
        return len(self._locks)

    async def admit(self, update: object) -> None:
        """Wait for room before an update from the queue becomes a task (see BackpressureQueue)."""
        if self._admission is None:
            self._admission = asyncio.Semaphore(self.in_flight)
        await self._admission.acquire()
        self._admitted.add(id(update))

    def _mark_handled(self, update: object) -> None:
        if self._admission is not None and id(update) in self._admitted:
            self._admitted.discard(id(update))
            self._admission.release()
        self.handled += 1
        if not isinstance(update, Update):
            return
        uid = update.update_id
        self._recent.add(uid)
        self._recent_order.append(uid)
        if len(self._recent_order) > RECENT:
            self._recent.discard(self._recent_order.popleft())
        for waiter in self._waiters.pop(uid, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait_handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Return once the update `update_id` has been fully handled (tests, benchmarks)."""
        if update_id in self._recent:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(update_id, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            waiters = self._waiters.get(update_id)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[update_id]

    async def initialize(self) -> None:
        """Nothing to set up: locks are created on demand."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


class BackpressureQueue(asyncio.Queue[object]):
    """The Application's update queue: gives PTB an update only when the processor has room."""

    def __init__(self, processor: PerUserOrderedProcessor, maxsize: int = 100) -> None:
        super().__init__(maxsize)
        self.processor = processor

    async def get(self) -> object:
        item = await super().get()
        if isinstance(item, Update):  # not PTB's stop signal, which must always get through
            await self.processor.admit(item)
        return item
