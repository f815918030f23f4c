"""/oublier keeps what a person already counted in (votes, answers, sends) and drops who they are.

"Vos réponses déjà comptées restent dans les totaux, mais sans votre nom": checked on every
screen a coordinator reads (results of a date poll, a questionnaire and a quick poll, the
questionnaire CSV, /envois), before and after the erasure.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import timedelta

from sqlalchemy import func, select, update

from handlers.polls.poll_results import close_due_polls
from storage.db import Database
from storage.models import Group, Membership, OutboxMessage, User, utcnow
from storage.polls_models import PollRecipient, PollTextAnswer, PollVote
from storage.privacy_models import OutboxMention
from tests.harness import BotHarness, Person
from tests.polls_support import GROUP, create_quick_poll, native_poll_of, services, vote
from tests.test_crisis_support import publish
from tests.test_polls_dates_e2e import create_date_poll

NAME, HANDLE = "Camille Martin", "camille_m"
ANONYMISED = "(anonymisé)"


async def seed(bot: BotHarness) -> list[Person]:
    """The MSP and three onboarded members; Camille has a last name and a @username."""
    camille = bot.person("Camille", last_name="Martin", username=HANDLE)
    people = [camille, bot.person("Alex"), bot.person("Sam")]
    async with bot.db.begin() as session:
        group = Group(slug="msp-tilleuls", name=GROUP, kind="msp")
        session.add(group)
        await session.flush()
        for person, profession in zip(people, ("ide", "mg", "ide"), strict=True):
            user = person.user
            session.add(User(
                id=person.id, first_name=user["first_name"], last_name=user.get("last_name"),
                username=user.get("username"), profession=profession, language="fr", onboarded_at=utcnow(),
            ))
        await session.flush()
        session.add_all(Membership(user_id=p.id, group_id=group.id) for p in people)
    return people


async def create_form(bot: BotHarness, coordinator: Person, people: list[Person]) -> None:
    await coordinator.send("/questionnaire")
    await coordinator.press("Nouveau questionnaire")
    await coordinator.send("Besoins en formation")
    await coordinator.send("Votre mode d'exercice ?\nLibéral\nSalarié")
    await coordinator.send("Quels thèmes souhaitez-vous aborder ?")
    await coordinator.press("C'est tout")
    await coordinator.send("vendredi 18h")
    await coordinator.press(GROUP)
    await coordinator.press("Tout le groupe")
    await coordinator.press("Envoyer")
    for person in people:
        await bot.api.wait_for(lambda m, p=person: m["chat"]["id"] == p.id and "Besoins en" in str(m.get("text")))


async def answer_form(person: Person, choice: str, text: str) -> None:
    await person.send("/questionnaire")
    await person.press("Besoins en formation")
    await person.press(choice)
    await person.send(text)
    assert "Merci" in person.reply_text


async def screens(bot: BotHarness, coordinator: Person) -> dict[str, str]:
    """What the coordinator reads: each poll's results, the questionnaire's CSV, /envois."""
    assert await services(bot).outbox.caught_up(within=timedelta(seconds=5))  # paced rows too
    seen: dict[str, str] = {}
    for title in ("Réunion de coordination", "Besoins en formation", "Quel créneau"):
        await coordinator.send("/resultats")
        await coordinator.press(title)
        seen[title] = coordinator.reply_text
    _, content, _ = [f for f in bot.api.files(coordinator.id) if f[0].endswith(".csv")][-1]
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    seen["csv"] = "\n".join(";".join(row) for row in rows)
    await coordinator.send("/envois")
    seen["envois"] = coordinator.reply_text
    await coordinator.send("/suivi 1")
    seen["suivi"] = re.sub(r"\d\d:\d\d:\d\d", "hh:mm:ss", coordinator.reply_text)  # "mis à jour à …": the clock
    return seen


async def counts(bot: BotHarness) -> tuple[int, int, int, int]:
    async with bot.db.begin() as session:
        return tuple([  # type: ignore[return-value]
            int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (PollVote, PollTextAnswer, PollRecipient, OutboxMessage)
        ])


async def test_forget_keeps_every_total_and_drops_the_name_everywhere_a_coordinator_looks(bot: BotHarness) -> None:
    people = await seed(bot)
    camille, alex, sam = people
    coordinator = bot.coordinator()

    await create_date_poll(bot, coordinator, people)
    await camille.press("1 · oui")
    await camille.press("2 · si besoin")
    await alex.press("1 · oui")

    await create_form(bot, coordinator, people)
    await answer_form(camille, "Libéral", "Plaies chroniques")
    await answer_form(alex, "Salarié", "Douleur")

    await create_quick_poll(coordinator)
    await coordinator.press("Envoyer")
    polls = {p.id: (await native_poll_of(bot, p))["id"] for p in people}
    await vote(bot, camille, polls[camille.id], [0])
    await vote(bot, alex, polls[alex.id], [1])

    await publish(coordinator, title="Bronchiolite : renfort des gardes")  # urgent: each says "Bien reçu" or not
    for person in (camille, alex):
        await bot.api.wait_for(lambda m, p=person: m["chat"]["id"] == p.id and "Bronchiolite" in str(m.get("text")))
        await person.press("Bien reçu")

    before = await screens(bot, coordinator)
    rows_before = await counts(bot)
    assert "Camille Martin" in before["Réunion de coordination"] and "Camille Martin" in before["csv"]
    assert "Pas encore répondu : Sam" in before["Quel créneau"] and "Bien reçu : 2" in before["suivi"]

    await camille.send("/oublier")
    await camille.press("Oui, tout effacer")
    assert "vos données ont été effacées" in camille.last_text

    after = await screens(bot, coordinator)
    for screen, text in before.items():
        expected = text.replace(NAME, ANONYMISED)
        if screen == "csv":  # one row per respondent, whatever their order
            assert sorted(after[screen].splitlines()) == sorted(expected.splitlines())
        else:
            assert after[screen] == expected, screen  # same totals, same order, no name
    for text in after.values():
        assert "Camille" not in text and HANDLE not in text
    assert ANONYMISED in after["Réunion de coordination"] and ANONYMISED in after["csv"]
    assert await counts(bot) == rows_before  # nothing counted was deleted

    # Her old poll is still in her chat: answering it again must not count her twice.
    await vote(bot, camille, polls[camille.id], [2])
    await coordinator.send("/resultats")
    await coordinator.press("Quel créneau")
    assert coordinator.reply_text == before["Quel créneau"]
    async with bot.db.begin() as session:
        mine = select(func.count()).select_from(PollVote).where(PollVote.user_id == camille.id)
        assert await session.scalar(mine) == 0


# ---------------------------------------------------------------------------------- names in others' messages
async def report_held_back(bot: BotHarness, camille: Person, coordinator: Person) -> None:
    """Camille's field report, whose card to the crisis cell (the coordinator) Telegram holds back."""
    await camille.send("/signaler")
    await camille.press("Épidémie")
    await camille.send("Verdun")
    await camille.send("Cinq cas de syndrome grippal en EHPAD")
    await camille.press("Pas de pièce jointe")
    since = len(bot.api.calls)
    bot.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3600", retry_after=3600)
    await camille.press("Envoyer")
    await bot.api.wait_for_call(lambda m, p: m == "sendMessage" and p["chat_id"] == coordinator.id, since=since)
    assert await services(bot).outbox.caught_up(within=timedelta(seconds=5))  # paced rows too


