"""Inline buttons routed by their callback data, `prefix:action:arg…`, parsed in one place.

Every feature used to split its callback data by hand, check the count, convert ids and
answer forged or stale buttons itself, each slightly differently. Here a feature declares
what it accepts and receives a parsed `Button`:

    router = ButtonRouter()                      # one per feature module; handlers.install merges them
    router.on("m", "reg", register, args=1)      # m:reg:<session id>
    async def register(ctx: Ctx, button: Button) -> None:
        session = button.found(await store.get_session(ctx.session, button.int(0)))

    router.guard("co", may_coordinate)           # every co:… button checks it first
    keyboard = [[(label, data("m", "reg", session.id))]]

A button the router cannot honour (unknown action, wrong number of arguments, an argument
that is not what the feature asked for, an object gone meanwhile) is answered once with
`common.stale_button`. When the feature itself finds it stale (raises `BadButton`), its
transaction is rolled back first, so a half-done change is never committed, and the answer
goes through the same `@handler` path in a transaction of its own (the update is still
recorded as handled once).
"""

from __future__ import annotations

import builtins
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import TypeVar

from telegram import Update
from telegram.ext import CallbackQueryHandler, ContextTypes

from handlers.core.common import Ctx, handler, int_or_none
from storage import dialogs
from storage.models import Dialog

log = logging.getLogger(__name__)

MAX_DATA_BYTES = 64  # Telegram refuses longer callback_data (the whole message fails)
STALE_KEY = "common.stale_button"
_PREFIX = re.compile(r"[a-z0-9_]+(?::[a-z0-9_]+)*")
_ACTION = re.compile(r"[a-z0-9_]+")

T = TypeVar("T")
Context = ContextTypes.DEFAULT_TYPE
ButtonFn = Callable[[Ctx, "Button"], Awaitable[None]]
StepButtonFn = Callable[[Ctx, Dialog, "Button"], Awaitable[None]]
Check = Callable[[Ctx, "Button"], Awaitable[bool] | bool]


class BadButton(Exception):
    """The pressed button cannot be honoured: forged, or made stale by what happened since."""


def data(prefix: str, action: str, *args: int | str) -> str:
    """The callback data of a button, e.g. data("m", "reg", 42) == "m:reg:42".

    Raises ValueError for an argument holding ":" (it would shift the others) and for data
    longer than Telegram's 64 bytes: better a failing test than a keyboard Telegram refuses.
    """
    parts = [prefix, action]
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, int | str):
            raise ValueError(f"button argument {arg!r}: only int or str")
        text = str(arg)
        if ":" in text:
            raise ValueError(f"button argument {text!r} holds ':'")
        parts.append(text)
    encoded = ":".join(parts)
    if len(encoded.encode()) > MAX_DATA_BYTES:
        raise ValueError(f"callback data {encoded!r} is longer than {MAX_DATA_BYTES} bytes")
    return encoded


@dataclass(frozen=True, slots=True)
class Button:
    """A pressed button, parsed: `prefix:action:args…`. The accessors raise `BadButton`."""

    prefix: str
    action: str
    args: tuple[str, ...]
    update: Update
    context: Context

    def _arg(self, i: int) -> str:
        if i >= len(self.args):  # an optional argument this button does not carry
            raise BadButton(f"argument {i} missing")
        return self.args[i]

    def int(self, i: int, *, bits: int = 32, negative: bool = False) -> int:
        """Argument `i` as an id: a plain decimal that fits the column (bits=64 for Telegram ids)."""
        value = int_or_none(self._arg(i), bits=bits)
        if value is None or (value < 0 and not negative):
            raise BadButton(f"argument {i} is not an id")
        return value

    def text(self, i: builtins.int) -> str:
        return self._arg(i)

    def choice(self, i: builtins.int, allowed: Collection[str]) -> str:
        """Argument `i`, one of `allowed` (a set, or the keys of a mapping)."""
        value = self._arg(i)
        if value not in allowed:
            raise BadButton(f"argument {i} is not one of the choices")
        return value

    def found(self, value: T | None) -> T:
        """`value`, or BadButton when the object the button points at is gone."""
        if value is None:
            raise BadButton("object gone")
        return value


@dataclass(frozen=True, slots=True)
class _Route:
    fn: ButtonFn
    min_args: int
    max_args: int


@dataclass
class _Prefix:
    routes: dict[str, _Route] = field(default_factory=dict)
    guards: list[Check] = field(default_factory=list)


