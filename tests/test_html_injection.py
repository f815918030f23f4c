"""Text typed by people is shown as typed, never as formatting, in every feature that echoes it.

The fake Bot API parses HTML like Telegram: an unescaped `<b` or `&amp` makes the send fail
with "can't parse entities" (the bot would answer "Oups" or an outbox row would fail), and
an unescaped `<b>…</b>` would turn into bold and disappear from the plain text. So each
test types nasty strings through a real flow and checks they come back literally.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage import polls as polls_store
from storage.models import Group, Meeting, OutboxMessage, utcnow
from tests.harness import BotHarness, Person
from tests.test_coordination_e2e import first_session_text, seed_groups
from tests.test_crisis_support import CELL_CHAT, CHANNEL, crisis, publish, text_of  # noqa: F401  (fixture)

NAME = "<i>Dr</i> &lt;Zoé&gt; & <b"
LAST = "Mar<tin & fils"
TITLE = '<b>Gras</b> & <a href="http://evil.example">clic</a> <3 &amp'
THEME = "Théma <u>souligné</u> &copy; & co <"
PLACE = "Salle <A&B>, 3 rue <Foo>"
REPORT_TEXT = "Rupture de <stock> & tension sur l'<amoxicilline> &amp; <a href='x'>voir</a>"


def shown(haystack: list[str] | str, raw: str) -> bool:
    texts = [haystack] if isinstance(haystack, str) else haystack
    return any(raw in text for text in texts)


def chat_texts(bot: BotHarness, chat_id: int) -> list[str]:
    return [text_of(m) for m in bot.api.sent(chat_id)]


async def no_failures(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing failed: no error logged, no "Oups", no outbox row refused by Telegram."""
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [text for text in (text_of(m) for m in bot.api.sent()) if "Oups" in text]
    async with bot.db.begin() as session:
        failed = list(await session.scalars(select(OutboxMessage.last_error).where(OutboxMessage.status == "failed")))
    assert not failed


async def newcomer(bot: BotHarness, group: str) -> Person:
    pro = bot.person(NAME, last_name=LAST)
    await pro.send("/start")
    assert shown(pro.reply_text, NAME), pro.reply_text
    await pro.press("Infirmier")
    await pro.press(group)
    await pro.press("Terminé")
    return pro


