"""Date polls end to end: slots typed in French, oui / si besoin / non, best slot, meeting."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import Meeting
from storage.polls_models import PollVote
from tests.harness import BotHarness, Person
from tests.polls_support import GROUP, forge, only_poll, seed_group


def line(text: str, prefix: str) -> str:
    return next(row for row in text.splitlines() if row.startswith(prefix))


async def create_date_poll(bot: BotHarness, coordinator: Person, people: list[Person]) -> None:
    await coordinator.send("/sondage_dates")
    await coordinator.send("Réunion de coordination")
    await coordinator.send("dans 5 jours au matin\ndans 3 jours de 14h à 17h")
    assert "1. " in coordinator.reply_text and "14 h – 17 h\n2. " in coordinator.reply_text  # in time order
    await coordinator.send("dans 4 jours 9h-12h")
    assert "Créneaux (3/20)" in coordinator.reply_text and "9 h – 12 h\n3. " in coordinator.reply_text
    await coordinator.press("C'est tout")
    await coordinator.send("demain 18h")
    await coordinator.press(GROUP)
    await coordinator.press("Tout le groupe")
    assert "3 destinataires" in coordinator.last_text
    await coordinator.press("Envoyer")
    for person in people:
        await bot.api.wait_for(lambda m, p=person: m["chat"]["id"] == p.id and "Réunion de coordination" in m["text"])


async def test_date_poll_best_slot_becomes_a_meeting_and_answerers_can_register(bot: BotHarness) -> None:
    _, people = await seed_group(bot)
    camille, alex, sam = people
    coordinator = bot.coordinator()
    await create_date_poll(bot, coordinator, people)

    await camille.press("1 · oui")
    assert "(vous : oui)" in camille.last_text and "● 1 · oui" in str(camille.buttons())
    await camille.press("2 · si besoin")
    await camille.press("3 · non")
    await alex.press("1 · oui")
    await alex.press("3 · oui")
    await sam.press("2 · oui")
    await sam.press("1 · si besoin")
    await camille.press("3 · si besoin")  # answers can change until the close
    await camille.press("Actualiser")  # the running table, with everyone's answers
    table = camille.last_text
    assert line(table, "1.").endswith("14 h – 17 h — ✅ 2 · 🤔 1 · ❌ 0 (vous : oui)")
    assert line(table, "3.").endswith("matin — ✅ 1 · 🤔 1 · ❌ 0 (vous : si besoin)")

    await coordinator.send("/resultats")
    await coordinator.press("Réunion de coordination")
    report = coordinator.reply_text
    assert "Meilleurs créneaux : n°1, n°2, n°3" in report
    assert "✅ 🤔 🤔  Camille" in report and "✅ · ✅  Alex" in report
    assert any(name.endswith(".png") for name, _, _ in bot.api.files(coordinator.id))

    await coordinator.press("Créer la rencontre : n°1")
    assert "Rencontre « Réunion de coordination » créée" in coordinator.reply_text
    assert "3 personnes ayant répondu sont prévenues" in coordinator.reply_text
    for person in people:
        await bot.api.wait_for(lambda m, p=person: m["chat"]["id"] == p.id and "aura lieu le" in m["text"])
    await alex.press("M'inscrire")
    assert "Inscription confirmée" in alex.reply_text

    # The poll is closed now: a late answer is refused and changes nothing.
    async with bot.db.begin() as session:
        before = await session.scalar(select(func.count()).select_from(PollVote))
    await sam.press("3 · non")
    assert "clos" in sam.reply_text
    async with bot.db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(PollVote)) == before
    # One meeting only, whatever happens to the button.
    await coordinator.press_data(coordinator.find_button("Créer la rencontre : n°1")[1])
    assert "déjà été créée" in coordinator.reply_text
    async with bot.db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(Meeting)) == 1


async def test_forged_date_buttons_change_nothing(bot: BotHarness) -> None:
    _, people = await seed_group(bot)
    coordinator = bot.coordinator()
    await create_date_poll(bot, coordinator, people)
    poll = await only_poll(bot)
    outsider = bot.person("Eli")
    await forge(bot, outsider, f"p:d:v:{poll.options[0].id}:y")  # not a recipient
    assert "ne vous a pas été adressé" in outsider.reply_text
    await forge(bot, people[0], f"p:d:mk:{poll.id}:{poll.options[0].id}")  # not a coordinator
    assert "réservée aux coordinateurs" in people[0].reply_text
    await forge(bot, people[0], f"p:d:v:{poll.options[0].id}:z")  # not an answer
    async with bot.db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(PollVote)) == 0
        assert await session.scalar(select(func.count()).select_from(Meeting)) == 0
