"""What the features plugged into the platform, filled once by `handlers.install(application)`.

The platform's generic parts read it instead of module-level registries that features would
fill at import time: the guided-conversation step runner (its flows), the scheduler (its
periodic jobs), the outbox dispatcher (its after-send and on-failure hooks) and the start-up.
It holds plain callables, so bot/ never imports a feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram.ext import Application

# `await step(ctx, dialog, text)`: one step of a guided conversation (handlers/core/dialog.py).
Step = Callable[[Any, Any, str], Awaitable[None]]
# `await hook(session, row_id, chat_id, result)` in the transaction that records a send (bot/outbox.py).
OnSent = Callable[[Any, int, int, Any], Awaitable[None]]
# `await hook(session, failure, services)` in the transaction that records a failure (bot/outbox.py).
OnFailed = Callable[[Any, Any, Any], Awaitable[None]]
# `await listener(session, meeting_session, kind)` in the transaction that changed a meeting's session.
SessionListener = Callable[[Any, Any, str], Awaitable[None]]
# `await listener(ctx, chat_id, present=…, requeued=…, event=update_id)`: the bot was added to or removed from a chat.
MembershipListener = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Job:
    """`await run(application)` every `seconds`, in the one process elected to run jobs (bot/leader.py)."""

    name: str
    seconds: float
    run: Callable[[Application], Awaitable[None]]


@dataclass
class Wiring:
    """Everything the features declared, merged in the order `handlers.install` lists them."""

    flows: dict[str, dict[str, Step]] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    sent_hooks: dict[str, list[OnSent]] = field(default_factory=dict)  # by Bot API method
    failed_hooks: dict[str, OnFailed] = field(default_factory=dict)  # by purpose prefix ("bulletin")
    session_listeners: list[SessionListener] = field(default_factory=list)
    membership_listeners: list[MembershipListener] = field(default_factory=list)
    on_start: list[Callable[[Any], None]] = field(default_factory=list)  # hook(services), before the jobs start

    def add_flow(self, name: str, steps: dict[str, Step]) -> None:
        if name in self.flows:
            raise ValueError(f"flow {name!r} declared twice")
        self.flows[name] = steps

    def add_job(self, job: Job) -> None:
        if any(existing.name == job.name for existing in self.jobs):
            raise ValueError(f"job {job.name!r} declared twice")
        self.jobs.append(job)

    def add_sent_hook(self, method: str, hook: OnSent) -> None:
        self.sent_hooks.setdefault(method, []).append(hook)

    def add_failed_hook(self, prefix: str, hook: OnFailed) -> None:
        if prefix in self.failed_hooks:
            raise ValueError(f"failure hook for {prefix!r} declared twice")
        self.failed_hooks[prefix] = hook
