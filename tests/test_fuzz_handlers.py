"""Property-based: whatever people (or broken clients) send, the bot never fails and always answers.

Hypothesis feeds arbitrary text, dates and numbers into every command and every guided
conversation, forged callback data to every button prefix, files of every size and update
types nobody expects (edits, channel posts, group messages, users without username…) to
the real bot. After each example: no "update failed" error was logged, nobody got "Oups",
and every private message got an answer. Commands and button prefixes are read from the
running application, so features added later are fuzzed too.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.sample_data import load_samples
from storage.db import Database
from storage.models import MeetingSession, Registration, utcnow
from tests.fakebot import check_object
from tests.harness import BotHarness, Person
from tests.test_permissions import callback_patterns, registered_commands

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GHT = "GHT Cœur Grand Est"
_ids = itertools.count(9_500_000_001)
_users = itertools.count(600_001)

# Text a person may type: any printable character (no lone surrogates, which JSON cannot carry),
# plus the tricky ones on purpose.
TRICKY = ["<b>", "</a>", "&", "&amp", "<", "'", '"', "\\", "\u200b", "\u202e", "🏥", "é", "\n", "\t", "%s", "{0}", "{name}", "0", "-1",
          "99999999999999999999", "٣", "1_000", "NaN", "31/02/2025", "demain 14h", "le 3 avril à 25h", "hier", "lundi prochain de 9h à 8h",
          "2025-13-45", "dans 300 ans", "@", "/", "//", ":", "m:reg:1"]
typed = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200),
    st.lists(st.sampled_from(TRICKY), min_size=1, max_size=6).map(" ".join),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["x" * 4000, "é" * 300, "a" * 201, "a" * 1001]),
).filter(lambda s: s.strip())


@pytest.fixture
async def fuzz_bot(db: Database, api) -> AsyncIterator[BotHarness]:  # type: ignore[no-untyped-def]
    """The real bot, flood throttle off (hypothesis types fast), no periodic jobs."""
    harness = BotHarness(api, db, extra={"FLOOD_PER_MINUTE": "0"})
    harness.application.bot_data["background"] = False
    await harness.start()
    async with db.begin() as session:
        await load_samples(session, now=utcnow())
    try:
        yield harness
    finally:
        await harness.stop()


class Watch:
    """Errors logged and "Oups" sent since the last check."""

    def __init__(self, bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
        self.bot, self.caplog = bot, caplog
        self.records = 0
        self.sent = 0

    def check(self, what: object) -> None:
        new_records = self.caplog.records[self.records :]
        self.records = len(self.caplog.records)
        new_sent = self.bot.api.sent()[self.sent :]
        self.sent = len(self.bot.api.sent())
        failures = [r.getMessage() + "\n" + (r.exc_text or "") for r in new_records if r.levelno >= logging.ERROR]
        assert not failures, f"{what!r} failed:\n{failures[0][:3000]}"
        oups = [m for m in new_sent if "Oups" in (m.get("text") or "")]
        assert not oups, f"{what!r} made the bot apologise"


async def cast(bot: BotHarness) -> dict[str, Person]:
    """People with different situations; created once per test (the bot fixture is shared by examples)."""
    cast = bot.application.bot_data.setdefault("fuzz_cast", {})
    if not cast:
        pro = bot.person("Camille", last_name="Martin", username="camille")
        await pro.onboard("Infirmier", (GHT,))
        cast["pro"] = pro
        cast["newcomer"] = bot.person("Sans", user_id=next(_users))  # no last name, no username, never /start
        cast["english"] = bot.person("Sam", language_code="en")
        cast["coordinator"] = bot.coordinator()
        await cast["coordinator"].send("/start")
    return cast


def command_texts(bot: BotHarness) -> list[str]:
    return sorted(f"/{c}" for c in registered_commands(bot.application))


def prefixes(bot: BotHarness) -> list[str]:
    """A literal prefix for each button pattern ("^p:n:" -> "p:n:")."""
    out = []
    for pattern in callback_patterns(bot.application):
        literal = re.sub(r"[\\^$]", "", pattern.pattern)
        if re.fullmatch(r"[\w:]+", literal):
            out.append(literal)
    return sorted(set(out))


async def private_answer_due(bot: BotHarness, person: Person, text: str, watch: Watch) -> None:
    before = len(bot.api.sent(person.id))
    await person.send(text)
    watch.check(text)
    assert len(bot.api.sent(person.id)) > before, f"no answer to {text!r}"


# ------------------------------------------------------------------------------------ text
@FUZZ
@given(data=st.data())
async def test_any_text_or_command_gets_an_answer_and_never_an_error(fuzz_bot: BotHarness, caplog: pytest.LogCaptureFixture, data: st.DataObject) -> None:
    bot = fuzz_bot
    people = await cast(bot)
    watch = Watch(bot, caplog)
    watch.records, watch.sent = len(caplog.records), len(bot.api.sent())
    who = data.draw(st.sampled_from(sorted(people)), label="who")
    command = data.draw(st.sampled_from(["", *command_texts(bot)]), label="command")
    args = data.draw(st.lists(typed, max_size=3), label="args")
    first = " ".join([command, *args]).strip() or data.draw(typed, label="text")
    await private_answer_due(bot, people[who], first[:4096], watch)
    for text in data.draw(st.lists(typed, max_size=3), label="then"):  # the next answers of a conversation it opened
        await private_answer_due(bot, people[who], text[:4096], watch)
    await people[who].send("/annuler")
    watch.check("/annuler")


# ------------------------------------------------------------------------------------ buttons
@FUZZ
@given(data=st.data())
async def test_forged_callback_data_never_fails(fuzz_bot: BotHarness, caplog: pytest.LogCaptureFixture, data: st.DataObject) -> None:
    bot = fuzz_bot
    people = await cast(bot)
    watch = Watch(bot, caplog)
    watch.records, watch.sent = len(caplog.records), len(bot.api.sent())
    who = people[data.draw(st.sampled_from(sorted(people)), label="who")]
    part = st.one_of(st.integers(min_value=-(10**20), max_value=10**20).map(str), st.sampled_from(["", "0", "1", "2", "x", "all", "fr", "csv"]),
                     st.text(st.characters(blacklist_categories=("Cs",)), max_size=8))
    structured = st.builds(lambda p, parts: p + ":".join(parts), st.sampled_from(prefixes(bot)), st.lists(part, min_size=0, max_size=4))
    raw = data.draw(st.one_of(structured, st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64)), label="data")
    raw = raw.encode("utf-8")[:64].decode("utf-8", "ignore") or "x"
    if not who.messages():
        await who.send("/aide")
    qid = str(next(_ids))
    bot.api._open_callbacks.add(qid)
    query = {"id": qid, "from": who.user, "message": who.messages()[-1], "chat_instance": "1", "data": raw}
    update = bot.api.push_update({"callback_query": query})
    await bot.handled(update)
    watch.check(raw)
    assert qid in bot.api.callback_answers, f"the button {raw!r} was left spinning"


# ------------------------------------------------------------------------------------ updates
def _user(first_name: str = "Anonyme", **extra: Any) -> dict[str, Any]:
    return {"id": next(_users), "is_bot": False, "first_name": first_name, **extra}


def _private(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


GROUP = {"id": -100_777, "type": "supergroup", "title": "CPTS <Test> & co"}
CHANNEL = {"id": -100_888, "type": "channel", "title": "Canal"}


def _message(chat: dict[str, Any], user: dict[str, Any] | None, **content: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": next(_ids) % 1_000_000, "date": 1_700_000_000, "chat": chat, **content}
    if user is not None:
        msg["from"] = user
    return msg


def _command_entities(text: str) -> list[dict[str, Any]]:
    return [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []


def _document(size: int, name: str) -> dict[str, Any]:
    return {"file_id": f"BQAC{next(_ids)}", "file_unique_id": f"u{next(_ids)}", "file_name": name, "mime_type": "application/pdf", "file_size": size}


def update_builders(commands: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    texts = st.one_of(typed, st.sampled_from(commands))
    user = st.builds(
        _user,
        first_name=st.sampled_from(["Zoé", "<b>", "&", "李", "\u202eevil"]),
        language_code=st.sampled_from(["fr", "en", "de", "zz-ZZ", ""]),
    )
    sizes = st.sampled_from([0, 1, 10 * 1024 * 1024, 10 * 1024 * 1024 + 1, 2**31, 2**40])
    names = st.sampled_from(["a.pdf", "", "<b>.pdf", "../../etc/passwd", "x" * 300])

    def edited(u: dict[str, Any], text: str) -> dict[str, Any]:
        return {"edited_message": _message(_private(u), u, text=text, edit_date=1_700_000_100, entities=_command_entities(text))}

    def in_group(u: dict[str, Any], text: str) -> dict[str, Any]:
        return {"message": _message(GROUP, u, text=text, entities=_command_entities(text))}

    def channel(text: str) -> dict[str, Any]:
        return {"channel_post": _message(CHANNEL, None, text=text, sender_chat=CHANNEL)}

    def edited_channel(text: str) -> dict[str, Any]:
        return {"edited_channel_post": _message(CHANNEL, None, text=text, sender_chat=CHANNEL, edit_date=1_700_000_200)}

    def file_(u: dict[str, Any], size: int, name: str, caption: str, group: bool) -> dict[str, Any]:
        return {"message": _message(GROUP if group else _private(u), u, document=_document(size, name), caption=caption[:1024])}

    def photo(u: dict[str, Any], size: int) -> dict[str, Any]:
        sizes = [{"file_id": f"AgAC{next(_ids)}", "file_unique_id": f"p{next(_ids)}", "width": 90, "height": 90, "file_size": size}]
        return {"message": _message(_private(u), u, photo=sizes)}

    def odd_message(u: dict[str, Any], kind: str) -> dict[str, Any]:
        content = {
            "sticker": {"sticker": {"file_id": "CAAC1", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False}},
            "location": {"location": {"latitude": 48.86, "longitude": 2.35}},
            "contact": {"contact": {"phone_number": "+33600000000", "first_name": "Patient"}},
            "dice": {"dice": {"emoji": "🎲", "value": 3}},
            "voice": {"voice": {"file_id": "AwAC1", "file_unique_id": "v1", "duration": 3, "file_size": 50 * 1024 * 1024}},
            "forward": {"text": "transféré", "forward_origin": {"type": "hidden_user", "date": 1_700_000_000, "sender_user_name": "X"}},
            "reply": {"text": "réponse", "reply_to_message": _message(_private(u), u, text="avant")},
            "new_members": {"new_chat_members": [u]},
        }[kind]
        chat = GROUP if kind == "new_members" else _private(u)
        return {"message": _message(chat, u, **content)}

    def member_change(u: dict[str, Any], status: str) -> dict[str, Any]:
        bot_user = {"id": 123456, "is_bot": True, "first_name": "Relais Santé", "username": "relais_sante_test_bot"}
        return {"my_chat_member": {"chat": _private(u), "from": u, "date": 1_700_000_000,
                                   "old_chat_member": {"status": "member", "user": bot_user},
                                   "new_chat_member": {"status": status, "user": bot_user, **({"until_date": 0} if status == "kicked" else {})}}}

    def poll_answer(u: dict[str, Any]) -> dict[str, Any]:
        return {"poll_answer": {"poll_id": str(next(_ids)), "user": u, "option_ids": [0], "option_persistent_ids": ["0"]}}

    def inline(u: dict[str, Any], text: str) -> dict[str, Any]:
        return {"inline_query": {"id": str(next(_ids)), "from": u, "query": text[:256], "offset": ""}}

    def inline_callback(u: dict[str, Any], text: str) -> dict[str, Any]:
        return {"callback_query": {"id": str(next(_ids)), "from": u, "inline_message_id": "AAA", "chat_instance": "2", "data": text[:64]}}

    def game_callback(u: dict[str, Any]) -> dict[str, Any]:
        return {"callback_query": {"id": str(next(_ids)), "from": u, "chat_instance": "3", "game_short_name": "jeu"}}

    return st.one_of(
        st.builds(edited, user, texts),
        st.builds(in_group, user, texts),
        st.builds(channel, texts),
        st.builds(edited_channel, texts),
        st.builds(file_, user, sizes, names, st.text(max_size=50), st.booleans()),
        st.builds(photo, user, sizes),
        st.builds(odd_message, user, st.sampled_from(["sticker", "location", "contact", "dice", "voice", "forward", "reply", "new_members"])),
        st.builds(member_change, user, st.sampled_from(["kicked", "member", "left"])),
        st.builds(poll_answer, user),
        st.builds(inline, user, texts),
        st.builds(inline_callback, user, texts),
        st.builds(game_callback, user),
    )


@FUZZ
@given(data=st.data())
async def test_unexpected_updates_never_fail(fuzz_bot: BotHarness, caplog: pytest.LogCaptureFixture, data: st.DataObject) -> None:
    bot = fuzz_bot
    if not bot.api.store.chats.get(GROUP["id"]):
        bot.api.add_chat(GROUP["id"], "supergroup", GROUP["title"])
        bot.api.add_chat(CHANNEL["id"], "channel", CHANNEL["title"])
    watch = Watch(bot, caplog)
    watch.records, watch.sent = len(caplog.records), len(bot.api.sent())
    raw = data.draw(update_builders(command_texts(bot)), label="update")
    for body in raw.values():  # the fake only knows users it has seen
        for key in ("from", "user"):
            if isinstance(body, dict) and isinstance(body.get(key), dict):
                bot.api.make_user(body[key]["id"], body[key]["first_name"], language_code=body[key].get("language_code") or None)
    assert not check_object({"update_id": 1, **raw}, "Update"), "the test must only send updates Telegram could send"
    before = len(bot.api.sent())
    update = bot.api.push_update(raw)
    await bot.handled(update)
    watch.check(raw)
    kind = next(iter(raw))
    message = raw.get("message") or {}
    if kind == "message" and message.get("chat", {}).get("type") == "private" and "new_chat_members" not in message:
        assert len(bot.api.sent()) > before, f"a private {sorted(message)} got no answer"
    if message.get("document", {}).get("file_size", 0) > 10 * 1024 * 1024 and message["chat"]["type"] == "private":
        assert "trop lourd" in (bot.api.sent()[-1].get("text") or "") or "too large" in (bot.api.sent()[-1].get("text") or "")


# ------------------------------------------------------------------------------------ invariants
async def test_after_fuzzing_the_data_still_adds_up(fuzz_bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    """A short scripted burst of mixed input, then the books must balance (no half-done writes)."""
    bot = fuzz_bot
    people = await cast(bot)
    watch = Watch(bot, caplog)
    for person in people.values():
        for text in ("/inscrire", "/rencontres", "/desinscrire", "99999999999999999999", "/start r99999999999999", "/start r-1", "/start rabc"):
            await person.send(text)
            watch.check(text)
    async with bot.db.begin() as session:
        over = await session.execute(
            select(MeetingSession.id)
            .join(Registration, Registration.session_id == MeetingSession.id)
            .where(Registration.status == "confirmed", MeetingSession.capacity.is_not(None))
            .group_by(MeetingSession.id, MeetingSession.capacity)
            .having(func.count() > MeetingSession.capacity)
        )
        assert over.all() == []
