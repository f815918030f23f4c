"""Update delivery: the getUpdates queue with real long polling, or webhook POSTs.

Long polling waits on an asyncio.Event that push() sets, so a pushed update reaches a pending
getUpdates immediately and an idle poll costs nothing. Webhook delivery shards updates by chat
over `max_connections` workers: parallel across chats, ordered within a chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .spec import DEFAULT_UPDATE_TYPES, UPDATE_TYPES, ApiError

JSON = dict[str, Any]

CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request"


@dataclass(slots=True)
class _Poller:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    conflict: str | None = None


@dataclass(slots=True)
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    queues: list[asyncio.Queue[JSON]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    inflight: dict[int, JSON] = field(default_factory=dict)  # worker index -> update
    pending: int = 0
    last_error_date: int | None = None
    last_error_message: str | None = None


def update_type(update: JSON) -> str:
    kinds = [k for k in update if k != "update_id"]
    if len(kinds) != 1 or kinds[0] not in UPDATE_TYPES:
        raise ValueError(f"an Update has exactly one of {UPDATE_TYPES}, got {kinds}")
    return kinds[0]


def _shard_key(update: JSON) -> int:
    body = update[update_type(update)]
    if isinstance(body, dict):
        for holder in (body, body.get("message") or {}):
            chat = holder.get("chat") if isinstance(holder, dict) else None
            if isinstance(chat, dict) and "id" in chat:
                return int(chat["id"])
        for key in ("from", "user"):
            if isinstance(body.get(key), dict):
                return int(body[key].get("id", 0))
    return 0


class UpdateHub:
    """Holds pending updates and hands them to getUpdates or to the webhook."""

    def __init__(self, webhook_retries: int = 2, webhook_retry_delay: float = 0.2, first_update_id: int = 1) -> None:
        self._queue: deque[JSON] = deque()
        self._last_id = first_update_id - 1  # Telegram starts a bot's ids at "a certain positive number"
        self._cancelled: list[asyncio.Task[None]] = []
        self.allowed: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._poller: _Poller | None = None
        self.polling = asyncio.Event()  # set while a getUpdates long poll is waiting
        self.pushed: list[JSON] = []
        self.dropped: list[JSON] = []  # not in allowed_updates: Telegram never sends them
        self.deliveries: list[tuple[int, int | str]] = []  # webhook (update_id, status or error)
        self.redelivered: list[JSON] = []  # updates delivered a second time (redeliver)
        self.webhook: Webhook | None = None
        self.webhook_retries = webhook_retries
        self.webhook_retry_delay = webhook_retry_delay
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        #: Telegram executes a Bot API method a webhook puts in its 200 answer's JSON body
        #: ({"method": ..., params}); the fake server sets this to run it like a call.
        self.on_webhook_reply: Callable[[JSON], Awaitable[None]] | None = None
        self.webhook_replies: list[JSON] = []  # every such body, executed or not

    # ----------------------------------------------------------------- producing
    def push(self, raw: JSON) -> JSON:
        kind = update_type(raw)
        uid = raw.get("update_id")
        if uid is None:
            uid = self._last_id + 1
        self._last_id = max(self._last_id, uid)
        update = {"update_id": uid, kind: raw[kind]}
        self.pushed.append(update)
        if kind not in self.allowed:
            self.dropped.append(update)
            return update
        if self.webhook is not None:
            self._enqueue_webhook(self.webhook, update)
        else:
            self._queue.append(update)
            if self._poller is not None:
                self._poller.event.set()
        return update

    def redeliver(self, update: JSON) -> JSON:
        """Deliver `update` again, same update_id, as Telegram does when it did not learn the bot got it.

        Webhook: POSTed again (Telegram got no 2xx in time, or the process died mid-update).
        Long polling: back in the queue, unconfirmed (the bot's process died before its next
        getUpdates confirmed the offset): a poller that already asked with a higher offset
        drops it, as Telegram would; a restarted one, starting without an offset, gets it.
        """
        update = {"update_id": update["update_id"], update_type(update): update[update_type(update)]}
        self.redelivered.append(update)
        if self.webhook is not None:
            self._enqueue_webhook(self.webhook, update)
            return update
        # No poller is woken: one waiting now asked with a higher offset and would not get it.
        self._queue = deque(sorted([*self._queue, update], key=lambda u: u["update_id"]))
        return update

    @property
    def pending(self) -> int:
        return self.webhook.pending if self.webhook else len(self._queue)

    # ----------------------------------------------------------------- getUpdates
    def _terminate_poller(self, reason: str) -> None:
        if self._poller is not None:
            self._poller.conflict = reason
            self._poller.event.set()
            self._poller = None
            self.polling.clear()

    def _confirm(self, offset: int | None) -> None:
        q = self._queue
        if not offset:
            return
        if offset < 0:
            while len(q) > -offset:
                q.popleft()
            return
        while q and q[0]["update_id"] < offset:
            q.popleft()

    async def get_updates(
        self, offset: int | None, limit: int | None, timeout: int | None, allowed: list[str] | None
    ) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        self._terminate_poller(CONFLICT_OTHER_POLL)
        if allowed is not None:
            self.allowed = frozenset(a for a in allowed if a in UPDATE_TYPES) or DEFAULT_UPDATE_TYPES
        self._confirm(offset)
        if not self._queue and timeout and timeout > 0 and not self._closing:
            poller = self._poller = _Poller()
            self.polling.set()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poller.event.wait(), timeout)
            finally:
                if self._poller is poller:
                    self._poller = None
                    self.polling.clear()
            if poller.conflict:
                raise ApiError(409, poller.conflict)
            if self.webhook is not None:
                return []
            self._confirm(offset)  # confirmed updates never come back, whatever reached the queue meanwhile
        n = min(max(limit or 100, 1), 100)
        return list(itertools.islice(self._queue, n))

    # ----------------------------------------------------------------- webhook
    def set_webhook(
        self,
        url: str,
        secret_token: str | None,
        max_connections: int,
        allowed_updates: list[str] | None,
        drop_pending: bool,
    ) -> None:
        leftovers = self._detach_webhook()
        self._terminate_poller(CONFLICT_SET_WEBHOOK)
        if allowed_updates is not None:
            self.allowed = frozenset(a for a in allowed_updates if a in UPDATE_TYPES) or DEFAULT_UPDATE_TYPES
        backlog = sorted([*leftovers, *self._queue], key=lambda u: u["update_id"])
        self._queue.clear()
        wh = self.webhook = Webhook(url, secret_token, max_connections, allowed_updates)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        for i in range(max_connections):
            q: asyncio.Queue[JSON] = asyncio.Queue()
            wh.queues.append(q)
            wh.tasks.append(asyncio.get_running_loop().create_task(self._worker(wh, i, q)))
        if not drop_pending:
            for u in backlog:
                self._enqueue_webhook(wh, u)

    def delete_webhook(self, drop_pending: bool) -> None:
        leftovers = self._detach_webhook()
        if drop_pending:
            self._queue.clear()
        else:
            merged = sorted([*leftovers, *self._queue], key=lambda u: u["update_id"])
            self._queue = deque(merged)

    def _detach_webhook(self) -> list[JSON]:
        wh, self.webhook = self.webhook, None
        if wh is None:
            return []
        leftovers = list(wh.inflight.values())
        for q in wh.queues:
            while not q.empty():
                leftovers.append(q.get_nowait())
        for t in wh.tasks:
            t.cancel()
        self._cancelled.extend(wh.tasks)
        return leftovers

    def webhook_info(self) -> JSON:
        wh = self.webhook
        if wh is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._queue)}
        info: JSON = {
            "url": wh.url,
            "has_custom_certificate": False,
            "pending_update_count": wh.pending,
            "max_connections": wh.max_connections,
        }
        if wh.allowed_updates is not None:
            info["allowed_updates"] = wh.allowed_updates
        if wh.last_error_date is not None:
            info["last_error_date"] = wh.last_error_date
            info["last_error_message"] = wh.last_error_message
        return info

    def _enqueue_webhook(self, wh: Webhook, update: JSON) -> None:
        wh.pending += 1
        wh.queues[hash(_shard_key(update)) % len(wh.queues)].put_nowait(update)

    async def _worker(self, wh: Webhook, index: int, q: asyncio.Queue[JSON]) -> None:
        while True:
            update = await q.get()
            wh.inflight[index] = update
            try:
                await self._deliver(wh, update)
            finally:
                wh.inflight.pop(index, None)
                wh.pending -= 1

    async def _deliver(self, wh: Webhook, update: JSON) -> None:
        assert self._session is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": wh.secret_token} if wh.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=10)
        for attempt in range(self.webhook_retries + 1):
            try:
                async with self._session.post(wh.url, json=update, headers=headers, timeout=timeout) as r:
                    status: int | str = r.status
                    error = f"Wrong response from the webhook: {r.status} {r.reason}"
                    reply = await r.read() if r.status == 200 and r.content_type == "application/json" else b""
            except Exception as exc:  # noqa: BLE001 - any failure is a failed delivery, never a dead worker
                status = error = f"Connection failed: {type(exc).__name__}: {exc}"
                reply = b""
            self.deliveries.append((update["update_id"], status))
            if reply:
                await self._webhook_reply(reply)
            if isinstance(status, int) and 200 <= status < 300:
                return
            wh.last_error_date = int(time.time())
            wh.last_error_message = error
            if attempt < self.webhook_retries:
                await asyncio.sleep(self.webhook_retry_delay * (attempt + 1))

    async def _webhook_reply(self, raw: bytes) -> None:
        """A method in the webhook's answer: run like a call; its result (or error) goes nowhere,
        as with Telegram, which never tells the bot how such a call went."""
        try:
            body = json.loads(raw)
        except ValueError:
            return
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            return
        self.webhook_replies.append(body)
        if self.on_webhook_reply is not None:
            await self.on_webhook_reply(body)

    # ----------------------------------------------------------------- shutdown
    async def close(self) -> None:
        self._closing = True
        self._detach_webhook()
        if self._poller is not None:
            self._poller.event.set()
        await asyncio.gather(*self._cancelled, return_exceptions=True)
        self._cancelled.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
