"""A professional's story, end to end: the real bot over HTTP against the fake Bot API."""

from __future__ import annotations

from bot.sample_data import load_samples
from storage import meetings as store
from storage.models import utcnow
from tests.harness import BotHarness

GHT = "GHT Cœur Grand Est"


async def seed(bot: BotHarness) -> dict:
    async with bot.db.begin() as session:
        return await load_samples(session, now=utcnow())


async def test_newcomer_onboards_then_sees_and_joins_a_meeting(bot: BotHarness) -> None:
    await seed(bot)
    camille = bot.person("Camille")
    await camille.send("/start")
    assert "Bienvenue" in camille.reply_text
    await camille.press("Infirmier")
    assert "Quels groupes" in camille.last_text
    await camille.press(GHT)
    assert any(label.startswith("✅") and GHT in label for label, _ in camille.buttons())
    await camille.press("Terminé")
    assert "C'est prêt" in camille.last_text

    await camille.send("/rencontres")
    text = camille.reply_text
    assert "3 sessions à venir" in text
    assert text.index("Verdun") < text.index("Bar-le-Duc") < text.index("Saint-Dizier")
    assert "40 places restantes" in text
    assert "janvier" in text and "14 h" in text

    await camille.press("S'inscrire — Verdun")
    assert "Inscription confirmée" in camille.reply_text

    await camille.send("/mesinscriptions")
    assert "Rencontre des professionnels" in camille.reply_text and "inscrit(e)" in camille.reply_text


async def test_second_registration_is_harmless_and_says_so(bot: BotHarness) -> None:
    await seed(bot)
    alex = bot.person("Alex")
    await alex.onboard("Pharmacien", (GHT,))
    await alex.send("/rencontres")
    _, data = alex.find_button("S'inscrire — Verdun")
    await alex.press_data(data)
    await alex.press_data(data)
    assert "déjà inscrit" in alex.reply_text
    async with bot.db.begin() as session:
        views, _ = await store.upcoming_sessions(session, user_id=alex.id, now=utcnow())
    assert views[0].confirmed == 1


async def test_full_session_waitlists_and_promotes_when_a_seat_frees(bot: BotHarness) -> None:
    await seed(bot)
    async with bot.db.begin() as session:
        views, _ = await store.upcoming_sessions(session, user_id=0, now=utcnow(), group_ids=[1])
        verdun = views[0].session
        await store.update_session(session, verdun.id, capacity=1)
    first, second = bot.person("Sam"), bot.person("Lou")
    for person in (first, second):
        await person.onboard("Sage-femme", (GHT,))
        await person.send("/rencontres")
        await person.press("S'inscrire — Verdun")
    assert "Inscription confirmée" in first.reply_text
    assert "liste d'attente (position 1)" in second.reply_text

    await first.send("/desinscrire")
    await first.press("Se désinscrire — Verdun")
    await first.press("Oui, me désinscrire")
    assert "inscription est annulée" in first.reply_text
    promoted = await bot.api.wait_for(lambda m: m["chat"]["id"] == second.id and "place s'est libérée" in (m.get("text") or ""))
    assert "Rencontre des professionnels" in promoted["text"]


async def test_deep_link_opens_the_meeting_after_onboarding(bot: BotHarness) -> None:
    await seed(bot)
    async with bot.db.begin() as session:
        views, _ = await store.upcoming_sessions(session, user_id=0, now=utcnow(), group_ids=[1])
    session_id = views[1].session.id  # Bar-le-Duc
    newcomer = bot.person("Noa")
    await newcomer.send(f"/start r{session_id}")
    await newcomer.press("Kinésithérapeute")
    await newcomer.press(GHT)
    await newcomer.press("Terminé")
    assert "Bar-le-Duc" in newcomer.last_text and "Confirmez-vous" in newcomer.last_text
    await newcomer.press("Confirmer")
    assert "Inscription confirmée" in newcomer.reply_text


async def test_english_speaker_gets_english_and_can_switch_to_french(bot: BotHarness) -> None:
    await seed(bot)
    sam = bot.person("Sam", language_code="en-GB")
    await sam.send("/start")
    assert "Welcome" in sam.reply_text
    await sam.send("/langue")
    await sam.press("Français")
    assert "je vous parlerai en français" in sam.last_text


async def test_command_menu_is_set_in_french_and_english(bot: BotHarness) -> None:
    french = {c["command"]: c["description"] for c in bot.api.commands(scope="default", language_code="")}
    english = {c["command"]: c["description"] for c in bot.api.commands(scope="default", language_code="en")}
    assert french["rencontres"] == "Prochaines rencontres"
    assert english["rencontres"] == "Upcoming meetings"


async def test_unknown_text_gets_a_hint_not_silence(bot: BotHarness) -> None:
    someone = bot.person("Eli")
    await someone.send("bonjour")
    assert "/aide" in someone.reply_text
