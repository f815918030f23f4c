"""An append-only log that tests can await: "the first entry matching P, now or later".

Waiting is event-driven (one future per waiter, resolved when a matching entry is notified), so
tests never sleep-poll and a benchmark with thousands of entries pays only for active waiters.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Predicates often index fields that only some entries have (msg["text"] on a poll): those
#: errors mean "no match", not a test failure.
_NO_MATCH = (KeyError, IndexError, TypeError)


def _matches(predicate: Callable[[T], object], item: T) -> bool:
    try:
        return bool(predicate(item))
    except _NO_MATCH:
        return False


class EventLog(Generic[T]):
    def __init__(self, describe: Callable[[T], str], what: str) -> None:
        self.items: list[T] = []
        self._waiters: list[tuple[Callable[[T], object], asyncio.Future[T]]] = []
        self._describe = describe
        self._what = what

    def append(self, item: T) -> None:
        self.items.append(item)
        self.notify(item)

    def notify(self, item: T) -> None:
        """Wake the waiters whose predicate matches `item` (already in `items`)."""
        if not self._waiters:
            return
        for predicate, fut in self._waiters:
            if not fut.done() and _matches(predicate, item):
                fut.set_result(item)

    async def wait(self, predicate: Callable[[T], object], timeout: float, since: int = 0) -> T:
        for item in itertools.islice(self.items, since, None):
            if _matches(predicate, item):
                return item
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            recent = self.items[-10:]
            listing = "\n".join(f"  {self._describe(i)}" for i in recent) or "  (none)"
            raise asyncio.TimeoutError(
                f"no {self._what} matched within {timeout}s "
                f"({len(self.items)} recorded, {len(self.items) - since} since #{since}); last ones:\n{listing}"
            ) from None
        finally:
            self._waiters.remove(entry)