async def payloads(bot: BotHarness, purpose_like: str) -> list[tuple[str, str]]:
    """(status, payload with any text file decoded) of the outbox rows of a purpose."""
    async with bot.db.begin() as session:
        query = select(OutboxMessage.status, OutboxMessage.payload).where(OutboxMessage.purpose.like(purpose_like))
        rows = (await session.execute(query)).all()
    found = []
    for status, payload in rows:
        document = payload.get("document")
        is_file = isinstance(document, dict) and "b64" in document
        text = base64.b64decode(document["b64"]).decode("utf-8-sig") if is_file else ""
        found.append((status, json.dumps(payload, ensure_ascii=False) + text))
    return found


async def test_my_name_leaves_messages_to_others_and_my_data_lists_them(bot: BotHarness) -> None:
    people = await seed(bot)
    camille = people[0]
    coordinator = bot.coordinator()
    await create_form(bot, coordinator, people)
    await answer_form(camille, "Libéral", "Plaies chroniques")
    await close_due_polls(services(bot), now=utcnow() + timedelta(days=8))  # the CSV goes to the coordinator
    await bot.api.wait_for(lambda m: m["chat"]["id"] == coordinator.id and "document" in m)
    await report_held_back(bot, camille, coordinator)
    assert [status for status, _ in await payloads(bot, "report:%:cell")] == ["pending"]

    await camille.send("/mesdonnees")
    data = json.loads(bot.api.files(camille.id)[-1][1])
    named = {m["Message"]: m for m in data["Messages adressés à d'autres qui vous nomment"]}
    card = named["Fiche du signalement n° 1 envoyée à la cellule de crise"]
    assert card["Contient"] == ["votre nom", "votre @pseudo"] and card["Destinataire"] == "une autre personne"
    assert card["État"] == "en attente d'envoi"
    assert any("(fichier CSV)" in message for message in named)
    assert "Cinq cas" not in json.dumps(named, ensure_ascii=False)  # which message, not what it says

    await camille.send("/oublier")
    await camille.press("Oui, tout effacer")
    for status, content in await payloads(bot, "poll:%:csv") + await payloads(bot, "report:%"):
        assert "Camille" not in content and HANDLE not in content, status
    assert ANONYMISED in "".join(content for _, content in await payloads(bot, "poll:%:csv"))
    async with bot.db.begin() as session:
        left = select(func.count()).select_from(OutboxMention).where(OutboxMention.user_id == camille.id)
        assert await session.scalar(left) == 0

    # The held-back card leaves later (here: after a restart): it reaches the cell without her name.
    await bot.stop()
    async with bot.db.begin() as session:
        await session.execute(update(OutboxMessage).where(OutboxMessage.status == "pending").values(due_at=utcnow()))
    restarted = BotHarness(bot.api, bot.db)
    await restarted.start()
    try:
        card = await bot.api.wait_for(lambda m: m["chat"]["id"] == coordinator.id and "EHPAD" in str(m.get("text")))
    finally:
        await restarted.stop()
    assert "EHPAD" in card["text"] and ANONYMISED in card["text"]
    assert "Camille" not in card["text"] and HANDLE not in card["text"]


