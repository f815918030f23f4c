"""The outbox dispatcher: drains due rows to Telegram and records each outcome.

Rows are claimed with a lease (`claimed_until`) in one short transaction (`FOR UPDATE SKIP
LOCKED` on PostgreSQL so several processes share the work), sent without holding any
database lock, then marked sent / retried / failed / unreachable in another short
transaction. A row whose lease expired (its process died) is claimed again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import deque
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from telegram import Bot, InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.services import Services
from storage.models import OutboxMessage, User, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 6
BATCH = 100


class GlobalPace:
    """At most `rate` sends in any one-second window (Telegram's ~30 msg/s per bot)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._sent: deque[float] = deque()

    async def wait(self) -> None:
        while True:
            now = time.monotonic()
            while self._sent and now - self._sent[0] >= 1.0:
                self._sent.popleft()
            if len(self._sent) < self.rate:
                self._sent.append(now)
                return
            await asyncio.sleep(1.0 - (now - self._sent[0]) + 0.001)


def _api_kwargs(row: OutboxMessage) -> dict[str, Any]:
    params = dict(row.payload)
    for key in ("document", "photo"):
        spec = params.get(key)
        if isinstance(spec, dict) and "b64" in spec:
            params[key] = InputFile(base64.b64decode(spec["b64"]), filename=spec.get("filename", key))
    params.setdefault("chat_id", row.chat_id)
    return params


async def claim(services: Services, limit: int = BATCH) -> list[OutboxMessage]:
    """Take a batch of due rows, most urgent first, for this process."""
    now = utcnow()
    async with services.db.begin() as session:
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.due_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(await session.scalars(stmt))
        for row in rows:
            row.claimed_until = now + LEASE
        return rows


async def deliver(bot: Bot, services: Services, row: OutboxMessage) -> None:
    """Send one row and record what happened."""
    now = utcnow()
    changes: dict[str, Any]
    mark_unreachable = False
    if row.not_after is not None and row.not_after <= now:
        changes = {"status": "skipped", "last_error": "stale", "claimed_until": None}
    else:
        try:
            result = await bot.do_api_request(row.method, api_kwargs=_api_kwargs(row))
            message_id = result.get("message_id") if isinstance(result, dict) else None
            changes = {"status": "sent", "sent_at": utcnow(), "message_id": message_id, "claimed_until": None, "attempts": row.attempts + 1}
        except RetryAfter as exc:
            delay = exc.retry_after if isinstance(exc.retry_after, (int, float)) else exc.retry_after.total_seconds()
            changes = {"due_at": utcnow() + timedelta(seconds=float(delay)), "claimed_until": None, "last_error": str(exc)}
        except Forbidden as exc:
            changes = {"status": "unreachable", "last_error": str(exc), "claimed_until": None}
            mark_unreachable = row.user_id is not None
        except BadRequest as exc:
            changes = {"status": "failed", "last_error": str(exc), "claimed_until": None, "attempts": row.attempts + 1}
        except (NetworkError, TelegramError) as exc:
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                changes = {"status": "failed", "last_error": str(exc), "claimed_until": None, "attempts": attempts}
            else:
                backoff = timedelta(seconds=min(2**attempts, 300))
                changes = {"due_at": utcnow() + backoff, "claimed_until": None, "last_error": str(exc), "attempts": attempts}
    async with services.db.begin() as session:
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**changes))
        if mark_unreachable:
            await session.execute(update(User).where(User.id == row.user_id).values(unreachable_at=now))
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.user_id == row.user_id, OutboxMessage.status == "pending")
                .values(status="unreachable", last_error="user unreachable")
            )


async def drain_once(bot: Bot, services: Services, pace: GlobalPace) -> int:
    """Send every row due now; returns how many rows were handled."""
    handled = 0
    while rows := await claim(services):
        for row in rows:
            await pace.wait()
            await deliver(bot, services, row)
        handled += len(rows)
    return handled


async def run_dispatcher(bot: Bot, services: Services) -> None:
    """Forever: drain, then sleep until woken by a handler or a second has passed."""
    pace = GlobalPace(1000 if services.settings.paid_broadcast else 30)
    while True:
        try:
            await drain_once(bot, services, pace)
        except asyncio.CancelledError:
            raise
        except Exception:  # a database hiccup must not stop deliveries for good
            log.exception("outbox drain failed; retrying")
        await services.outbox_wait(1.0)
