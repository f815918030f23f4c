"""Questionnaires end to end: one question at a time, interrupted and resumed, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import func, select

from handlers.polls.poll_results import close_due_polls
from storage.polls_models import PollTextAnswer
from tests.harness import BotHarness
from tests.polls_support import GROUP, forge, only_poll, seed_group, services


async def create_form(coordinator) -> None:  # type: ignore[no-untyped-def]
    await coordinator.send("/questionnaire")
    await coordinator.press("Nouveau questionnaire")
    await coordinator.send("Besoins en formation")
    await coordinator.send("Votre mode d'exercice ?\nLibéral\nSalarié\nMixte")
    await coordinator.send("Quels thèmes souhaitez-vous aborder ?")
    await coordinator.send("Combien d'heures par an ?\nMoins de 7\n7 à 14\nPlus de 14")
    assert "Questions (3/10)" in coordinator.reply_text and "réponse libre" in coordinator.reply_text
    await coordinator.press("C'est tout")
    await coordinator.send("vendredi 18h")
    await coordinator.press(GROUP)
    await coordinator.press("Une profession")
    await coordinator.press("Infirmier")
    assert "2 destinataires" in coordinator.last_text  # the two nurses, not the GP
    await coordinator.press("Envoyer")


async def test_questionnaire_interrupted_then_resumed_after_a_restart_and_exported(bot: BotHarness) -> None:
    _, (camille, alex, sam) = await seed_group(bot)
    coordinator = bot.coordinator()
    await create_form(coordinator)
    await bot.api.wait_for(lambda m: m["chat"]["id"] == camille.id and "Besoins en formation" in m["text"])

    await camille.press("Répondre")
    assert "question 1/3" in camille.reply_text
    await camille.press("Libéral")
    assert "question 2/3" in camille.reply_text and "Répondez par un message" in camille.reply_text

    # Interrupted: she leaves the conversation, uses another command, and the bot restarts.
    await camille.send("/annuler")
    await camille.send("/rencontres")
    await bot.stop()
    restarted = BotHarness(bot.api, bot.db)
    await restarted.start()
    try:
        camille.harness = restarted
        await camille.send("/questionnaire")
        assert "Reprendre : Besoins en formation (1/3)" in str(camille.buttons())
        await camille.press("Reprendre")
        assert "question 2/3" in camille.reply_text
        await camille.send("Plaies chroniques; douleur")
        assert "question 3/3" in camille.reply_text
        await camille.press("7 à 14")
        assert "Merci" in camille.reply_text
        await camille.send("/questionnaire")
        assert "Aucun questionnaire" in camille.reply_text

        coordinator.harness = restarted
        await coordinator.send("/resultats")
        await coordinator.press("Besoins en formation")
        report = coordinator.reply_text
        assert "1 terminé, 0 en cours, sur 2 destinataires" in report
        assert "Libéral : 1 (100 %)" in report and "7 à 14 : 1 (100 %)" in report
        name, content, _ = [f for f in restarted.api.files(coordinator.id) if f[0].endswith(".csv")][-1]
        assert content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
        assert rows[0][:4] == ["Répondant", "Votre mode d'exercice ?", "Quels thèmes souhaitez-vous aborder ?", "Combien d'heures par an ?"]
        assert rows[1][:4] == ["Camille", "Libéral", "Plaies chroniques; douleur", "7 à 14"]

        # Not a recipient (the GP): a forged button changes nothing.
        poll = await only_poll(bot)
        alex.harness = restarted
        await forge(restarted, alex, f"p:f:go:{poll.id}")
        assert "ne vous a pas été adressé" in alex.reply_text
        await forge(restarted, alex, f"p:f:a:{poll.options[0].id}:0")
        async with bot.db.begin() as session:
            assert await session.scalar(select(func.count()).select_from(PollTextAnswer).where(PollTextAnswer.user_id == alex.id)) == 0

        # At the deadline the coordinator receives the report and the CSV; late answers are refused.
        assert await close_due_polls(services(restarted), now=poll.closes_at + timedelta(seconds=1)) == 1
        await restarted.api.wait_for(lambda m: m["chat"]["id"] == coordinator.id and "Clôture" in (m.get("text") or ""))
        await restarted.api.wait_for(lambda m: m["chat"]["id"] == coordinator.id and "document" in m)
        sam.harness = restarted
        await sam.press("Répondre")
        assert "clos" in sam.reply_text
    finally:
        await restarted.stop()
