"""The button router (handlers/core/buttons.py): parsing, and presses end to end against the fake Bot API.

End to end, a test router is put in front of the real bot's handlers: a valid press reaches
its function with parsed arguments; a stale or forged one (unknown action, wrong number of
arguments, a non-id, an object gone, data too long) is answered exactly once with the
localized stale-button notice, and what the feature had changed before finding it stale is
rolled back; a guard refuses with the usual notice and the function never runs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram import Update

from bot.i18n import t
from handlers.core.buttons import MAX_DATA_BYTES, BadButton, Button, ButtonRouter, data
from handlers.core.common import Ctx
from storage import updates as updates_store
from storage.db import Database
from storage.models import User
from tests.harness import BotHarness, Person

_query_ids = itertools.count(7_100_000_000_000_000_001)


# -- unit: data() and parsing ---------------------------------------------------------------


def test_data_builds_and_refuses_what_telegram_or_the_parser_would_not_take() -> None:
    assert data("m", "reg", 42) == "m:reg:42"
    assert data("p:d", "v", 12, "y") == "p:d:v:12:y"
    assert data("m", "no") == "m:no"
    assert len(data("x", "a", "é" * 30).encode()) == MAX_DATA_BYTES  # "x:a:" + 60 bytes
    with pytest.raises(ValueError, match="64 bytes"):
        data("x", "a", "é" * 31)  # 35 characters, 66 bytes: Telegram counts bytes
    with pytest.raises(ValueError, match="':'"):
        data("m", "reg", "1:2")
    with pytest.raises(ValueError):
        data("m", "reg", True)  # a bool is an int to Python, never an argument of ours


def _update(raw: str) -> Update:
    return Update.de_json(
        {
            "update_id": 1,
            "callback_query": {
                "id": "1",
                "from": {"id": 5, "is_bot": False, "first_name": "A"},
                "chat_instance": "1",
                "data": raw,
            },
        },
        None,
    )


async def _noop(ctx: Ctx, button: Button) -> None:
    return None


def _router() -> ButtonRouter:
    router = ButtonRouter()
    router.on("m", "reg", _noop, args=1)
    router.on("m", "pg", _noop, args=(0, 2))
    router.on("p:d", "v", _noop, args=2)
    return router


@pytest.mark.parametrize(
    ("raw", "prefix", "action", "args"),
    [
        ("m:reg:42", "m", "reg", ("42",)),
        ("m:pg", "m", "pg", ()),
        ("m:pg:1:2", "m", "pg", ("1", "2")),
        ("p:d:v:7:y", "p:d", "v", ("7", "y")),
    ],
)
def test_parse_valid(raw: str, prefix: str, action: str, args: tuple[str, ...]) -> None:
    button = _router().parse(prefix, _update(raw), None)  # type: ignore[arg-type]
    assert (button.prefix, button.action, button.args) == (prefix, action, args)


@pytest.mark.parametrize(
    "raw",
    [
        "m:reg",  # too few
        "m:reg:1:2",  # too many
        "m:pg:1:2:3",  # above the (min, max) range
        "m:zap:1",  # unknown action
        "m:",  # no action at all
        "mx:reg:1",  # another prefix
        "m:reg:" + "1" * 60,  # longer than Telegram would ever send
        "p:d:x:7:y",
    ],
)
def test_parse_refuses_forged(raw: str) -> None:
    prefix = "p:d" if raw.startswith("p:d") else "m"
    with pytest.raises(BadButton):
        _router().parse(prefix, _update(raw), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("arg", ["-1", "1_0", "٣", " 7", "", "abc", str(1 << 31), "99999999999999999999999"])
def test_int_refuses_what_is_not_an_id(arg: str) -> None:
    button = Button("m", "reg", (arg,), _update(f"m:reg:{arg}"), None)  # type: ignore[arg-type]
    with pytest.raises(BadButton):
        button.int(0)


def test_accessors() -> None:
    button = Button("m", "x", ("42", "y", "-1001234567890"), _update("m:x:42:y:-1001234567890"), None)  # type: ignore[arg-type]
    assert button.int(0) == 42
    assert button.text(1) == "y"
    assert button.choice(1, {"y": 1, "n": 0}) == "y"
    assert button.int(2, bits=64, negative=True) == -1001234567890
    with pytest.raises(BadButton):
        button.int(2, bits=64)  # negative ids only when asked for
    with pytest.raises(BadButton):
        button.int(2, negative=True)  # does not fit 32 bits
    with pytest.raises(BadButton):
        button.choice(1, ("n", "m"))
    with pytest.raises(BadButton):
        button.text(3)  # an optional argument absent
    with pytest.raises(BadButton):
        button.found(None)
    assert button.found(0) == 0


def test_routes_that_would_make_a_button_ambiguous_are_refused() -> None:
    router = _router()
    with pytest.raises(ValueError, match="twice"):
        router.on("m", "reg", _noop, args=1)
    with pytest.raises(ValueError, match="overlap"):
        router.on("m:reg", "x", _noop)  # "m:reg:x" would be both m/reg(x) and m:reg/x
    router.on("m:ics", "get", _noop, args=1)
    with pytest.raises(ValueError, match="overlap"):
        router.on("m", "ics", _noop, args=1)
    with pytest.raises(ValueError):
        router.on("M", "reg", _noop)
    with pytest.raises(ValueError):
        router.on("m", "a:b", _noop)


def test_one_handler_per_prefix_longest_first() -> None:
    router = ButtonRouter()
    for prefix in ("m", "mx", "m:ics", "p:d", "p"):
        router.on(prefix, "a", _noop)
    patterns = [h.pattern.pattern for h in router.handlers()]  # type: ignore[union-attr]
    assert patterns == ["^m:ics:", "^p:d:", "^mx:", "^m:", "^p:"]
    assert not router.handlers()[3].check_update(_update("mx:a"))  # "^m:" does not take "mx:…"


# -- end to end -----------------------------------------------------------------------------


class Calls:
    """What the test features saw, to prove they ran (or did not)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []


