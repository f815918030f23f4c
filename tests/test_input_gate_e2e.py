"""Every typed text passes one gate: cleaned (NFC, no invisible or bidi characters), refused when
nothing visible is left or when it identifies a patient. Nothing is stored on a refusal and the
person types again at the same step."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.input_gate import clean, screen
from storage import crisis as crisis_store
from storage import dialogs
from storage.models import Dialog, Group, Meeting, User, utcnow
from storage.polls_models import PollTextAnswer
from tests.harness import BotHarness, Person
from tests.polls_support import GROUP, seed_group
from tests.test_coordination_e2e import first_session_text, seed_groups

NIR = "1 84 12 76 451 089 46"  # a valid key: 97 - 1841276451089 mod 97 = 46
NIR_REFUSED = "numéro de sécurité sociale"


async def dialog_state(bot: BotHarness, person: Person) -> tuple[str, str, dict[str, Any]] | None:
    async with bot.db.begin() as session:
        row = await session.get(Dialog, (person.id, person.id))
        return (row.flow, row.step, dict(row.data or {})) if row is not None else None


# ---------------------------------------------------------------------------------- questionnaires
async def test_a_questionnaire_answer_with_a_social_security_number_is_refused(bot: BotHarness) -> None:
    _, (camille, _, _) = await seed_group(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/questionnaire")
    await coordinator.press("Nouveau questionnaire")
    await coordinator.send("Retour sur la vaccination")
    await coordinator.send("Qu'avez-vous observé cette semaine ?")
    await coordinator.press("C'est tout")
    await coordinator.send("vendredi 18h")
    await coordinator.press(GROUP)
    await coordinator.press("Tout le groupe")
    await coordinator.press("Envoyer")
    await bot.api.wait_for(lambda m: m["chat"]["id"] == camille.id and "Retour sur la" in str(m.get("text")))

    await camille.press("Répondre")
    assert "question 1/1" in camille.reply_text
    await camille.send(f"Patient NIR {NIR} vu trois fois")
    assert NIR_REFUSED in camille.reply_text and "je ne l'ai pas enregistré" in camille.reply_text
    await camille.send("Mme Dupont née le 12/03/1954, même tableau")
    assert "date de naissance" in camille.reply_text
    async with bot.db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(PollTextAnswer)) == 0
    # Same step: the next message is the answer to the same question.
    await camille.send("Beaucoup de questions sur le rappel, aucun effet indésirable")
    assert "Merci" in camille.reply_text

    await coordinator.send("/resultats")
    await coordinator.press("Retour sur la vaccination")
    _, content, _ = [f for f in bot.api.files(coordinator.id) if f[0].endswith(".csv")][-1]
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][1] == "Beaucoup de questions sur le rappel, aucun effet indésirable"
    assert "451" not in content.decode("utf-8-sig") and "Dupont" not in content.decode("utf-8-sig")


# ---------------------------------------------------------------------------------- every typed step
BULLETIN = {"category": "epidemic", "source": "ars", "priority": "info"}
SHORTAGE = {"category": "shortage", "commune": "Verdun"}
# (flow, step, data, clean answer): each step where a person types free text that is stored.
STEPS: list[tuple[str, str, dict[str, Any], str]] = [
    ("new_meeting", "title", {"sessions": []}, "Parcours diabète"),
    ("new_meeting", "theme", {"sessions": [], "title": "Parcours diabète"}, "Pied diabétique en ville"),
    ("new_meeting", "place", {"sessions": [], "title": "T", "current": {}}, "Chaumont, Centre Palestra"),
    ("bulletin", "title", BULLETIN, "Grippe : point de situation"),
    ("bulletin", "body", {**BULLETIN, "title": "Grippe"}, "Renforcer les gestes barrières"),
    ("report", "commune", {"category": "epidemic"}, "Bar-le-Duc"),
    ("report", "product", SHORTAGE, "Amoxicilline 500 mg"),
    ("report", "place", {**SHORTAGE, "product": "Amoxicilline"}, "Pharmacie du centre"),
    ("report", "text", {"category": "epidemic", "commune": "Verdun"}, "Cinq cas de syndrome grippal en EHPAD"),
    ("report_reply", "text", {}, "Merci, nous prévenons l'ARS"),
    ("poll_new", "question", {"kind": "quick"}, "Quel créneau pour le staff ?"),
    ("poll_new", "question", {"kind": "dates"}, "Staff de rentrée"),
    ("poll_new", "options", {"kind": "quick", "question": "Q ?", "items": []}, "Lundi midi\nMardi soir"),
    ("poll_new", "questions", {"kind": "form", "question": "Besoins", "items": []}, "Quels thèmes ?"),
]


@pytest.mark.parametrize(
    ("flow", "step", "data", "answer"), STEPS, ids=[f"{f}.{s}{d.get('kind', '')}" for f, s, d, _ in STEPS]
)
async def test_every_typed_step_refuses_patient_data_and_stays_at_its_step(
    bot: BotHarness, flow: str, step: str, data: dict[str, Any], answer: str
) -> None:
    coordinator = bot.coordinator()  # a coordinator of every group, and of the crisis cell
    async with bot.db.begin() as session:
        group = Group(slug="cpts-grand-havre", name="CPTS du Grand Havre")
        session.add(group)
        await session.flush()
        if flow == "report_reply":
            session.add(User(id=4_100_001, first_name="Lou", profession="ide"))
            await session.flush()
            seen = {"category": "epidemic", "commune": "Verdun", "text": "fièvre"}
            report = await crisis_store.create_report(session, user_id=4_100_001, data=seen, now=utcnow())
            data = {"report_id": report.id}
        await dialogs.start(session, coordinator.id, coordinator.id, flow, step, data)
    before = await dialog_state(bot, coordinator)

    for typed in (f"{answer} {NIR}", f"{answer}\nNIR : {NIR.replace(' ', '.')}", f"{answer} 1841276451089\u200b46"):
        await coordinator.send(typed)
        assert NIR_REFUSED in coordinator.reply_text, typed
        assert await dialog_state(bot, coordinator) == before, typed  # nothing stored, same step
    await coordinator.send(f"{answer} (né le 3 mars 1954)")
    assert "date de naissance" in coordinator.reply_text

    await coordinator.send(answer)  # the same step takes the clean answer
    assert NIR_REFUSED not in coordinator.reply_text
    assert await dialog_state(bot, coordinator) != before


async def test_a_command_argument_is_screened_too(bot: BotHarness) -> None:
    camille = bot.person("Camille")
    alex = bot.person("Alex", language_code="en")
    await camille.send("/telephone 184127645108946")  # a NIR where a phone number goes
    assert NIR_REFUSED in camille.reply_text
    await alex.send("/telephone 184127645108946")
    assert "social-security number" in alex.reply_text  # in their language
    await camille.send("/telephone \u202e06 12 34 56 78")
    assert "06 12 34 56 78" in camille.reply_text
    async with bot.db.begin() as session:
        assert (await session.get(User, camille.id)).phone == "06 12 34 56 78"
        assert (await session.get(User, alex.id)).phone is None


# ---------------------------------------------------------------------------------- invisible and bidi
async def test_an_invisible_title_is_refused_and_bidi_controls_are_never_stored(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/nouvelle_rencontre")
    for invisible in ("\u200b\u200b\u200b", "\u2060\ufeff\u200d", "\u3164", "\u202e\u200f"):
        await coordinator.send(invisible)
        assert "caractères invisibles" in coordinator.reply_text, repr(invisible)
        assert (await dialog_state(bot, coordinator))[1] == "title"
    # "Cafe\u0301" is "Café" typed with a combining accent: stored as one letter (NFC).
    await coordinator.send("\u202eCafe\u0301-débat\u202c\u200b soins palliatifs")
    assert "thème" in coordinator.reply_text
    await coordinator.send("\u2066Fin de vie\u2069 à domicile \U0001F469\u200d\u2695\ufe0f")
    await coordinator.press("CPTS Nord")
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    await coordinator.send("\u202bVerdun\u202c, Hôpital Saint-Nicolas")
    await coordinator.press("Sans limite")
    await coordinator.press("Terminer")
    await coordinator.press("Publier")
    async with bot.db.begin() as session:
        meeting = (await session.scalars(select(Meeting))).one()
        await session.refresh(meeting, ["sessions"])
        site = meeting.sessions[0].site
    assert meeting.title == "Café-débat soins palliatifs"
    assert meeting.theme == "Fin de vie à domicile \U0001F469\u200d\u2695\ufe0f"  # the emoji keeps its joiner
    assert site == "Verdun"


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("Cafe\u0301", "Café"),
        ("a\u200bb\u200cc\u2060d\ufeffe\u00adf", "abcdef"),
        ("\u202egnp.exe\u202c", "gnp.exe"),
        ("\u2067abc\u2069\u200e\u200f\u061c", "abc"),
        ("\U0001F469\u200d\u2695\ufe0f", "\U0001F469\u200d\u2695\ufe0f"),
        ("a\u200db", "ab"),
        ("ligne 1\r\nligne 2\x00\x07", "ligne 1\nligne 2"),
        ("Réunion\u3164", "Réunion "),
    ],
)
def test_clean(typed: str, cleaned: str) -> None:
    assert clean(typed) == cleaned


def test_screen_refuses_invisible_text_and_patient_data_only() -> None:
    assert screen("\u200b \u3164\u2800\ufe0f").refusal == "input.invisible"
    assert screen(f"NIR {NIR}").refusal == "input.patient_data_nir"
    assert screen("1841276451089\u200b46").refusal == "input.patient_data_nir"  # hiding it does not help
    assert screen("Réunion le 12/03/2026 à Verdun").refusal is None
    assert screen("👍").refusal is None and screen(".").refusal is None
