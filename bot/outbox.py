"""The outbox dispatcher: drains due rows to Telegram at its pace and records each outcome.

Life of a row: `pending` → `sending` → `sent` | `failed` | `unreachable` | `skipped` | `unknown`
(or back to `pending` with a later `due_at` for a retry).

* **Claim.** In one short transaction the dispatcher takes the most urgent due rows (priority,
  then due time; `FOR UPDATE SKIP LOCKED` on PostgreSQL) and marks them `sending` with a lease
  (`claimed_until`). It claims only what can start within the next ~100 ms (bounded by free concurrency
  slots and by the pace), so a `sending` row is one whose request is about to leave or has left.
* **Send.** Requests go out through a cell-rate pacer (bot/pacing.py: ~29/s, or ~950/s with
  PAID_BROADCAST) and per-chat gaps (1/s per person, 20/min per group), several in flight.
* **Record.** Each answer is committed as soon as it arrives (a writer commits whatever answers
  are waiting, usually one to a few rows per transaction): nothing is kept only in memory.

Telegram has no idempotency key, so a request whose answer never came back (the process was
killed, the connection broke after the request was written, the request timed out) has an
**unknown outcome**: Telegram may or may not have delivered it. Such rows are explicit: a
`sending` row whose lease expired, or an unanswered request, is resolved by this policy:

* priority URGENT or HIGH (crisis alerts, "a seat freed up for you"): **sent again**. A
  duplicate alert is harmless; a missed one is not (at-least-once).
* NORMAL and ROUTINE (reminders, bulletins): **not sent again**; the row becomes `unknown`
  and coordinators see it counted as such in /envois (at-most-once).

A kill -9 leaves at most `concurrency` rows in that state (16; 256 with paid broadcast, sized
for Telegram's ~100 ms round trip at 950/s): the requests in flight, answers not yet
committed, and rows claimed for the next ~100 ms. Every
other row is either committed as sent or still `pending` and sent once after the restart
(tests/test_kill9.py kills the bot at the instant "Telegram" accepts a request).
Errors: 429 → wait `retry_after` (that chat, and everyone for up to a second); 403 from a
private chat → the person blocked the bot: row and all their pending rows `unreachable`, the
user marked unreachable; a group or channel that refuses the bot (403 not a member / kicked,
400 chat not found or not enough rights) → `refused`, never a person marked: the row waits, and
is sent again in place when the bot is back in that chat (`my_chat_member`, handlers/account/chats.py)
or on request; 400 with `migrate_to_chat_id` (a group upgraded to a supergroup) → the move is
recorded (storage/chats.py) and the row, with every other one queued for that chat, is sent to
the new id; other 4xx → `failed` with Telegram's reason; 5xx or no connection → retried with
exponential back-off, `failed` after MAX_ATTEMPTS with the last reason.

Features react to outcomes in the transaction that records them, through the hooks they
declared (`services.wiring`, bot/wiring.py): an after-send hook (by method) learns
Telegram's result, a failure hook (by purpose prefix, "bulletin" for "bulletin:12:channel") hears
of a row that ended `refused`, `failed`, `unreachable` or `unknown`, e.g. to tell the crisis
cell at once or to route a message another way.

Every bot process sends, yet Telegram's limits are per bot: bot/senders.py counts
the live senders through PostgreSQL advisory locks and gives each process a share. With n of
them, a process claims only the chats with `chat_id mod n == its rank` (so one chat's gaps stay
in one pacer; `FOR UPDATE SKIP LOCKED` still keeps any row from going twice) and paces at 1/n
of the rate and of the one-second window. Shares shrink at once and grow only after a grace
period, so joining or leaving never overshoots the bot's limit. On SQLite, one process: n = 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot

from bot.notify import split_payload
from bot.pacing import CellRate, ChatGaps, PaceConfig
from bot.senders import SOLO, Senders, Share
from bot.services import Services
from bot.transport import REQUEST_TIMEOUT, Answer, Transport, transport_for
from bot.wiring import Wiring
from storage import outbox as outbox_store
from storage import outbox_dispatch as store
from storage.chats import record_move
from storage.db import Database, is_retryable
from storage.models import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=45)  # > request timeout + claim horizon: an alive request never outlives it
MAX_ATTEMPTS = 8
RETRY_BASE = 5.0  # seconds; doubles with each try (5, 10, 20 … capped at RETRY_CAP)
RETRY_CAP = 600.0
HORIZON = 0.1  # claim only what can start within this many seconds
MAX_BATCH = 100
RESEND_UNKNOWN_UP_TO = outbox_store.HIGH  # priorities at or above this urgency are sent again when unsure
IDLE_POLL = 1.0

PAID_METHODS_PREFIX = ("send", "copyMessage")

FINAL_FAILURES = ("refused", "failed", "unreachable", "unknown")


@dataclass(frozen=True)
class Failure:
    """A row that ended without being delivered, as failure hooks see it."""

    row_id: int
    purpose: str
    chat_id: int
    user_id: int | None
    method: str
    status: str  # one of FINAL_FAILURES
    error: str | None
    attempts: int


def purpose_prefix(purpose: str) -> str:
    return purpose.split(":", 1)[0]


def refused_by_chat(chat_id: int, code: int, description: str) -> bool:
    """A group or channel that will not take the bot's message until someone there acts
    (adds the bot back, makes it administrator): not a failure of the message itself."""
    if chat_id >= 0:
        return False
    if code == 403:
        return True
    text = description.lower()
    return code == 400 and any(
        s in text for s in ("chat not found", "not enough rights", "need administrator rights", "have no rights")
    )


# -------------------------------------------------------------------------------- rows
@dataclass
class Claimed:
    id: int
    chat_id: int
    user_id: int | None
    method: str
    payload: dict[str, Any]
    priority: int
    attempts: int  # including this one
    purpose: str = ""


@dataclass
class Outcome:
    row: Claimed
    kind: str  # sent | retry | final | moved (to moved_to) | released (claimed, never started: back to pending)
    status: str = "sent"
    error: str | None = None
    due_at: datetime | None = None
    attempts: int = 0
    message_id: int | None = None
    at: datetime = field(default_factory=utcnow)
    unreachable_user: int | None = None
    result: Any = None  # Telegram's result, kept only for methods with an after-send hook
    moved_to: int | None = None  # the chat's new id (400 with migrate_to_chat_id)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)  # the rest of a text too long for one message


def backoff(attempts: int, base: float = RETRY_BASE) -> float:
    return min(base * 2 ** max(attempts - 1, 0), RETRY_CAP)


def resend_when_unsure(priority: int) -> bool:
    """The unknown-outcome policy (see the module docstring)."""
    return priority <= RESEND_UNKNOWN_UP_TO


# -------------------------------------------------------------------------------- dispatcher
class Dispatcher:
    """Claims, paces, sends and records. `drain()` empties what is due; `run()` loops forever."""

    def __init__(
        self,
        db: Database,
        http: Transport,
        pace: PaceConfig | None = None,
        *,
        concurrency: int | None = None,
        lease: timedelta = LEASE,
        max_attempts: int = MAX_ATTEMPTS,
        retry_base: float = RETRY_BASE,
        horizon: float = HORIZON,
        clock: Callable[[], float] = time.monotonic,
        services: Any = None,
        hooks: Wiring | None = None,
    ) -> None:
        self.db = db
        self.services = services  # handed to failure hooks (settings: where to tell whom)
        # The features' hooks (bot/wiring.py). After-send hooks run in the transaction that records
        # the send, with Telegram's result ("sendPoll": the poll's Telegram id); failure hooks in the
        # one that records the failure. A failing hook is logged; the row keeps its status.
        self.hooks = hooks if hooks is not None else Wiring()
        self.http = http
        self.pace = pace or PaceConfig.for_settings(False)
        self.concurrency = concurrency or (256 if self.pace.paid else 16)
        self.lease = lease
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.horizon = max(horizon, 3.0 / self.pace.rate)  # at 29/s: claim ~100 ms ahead, two rows at most
        self.min_claim = max(1, int(self.pace.rate * self.horizon / 4))  # fewer, bigger claims at 1000/s
        self.rate = CellRate(self.pace.rate, self.pace.burst, clock, window=self.pace.window)
        self.share: Share | None = SOLO  # None: not a sender right now (bot/senders.py)
        self._may_send = asyncio.Event()
        self._may_send.set()
        self.chats = ChatGaps(self.pace.private_gap, self.pace.group_gap, clock)
        self.stats: Counter[str] = Counter()
        self._inflight: dict[int, asyncio.Task[None]] = {}  # requests not yet answered
        self._busy: set[int] = (
            set()
        )  # rows holding a concurrency slot: from their claim until their outcome is committed
        self._ready: deque[Claimed] = deque()  # claimed, waiting for their turn (at most ~one horizon of sends)
        self._ready_more = asyncio.Event()
        self._ready_empty = asyncio.Event()
        self._ready_empty.set()
        self._launcher: asyncio.Task[None] | None = None
        self._slot_free = asyncio.Event()
        self._answers: list[Outcome] = []
        self._answer_ready = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._unwritten = 0  # answers received but not yet committed
        self._all_written = asyncio.Event()
        self._all_written.set()
        self._last_recovery = 0.0
        self._next_due = float("inf")  # monotonic time of the earliest retry/postponement we scheduled

    # -- share ---------------------------------------------------------------------------
    def set_share(self, share: Share | None) -> None:
        """Membership changed (bot/senders.py). None: claim and start nothing more, and give the
        rows claimed but not started back; else claim only this share's chats, at its pace."""
        self.share = share
        if share is None:
            self._may_send.clear()
            self._give_back(list(self._ready))
            self._ready.clear()
            self._ready_empty.set()
            return
        self.rate.share(share.pace_n)
        self.min_claim = max(1, int(self.pace.rate / share.pace_n * self.horizon / 4))
        self._may_send.set()

    def _give_back(self, rows: list[Claimed]) -> None:
        """Claimed rows this process will not start: the writer puts them back to `pending`."""
        for row in rows:
            self._record(Outcome(row, "released", attempts=row.attempts - 1))
        if rows:
            self.stats["released"] += len(rows)
            self._ensure_tasks()

    # -- claim ---------------------------------------------------------------------------
    def _claim_size(self) -> int:
        """As many rows as can start within the horizon (pace) and hold a slot (concurrency)."""
        free = self.concurrency - len(self._busy)
        return max(0, min(free, MAX_BATCH, self.rate.available(self.horizon) - len(self._ready)))

    async def claim(self, limit: int) -> tuple[list[Claimed], bool]:
        """Mark up to `limit` due rows `sending`; also postpones rows whose chat must wait.

        Returns the claimed rows and whether other rows were touched (postponed or stale), i.e.
        whether it is worth claiming again at once.
        """
        now = utcnow()
        share = self.share or SOLO  # only this process's chats (bot/senders.py)
        async with self.db.begin() as session:
            rows = await store.due_rows(
                session, now=now, limit=limit + 16, n=share.n, rank=share.rank, lock_rows=not self.db.is_sqlite
            )
            taken: list[Claimed] = []
            stale: list[int] = []
            postponed: list[tuple[int, datetime]] = []
            queued_for: Counter[int] = Counter()
            for r in rows:
                if len(taken) >= limit:
                    break
                if r.not_after is not None and r.not_after <= now:
                    stale.append(r.id)
                    continue
                # Rows taken in this batch already moved the chat's ready time; postponed ones queue behind it.
                wait = self.chats.ready_in(r.chat_id) + queued_for[r.chat_id] * self.chats.gap(r.chat_id)
                if wait > 0:
                    queued_for[r.chat_id] += 1
                    self._note_due(wait)
                    postponed.append((r.id, now + timedelta(seconds=wait)))
                    continue
                taken.append(
                    Claimed(
                        r.id, r.chat_id, r.user_id, r.method, dict(r.payload), r.priority, r.attempts + 1, r.purpose
                    )
                )
                self.chats.reserve(r.chat_id, self.horizon)  # set again when it really leaves
            if taken:
                await store.mark_sending(session, [c.id for c in taken], until=now + self.lease)
            if stale:
                await store.skip_stale(session, stale)
                self.stats["stale"] += len(stale)
            if postponed:
                await store.postpone(session, postponed)
        return taken, bool(stale or postponed)

    async def _claim_whole(self, limit: int) -> tuple[list[Claimed], bool]:
        """`claim`, never cut by a cancellation (shutdown): rows it committed as `sending` are
        given back rather than left to the lease (which would make routine ones `unknown`)."""
        task = asyncio.ensure_future(self.claim(limit))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                rows, _ = await task
                self._busy.update(row.id for row in rows)
                self._give_back(rows)
            raise

    async def recover(self) -> int:
        """Resolve `sending` rows whose lease expired (their process died): the unknown-outcome policy."""
        now = utcnow()
        mine = set(self._busy)
        async with self.db.begin() as session:
            expired = await store.expired_leases(session, now=now, lock_rows=not self.db.is_sqlite)
            rows = [r for r in expired if r.id not in mine]
            again = [r.id for r in rows if resend_when_unsure(r.priority) and r.attempts < self.max_attempts]
            unsure = [r.id for r in rows if r.id not in set(again)]
            if again:
                await store.resend_expired(session, again, now=now)
            if unsure:
                await store.give_up_expired(session, unsure)
        self.stats["recovered_resent"] += len(again)
        self.stats["recovered_unknown"] += len(unsure)
        if rows:
            log.warning(
                "outbox: %d envoi(s) à l'issue inconnue (%d renvoyé(s), %d laissé(s))",
                len(rows),
                len(again),
                len(unsure),
            )
        return len(rows)

    # -- send ----------------------------------------------------------------------------
    def _params(self, row: Claimed) -> dict[str, Any]:
        params = dict(row.payload)
        params["chat_id"] = row.chat_id
        if self.pace.paid and row.method.startswith(PAID_METHODS_PREFIX):
            params["allow_paid_broadcast"] = True
        return params

    def classify(self, row: Claimed, answer: Answer) -> Outcome:
        """Turn Telegram's answer into what the row becomes."""
        if answer.kind == "ok":
            mid = answer.result.get("message_id") if isinstance(answer.result, dict) else None
            return Outcome(
                row, "sent", message_id=mid, result=answer.result if row.method in self.hooks.sent_hooks else None
            )
        now = utcnow()
        reason = answer.description[:500] if answer.kind != "error" else f"{answer.code}: {answer.description}"[:500]
        if answer.kind == "error" and answer.code == 429:
            wait = float(answer.retry_after or 1)
            self.chats.hold(row.chat_id, wait)
            self.rate.pause(min(wait, 1.0))
            self.stats["429"] += 1
            # Telegram asked us to wait: not a failed try.
            return Outcome(row, "retry", error=reason, due_at=now + timedelta(seconds=wait), attempts=row.attempts - 1)
        if answer.kind == "error" and answer.migrate_to_chat_id and answer.migrate_to_chat_id != row.chat_id:
            # Not a failed try: the chat only has a new id.
            return Outcome(
                row, "moved", error=reason, moved_to=int(answer.migrate_to_chat_id), attempts=row.attempts - 1
            )
        if answer.kind == "error" and refused_by_chat(row.chat_id, answer.code, answer.description):
            return Outcome(row, "final", status="refused", error=reason)
        if answer.kind == "error" and answer.code == 403:
            # A private chat (a group's or channel's 403 is a refusal above): that person blocked the bot.
            return Outcome(
                row, "final", status="unreachable", error=reason, unreachable_user=row.user_id or row.chat_id
            )
        if answer.kind == "error" and 400 <= answer.code < 500 and answer.code not in (401, 404):
            return Outcome(row, "final", status="failed", error=reason)
        if answer.kind == "unknown" and not resend_when_unsure(row.priority):
            return Outcome(row, "final", status="unknown", error=f"outcome unknown ({reason}): not sent again")
        # 5xx, 401/404 (misconfigured server), could not connect, or unsure but urgent: try again later.
        if row.attempts >= self.max_attempts:
            return Outcome(row, "final", status="failed", error=f"gave up after {row.attempts} tries: {reason}"[:500])
        delay = backoff(row.attempts, self.retry_base)
        return Outcome(row, "retry", error=reason, due_at=now + timedelta(seconds=delay), attempts=row.attempts)

    async def _send(self, row: Claimed) -> None:
        follow_ups: list[dict[str, Any]] = []
        try:
            # A text longer than Telegram takes: this row sends its first part; the others are
            # queued when it is recorded as sent, so they follow it, in order, each sent once.
            params, follow_ups = split_payload(row.method, self._params(row))
            answer = await self.http.call(row.method, params)
        except Exception as exc:  # a bug in building the request: record it, never lose the row
            log.exception("outbox: envoi %s impossible", row.id)
            answer = Answer("not_sent", description=f"{type(exc).__name__}: {exc}")
        outcome = self.classify(row, answer)
        if outcome.kind == "sent":
            outcome.follow_ups = follow_ups
        if outcome.due_at is not None:
            self._note_due(max((outcome.due_at - utcnow()).total_seconds(), 0.0))
        self.stats[outcome.kind if outcome.kind in ("retry", "moved") else outcome.status] += 1
        self._record(outcome)

    def _record(self, outcome: Outcome) -> None:
        """Hand an outcome to the writer (it commits, then frees the row's concurrency slot)."""
        self._unwritten += 1
        self._all_written.clear()
        self._answers.append(outcome)
        self._answer_ready.set()

    def _note_due(self, seconds: float) -> None:
        self._next_due = min(self._next_due, time.monotonic() + seconds)

    def idle_for(self) -> float:
        """How long to sleep when nothing is due: until our earliest retry, at most IDLE_POLL."""
        wait = self._next_due - time.monotonic()
        if wait <= 0:
            self._next_due = float("inf")
        return max(min(wait, IDLE_POLL), 0.0)

    def _done(self, row_id: int, _task: object = None) -> None:
        self._inflight.pop(row_id, None)

    def _enqueue(self, rows: list[Claimed]) -> None:
        self._busy.update(row.id for row in rows)
        if self.share is None:  # stopped being a sender while this claim ran
            self._give_back(rows)
            return
        self._ready.extend(rows)
        self._ready_empty.clear()
        self._ready_more.set()

    async def _launcher_loop(self) -> None:
        """Start claimed rows one by one at the pace, while the next claim is being made."""
        while True:
            if not self._ready:
                self._ready_empty.set()
                self._ready_more.clear()
                await self._ready_more.wait()
                continue
            if not self._may_send.is_set():
                await self._may_send.wait()
                continue
            await self.rate.wait()
            if not self._ready or not self._may_send.is_set():  # given back while waiting for our turn
                continue
            row = self._ready.popleft()
            self.chats.sent(row.chat_id)
            task = asyncio.create_task(self._send(row), name=f"outbox-{row.id}")
            self._inflight[row.id] = task
            task.add_done_callback(functools.partial(self._done, row.id))

    # -- record --------------------------------------------------------------------------
    async def _write(self, batch: list[Outcome]) -> None:
        sent = [(o.row.id, o.message_id, o.at) for o in batch if o.kind == "sent"]
        retry = [(o.row.id, o.due_at, o.attempts, o.error) for o in batch if o.kind == "retry"]
        final = [(o.row.id, o.status, o.error) for o in batch if o.kind == "final"]
        released = [(o.row.id, o.attempts) for o in batch if o.kind == "released"]
        moved = [o for o in batch if o.kind == "moved"]
        blocked = sorted({o.unreachable_user for o in batch if o.unreachable_user is not None})
        async with self.db.begin() as session:
            if sent:
                await store.record_sent(session, sent)
                for o in batch:
                    if o.kind == "sent" and o.row.method in self.hooks.sent_hooks:
                        await self._run_on_sent(session, o)
                    if o.kind == "sent" and o.follow_ups:
                        await _queue_follow_ups(session, o)
            if retry:
                await store.record_retry(session, retry)
            if final:
                await store.record_final(session, final)
                for o in batch:
                    if (
                        o.kind == "final"
                        and o.status in FINAL_FAILURES
                        and purpose_prefix(o.row.purpose) in self.hooks.failed_hooks
                    ):
                        await self._run_on_failed(session, o)
            for o in moved:
                await self._follow_move(session, o)
            if released:
                await store.release(session, released)
            if blocked:
                await store.record_blocked(session, blocked)

    async def _run_on_sent(self, session: Any, outcome: Outcome) -> None:
        row = outcome.row
        try:
            async with session.begin_nested():
                for hook in self.hooks.sent_hooks[row.method]:
                    await hook(session, row.id, row.chat_id, outcome.result)
        except Exception as exc:
            if is_retryable(exc):  # a deadlock victim: the whole batch is written again, the hook with it
                raise
            log.exception("outbox: hook %s en échec pour la ligne %s", row.method, row.id)

    async def _run_on_failed(self, session: Any, outcome: Outcome) -> None:
        row = outcome.row
        failure = Failure(
            row.id, row.purpose, row.chat_id, row.user_id, row.method, outcome.status, outcome.error, row.attempts
        )
        try:
            async with session.begin_nested():
                await self.hooks.failed_hooks[purpose_prefix(row.purpose)](session, failure, self.services)
        except Exception as exc:
            if is_retryable(exc):  # a deadlock victim: the whole batch is written again, the hook with it
                raise
            log.exception("outbox: hook d'échec %s en échec pour la ligne %s", purpose_prefix(row.purpose), row.id)

    async def _follow_move(self, session: Any, outcome: Outcome) -> None:
        """The group became a supergroup: remember it, and send this row (and the chat's queue) there."""
        assert outcome.moved_to is not None
        await store.requeue_moved(session, outcome.row.id, attempts=outcome.attempts, error=outcome.error)
        move = await record_move(session, outcome.row.chat_id, outcome.moved_to, now=utcnow())
        log.info(
            "outbox: discussion %s devenue %s (%d envoi(s) réadressé(s))",
            outcome.row.chat_id,
            outcome.moved_to,
            move.rows,
        )

    async def _writer_loop(self) -> None:
        while True:
            await self._answer_ready.wait()
            self._answer_ready.clear()
            batch, self._answers = self._answers, []
            if not batch:
                continue
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                self._answers[:0] = batch
                raise
            except Exception as exc:  # the database hiccupped: keep the answers and try again shortly
                self._answers[:0] = batch
                if is_retryable(exc):  # chosen as a deadlock victim: the same batch goes through at once
                    log.warning("outbox: enregistrement de %d résultat(s) en conflit, nouvel essai", len(batch))
                    await asyncio.sleep(random.uniform(0, 0.05))
                else:
                    log.exception("outbox: enregistrement de %d résultat(s) en échec, nouvel essai", len(batch))
                    await asyncio.sleep(0.5)
                self._answer_ready.set()
                continue
            self._unwritten -= len(batch)
            self._busy.difference_update(o.row.id for o in batch)
            self._slot_free.set()
            if self._unwritten == 0:
                self._all_written.set()

    def _ensure_tasks(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._writer_loop(), name="outbox-writer")
        if self._launcher is None or self._launcher.done():
            self._launcher = asyncio.create_task(self._launcher_loop(), name="outbox-launcher")

    async def settle(self) -> None:
        """Wait until every claimed row has been sent, answered, and its outcome committed."""
        if self._ready:
            self._ensure_tasks()
            await self._ready_empty.wait()
        while self._inflight:
            # asyncio.wait, not gather: cancelling the waiter (shutdown) must not cancel the sends.
            await asyncio.wait(list(self._inflight.values()))
        if self._unwritten:
            self._ensure_tasks()
            await self._all_written.wait()

    # -- loops ---------------------------------------------------------------------------
    async def drain(self) -> int:
        """Send everything due now; return once nothing is due or in flight. Returns rows claimed."""
        self._ensure_tasks()
        if time.monotonic() - self._last_recovery > min(self.lease.total_seconds() / 4, 10.0):
            self._last_recovery = time.monotonic()
            await self.recover()
        claimed, sent, started = 0, self.stats["sent"], time.monotonic()
        while self.share is not None:
            size = self._claim_size()
            if size < self.min_claim and self._ready:  # enough queued: claim a real batch a little later
                size = 0
            if size <= 0:
                if len(self._busy) >= self.concurrency:
                    self._slot_free.clear()
                    await self._slot_free.wait()
                else:  # the pace is the limit: claim again when the queue runs low
                    await asyncio.sleep(max(self.horizon / 2, 0.001))
                continue
            rows, touched = await self._claim_whole(size)
            if rows:
                claimed += len(rows)
                self._enqueue(rows)
                continue
            if touched:
                continue
            if not self._busy and not self._unwritten:
                break
            await self.settle()  # answers may have scheduled retries or freed chats: look again
            if not await self._due_now():
                break
        await self.settle()
        self.chats.prune()
        if claimed:
            share = self.share or SOLO
            log.info(
                "outbox : %d message(s) envoyé(s) en %.1f s (expéditeur %d sur %d)",
                self.stats["sent"] - sent,
                time.monotonic() - started,
                share.rank + 1,
                share.n,
            )
        return claimed

    async def _due_now(self, within: timedelta = timedelta(0)) -> bool:
        share = self.share or SOLO
        by = utcnow() + within
        async with self.db.begin() as session:
            return await store.any_due(session, by=by, n=share.n, rank=share.rank)

    async def caught_up(self, within: timedelta = timedelta(0), timeout: float = 10.0) -> bool:
        """Wait until every row due by now (+ within) is sent and its outcome committed.

        settle() only waits for rows already claimed; a row that pacing holds back for a moment
        is due but unclaimed. The console demo (and tests reading what people received) need it
        out too. Returns False if rows are still due after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.settle()
            if not await self._due_now(within):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)  # the running dispatcher claims it when its pace allows

    async def close(self) -> None:
        """Let requests in flight finish and record them (bounded by their timeout)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.settle()), self.http.file_timeout + 1)
        for task in (self._launcher, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def run(
        self, idle: Callable[[float], Awaitable[None]], is_sender: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        """Forever: (be the sender,) drain, then wait to be woken or for the next poll."""
        while True:
            if is_sender is not None:
                await is_sender()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop deliveries for good
                log.exception("outbox: vidage en échec, nouvel essai")
            await idle(self.idle_for())


async def _queue_follow_ups(session: Any, outcome: Outcome) -> None:
    """The next parts of a long text, as rows of their own (same chat and urgency), right behind it."""
    row = outcome.row
    base = (row.purpose or f"outbox:{row.id}")[:150]
    rows = [
        {"purpose": f"{base}+{i}", "chat_id": row.chat_id, "user_id": row.user_id, "payload": payload}
        for i, payload in enumerate(outcome.follow_ups, start=2)
    ]
    await outbox_store.enqueue_many(session, rows, method="sendMessage", priority=row.priority)


def dispatcher_for(bot: Bot, services: Services, **overrides: Any) -> Dispatcher:
    """A dispatcher wired to this bot's Bot API server and this process's settings."""
    pace = overrides.pop("pace", None) or PaceConfig.for_settings(services.settings.paid_broadcast)
    timeout = overrides.pop("timeout", REQUEST_TIMEOUT)
    http = transport_for(bot, pool=(overrides.get("concurrency") or (256 if pace.paid else 16)) + 4, timeout=timeout)
    return Dispatcher(services.db, http, pace, services=services, hooks=services.wiring, **overrides)


async def run_dispatcher(bot: Bot, services: Services, **overrides: Any) -> None:
    """The outbox task of a bot process."""
    dispatcher = dispatcher_for(bot, services, **overrides)
    services.outbox = dispatcher  # tests and /envois read its stats
    await run_sender(dispatcher, services.outbox_wait)


async def run_sender(dispatcher: Dispatcher, idle: Callable[[float], Awaitable[None]]) -> None:
    """Run `dispatcher` until cancelled: on PostgreSQL as one of the live senders, sending its
    share (bot/senders.py); on SQLite as the only one. Stopping: no new start, rows claimed but
    not started given back, answers in flight recorded, and only then the slot freed."""
    senders = None
    if not dispatcher.db.is_sqlite:
        span = dispatcher.pace.window[1] if dispatcher.pace.window else 1.0
        senders = Senders(dispatcher.db.url, dispatcher.set_share, span=span)
        dispatcher.set_share(None)  # nothing before the others have seen our slot
        senders.start()
    await dispatcher.http.start()
    try:
        await dispatcher.run(idle, senders.active.wait if senders else None)
    finally:
        if senders is not None:
            dispatcher.set_share(None)
        await dispatcher.close()
        await dispatcher.http.close()
        if senders is not None:
            await senders.stop()