def build_router(calls: Calls) -> ButtonRouter:
    router = ButtonRouter()

    @router.on("tb", "show", args=1)
    async def show(ctx: Ctx, button: Button) -> None:
        calls.seen.append(("show", (button.int(0),)))
        ctx.answer(f"shown {button.int(0)}")

    @router.on("tb", "pick", args=(1, 2))
    async def pick(ctx: Ctx, button: Button) -> None:
        colour = button.choice(0, ("red", "blue"))
        calls.seen.append(("pick", (colour, button.args[1:])))
        ctx.edit(f"picked {colour}")

    @router.on("tb", "flag", args=1)
    async def flag(ctx: Ctx, button: Button) -> None:
        """Writes, then finds its object gone: the write must not survive."""
        ctx.user.is_crisis_cell = True
        await ctx.session.flush()
        ctx.send("half done")
        calls.seen.append(("flag", ()))
        button.found(None if button.int(0) == 0 else button.int(0))
        ctx.answer("flagged")

    @router.on("tbx", "show", args=1)
    async def show_x(ctx: Ctx, button: Button) -> None:
        calls.seen.append(("x", (button.int(0),)))

    @router.on("tg", "do", args=0)
    async def guarded(ctx: Ctx, button: Button) -> None:
        calls.seen.append(("guarded", ()))

    async def coordinators_only(ctx: Ctx, button: Button) -> bool:
        return await ctx.is_coordinator()

    router.guard("tg", coordinators_only)
    return router


@pytest.fixture
async def routed(db: Database, api: Any) -> AsyncIterator[tuple[BotHarness, Calls]]:
    """The real bot with the test routes first in group 0 (before every feature and the
    fallback that answers unknown buttons)."""
    calls = Calls()
    harness = BotHarness(api, db)
    harness.application.handlers[0][:0] = build_router(calls).handlers()
    await harness.start()
    try:
        yield harness, calls
    finally:
        await harness.stop()


async def press(bot: BotHarness, person: Person, raw: str) -> tuple[str, int]:
    """Press a button with data `raw` on the person's newest message; the notice and how
    many times the query was answered (the fake refuses a second answer, so at most 1)."""
    messages = person.messages()
    if not messages:
        await person.send("/aide")
        messages = person.messages()
    qid = str(next(_query_ids))
    bot.api._open_callbacks.add(qid)
    query = {"id": qid, "from": person.user, "message": messages[-1], "chat_instance": "1", "data": raw}
    person._new_messages()
    update = bot.api.push_update({"callback_query": query})
    await bot.handled(update)
    person.replies = person._new_messages()
    answered = qid in bot.api.callback_answers
    return str(bot.api.callback_answers.get(qid, {}).get("text") or ""), int(answered)