async def test_names_titles_and_places_are_shown_as_typed(crisis: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot = crisis
    groups = await seed_groups(bot)
    async with bot.db.begin() as session:
        (await session.get(Group, groups["cpts-nord"])).name = "CPTS <Nord> & Meuse"
    coordinator = bot.coordinator()
    await coordinator.send("/nouvelle_rencontre")
    await coordinator.send(TITLE)
    await coordinator.send(THEME)
    await coordinator.press("CPTS <Nord> & Meuse")
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    await coordinator.send(PLACE)
    await coordinator.send("30")
    await coordinator.press("Terminer")
    assert shown(coordinator.reply_text, TITLE) and shown(coordinator.reply_text, "Salle <A&B>"), coordinator.reply_text
    await coordinator.press("Publier")
    assert "est publiée" in coordinator.reply_text and shown(coordinator.reply_text, TITLE)

    pro = await newcomer(bot, "CPTS <Nord> & Meuse")
    await pro.send("/profil")
    assert shown(pro.reply_text, f"{NAME} {LAST}") and shown(pro.reply_text, "CPTS <Nord> & Meuse"), pro.reply_text
    await pro.send("/rencontres")
    assert shown(pro.reply_text, TITLE) and shown(pro.reply_text, THEME) and shown(pro.reply_text, "3 rue <Foo>"), pro.reply_text
    await pro.press("S'inscrire")
    assert "Inscription confirmée" in pro.reply_text and shown(pro.reply_text, TITLE)
    await pro.send("/mesinscriptions")
    assert shown(pro.reply_text, TITLE)

    async with bot.db.begin() as session:
        meeting_id = await session.scalar(select(Meeting.id))
    await coordinator.send("/inscrits")
    await coordinator.press_data(f"co:ins:{meeting_id}")
    assert shown(coordinator.reply_text, TITLE), coordinator.reply_text
    csv_files = [content.decode("utf-8-sig", "replace") for _, content, _ in bot.api.files(coordinator.id)]
    assert any(NAME in content for content in csv_files)
    await coordinator.send("/lien")
    await coordinator.press_data(f"co:lnk:{meeting_id}")
    await no_failures(bot, caplog)


async def test_field_reports_reach_the_cell_as_typed(crisis: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot = crisis
    async with bot.db.begin() as session:
        session.add(Group(slug="g", name="GHT"))
    pro = await newcomer(bot, "GHT")
    await pro.send("/signaler")
    await pro.press_data("rp:cat:other")
    await pro.send("Saint-<Dizier> & Co")
    await pro.send(REPORT_TEXT)
    await pro.press_data("rp:skip:0")
    assert shown(pro.reply_text, REPORT_TEXT) or shown(pro.last_text, REPORT_TEXT), pro.last_text
    await pro.press_data("rp:send:0")
    card = await bot.api.wait_for(lambda m: m["chat"]["id"] == CELL_CHAT and "Saint-<Dizier>" in text_of(m))
    assert REPORT_TEXT in text_of(card) and NAME in text_of(card), text_of(card)
    cell = bot.coordinator()
    await cell.send("/signalements")
    assert shown(cell.reply_text, "Saint-<Dizier> & Co"), cell.reply_text
    await no_failures(bot, caplog)


async def test_bulletins_are_posted_as_typed(crisis: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot = crisis
    cell = bot.coordinator()
    body = "Consignes : <lire> & appliquer &amp; <b>vite</b>"
    await publish(cell, title=TITLE, body=body, links=None, priority="Important")
    assert "publié" in cell.last_text
    post = await bot.api.wait_for(lambda m: m["chat"]["id"] == CHANNEL and TITLE in text_of(m))
    assert body in text_of(post)
    await cell.send("/suivi")
    await no_failures(bot, caplog)


async def seed_polls(bot: BotHarness, voter: Person) -> dict[str, Any]:
    now = utcnow()
    async with bot.db.begin() as session:
        group = await session.scalar(select(Group).where(Group.slug == "g"))
        common: dict[str, Any] = {"audience": polls_store.Audience("group", group.id), "closes_at": now + timedelta(days=3), "created_by": None}
        quick, _ = await polls_store.create_poll(
            session, kind=polls_store.QUICK, question=TITLE, options=[polls_store.OptionDraft("<oui>"), polls_store.OptionDraft("non & <peut-être>")], **common
        )
        await polls_store.set_votes(session, quick, voter.id, [0], now)
        form, _ = await polls_store.create_poll(
            session, kind=polls_store.FORM, question="Bilan <2024> & suites", options=[polls_store.OptionDraft("Votre avis <libre> ?")], **common
        )
        await polls_store.save_form_answer(session, form, voter.id, form.options[0].id, text=REPORT_TEXT, now=now)
        return {"quick": quick.id, "form": form.id}


async def test_poll_questions_options_and_answers_are_shown_as_typed(crisis: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot = crisis
    async with bot.db.begin() as session:
        session.add(Group(slug="g", name="GHT"))
    voter = await newcomer(bot, "GHT")
    ids = await seed_polls(bot, voter)
    coordinator = bot.coordinator()
    await coordinator.send("/resultats")
    await coordinator.press_data(f"p:r:{ids['quick']}:0")
    assert shown(coordinator.reply_text, TITLE) and shown(coordinator.reply_text, "non & <peut-être>"), coordinator.reply_text
    await coordinator.send("/resultats")
    await coordinator.press_data(f"p:r:{ids['form']}:0")
    assert shown(coordinator.reply_text, "Bilan <2024> & suites"), coordinator.reply_text
    await no_failures(bot, caplog)
