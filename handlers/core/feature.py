"""What one feature adds to the bot, declared as data in its package's `__init__.py`.

Nothing registers itself at import time: `handlers.install` walks the features in order and
plugs each part where it belongs (PTB handlers, the button router, `services.wiring`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import BaseHandler

from bot.services import Services
from bot.wiring import Job, MembershipListener, OnFailed, OnSent, SessionListener
from handlers.core.buttons import ButtonRouter
from handlers.core.dialog import StepFn


@dataclass(frozen=True)
class Feature:
    """One feature's handlers, buttons, conversations, jobs and hooks."""

    name: str
    handlers: Sequence[BaseHandler[Any, Any, Any]] = ()  # group 0, in this order, before every button
    routers: Sequence[ButtonRouter] = ()  # each module's `router`
    flows: Sequence[Mapping[str, Mapping[str, StepFn]]] = ()  # each module's `FLOWS`
    jobs: Sequence[Job] = ()
    sent_hooks: Mapping[str, OnSent] = field(default_factory=dict)  # by Bot API method
    failed_hooks: Mapping[str, OnFailed] = field(default_factory=dict)  # by outbox purpose prefix
    session_listeners: Sequence[SessionListener] = ()  # a meeting session moved or was cancelled
    membership_listeners: Sequence[MembershipListener] = ()  # the bot added to or removed from a chat
    on_start: Sequence[Callable[[Services], None]] = ()  # before the jobs start
