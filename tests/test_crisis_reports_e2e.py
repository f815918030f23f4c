"""Field reports, the crisis cell's answers, /signalements, /telephone, /abonnements, /kit_crise."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from handlers.crisis.crisis_kit import gather
from bot.sample_data import load_samples
from storage import crisis as store
from storage.crisis_models import FieldReport
from storage.db import Database
from storage.models import Dialog, User, utcnow
from tests.harness import BotHarness
from tests.test_crisis_support import (  # noqa: F401  (fixtures)
    CELL_CHAT,
    crisis,
    crisis_harness,
    press_in_chat,
    publish,
    services,
    text_of,
    tiny_png,
)

NIR_SPACED = "1 84 12 76 451 089 46"  # key 46 checks: 97 - 1841276451089 mod 97


async def count_reports(bot: BotHarness) -> int:
    async with bot.db.begin() as session:
        return int(await session.scalar(select(func.count()).select_from(FieldReport)) or 0)


async def test_report_with_a_social_security_number_is_refused_and_nothing_is_stored(crisis: BotHarness) -> None:
    camille = crisis.person("Camille")
    await camille.onboard("Infirmier")
    await camille.send("/signaler")
    assert "Aucune donnée patient" in camille.reply_text
    await camille.press("Épidémie")
    await camille.send("Bar-le-Duc")
    await camille.send(f"Patiente suivie, NIR {NIR_SPACED}, fièvre depuis trois jours")
    assert "numéro de sécurité sociale" in camille.reply_text and "je ne l'ai pas enregistré" in camille.reply_text
    await camille.send("Mme Dupont née le 12/03/1954 présente les mêmes signes")
    assert "date de naissance" in camille.reply_text
    async with crisis.db.begin() as session:
        dialog = await session.get(Dialog, (camille.id, camille.id))
        assert dialog is not None and dialog.step == "text"
        assert "451" not in str(dialog.data) and "Dupont" not in str(dialog.data)
    assert await count_reports(crisis) == 0
    assert not [m for m in crisis.api.sent(CELL_CHAT)]
    # Rephrased without patient data, it goes through.
    await camille.send("Cinq cas de syndrome grippal en EHPAD cette semaine")
    await camille.press("Pas de pièce jointe")
    await camille.press("Envoyer")
    assert "Signalement n° 1 transmis" in camille.last_text
    card = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CELL_CHAT and "Signalement n° 1" in text_of(m))
    assert "Bar-le-Duc" in card["text"] and "EHPAD" in card["text"] and "Camille" in card["text"]


async def test_shortage_report_reaches_the_cell_which_answers_and_closes_it(crisis: BotHarness) -> None:
    lou = crisis.person("Lou")
    await lou.onboard("Pharmacien")
    await lou.send("/signaler")
    await lou.press("Pénurie de produits de santé")
    await lou.send("verdun")
    await lou.send("Amoxicilline 500 mg gélules")
    await lou.send("Pharmacie du Centre")
    await lou.press("Rupture")
    await lou.send("Plus aucune boîte depuis lundi, grossiste sans date de retour.")
    update = crisis.api.send_photo(lou.user, tiny_png(), caption="Étagère vide")
    await crisis.handled(update)
    assert "Envoyer" in str(lou.buttons())
    await lou.press("Envoyer")

    card = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CELL_CHAT and "Signalement n° 1" in text_of(m))
    for expected in ("Verdun", "Amoxicilline 500 mg", "Pharmacie du Centre", "Rupture", "Pharmacien"):
        assert expected in card["text"], expected
    photo = await crisis.api.wait_for(lambda m: m["chat"]["id"] == CELL_CHAT and "photo" in m)
    assert "signalement n° 1" in photo["caption"]

    cell = crisis.coordinator()
    await cell.send("/aide")
    await press_in_chat(crisis, cell, card, "Répondre")
    assert "Votre réponse au signalement n° 1 de Lou" in cell.last_text
    await cell.send("Merci Lou : l'ARS autorise la dispensation à l'unité, un dépannage arrive demain.")
    assert "Réponse au signalement n° 1 envoyée" in cell.reply_text
    answer = await crisis.api.wait_for(lambda m: m["chat"]["id"] == lou.id and "Réponse de la cellule de crise" in text_of(m))
    assert "dépannage arrive demain" in answer["text"] and "Verdun" in answer["text"]

    await press_in_chat(crisis, cell, crisis.api.messages(CELL_CHAT)[0], "Traité")
    shown = crisis.api.messages(CELL_CHAT)[0]
    assert "Traité par Dominique" in shown["text"]
    await crisis.api.wait_for(lambda m: m["chat"]["id"] == lou.id and "pris en charge" in text_of(m))

    await cell.send("/signalements")
    summary = cell.reply_text
    assert "1, dont 0 à traiter" in summary and "Pénurie de produits de santé : 1" in summary and "Verdun : 1" in summary


async def test_without_a_cell_chat_reports_go_to_each_cell_member(db: Database, api: Any) -> None:
    bot = crisis_harness(api, db, background=True, cell_chat=False)
    await bot.start()
    try:
        member = bot.person("Alex", username="alex_cell")
        await member.onboard("Médecin généraliste")
        coordinator = bot.coordinator()
        await coordinator.send("/cellule @alex_cell")
        sam = bot.person("Sam")
        await sam.onboard("Kinésithérapeute")
        await sam.send("/signaler")
        await sam.press("Cyberattaque")
        await sam.send("Saint-Dizier")
        await sam.send("Messagerie sécurisée du GHT inaccessible depuis 9 h.")
        await sam.press("Pas de pièce jointe")
        await sam.press("Envoyer")
        for person in (member, coordinator):
            card = await bot.api.wait_for(lambda m, p=person: m["chat"]["id"] == p.id and "Signalement n° 1" in text_of(m))
            assert "Saint-Dizier" in card["text"]
        # Members answer from their private chat too.
        await member.press("Traité")
        assert "Traité par Alex" in member.last_text
    finally:
        await bot.stop()


async def test_phone_subscriptions_and_printable_kit(crisis: BotHarness) -> None:
    async with crisis.db.begin() as session:
        await load_samples(session, now=utcnow())
    noa = crisis.person("Noa", last_name="Martin")
    await noa.onboard("Sage-femme", ("GHT Cœur Grand Est",))
    await noa.send("/telephone 06 1234 5678")
    assert "06 12 34 56 78" in noa.reply_text
    await noa.send("/telephone 12")
    assert "pas reconnu" in noa.reply_text
    eli = crisis.person("Eli")
    await eli.onboard("Infirmier", ("GHT Cœur Grand Est",))
    await eli.send("/telephone +33 6 11 22 33 44")
    await eli.send("/telephone")
    await eli.press("Ne plus partager")
    async with crisis.db.begin() as session:
        assert (await session.get(User, eli.id)).phone is None  # type: ignore[union-attr]

    await noa.send("/abonnements")
    await noa.press("Tout décocher")
    await noa.press("Pénurie")
    await noa.press("Terminé")
    assert "Votre synthèse : 💊 Pénurie de produits de santé." in noa.last_text
    async with crisis.db.begin() as session:
        assert await store.opted_out(session, noa.id) == set(store.CATEGORIES) - {"shortage"}

    cell = crisis.coordinator()
    await publish(cell, priority="Important", title="Plan blanc : numéros de repli", links=None)
    await cell.send("/kit_crise")
    name, content, caption = crisis.api.files(cell.id)[-1]
    assert name.startswith("kit-crise-") and name.endswith(".pdf") and content.startswith(b"%PDF") and "Kit de crise" in (caption or "")
    async with crisis.db.begin() as session:
        data = await gather(session, services(crisis), now=utcnow(), lang="fr")
    assert [b.title for b in data.bulletins] == ["Plan blanc : numéros de repli"]
    ght = dict(data.directory)["GHT Cœur Grand Est — rencontres ville-hôpital"]
    phones = {c.name: c.phone for c in ght}
    assert phones == {"Noa Martin": "06 12 34 56 78", "Eli": "non partagé"}
    assert any("Verdun" in m.place for m in data.meetings)
