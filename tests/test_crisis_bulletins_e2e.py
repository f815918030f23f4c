"""Crisis bulletins end to end: the real bot over HTTP against the fake Bot API, both databases."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from storage import crisis as store
from storage.crisis_models import Bulletin, BulletinAck
from storage.models import OutboxMessage, User
from tests.harness import BotHarness
from tests.test_crisis_support import (  # noqa: F401  (fixtures)
    CHANNEL,
    add_professionals,
    channel_texts,
    crisis,
    crisis_manual,
    drain,
    publish,
    text_of,
)


async def test_bulletin_is_posted_to_the_channel_with_its_file(crisis: BotHarness) -> None:
    cell = crisis.coordinator()
    await cell.send("/bulletin")
    await cell.press("Pénurie de produits de santé")
    await cell.press("ANSM")
    await cell.press("Important")
    await cell.send("Amoxicilline : dispensation à l'unité")
    await cell.send("Les pharmacies peuvent délivrer à l'unité les présentations en tension.")
    await cell.send("Voir https://ansm.sante.fr/amoxicilline et https://www.ameli.fr/tension.")
    update = crisis.api.send_document(cell.user, "fiche-ansm.pdf", b"%PDF-1.4 fiche", "application/pdf")
    await crisis.handled(update)
    assert "Pièce jointe ajoutée" in text_of(cell.messages()[-2]) and "remplace" in cell.last_text
    await cell.press("Non, c'est un nouveau bulletin")
    await cell.press("Des professions")
    await cell.press("Pharmacien")
    await cell.press("Valider")
    preview = cell.last_text
    assert "Aperçu" in preview and "Amoxicilline" in preview and "prochaine synthèse" in preview
    await cell.press("Publier")
    assert "Bulletin n° 1 publié" in cell.last_text

    post = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CHANNEL and "Amoxicilline" in text_of(m))
    assert "IMPORTANT" in post["text"] and "Source : ANSM" in post["text"]
    assert "https://ansm.sante.fr/amoxicilline" in post["text"] and "https://www.ameli.fr/tension" in post["text"]
    document = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CHANNEL and "document" in m)
    assert document["document"]["file_name"] == "fiche-ansm.pdf" and "n° 1" in document["caption"]
    async with crisis.db.begin() as session:
        bulletin = await session.get(Bulletin, 1)
        assert bulletin is not None and bulletin.audience == {"kind": "professions", "values": ["pharmacist"]}
        private = await session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == store.urgent_purpose(1)))
    assert private == 0  # not urgent: it waits for the digest


async def test_urgent_bulletin_to_500_with_answers_tracking_and_escalation(crisis_manual: BotHarness) -> None:
    bot = crisis_manual
    ids = await add_professionals(bot, 500)
    unreachable = ids[:20]
    for uid in unreachable:
        bot.api.block(uid)
    cell = bot.coordinator()
    await publish(cell, title="Cyberattaque au GHT : consignes", body="Plus de messagerie hospitalière : passez par le standard.")
    assert "500 professionnels" in cell.last_text
    # Routine work queued earlier must wait behind the urgent sends.
    async with bot.db.begin() as session:
        routine = OutboxMessage(purpose="routine:test", chat_id=ids[-1], payload={"text": "routine"}, priority=8)
        session.add(routine)
    start = len(bot.api.sent())
    await drain(bot)

    sent = bot.api.sent()[start:]
    delivered = [m for m in sent if "Cyberattaque au GHT" in text_of(m) and m["chat"]["id"] != CHANNEL]
    assert len(delivered) == 480
    assert sent[0]["chat"]["id"] == CHANNEL  # the channel post goes first
    routine_at = next(i for i, m in enumerate(sent) if text_of(m) == "routine")
    assert routine_at > 400  # queued before the bulletin, sent behind (nearly) all its urgent messages

    # 200 say "Bien reçu", 50 "Non concerné", all pressed at once.
    by_chat = {m["chat"]["id"]: m for m in delivered}
    users = {uid: bot.api.store.users[uid] for uid in ids}
    updates = []
    for uid in ids[20:220]:
        updates.append(bot.api.press(users[uid], by_chat[uid], "ca:ok:1"))
    for uid in ids[220:270]:
        updates.append(bot.api.press(users[uid], by_chat[uid], "ca:no:1"))
    await asyncio.gather(*(bot.handled(u) for u in updates))
    assert "Vous avez répondu « Bien reçu »" in text_of(bot.api.messages(ids[20])[-1])
    assert not bot.api.messages(ids[20])[-1].get("reply_markup")

    await cell.send("/suivi 1")
    report = cell.reply_text
    for expected in ("Public : 500", "Remis : 480", "Bien reçu : 200", "Non concerné : 50", "Sans réponse : 230", "Injoignables : 20"):
        assert expected in report, report

    # Escalation in 30 minutes: planned for the 230, then two of them answer meanwhile.
    await cell.press("Dans 30 min")
    assert "prévue" in cell.reply_text and "230 professionnels" in cell.reply_text
    late = [bot.api.press(users[uid], by_chat[uid], "ca:ok:1") for uid in ids[270:272]]
    await asyncio.gather(*(bot.handled(u) for u in late))
    async with bot.db.begin() as session:
        planned = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == "bulletin:1:relance:1", OutboxMessage.status == "pending")
        )
    assert planned == 228

    # Escalation now: only the 228 still silent get a reminder (with the answer buttons).
    before = len(bot.api.sent())
    await cell.send("/relancer 1")
    assert "228 professionnels" in cell.reply_text
    await drain(bot)
    reminders = [m for m in bot.api.sent()[before:] if "Rappel" in text_of(m)]
    assert len(reminders) == 228
    assert {m["chat"]["id"] for m in reminders} == set(ids[272:])
    assert reminders[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ca:ok:1"

    await cell.send("/suivi")
    assert "Bien reçu : 202" in cell.reply_text and "Relance 2" in cell.reply_text
    async with bot.db.begin() as session:
        answers = await session.scalar(select(func.count()).select_from(BulletinAck).where(BulletinAck.bulletin_id == 1))
        gone = await session.scalar(select(func.count()).select_from(User).where(User.unreachable_at.is_not(None)))
    assert answers == 252 and gone == 20


async def test_replaced_bulletin_edits_the_old_channel_post(crisis: BotHarness) -> None:
    cell = crisis.coordinator()
    await publish(cell, priority="Info", title="Vaccination grippe : créneaux en officine", links=None)
    first = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CHANNEL and "Vaccination grippe" in text_of(m))
    await publish(cell, priority="Info", title="Vaccination grippe : nouveaux créneaux", links=None, replaces="n° 1")
    assert "remplacé" in cell.last_text
    second = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CHANNEL and "nouveaux créneaux" in text_of(m))
    assert "Remplace le bulletin n° 1" in second["text"]
    await crisis.api.wait_for_call(lambda method, params: method == "editMessageText" and params.get("chat_id") == CHANNEL, timeout=10)
    old = next(m for m in crisis.api.messages(CHANNEL) if m["message_id"] == first["message_id"])
    assert old["text"].startswith("⚠️ Ce bulletin n'est plus en vigueur : il est remplacé par le bulletin n° 2")
    link = next(e for e in old["entities"] if e["type"] == "text_link")
    assert link["url"] == f"https://t.me/c/1234567890/{second['message_id']}"
    async with crisis.db.begin() as session:
        assert [b.id for b in await store.in_force(session)] == [2]


async def test_plain_member_is_refused_every_crisis_command_and_forged_button(crisis: BotHarness) -> None:
    cell = crisis.coordinator()
    await publish(cell, priority="Urgent", title="Épidémie : consignes")
    camille = crisis.person("Camille")
    await camille.onboard("Infirmier")
    for command in ("/bulletin", "/suivi 1", "/relancer 1", "/crise on", "/signalements", "/kit_crise", "/cellule 900001"):
        await camille.send(command)
        assert "Rien n'a été modifié" in camille.reply_text, (command, camille.reply_text)
    await camille.send("/aide")
    forged = ("cb:pub:0", "cb:cat:epidemic", "cv:now:1:0", "cv:in:1:30", "cv:ref:1:0", "cr:done:1", "cr:ans:1")
    for data in forged:
        await camille.press_data(data, message=camille.messages()[-1])
        assert "réservée à la cellule de crise" in camille.reply_text, (data, camille.reply_text)
    # Answer buttons of a bulletin that was not sent to her (she onboarded after it).
    await camille.press_data("ca:ok:1", message=camille.messages()[-1])
    assert "ne vous a pas été adressé" in camille.reply_text
    async with crisis.db.begin() as session:
        assert (await store.crisis_mode(session))["on"] is False
        bulletin = await session.get(Bulletin, 1)
        assert bulletin is not None and bulletin.escalations == 0
        assert await session.scalar(select(func.count()).select_from(BulletinAck)) == 0
        assert await session.scalar(select(func.count()).select_from(Bulletin)) == 1
        user = await session.get(User, camille.id)
        assert user is not None and not user.is_crisis_cell


async def test_cell_member_appointed_by_coordinator_can_publish_and_switch_crisis_mode(crisis: BotHarness) -> None:
    coordinator = crisis.coordinator()
    alex = crisis.person("Alex", username="alex_ars")
    await alex.onboard("Médecin généraliste")
    await coordinator.send("/cellule @alex_ars")
    assert "fait maintenant partie de la cellule de crise" in coordinator.reply_text
    await crisis.api.wait_for(lambda m: m["chat"]["id"] == alex.id and "cellule de crise" in text_of(m))
    await alex.send("/crise on")
    assert "Mode crise activé" in alex.reply_text
    announce = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CHANNEL and "Mode crise activé" in text_of(m))
    assert "matin et soir" in announce["text"]
    await alex.send("/crise")
    assert "mode crise" in alex.reply_text and ("2026, 8 h." in alex.reply_text or ", 18 h." in alex.reply_text)
    await publish(alex, priority="Important", title="Organisation des gardes", links=None)
    assert "Bulletin n° 1 publié" in alex.last_text
