"""Each mistake gets a clear French message and changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.polls_models import Poll
from tests.harness import BotHarness
from tests.polls_support import create_quick_poll, forge, only_poll, seed_group


async def poll_count(bot: BotHarness) -> int:
    async with bot.db.begin() as session:
        return int(await session.scalar(select(func.count()).select_from(Poll)) or 0)


async def test_wizard_refuses_bad_questions_options_and_deadlines(bot: BotHarness) -> None:
    await seed_group(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/sondage")
    await coordinator.send("?")
    assert "La question est vide" in coordinator.reply_text
    await coordinator.send("Q" * 301)
    assert "trop longue" in coordinator.reply_text
    await coordinator.send("Qui vient au staff ?")
    assert "une par ligne" in coordinator.reply_text

    await coordinator.send("\n".join(f"Choix {i}" for i in range(1, 14)))
    assert "Trop de réponses : 12 au plus" in coordinator.reply_text
    await coordinator.send("Oui\nOUI")
    assert "« OUI » figure déjà dans la liste" in coordinator.reply_text
    await coordinator.send("Oui")
    assert "Réponses (1/12)" in coordinator.reply_text and "au moins deux" in coordinator.reply_text
    await coordinator.send("fin")
    assert "Il faut au moins deux réponses" in coordinator.reply_text
    await coordinator.send("Non\nOui")
    assert "« Oui » figure déjà" in coordinator.reply_text  # nothing of that message was added
    await coordinator.send("Non")
    assert "Réponses (2/12)" in coordinator.reply_text
    await coordinator.press("C'est tout")
    await coordinator.press("Une seule")
    await coordinator.press("Nominatif")

    await coordinator.send("hier 18h")
    assert "Cette date est déjà passée" in coordinator.reply_text
    await coordinator.send("n'importe quand")
    assert "Je n'ai pas compris cette date limite" in coordinator.reply_text
    await coordinator.send("vendredi 18h")
    assert "À quel groupe" in coordinator.reply_text
    assert await poll_count(bot) == 0


async def test_date_poll_refuses_unreadable_and_duplicate_slots(bot: BotHarness) -> None:
    coordinator = bot.coordinator()
    await coordinator.send("/sondage_dates")
    await coordinator.send("Staff")
    await coordinator.send("lundi prochain 14h-17h\nle 31 février à 14h")
    assert "Je n'ai pas compris le créneau « le 31 février à 14h »" in coordinator.reply_text
    assert "Rien n'a été ajouté" in coordinator.reply_text
    await coordinator.send("lundi prochain 14h-17h")
    assert "Créneaux (1/20)" in coordinator.reply_text
    await coordinator.send("lundi prochain de 14h à 17h")
    assert "déjà proposé" in coordinator.reply_text
    await coordinator.send("\n".join(f"dans {i} jours" for i in range(2, 22)))
    assert "Trop de créneaux : 20 au plus" in coordinator.reply_text


async def test_non_coordinators_are_refused_even_with_forged_buttons(bot: BotHarness) -> None:
    _, (camille, alex, _) = await seed_group(bot)
    await camille.send("/sondage")
    assert "réservée aux coordinateurs" in camille.reply_text
    await camille.send("/resultats")
    assert "réservée aux coordinateurs" in camille.reply_text
    await forge(bot, camille, "p:n:send:1")
    assert "réservée aux coordinateurs" in camille.reply_text

    coordinator = bot.coordinator()
    await create_quick_poll(coordinator)
    await coordinator.press("Envoyer")
    poll = await only_poll(bot)
    await forge(bot, alex, f"p:r:{poll.id}:0")
    assert "réservée aux coordinateurs" in alex.reply_text and "Lundi midi" not in alex.reply_text
    # A wizard button pressed again after sending is stale: no second poll.
    await forge(bot, coordinator, "p:n:send:1")
    assert coordinator.replies == []
    assert any(m == "answerCallbackQuery" and "plus valable" in p.get("text", "") for m, p in bot.api.calls)
    assert await poll_count(bot) == 1


async def test_empty_audience_is_refused_before_sending(bot: BotHarness) -> None:
    await seed_group(bot)
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator, audience="Une profession")
    await coordinator.press("Pharmacien")
    assert "Personne ne recevrait ce sondage" in coordinator.messages()[-2]["text"]
    assert "À quel groupe" in coordinator.last_text  # back to choosing the audience
    assert await poll_count(bot) == 0
