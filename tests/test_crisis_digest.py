"""Digests: schedules, splitting under Telegram's limit, once per slot, by category and audience."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.crisis import digest
from storage import crisis as store
from storage.crisis_models import Bulletin
from storage.models import User, utcnow
from tests.harness import BotHarness
from tests.test_crisis_support import (  # noqa: F401  (fixtures)
    CHANNEL,
    add_professionals,
    crisis_manual,
    drain,
    services,
    text_of,
)

PARIS = ZoneInfo("Europe/Paris")


# -- schedules ----------------------------------------------------------------------------------
def test_schedules_are_read_in_french_or_english() -> None:
    assert digest.parse_schedule("lun 08:00") == [digest.Slot(0, 8, 0)]
    assert digest.parse_schedule("08:00, 18h") == [digest.Slot(None, 8, 0), digest.Slot(None, 18, 0)]
    assert digest.parse_schedule("vendredi 17h30; sunday 9") == [digest.Slot(4, 17, 30), digest.Slot(6, 9, 0)]
    assert digest.parse_schedule("") == []
    for bad in ("lundo 08:00", "25:00", "demain"):
        with pytest.raises(ValueError):
            digest.parse_schedule(bad)


def test_latest_and_next_slot_follow_paris_time_across_daylight_saving() -> None:
    weekly = digest.parse_schedule("lun 08:00")
    # Sunday 30 March 2025: clocks go forward; Monday 31 March 08:00 Paris is 06:00 UTC.
    tuesday = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    assert digest.latest_slot(weekly, tuesday, PARIS) == datetime(2025, 3, 31, 6, 0, tzinfo=UTC)
    assert digest.latest_slot(weekly, datetime(2025, 3, 28, 12, tzinfo=UTC), PARIS) == datetime(2025, 3, 24, 7, 0, tzinfo=UTC)
    assert digest.next_slot(weekly, tuesday, PARIS) == datetime(2025, 4, 7, 6, 0, tzinfo=UTC)
    crisis = digest.parse_schedule("08:00,18:00")
    evening = datetime(2025, 4, 1, 17, 30, tzinfo=UTC)  # 19:30 in Paris
    assert digest.latest_slot(crisis, evening, PARIS) == datetime(2025, 4, 1, 16, 0, tzinfo=UTC)
    assert digest.next_slot(crisis, evening, PARIS) == datetime(2025, 4, 2, 6, 0, tzinfo=UTC)
    assert digest.latest_slot([], evening, PARIS) is None


@given(
    st.lists(st.lists(st.text(max_size=700), min_size=1, max_size=30), min_size=1, max_size=6),
    st.integers(800, 4000),
)
def test_pack_keeps_every_item_whole_in_order_and_under_the_budget(sections: list[list[str]], budget: int) -> None:
    items = [[f"I{s}.{k}:{text}" for k, text in enumerate(texts)] for s, texts in enumerate(sections)]
    parts = digest.pack([(f"H{s}", f"H{s} (suite)", lines) for s, lines in enumerate(items)], budget)
    flat = [line for part in parts for line in part if line.startswith("I")]
    assert flat == [line for lines in items for line in lines]
    for part in parts:
        assert sum(digest.utf16_len(line) + 1 for line in part) <= budget
        first_item = next(line for line in part if line.startswith("I"))
        section = first_item[1 : first_item.index(".")]
        assert f"H{section}" in part or f"H{section} (suite)" in part  # a part never starts without its heading


# -- the job, end to end ------------------------------------------------------------------------
async def add_bulletins(bot: BotHarness, count: int, *, published_at: datetime) -> None:
    """Many bulletins with long titles, over every category; one for pharmacists only."""
    async with bot.db.begin() as session:
        for i in range(count):
            category = store.CATEGORIES[i % len(store.CATEGORIES)]
            audience = {"kind": "professions", "values": ["pharmacist"]} if i == 0 else {"kind": "all"}
            session.add(
                Bulletin(
                    category=category,
                    source=store.SOURCES[i % len(store.SOURCES)],
                    priority=store.PRIORITIES[i % 3],
                    title=f"Bulletin {i:02d} — " + "recommandation détaillée sur la conduite à tenir " * 2,
                    body="Texte.",
                    links=[f"https://www.ars.sante.fr/recommandation-{i}"],
                    audience=audience,
                    audience_count=0,
                    status="published",
                    lang="fr",
                    published_at=published_at,
                )
            )


def titles_in(text: str) -> list[str]:
    return re.findall(r"Bulletin (\d\d) —", text)


async def test_long_digest_is_split_cleanly_once_per_slot_and_personal_by_category(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    svc = services(bot)
    published = utcnow()
    ide, pharmacist, picky = await add_professionals(bot, 3)
    async with bot.db.begin() as session:
        (await session.get(User, pharmacist)).profession = "pharmacist"  # type: ignore[union-attr]
        await store.set_all_categories(session, picky, False)
        await store.toggle_category(session, picky, "shortage")
    await add_bulletins(bot, 60, published_at=published)
    slot = digest.next_slot(digest.parse_schedule(digest.DEFAULT_SCHEDULE), published, PARIS)
    assert slot is not None
    now = slot + timedelta(minutes=1)

    # Two processes (or a restart) racing for the same slot: one digest.
    first, second = await asyncio.gather(digest.run_digest(svc, now), digest.run_digest(svc, now))
    result = first or second
    assert result is not None and (first is None or second is None)
    assert result.bulletins == 60 and result.channel_messages >= 3
    await drain(bot)

    channel = [text_of(m) for m in bot.api.sent(CHANNEL)]
    assert len(channel) == result.channel_messages
    for i, text in enumerate(channel, start=1):
        assert len(text.encode("utf-16-le")) // 2 <= 4096
        assert f"({i}/{len(channel)})" in text.split("\n", 1)[0]
    numbers = [n for text in channel for n in titles_in(text)]
    assert sorted(numbers) == [f"{i:02d}" for i in range(60)]  # every item once, none cut
    assert "Épidémie" in channel[0] and any("(suite)" in text for text in channel)
    link = next(e for e in bot.api.sent(CHANNEL)[0]["entities"] if e["type"] == "text_link")
    assert link["url"].startswith("https://www.ars.sante.fr/recommandation-")

    def personal(uid: int) -> list[str]:
        return [n for m in bot.api.sent(uid) for n in titles_in(text_of(m))]

    assert "00" in personal(pharmacist) and "00" not in personal(ide)  # bulletin 00 is for pharmacists only
    assert len(personal(ide)) == 59
    shortage = {f"{i:02d}" for i in range(60) if store.CATEGORIES[i % 6] == "shortage"}
    assert set(personal(picky)) == shortage
    assert "Votre synthèse" in text_of(bot.api.sent(picky)[0]) and "/abonnements" in text_of(bot.api.sent(picky)[-1])

    # Same slot again: nothing. Next week with nothing new: nothing posted either.
    assert await digest.run_digest(svc, now + timedelta(hours=2)) is None
    quiet = await digest.run_digest(svc, now + timedelta(days=7))
    assert quiet is not None and quiet.bulletins == 0
    await drain(bot)
    assert len(bot.api.sent(CHANNEL)) == len(channel)


async def test_crisis_mode_digests_twice_a_day(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    svc = services(bot)
    await add_professionals(bot, 1)
    cell = bot.coordinator()
    await cell.send("/crise on")
    assert "Mode crise activé" in cell.reply_text
    published = utcnow()
    await add_bulletins(bot, 2, published_at=published)
    evening = digest.next_slot(digest.parse_schedule(digest.DEFAULT_CRISIS_SCHEDULE), published, PARIS)
    assert evening is not None and evening - published <= timedelta(hours=14)
    result = await digest.run_digest(svc, evening + timedelta(seconds=30))
    assert result is not None and result.bulletins == 2 and result.channel_messages == 1
    await drain(bot)
    texts = [text_of(m) for m in bot.api.sent(CHANNEL)]
    assert "Mode crise activé" in texts[0] and "Synthèse" in texts[1]


async def test_scheduled_crisis_kit_reaches_the_cell_chat_once(db, api) -> None:  # type: ignore[no-untyped-def]
    from tests.test_crisis_support import CELL_CHAT, crisis_harness

    bot = crisis_harness(api, db, background=False, DIGEST_KIT_SCHEDULE="lun 07:30")
    await bot.start()
    try:
        now = utcnow()
        assert await digest.run_kit(services(bot), now) is True
        assert await digest.run_kit(services(bot), now + timedelta(minutes=5)) is False  # same slot: done
        await drain(bot)
        files = api.files(CELL_CHAT)
        assert len(files) == 1 and files[0][0].startswith("kit-crise-") and files[0][1].startswith(b"%PDF")
        assert "envoi programmé" in (files[0][2] or "")
    finally:
        outbox = getattr(bot, "crisis_outbox", None)
        if outbox is not None:
            await outbox.close()
            await outbox.http.close()
        await bot.stop()
