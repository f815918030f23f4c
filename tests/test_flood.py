"""A flood is slowed down politely, one notice then silence, and nobody else waits behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.flood import FloodGuard, Verdict
from storage.db import Database
from tests.harness import BotHarness

BURST = 40


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_notice_then_silence_until_they_slow_down() -> None:
    clock = Clock()
    guard = FloodGuard(burst=3, per_minute=60, clock=clock)
    assert [guard.check(1) for _ in range(3)] == [Verdict.PASS] * 3
    assert guard.check(1) is Verdict.NOTICE
    for _ in range(600):  # ten per second for a minute: silence all along
        clock.now += 0.1
        assert guard.check(1) is Verdict.DROP
    clock.now += 1.0  # one pause of a second lets one message through, no second notice
    assert guard.check(1) is Verdict.PASS
    assert guard.check(1) is Verdict.DROP
    clock.now += 10  # really slowed down: full service, and a new flood gets a new notice
    assert [guard.check(1) for _ in range(3)] == [Verdict.PASS] * 3
    assert guard.check(1) is Verdict.NOTICE


def test_each_user_has_their_own_bucket_and_idle_ones_are_forgotten() -> None:
    clock = Clock()
    guard = FloodGuard(burst=2, per_minute=60, clock=clock)
    for _ in range(5):
        guard.check(1)
    assert guard.check(2) is Verdict.PASS
    for uid in range(3, 2000):
        guard.check(uid)
    clock.now += 60
    for uid in range(2000, 3000):
        guard.check(uid)
    assert len(guard._buckets) < 1200  # the first thousand idle users were pruned


def test_zero_per_minute_disables_the_throttle() -> None:
    guard = FloodGuard(burst=1, per_minute=0)
    assert all(guard.check(1) is Verdict.PASS for _ in range(100))


@pytest.fixture
async def flood_bot(db: Database, api) -> AsyncIterator[BotHarness]:  # type: ignore[no-untyped-def]
    """The real bot with a bucket that does not refill during the test (exact counts)."""
    harness = BotHarness(api, db, extra={"FLOOD_BURST": str(BURST), "FLOOD_PER_MINUTE": "1"})
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


def texts(bot: BotHarness, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in bot.api.sent(chat_id)]


async def test_three_hundred_messages_do_not_delay_someone_else(flood_bot: BotHarness) -> None:
    bot = flood_bot
    flooder, other = bot.person("Flo"), bot.person("Camille")
    updates = [bot.api.send_text(flooder.user, f"message {i}") for i in range(300)]
    theirs = bot.api.send_text(other.user, "bonjour")
    await bot.handled(theirs)
    sent_when_other_answered = len(bot.api.sent())
    for update in updates:
        await bot.handled(update)

    flood_texts = texts(bot, flooder.id)
    notices = [i for i, text in enumerate(flood_texts) if "Doucement" in text]
    assert len(notices) == 1, "exactly one notice"
    assert len(flood_texts) == BURST + 1 and notices == [BURST], "the burst is served, then one notice, then silence"
    assert "pas compris" in texts(bot, other.id)[0]
    # Ordering, not timing: the other person's answer went out before the flood's notice,
    # i.e. before the flooder's own burst was even through.
    everything = bot.api.sent()
    answer_index = next(i for i, m in enumerate(everything) if m["chat"]["id"] == other.id)
    notice_index = next(i for i, m in enumerate(everything) if m["chat"]["id"] == flooder.id and "Doucement" in (m.get("text") or ""))
    assert answer_index < notice_index
    assert sent_when_other_answered <= BURST
    assert bot.application.bot_data["flood_guard"].dropped == 300 - BURST


async def test_after_slowing_down_the_flooder_is_served_again(flood_bot: BotHarness) -> None:
    bot = flood_bot
    clock = Clock()
    bot.application.bot_data["flood_guard"].clock = clock
    flo = bot.person("Flo")
    for i in range(BURST + 5):
        await flo.send(f"message {i}")
    assert sum("Doucement" in t for t in texts(bot, flo.id)) == 1
    clock.now += 3600  # an hour later
    await flo.send("/aide")
    assert "Ce que vous pouvez faire" in flo.reply_text


async def test_coordinators_are_never_throttled(flood_bot: BotHarness) -> None:
    bot = flood_bot
    coordinator = bot.coordinator()
    for i in range(BURST + 10):
        await coordinator.send(f"note {i}")
    assert len(texts(bot, coordinator.id)) == BURST + 10
    assert not any("Doucement" in t for t in texts(bot, coordinator.id))


async def test_files_over_the_limit_are_refused_in_french(bot: BotHarness) -> None:
    camille = bot.person("Camille")
    await camille.send("/start")
    big = {"file_id": "BQACAgQAAxkBAAIBbig", "file_unique_id": "AgADbig", "file_name": "scanner.pdf",
           "mime_type": "application/pdf", "file_size": 48 * 1024 * 1024}
    message = {"message_id": 9001, "from": camille.user, "chat": {"id": camille.id, "type": "private", "first_name": "Camille"},
               "date": 1_700_000_000, "document": big}
    update = bot.api.push_update({"message": message})
    await bot.handled(update)
    assert "trop lourd (maximum 10 Mo)" in bot.api.sent(camille.id)[-1]["text"]


async def test_an_edited_message_is_not_taken_as_a_new_answer(bot: BotHarness) -> None:
    camille = bot.person("Camille")
    await camille.send("/start")
    before = len(bot.api.sent(camille.id))
    edited = {"message_id": 1, "from": camille.user, "chat": {"id": camille.id, "type": "private", "first_name": "Camille"},
              "date": 1_700_000_000, "edit_date": 1_700_000_100, "text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}
    update = bot.api.push_update({"edited_message": edited})
    await bot.handled(update)
    sent = bot.api.sent(camille.id)[before:]
    assert len(sent) == 1 and "modifié un message" in sent[0]["text"]