async def test_a_valid_press_reaches_its_function(routed: tuple[BotHarness, Calls]) -> None:
    bot, calls = routed
    camille = bot.person("Camille")
    assert await press(bot, camille, "tb:show:42") == ("shown 42", 1)
    assert await press(bot, camille, "tbx:show:7") == ("", 1)  # "tb" does not swallow "tbx"
    assert await press(bot, camille, "tb:pick:blue") == ("", 1)
    assert await press(bot, camille, "tb:pick:red:1") == ("", 1)
    assert calls.seen == [("show", (42,)), ("x", (7,)), ("pick", ("blue", ())), ("pick", ("red", ("1",)))]
    assert camille.last_text == "picked red"


@pytest.mark.parametrize(
    "raw",
    [
        "tb:zap:1",  # unknown action (an older version's button, or forged)
        "tb:show",  # too few arguments
        "tb:show:1:2",  # too many
        "tb:pick:red:1:2",  # above the range
        "tb:show:abc",  # not an id
        "tb:show:-3",
        "tb:show:99999999999",  # does not fit the column
        "tb:pick:green",  # not one of the choices
        "tb:show:" + "1" * 70,  # longer than Telegram's 64 bytes
    ],
)
async def test_stale_or_forged_is_answered_once_in_the_persons_language(
    routed: tuple[BotHarness, Calls], raw: str
) -> None:
    bot, calls = routed
    sam = bot.person("Sam", language_code="en")
    assert await press(bot, sam, raw) == (t("common.stale_button", "en"), 1)
    assert sam.replies == []  # a notice on the button, no message
    assert calls.seen == []


async def test_object_gone_rolls_back_then_answers_once(routed: tuple[BotHarness, Calls], db: Database) -> None:
    bot, calls = routed
    camille = bot.person("Camille")
    assert await press(bot, camille, "tb:flag:0") == (t("common.stale_button", "fr"), 1)
    assert calls.seen == [("flag", ())]  # it ran, found the object gone…
    assert camille.replies == []  # …and its half-done reply was dropped with its transaction
    async with db.begin() as session:
        user = await session.get(User, camille.id)
        assert user is not None and user.is_crisis_cell is False
        handled = select(func.count()).where(updates_store.ProcessedUpdate.handler == "buttons.tb")
        assert await session.scalar(handled) == 1  # recorded once, by the transaction that answered
    assert await press(bot, camille, "tb:flag:5") == ("flagged", 1)  # the same button on a live object
    async with db.begin() as session:
        user = await session.get(User, camille.id)
        assert user is not None and user.is_crisis_cell is True


async def test_a_stale_press_delivered_twice_is_answered_once(routed: tuple[BotHarness, Calls]) -> None:
    """The stale answer is recorded as the update's handling: Telegram delivering it again gets no second one."""
    bot, calls = routed
    camille = bot.person("Camille")
    await camille.send("/aide")
    qid = str(next(_query_ids))
    bot.api._open_callbacks.add(qid)
    message = camille.messages()[-1]
    query = {"id": qid, "from": camille.user, "message": message, "chat_instance": "1", "data": "tb:flag:0"}
    update = bot.api.push_update({"callback_query": query})
    await bot.handled(update)
    assert bot.api.callback_answers.pop(qid)["text"] == t("common.stale_button", "fr")
    bot.api._open_callbacks.add(qid)  # answerable again: only the bot's own bookkeeping may prevent it
    await bot.application.process_update(Update.de_json(update, bot.application.bot))
    assert qid not in bot.api.callback_answers
    assert calls.seen == [("flag", ())]


async def test_guard_refuses_before_the_function_runs(routed: tuple[BotHarness, Calls]) -> None:
    bot, calls = routed
    camille = bot.person("Camille")
    notice, answers = await press(bot, camille, "tg:do")
    assert (notice, answers) == (t("common.not_allowed", "fr"), 1)
    assert camille.reply_text == t("common.not_allowed", "fr")
    assert calls.seen == []
    assert await press(bot, camille, "tg:do:1") == (t("common.stale_button", "fr"), 1)  # forged: stale before the guard
    coordinator = bot.coordinator()
    assert await press(bot, coordinator, "tg:do") == ("", 1)
    assert calls.seen == [("guarded", ())]
