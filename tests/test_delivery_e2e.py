"""Crisis and delivery paths never lie and never lose: a channel that refuses the bot, no channel
at all, a group upgraded to a supergroup, a replaced bulletin, reports filed before the crisis
cell exists, and the screens the cell acts from (/suivi, /envois, the crisis kit).

The real bot over HTTP against the fake Bot API, on SQLite and PostgreSQL. The outbox is
drained by hand (`crisis_manual`) so each test sees exactly what left, and when.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.sample_data import load_samples
from storage.chats import current_chat_id
from storage.crisis_models import FieldReport
from storage.db import Database
from storage.models import ChatMove, Group, OutboxMessage, User, utcnow
from tests.harness import BotHarness, Person
from tests.test_crisis_support import (  # noqa: F401  (fixtures)
    CELL_CHAT,
    CHANNEL,
    add_professionals,
    crisis_harness,
    crisis_manual,
    drain,
    press_in_chat,
    publish,
    services,
    stop_manual,
    text_of,
)


def texts(bot: BotHarness, chat_id: int) -> list[str]:
    return [text_of(m) for m in bot.api.messages(chat_id)]


def buttons(message: dict[str, Any]) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def unreachable_people(bot: BotHarness) -> int:
    async with bot.db.begin() as session:
        return int(
            await session.scalar(select(func.count()).select_from(User).where(User.unreachable_at.is_not(None))) or 0
        )


async def calls_to(bot: BotHarness, chat_id: int, method: str = "sendMessage") -> int:
    return sum(1 for name, params in bot.api.calls if name == method and params.get("chat_id") == chat_id)


# -- 1. the channel refuses the post ----------------------------------------------------------------
async def test_a_channel_that_refuses_the_bot_is_told_shown_and_posted_once_the_bot_is_back(
    crisis_manual: BotHarness,
) -> None:
    bot = crisis_manual
    await add_professionals(bot, 3)
    cell = bot.coordinator()
    await cell.send("/aide")
    # An administrator removes the bot from the channel: the cell hears of it at once.
    await bot.handled(bot.api.set_bot_status(CHANNEL, "left", cell.user))
    await drain(bot)
    assert any("Le bot a été retiré du canal de crise" in t for t in texts(bot, CELL_CHAT)), texts(bot, CELL_CHAT)

    await publish(cell, title="Rupture d'amoxicilline : consignes")
    assert "Bulletin n° 1 publié" in cell.last_text and "envoi au canal en cours" in cell.last_text
    await drain(bot)
    assert not [t for t in texts(bot, CHANNEL) if "amoxicilline" in t]
    notice = next(m for m in bot.api.messages(CELL_CHAT) if "n'a pas été posté dans le canal" in text_of(m))
    assert "Bulletin n° 1" in text_of(notice) or "bulletin n° 1" in text_of(notice)
    assert "le bot n'en est pas membre" in text_of(notice)
    assert any("Republier" in b for b in buttons(notice))
    assert await unreachable_people(bot) == 0  # a channel's 403 never marks a person unreachable
    assert len([m for m in bot.api.sent() if m["chat"]["id"] > 0 and "amoxicilline" in text_of(m)]) == 3

    await cell.send("/suivi 1")
    assert "Canal : ⚠️ refusé" in cell.reply_text and "le bot n'en est pas membre" in cell.reply_text, cell.reply_text
    assert any("Republier" in label for label, _ in cell.buttons())
    await cell.send("/envois")
    assert "n° 1 Rupture d'amoxicilline" in cell.reply_text and "3 destinataires" in cell.reply_text
    assert "Canal de crise : ⚠️ refusé" in cell.reply_text, cell.reply_text

    # "Republier" while the bot is still out: refused again, and said again.
    await press_in_chat(bot, cell, notice, "Republier")
    await drain(bot)
    assert not [t for t in texts(bot, CHANNEL) if "amoxicilline" in t]
    assert len([m for m in bot.api.sent(CELL_CHAT) if "n'a pas été posté dans le canal" in text_of(m)]) == 2
    assert "Suivi du bulletin n° 1" in text_of(bot.api.messages(CELL_CHAT)[1])  # the pressed notice now shows /suivi

    # The bot is made administrator again: the post goes out by itself, once.
    await bot.handled(bot.api.set_bot_status(CHANNEL, "administrator", cell.user))
    await drain(bot)
    assert len([t for t in texts(bot, CHANNEL) if "amoxicilline" in t]) == 1
    assert any("de nouveau accès" in t for t in texts(bot, CELL_CHAT))
    # Pressing "Republier" on the second notice, or the bot re-added twice: still one post.
    second = [m for m in bot.api.messages(CELL_CHAT) if "n'a pas été posté dans le canal" in text_of(m)][-1]
    await press_in_chat(bot, cell, second, "Republier")
    await bot.handled(bot.api.set_bot_status(CHANNEL, "administrator", cell.user))
    await drain(bot)
    assert len([t for t in texts(bot, CHANNEL) if "amoxicilline" in t]) == 1
    assert "déjà posté" in bot.api.callback_answers[max(bot.api.callback_answers)]["text"]
    await cell.send("/suivi 1")
    assert "Canal : ✅" in cell.reply_text and "posté" in cell.reply_text


async def test_a_channel_id_telegram_does_not_know_is_said_and_the_post_follows_once_the_channel_exists(
    db: Database, api: Any
) -> None:
    lost = -1005550000001  # a typo in CRISIS_CHANNEL_ID, or a channel the bot was never added to
    bot = crisis_harness(api, db, background=False, channel=lost)
    await bot.start()
    try:
        cell = bot.coordinator()
        await publish(cell, priority="Important", title="Pénurie de sérum physiologique", links=None)
        await drain(bot)
        notice = next(m for m in bot.api.messages(CELL_CHAT) if "n'a pas été posté dans le canal" in text_of(m))
        assert "discussion introuvable" in text_of(notice)
        await cell.send("/suivi 1")  # an "important" bulletin: /suivi shows its channel post too
        assert "Canal : ⚠️ refusé" in cell.reply_text and "discussion introuvable" in cell.reply_text
        assert "Bien reçu" not in cell.reply_text
        # The channel is created and the bot made administrator there: the post goes out, once.
        api.add_chat(lost, "channel", "Relais Santé — canal de crise")
        api.set_member(lost, api.bot_user["id"], "left")
        await bot.handled(api.set_bot_status(lost, "administrator", cell.user))
        await drain(bot)
        assert [t for t in texts(bot, lost) if "sérum physiologique" in t] != []
        assert len([t for t in texts(bot, lost) if "sérum physiologique" in t]) == 1
        assert await unreachable_people(bot) == 0
    finally:
        await stop_manual(bot)


async def test_a_replacement_refused_by_the_channel_still_edits_the_old_post_once_it_goes_out(
    crisis_manual: BotHarness,
) -> None:
    bot = crisis_manual
    cell = bot.coordinator()
    await publish(cell, priority="Info", title="Vaccination grippe : créneaux en officine", links=None)
    await drain(bot)
    first = next(m for m in bot.api.messages(CHANNEL) if "Vaccination grippe" in text_of(m))
    await bot.handled(bot.api.set_bot_status(CHANNEL, "left", cell.user))
    await publish(cell, priority="Info", title="Vaccination grippe : nouveaux créneaux", links=None, replaces="n° 1")
    await drain(bot)
    assert not any("nouveaux créneaux" in t for t in texts(bot, CHANNEL))
    await bot.handled(bot.api.set_bot_status(CHANNEL, "administrator", cell.user))
    await drain(bot)
    await drain(bot)
    second = next(m for m in bot.api.messages(CHANNEL) if "nouveaux créneaux" in text_of(m))
    old = next(m for m in bot.api.messages(CHANNEL) if m["message_id"] == first["message_id"])
    assert old["text"].startswith("⚠️ Ce bulletin n'est plus en vigueur : il est remplacé par le bulletin n° 2")
    link = next(e for e in old["entities"] if e["type"] == "text_link")
    assert link["url"] == f"https://t.me/c/1234567890/{second['message_id']}"


# -- 2. no channel configured ------------------------------------------------------------------------
async def test_without_a_channel_the_cell_is_told_nothing_was_posted_or_announced(db: Database, api: Any) -> None:
    bot = crisis_harness(api, db, background=False, channel=None)
    await bot.start()
    try:
        cell = bot.coordinator()
        await publish(cell, priority="Info", title="Campagne de vaccination en officine", links=None, confirm=False)
        assert "Aucun canal de crise n'est configuré" in cell.last_text  # the preview warned already
        await cell.press("Publier")
        assert "Bulletin n° 1 enregistré" in cell.last_text and "pas posté" in cell.last_text
        assert "publié dans le canal" not in cell.last_text and "envoi au canal" not in cell.last_text
        await cell.send("/crise on")
        assert "Mode crise activé" in cell.reply_text and "Rien n'a été annoncé" in cell.reply_text
        assert "annoncé dans le canal" not in cell.reply_text and "l'annonce part" not in cell.reply_text
        await cell.send("/crise off")
        assert "Mode crise levé" in cell.reply_text and "Rien n'a été annoncé" in cell.reply_text
        await cell.send("/suivi 1")
        assert "aucun canal de crise configuré" in cell.reply_text
        async with db.begin() as session:
            queued = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.chat_id < 0)
            )
        assert queued == 0
    finally:
        await stop_manual(bot)


# -- 3. a group upgraded to a supergroup ------------------------------------------------------------
async def file_report(person: Person, commune: str, text: str) -> None:
    await person.send("/signaler")
    await person.press("Épidémie")
    await person.send(commune)
    await person.send(text)
    await person.press("Pas de pièce jointe")
    await person.press("Envoyer")


async def test_the_cell_chat_upgraded_to_a_supergroup_gets_the_refused_card_and_everything_after(
    db: Database, api: Any
) -> None:
    old = -4518810793  # a basic group: CRISIS_CELL_CHAT_ID, and a group's linked chat
    api.add_chat(old, "group", "Cellule de crise 52")
    bot = crisis_harness(api, db, background=False, cell_chat=False, CRISIS_CELL_CHAT_ID=str(old))
    await bot.start()
    try:
        async with db.begin() as session:
            session.add(
                Group(slug="coordos-52", name="Coordinateurs de Haute-Marne (52)", kind="coordination", chat_id=old)
            )
        sam = bot.person("Sam")
        await sam.onboard("Infirmier")
        await file_report(sam, "Chaumont", "Dix cas de gastro-entérite à l'EHPAD depuis hier.")
        assert "transmis à la cellule" in sam.last_text
        cell = bot.coordinator()
        # The group becomes a supergroup; the bot has not seen the service messages yet.
        new, held = api.migrate_to_supergroup(old, cell.user, announce=False)
        await drain(bot)
        card = next(m for m in api.messages(new) if "Signalement n° 1" in text_of(m))
        assert "Chaumont" in text_of(card) and await calls_to(bot, old) == 1
        async with db.begin() as session:
            assert await session.scalar(select(Group.chat_id)) == new
            assert (await session.get(ChatMove, old)).new_chat_id == new  # type: ignore[union-attr]
        # What comes next goes straight to the new id (CRISIS_CELL_CHAT_ID still says the old one).
        await file_report(sam, "Langres", "Rupture de vaccins antigrippaux à la pharmacie.")
        await drain(bot)
        assert any("Signalement n° 2" in t for t in texts(bot, new)) and await calls_to(bot, old) == 1
        # The service messages arrive late: nothing moves twice, nothing is sent twice.
        for update in held:
            await bot.handled(api.push_update(update))
        await drain(bot)
        assert len([t for t in texts(bot, new) if "Signalement n° " in t]) == 2
        await press_in_chat(bot, cell, card, "Traité")
        assert "Traité par Dominique" in text_of(api.messages(new)[0])
    finally:
        await stop_manual(bot)


async def test_a_configured_channel_that_became_a_supergroup_is_followed_after_its_service_message(
    db: Database, api: Any
) -> None:
    old = -4000000123  # CRISIS_CHANNEL_ID pointing to a basic group (used as the crisis "channel")
    api.add_chat(old, "group", "Relais Santé — alertes")
    bot = crisis_harness(api, db, background=False, channel=old)
    await bot.start()
    try:
        cell = bot.coordinator()
        new, updates = api.migrate_to_supergroup(old, cell.user)
        for update in updates:
            await bot.handled(update)
        async with db.begin() as session:
            assert await current_chat_id(session, old) == new
        await publish(cell, priority="Important", title="Canicule : plan bleu activé", links=None)
        await cell.send("/crise on")
        await drain(bot)
        shown = texts(bot, new)
        assert any("Canicule" in t for t in shown) and any("Mode crise activé" in t for t in shown)
        assert await calls_to(bot, old) == 0
        await cell.send("/suivi 1")
        assert "Canal : ✅" in cell.reply_text
    finally:
        await stop_manual(bot)


# -- 4. a replaced urgent bulletin -------------------------------------------------------------------
async def test_a_replaced_urgent_bulletin_is_no_longer_escalated_and_says_so(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    ids = await add_professionals(bot, 4)
    cell = bot.coordinator()
    await publish(cell, title="Eau non potable à Bar-le-Duc")
    await drain(bot)
    first = {m["chat"]["id"]: m for m in bot.api.sent() if m["chat"]["id"] > 0 and "Eau non potable" in text_of(m)}
    await bot.handled(bot.api.press(bot.api.store.users[ids[0]], first[ids[0]], "ca:ok:1"))
    await cell.send("/relancer 1 30")
    assert "3 professionnels" in cell.reply_text and "prévue" in cell.reply_text
    old_tracking = await cell.send("/suivi 1")

    await publish(cell, title="Eau potable rétablie à Bar-le-Duc, sauf quartier gare", replaces="n° 1")
    assert "relances prévues sont annulées" in cell.last_text
    async with bot.db.begin() as session:
        planned = (
            await session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.purpose == "bulletin:1:relance:1")
                .group_by(OutboxMessage.status)
            )
        ).all()
    assert dict(planned) == {"skipped": 3}

    await cell.send("/relancer 1")
    assert "remplacé par le n° 2" in cell.reply_text and "/relancer 2" in cell.reply_text
    await cell.press_data("cv:now:1:0", message=old_tracking[-1])  # the buttons of the old /suivi
    assert "remplacé par le n° 2" in cell.reply_text
    async with bot.db.begin() as session:
        rounds = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose.like("bulletin:1:relance:%"))
        )
    assert rounds == 3  # the cancelled round only: no new one

    await cell.send("/suivi 1")
    text = cell.reply_text
    assert "Remplacé par le bulletin n° 2" in text and "Relance 1" in text and "annulée" in text, text
    assert not any("Relancer" in label for label, _ in cell.buttons())
    before = len(bot.api.sent())
    await drain(bot)
    assert not [m for m in bot.api.sent()[before:] if "Rappel" in text_of(m) and "Eau non potable" in text_of(m)]


# -- 5. field reports filed before the crisis cell exists ---------------------------------------------
async def test_reports_filed_before_the_cell_exists_reach_it_when_it_forms(db: Database, api: Any) -> None:
    bot = crisis_harness(api, db, background=False, cell_chat=False)
    await bot.start()
    try:
        sam = bot.person("Sam")
        await sam.onboard("Kinésithérapeute")
        await file_report(sam, "Saint-Dizier", "Cabinet inondé, patients réorientés vers Wassy.")
        assert "pas encore constituée" in sam.last_text and "transmis dès qu'elle le sera" in sam.last_text
        await drain(bot)
        assert not [m for m in api.sent() if "Signalement n° 1" in text_of(m)]

        # The first coordinator to look sees it, with the buttons to act on it.
        cell = bot.coordinator()
        await cell.send("/signalements")
        assert "dont 1 à traiter" in cell.reply_text
        card = next(m for m in cell.replies if "Signalement n° 1" in text_of(m))
        assert "Saint-Dizier" in text_of(card) and buttons(card) == ["✍️ Répondre", "✅ Traité"], buttons(card)

        # The cell forms: its first member receives the waiting report, buttons included.
        alex = bot.person("Alex", username="alex_ars")
        await alex.onboard("Médecin généraliste")
        await cell.send("/cellule @alex_ars")
        assert "1 signalement en attente a été transmis" in cell.reply_text
        await drain(bot)
        received = next(m for m in api.messages(alex.id) if "Signalement n° 1" in text_of(m))
        assert buttons(received) == ["✍️ Répondre", "✅ Traité"]
        await alex.press("Traité", message=received)
        assert "Traité par Alex" in alex.last_text
        await drain(bot)
        assert any("pris en charge" in text_of(m) for m in api.messages(sam.id))
        # Once delivered, a report is never delivered again (the next member does not get old news twice).
        await drain(bot)
        assert len([m for m in api.sent(alex.id) if "Signalement n° 1" in text_of(m)]) == 1
    finally:
        await stop_manual(bot)


async def test_a_report_the_cell_chat_refused_goes_to_the_chat_once_the_bot_is_added(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    cell = bot.coordinator()
    bot.api.set_member(CELL_CHAT, bot.api.bot_user["id"], "left")  # CRISIS_CELL_CHAT_ID set, bot not added yet
    sam = bot.person("Sam")
    await sam.onboard("Infirmier")
    await file_report(sam, "Troyes", "Plus de masques FFP2 au cabinet infirmier.")
    await drain(bot)
    assert not texts(bot, CELL_CHAT)
    async with bot.db.begin() as session:
        report = await session.get(FieldReport, 1)
    assert report is not None and report.status == "open"
    await bot.handled(bot.api.set_bot_status(CELL_CHAT, "administrator", cell.user))
    await drain(bot)
    await drain(bot)
    cards = [t for t in texts(bot, CELL_CHAT) if "Signalement n° 1" in t]
    assert len(cards) == 1 and "Troyes" in cards[0]


async def test_when_the_cell_chat_refuses_the_bot_its_members_get_the_news_privately(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    cell = bot.coordinator()
    await cell.send("/aide")  # the coordinator is known to the bot: a cell member it can write to
    await bot.handled(bot.api.set_bot_status(CELL_CHAT, "kicked", cell.user))
    await drain(bot)
    assert any("retiré de la discussion de la cellule" in text_of(m) for m in bot.api.messages(cell.id))
    sam = bot.person("Sam")
    await sam.onboard("Infirmier")
    await file_report(sam, "Vitry-le-François", "Coupure d'électricité à la maison de santé depuis 8 h.")
    await drain(bot)
    await drain(bot)
    card = next(m for m in bot.api.messages(cell.id) if "Signalement n° 1" in text_of(m))
    assert buttons(card) == ["✍️ Répondre", "✅ Traité"] and await unreachable_people(bot) == 0
    await cell.press("Traité", message=card)
    assert "Traité par Dominique" in cell.last_text


# -- 6. the screens the crisis cell acts from ---------------------------------------------------------
async def test_suivi_names_who_to_call_with_the_phone_they_shared(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    async with bot.db.begin() as session:
        await load_samples(session, now=utcnow())
    noa = bot.person("Noa", last_name="Martin")
    eli = bot.person("Eli", last_name="Durand")
    lou = bot.person("Lou", last_name="Bernard")
    kim = bot.person("Kim", last_name="Petit")
    for person, profession in ((noa, "Sage-femme"), (eli, "Infirmier"), (lou, "Pharmacien"), (kim, "Kinésithérapeute")):
        await person.onboard(profession, ("GHT Cœur Grand Est",))
    await noa.send("/telephone 06 12 34 56 78")
    bot.api.block(kim.id)
    cell = bot.coordinator()
    await publish(cell, title="Plan blanc : rappel des personnels")
    await drain(bot)
    received = next(m for m in bot.api.messages(lou.id) if "Plan blanc" in text_of(m))
    await lou.press("Bien reçu", message=received)
    await cell.send("/suivi 1")
    text = cell.reply_text
    assert "Sans réponse (2) : à appeler" in text, text
    assert "• Eli Durand — Infirmier diplômé d'État" in text or "• Eli Durand — Infirmier" in text
    assert "• Noa Martin — Sage-femme — 📞 06 12 34 56 78" in text
    assert "Injoignable par le bot (1)" in text and "• Kim Petit — " in text
    assert "Lou Bernard" not in text  # she acknowledged


async def test_envois_counts_people_not_messages(crisis_manual: BotHarness) -> None:
    from tests.polls_support import create_quick_poll, seed_group

    bot = crisis_manual
    _, people = await seed_group(bot)
    bot.api.block(people[2].id)
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator)
    await coordinator.press("Envoyer")
    await drain(bot)  # each person gets two messages: who asks, then the poll itself
    async with bot.db.begin() as session:
        rows = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.send_id.is_not(None))
        )
    assert rows == 6
    await coordinator.send("/envois")
    text = coordinator.reply_text
    assert "3 destinataires" in text and "✅ 2 envoyés" in text and "🚫 1 injoignable" in text, text


async def test_the_crisis_kit_lists_full_names_and_professions(crisis_manual: BotHarness) -> None:
    from tests.pdf_text import pdf_text

    bot = crisis_manual
    async with bot.db.begin() as session:
        await load_samples(session, now=utcnow())
    noa = bot.person("Noa", last_name="Martin-Lefèvre")
    await noa.onboard("Sage-femme", ("GHT Cœur Grand Est",))
    await noa.send("/telephone 06 12 34 56 78")
    eli = bot.person("Eli", last_name="Durand")
    await eli.onboard("Infirmier", ("GHT Cœur Grand Est",))
    cell = bot.coordinator()
    await cell.send("/kit_crise")
    name, content, _ = bot.api.files(cell.id)[-1]
    printed = pdf_text(content)
    assert "Noa Martin-Lefèvre" in printed and "Eli Durand" in printed, printed
    assert "Sage-femme" in printed and "06 12 34 56 78" in printed
