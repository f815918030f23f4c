"""Method name -> handler table, checked against api.json when a handler is registered."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .spec import METHODS, MethodSpec

if TYPE_CHECKING:
    from .server import FakeBotAPI

Handler = Callable[["FakeBotAPI", MethodSpec, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Registered:
    fn: Handler
    is_async: bool


HANDLERS: dict[str, Registered] = {}


def method(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler for Bot API methods (names must exist in api.json)."""

    def deco(fn: Handler) -> Handler:
        for name in names:
            if name.lower() not in METHODS:
                raise KeyError(f"{name} is not a Bot API method in api.json")
            HANDLERS[name.lower()] = Registered(fn, inspect.iscoroutinefunction(fn))
        return fn

    return deco