class ButtonRouter:
    """Routes for `prefix:action:args…`; `handlers()` gives PTB one handler per prefix."""

    def __init__(self) -> None:
        self._prefixes: dict[str, _Prefix] = {}

    def on(
        self, prefix: str, action: str, fn: ButtonFn | None = None, *, args: int | tuple[int, int] = 0
    ) -> Callable[[ButtonFn], ButtonFn]:
        """Route `prefix:action:…` with `args` arguments (a count, or (min, max)) to `fn(ctx, button)`.

        Usable as a call or as a decorator (`@router.on("m", "reg", args=1)`).
        """
        low, high = (args, args) if isinstance(args, int) else args
        if not _PREFIX.fullmatch(prefix) or not _ACTION.fullmatch(action) or not 0 <= low <= high:
            raise ValueError(f"bad route {prefix!r} {action!r} args={args!r}")
        routed = {f"{p}:{a}" for p, entry in self._prefixes.items() for a in entry.routes}
        if f"{prefix}:{action}" in self._prefixes or prefix in routed:
            raise ValueError(f"route {prefix}:{action} and a prefix overlap: a button would have two meanings")

        def register(fn: ButtonFn) -> ButtonFn:
            routes = self._prefixes.setdefault(prefix, _Prefix()).routes
            if action in routes:
                raise ValueError(f"route {prefix}:{action} registered twice")
            routes[action] = _Route(fn, low, high)
            return fn

        if fn is not None:
            register(fn)
        return register

    def on_step(
        self,
        prefix: str,
        action: str,
        flow: str,
        fn: StepButtonFn,
        *,
        steps: Collection[str] | None = None,
        args: int | tuple[int, int] = 1,
    ) -> None:
        """Route a button of a guided conversation to `fn(ctx, dialog, button)`.

        It is honoured only while `flow` is the presser's open conversation and, when `steps`
        is given, at one of those steps: a button of an earlier message, or of a conversation
        left or finished meanwhile, is stale.
        """

        async def pressed(ctx: Ctx, button: Button) -> None:
            row = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
            if row is None or row.flow != flow or (steps is not None and row.step not in steps):
                raise BadButton(f"not at this step of {flow}")
            await fn(ctx, row, button)

        self.on(prefix, action, pressed, args=args)

    def guard(self, prefix: str, check: Check) -> None:
        """`check(ctx, button)` before every action of `prefix` (after parsing): False refuses.

        A refusing check may answer itself; if it did not, the person gets `ctx.refuse()`.
        """
        self._prefixes.setdefault(prefix, _Prefix()).guards.append(check)

    def include(self, other: ButtonRouter) -> None:
        """Add every route and guard of `other` (one feature module's router) to this one.

        The same checks as `on` apply, so two features can never claim one button.
        """
        for prefix, entry in other._prefixes.items():
            for action, route in entry.routes.items():
                self.on(prefix, action, route.fn, args=(route.min_args, route.max_args))
            for check in entry.guards:
                self.guard(prefix, check)

    def parse(self, prefix: str, update: Update, context: Context) -> Button:
        """The button pressed, checked against the routes of `prefix`; BadButton otherwise."""
        query = update.callback_query
        raw = query.data if query is not None else None
        if not isinstance(raw, str) or not raw.startswith(prefix + ":") or len(raw.encode()) > MAX_DATA_BYTES:
            raise BadButton("not ours")
        action, *args = raw[len(prefix) + 1 :].split(":")
        route = self._prefixes[prefix].routes.get(action)
        if route is None:
            raise BadButton("unknown action")
        if not route.min_args <= len(args) <= route.max_args:
            raise BadButton("wrong number of arguments")
        return Button(prefix, action, tuple(args), update, context)

    async def _press(self, prefix: str, ctx: Ctx, update: Update, context: Context) -> None:
        """Inside the transaction: parse, guards, then the feature."""
        button = self.parse(prefix, update, context)
        entry = self._prefixes[prefix]
        for check in entry.guards:
            allowed = check(ctx, button)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                if ctx.toast is None and not ctx.replies:
                    ctx.refuse()
                return
        await entry.routes[button.action].fn(ctx, button)

    def _callback(self, prefix: str) -> Callable[[Update, Context], Coroutine[None, None, None]]:
        async def press(ctx: Ctx, update: Update, context: Context) -> None:
            await self._press(prefix, ctx, update, context)

        async def stale(ctx: Ctx, update: Update, context: Context) -> None:
            ctx.answer(ctx.t(STALE_KEY))

        for fn in (press, stale):  # one claim name per prefix ("buttons.m"): see storage/updates.py
            fn.__qualname__ = prefix
        pressed, answered_stale = handler(press), handler(stale)

        async def callback(update: Update, context: Context) -> None:
            try:
                self.parse(prefix, update, context)  # cheap: a forged button costs no transaction to refuse
            except BadButton as exc:
                _log_stale(prefix, update, exc)
                await answered_stale(update, context)
                return
            try:
                await pressed(update, context)
            except BadButton as exc:  # the transaction is rolled back by now
                _log_stale(prefix, update, exc)
                await answered_stale(update, context)

        callback.__qualname__ = callback.__name__ = f"button_{prefix.replace(':', '_')}"
        return callback

    def prefixes(self) -> list[str]:
        """Longest first, so "m:ics" is tried before "m"."""
        return sorted(self._prefixes, key=lambda p: (-len(p), p))

    def handlers(self) -> list[CallbackQueryHandler[Context, None]]:
        """One PTB handler per prefix (pattern `^prefix:`), to register in group 0 before the
        fallback that answers unknown buttons (bot/flood.py)."""
        return [
            CallbackQueryHandler(self._callback(p), pattern=re.compile("^" + re.escape(p) + ":"))
            for p in self.prefixes()
        ]


async def coordinators_only(ctx: Ctx, button: Button) -> bool:
    """A guard: coordinators of some group (or of all); `ctx.refuse()` for anyone else."""
    return await ctx.is_coordinator()


def _log_stale(prefix: str, update: Update, exc: BadButton) -> None:
    """Which prefix and action, never the arguments (they may be ids of people)."""
    query = update.callback_query
    raw = (query.data or "") if query is not None else ""
    action = raw[len(prefix) + 1 :].split(":", 1)[0][:16]
    log.info("stale button %s:%s (%s)", prefix, action, exc)
