"""Quick polls end to end: /sondage, native Telegram polls, votes, /resultats, the deadline."""

from __future__ import annotations

from datetime import timedelta

from handlers.polls.poll_results import close_due_polls
from tests.harness import BotHarness
from tests.polls_support import create_quick_poll, native_poll_of, only_poll, seed_group, services, vote

PNG = b"\x89PNG\r\n\x1a\n"


async def test_poll_reaches_the_group_votes_count_and_results_show_percentages(bot: BotHarness) -> None:
    _, (camille, alex, sam) = await seed_group(bot)
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator)
    assert "3 destinataires" in coordinator.last_text and "Lundi midi" in coordinator.last_text
    await coordinator.press("Envoyer")
    assert "part vers 3 destinataires" in coordinator.last_text

    polls = {p.id: await native_poll_of(bot, p) for p in (camille, alex, sam)}
    for poll in polls.values():
        assert poll["question"] == "Quel créneau pour la réunion d'équipe ?"
        assert [o["text"] for o in poll["options"]] == ["Lundi midi", "Mardi soir", "Jeudi matin"]
        assert poll["is_anonymous"] is False and poll["allows_multiple_answers"] is False
    intro = next(m for m in bot.api.sent(camille.id) if "text" in m)
    assert "Sondage de Dominique" in intro["text"] and "verra votre réponse" in intro["text"]

    await vote(bot, camille, polls[camille.id]["id"], [0])
    await vote(bot, alex, polls[alex.id]["id"], [2])
    await vote(bot, alex, polls[alex.id]["id"], [0])  # Alex changes their mind

    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    text = coordinator.reply_text
    assert "Lundi midi : 2 (100 %)" in text
    assert "Jeudi matin : 0 (0 %)" in text
    assert "2 réponses sur 3 destinataires" in text
    assert "Pas encore répondu : Sam" in text
    png = [content for name, content, _ in bot.api.files(coordinator.id) if name.endswith(".png")]
    assert png and png[-1].startswith(PNG)

    await vote(bot, sam, polls[sam.id]["id"], [1])
    await vote(bot, camille, polls[camille.id]["id"], [])  # Camille retracts
    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    text = coordinator.reply_text
    assert "Lundi midi : 1 (50 %)" in text and "Mardi soir : 1 (50 %)" in text
    assert "2 réponses sur 3" in text and "Pas encore répondu : Camille" in text


async def test_anonymous_poll_never_names_anyone(bot: BotHarness) -> None:
    _, people = await seed_group(bot)
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator, anonymous=True, multiple=True)
    await coordinator.press("Envoyer")
    first = await native_poll_of(bot, people[0])
    assert first["is_anonymous"] is False  # Telegram must report answers to the bot …
    assert first["allows_multiple_answers"] is True
    intro = next(m for m in bot.api.sent(people[0].id) if "text" in m)["text"]
    assert "anonyme" in intro and "jamais qui a répondu quoi" in intro  # … and the intro says how anonymity is kept
    await vote(bot, people[0], first["id"], [0, 1])
    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    text = coordinator.reply_text
    assert "Lundi midi : 1 (100 %)" in text and "Mardi soir : 1 (100 %)" in text
    assert "Pas encore répondu" not in text and "Camille" not in text and "Sam" not in text
    assert "anonyme" in text


async def test_deadline_stops_every_poll_and_sends_the_summary_and_chart(bot: BotHarness) -> None:
    _, (camille, alex, sam) = await seed_group(bot)
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator)
    await coordinator.press("Envoyer")
    polls = {p.id: await native_poll_of(bot, p) for p in (camille, alex, sam)}
    await vote(bot, camille, polls[camille.id]["id"], [1])
    await vote(bot, alex, polls[alex.id]["id"], [1])

    poll = await only_poll(bot)
    assert await close_due_polls(services(bot), now=poll.closes_at - timedelta(seconds=1)) == 0
    assert await close_due_polls(services(bot), now=poll.closes_at + timedelta(seconds=1)) == 1
    assert await close_due_polls(services(bot), now=poll.closes_at + timedelta(minutes=5)) == 0  # closed once

    for person in (camille, alex, sam):
        await bot.api.wait_for_call(lambda method, params, p=person: method == "stopPoll" and params["chat_id"] == p.id)
    assert all(m["poll"]["is_closed"] for p in (camille, alex, sam) for m in bot.api.messages(p.id) if "poll" in m)
    summary = await bot.api.wait_for(lambda m: m["chat"]["id"] == coordinator.id and "Clôture" in m["text"])
    assert "Mardi soir : 2 (100 %)" in summary["text"] and "Pas encore répondu : Sam" in summary["text"]
    chart = await bot.api.wait_for(lambda m: m["chat"]["id"] == coordinator.id and "photo" in m)
    assert chart["photo"]

    # A vote that raced with the closing is refused, with a message, and counts for nothing.
    late = bot.api.push_update({"poll_answer": {"poll_id": polls[sam.id]["id"], "user": sam.user, "option_ids": [0], "option_persistent_ids": ["0"]}})
    await bot.handled(late)
    assert "clos" in sam.last_text and "pas été prise en compte" in sam.last_text
    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    assert "Lundi midi : 0 (0 %)" in coordinator.reply_text and "Clos" in coordinator.reply_text


async def test_poll_in_a_group_chat_uses_telegram_anonymity_and_counts_totals(bot: BotHarness) -> None:
    chat = bot.api.add_chat(-100_555, "supergroup", "MSP des Tilleuls — équipe")
    await seed_group(bot, chat_id=chat["id"])
    coordinator = bot.coordinator()
    await create_quick_poll(coordinator, anonymous=True, audience="groupe Telegram")
    assert "1 groupe Telegram" in coordinator.last_text
    await coordinator.press("Envoyer")
    message = await bot.api.wait_for(lambda m: m["chat"]["id"] == chat["id"] and "poll" in m)
    assert message["poll"]["is_anonymous"] is True
    poll = dict(message["poll"])
    poll["options"] = [{**o, "voter_count": n} for o, n in zip(poll["options"], (4, 1, 0), strict=True)]
    poll["total_voter_count"] = 5
    await bot.handled(bot.api.push_update({"poll": poll}))
    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    assert "Lundi midi : 4 (80 %)" in coordinator.reply_text and "5 réponses" in coordinator.reply_text