async def test_a_file_that_cannot_be_rewritten_is_dropped_not_sent_with_the_name(db: Database) -> None:
    """The crisis kit is a PDF: one still waiting is not sent (the next edition will be), a sent one loses its bytes."""
    from bot.transport import file_param
    from storage import outbox
    from storage.privacy import REDACTED_ERROR, forget_user

    async with db.begin() as session:
        session.add(User(id=4_200_001, first_name="Camille", last_name="Martin"))
        for purpose in ("kit:1", "kit:2"):
            pdf = file_param(b"%PDF-1.4 Camille Martin", "kit.pdf", "application/pdf")
            await outbox.enqueue(
                session, purpose=purpose, chat_id=-100_777, method="sendDocument", payload={"document": pdf},
                mentions=[4_200_001],
            )
        await session.execute(update(OutboxMessage).where(OutboxMessage.purpose == "kit:1").values(status="sent"))
    async with db.begin() as session:
        await forget_user(session, 4_200_001, anonymised_labels={"fr": ANONYMISED})
    async with db.begin() as session:
        rows = {p: (s, e, payload) for p, s, e, payload in await session.execute(
            select(OutboxMessage.purpose, OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.payload))}
    assert rows["kit:1"] == ("sent", None, {"document": {"filename": "kit.pdf", "removed": True}})
    assert rows["kit:2"] == ("skipped", REDACTED_ERROR, {"document": {"filename": "kit.pdf", "removed": True}})


def test_a_name_is_taken_out_as_a_whole_word_in_every_form() -> None:
    from storage.privacy import name_forms, redact

    forms = name_forms("Li", "O'Neil & Co", "li_x", 5)
    text = "Livraison : Li O'Neil &amp; Co @li_x (IDE) ; Li O'Neil & Co ; Liste"
    expected = f"Livraison : {ANONYMISED} (IDE) ; {ANONYMISED} ; Liste"
    assert redact({"text": text}, forms, ANONYMISED) == ({"text": expected}, True)
