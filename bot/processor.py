"""Concurrent update handling that keeps each user's updates in the order they were sent.

PTB's `SimpleUpdateProcessor` runs updates concurrently with no ordering at all, so two
quick messages of one user could race each other through a conversation. Here updates of
different users run in parallel while those of one user (or one chat) queue on a per-key
`asyncio.Lock` (FIFO). The processor also counts handled updates, which lets the tests and
benchmarks wait for "this update is done" without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


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
    """At most `max_concurrent_updates` at once; per-user FIFO."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, tuple[asyncio.Lock, int]] = {}
        self._done: asyncio.Condition | None = None  # created inside the running loop
        self.handled = 0
        self._handled_ids: set[int] = set()

    def _condition(self) -> asyncio.Condition:
        if self._done is None:
            self._done = asyncio.Condition()
        return self._done

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = ordering_key(update)
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
            await self._mark_handled(update)

    async def _mark_handled(self, update: object) -> None:
        self.handled += 1
        if isinstance(update, Update):
            self._handled_ids.add(update.update_id)
        condition = self._condition()
        async with condition:
            condition.notify_all()

    async def wait_handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Return once the update `update_id` has been fully handled (tests, benchmarks)."""
        condition = self._condition()
        async with condition:
            await asyncio.wait_for(condition.wait_for(lambda: update_id in self._handled_ids), timeout)

    async def initialize(self) -> None:
        """Nothing to set up: locks are created on demand."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
