"""What people see every day, end to end against the fake Bot API, on SQLite and PostgreSQL.

Pickers in date order with titles cut on a word and each meeting named by its next open
session; /inscrits and its CSV never calling a cancelled seat "confirmé"; counts of one in
the singular; one time style; registering the same way from /rencontres and /inscrire;
unregistering that asks first and takes the calendar entry back; date examples that are
valid whenever they are read; "midi et demi" and "2 semaines" understood.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from icalendar import Calendar
from sqlalchemy import select

from bot.dates import parse_when
from storage import meetings as store
from storage.models import Group, Registration
from tests.harness import COORDINATOR_ID, BotHarness, Person
from tests.polls_support import seed_group

PARIS = ZoneInfo("Europe/Paris")
GROUP = "CPTS du Verdunois"
LONG_TITLE = "Mobiliser les usagers dans les missions de santé publique du territoire"


def day(days: int) -> date:
    return datetime.now(PARIS).date() + timedelta(days=days)


def at(days: int, hour: int, minute: int = 0) -> datetime:
    d = day(days)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=PARIS)


def short_day(days: int) -> str:
    return format_date(day(days), "d MMM", locale="fr")


async def seed(bot: BotHarness) -> dict[str, list[int]]:
    """Four meetings created in an order that is not their date order; returns session ids by title.

    "Renforcer…" has a cancelled session in 3 days and an open one in 20; "Groupe de l'Aube"
    has only a cancelled one, so it has nothing left to pick.
    """
    plan = [
        ("Renforcer le lien entre CPTS et MSP", [(3, "Verdun", None, "cancelled"), (20, "Bar-le-Duc", None, "open")]),
        (LONG_TITLE, [(10, "Charleville-Mézières", "La Grande-Ourse", "open")]),
        ("L'IA au service de la coordination", [(5, "Chaumont", "Centre Palestra", "open")]),
        ("Groupe des coordinateurs de l'Aube", [(8, "Troyes", "Locaux de la CPTS", "cancelled")]),
    ]
    ids: dict[str, list[int]] = {}
    async with bot.db.begin() as session:
        group = Group(slug="cpts-verdunois", name=GROUP, kind="cpts")
        session.add(group)
        await session.flush()
        for title, sessions in plan:
            drafts = [
                store.SessionDraft(at(d, 14), at(d, 17), True, site, address, 12) for d, site, address, _ in sessions
            ]
            meeting = await store.create_meeting(
                session, group_id=group.id, title=title, theme=None, created_by=None, sessions=drafts
            )
            for ms, (_, _, _, status) in zip(
                sorted(meeting.sessions, key=lambda s: s.starts_at), sessions, strict=True
            ):
                ms.status = status
            ids[title] = [ms.id for ms in sorted(meeting.sessions, key=lambda s: s.starts_at)]
    return ids


async def member(bot: BotHarness, name: str, *, profession: str = "Infirmier") -> Person:
    person = bot.person(name)
    await person.onboard(profession, (GROUP,))
    return person


def labels(person: Person) -> list[str]:
    return [label for label, _ in person.buttons()]


EXPECTED_PICKER = [
    f"L'IA au service de la coordination · Chaumont — {short_day(5)}",
    f"Mobiliser les usagers dans les missions… · Charleville-Mézières — {short_day(10)}",
    f"Renforcer le lien entre CPTS et MSP · Bar-le-Duc — {short_day(20)}",
]


# -- pickers ----------------------------------------------------------------------------------


async def test_coordinator_pickers_are_in_date_order_cut_on_words_and_named_by_the_next_open_session(
    bot: BotHarness,
) -> None:
    await seed(bot)
    coordinator = bot.coordinator()
    for command in ("/inscrits", "/gerer", "/lien", "/rappels_rencontre"):
        await coordinator.send(command)
        assert labels(coordinator) == EXPECTED_PICKER, command
    # The cut falls between two words, with an ellipsis, never inside "missions".
    shown = EXPECTED_PICKER[1].split(" · ")[0]
    assert shown.endswith("…") and LONG_TITLE.startswith(shown[:-1]) and LONG_TITLE[len(shown) - 1] == " "


async def test_inscrire_lists_open_sessions_in_date_order_with_titles_cut_on_words(bot: BotHarness) -> None:
    await seed(bot)
    camille = await member(bot, "Camille")
    await camille.send("/inscrire")
    assert labels(camille) == EXPECTED_PICKER  # the cancelled Verdun and Troyes sessions are not offered


# -- registering and unregistering -------------------------------------------------------------


async def test_registering_from_rencontres_or_inscrire_is_one_gesture_that_shows_the_place(bot: BotHarness) -> None:
    await seed(bot)
    alice, bruno = await member(bot, "Alice"), await member(bot, "Bruno")
    await alice.send("/rencontres")
    await alice.press("S'inscrire — Chaumont")
    await bruno.send("/inscrire")
    await bruno.press("L'IA au service de la coordination")
    assert "Inscription confirmée" in alice.reply_text
    assert "📍 Chaumont, Centre Palestra" in alice.reply_text
    assert bruno.reply_text == alice.reply_text
    assert (
        [label for label, _ in bruno.buttons()]
        == [label for label, _ in alice.buttons()]
        == ["📅 Ajouter à mon agenda"]
    )


async def registration_status(bot: BotHarness, person: Person, session_id: int) -> str | None:
    async with bot.db.begin() as session:
        return await session.scalar(
            select(Registration.status).where(Registration.user_id == person.id, Registration.session_id == session_id)
        )


async def test_unregistering_asks_first_then_takes_the_calendar_entry_back(bot: BotHarness) -> None:
    ids = await seed(bot)
    [chaumont] = ids["L'IA au service de la coordination"]
    camille, lou = await member(bot, "Camille"), await member(bot, "Lou")
    for person in (camille, lou):
        await person.send("/rencontres")
        await person.press("S'inscrire — Chaumont")
    await camille.press("Ajouter à mon agenda")
    [(_, published, _)] = bot.api.files(camille.id)

    await camille.send("/desinscrire")
    await camille.press("Se désinscrire — Chaumont")
    assert "Voulez-vous vraiment annuler votre inscription" in camille.reply_text
    assert "📍 Chaumont, Centre Palestra" in camille.reply_text
    assert await registration_status(bot, camille, chaumont) == "confirmed"  # nothing happens before "Oui"
    await camille.press("Non, je reste inscrit(e)")
    assert "vous restez inscrit(e)" in camille.last_text
    assert await registration_status(bot, camille, chaumont) == "confirmed"

    await camille.send("/desinscrire")
    await camille.press("Se désinscrire — Chaumont")
    await camille.press("Oui, me désinscrire")
    assert "Votre inscription est annulée" in camille.messages()[-2]["text"]
    assert await registration_status(bot, camille, chaumont) == "cancelled"
    (_, first, _), (name, withdrawn, caption) = bot.api.files(camille.id)
    assert name == f"rencontre-{chaumont}.ics" and "retirer" in (caption or "")
    cal, event = Calendar.from_ical(withdrawn), Calendar.from_ical(withdrawn).walk("VEVENT")[0]
    original = Calendar.from_ical(published).walk("VEVENT")[0]
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == str(original["UID"]) and int(event["SEQUENCE"]) >= int(original["SEQUENCE"])
    assert str(event["SUMMARY"]) == "L'IA au service de la coordination"  # the session itself goes on

    # Lou never took the calendar file: no file to take back.
    await lou.send("/desinscrire")
    await lou.press("Se désinscrire — Chaumont")
    await lou.press("Oui, me désinscrire")
    assert await registration_status(bot, lou, chaumont) == "cancelled"
    assert bot.api.files(lou.id) == []


# -- /inscrits and its CSV ---------------------------------------------------------------------


async def test_registrants_of_a_cancelled_session_are_not_reported_confirmed_and_the_csv_splits_the_session(
    bot: BotHarness,
) -> None:
    await seed(bot)
    async with bot.db.begin() as session:
        group_id = await session.scalar(select(Group.id).where(Group.slug == "cpts-verdunois"))
        drafts = [
            store.SessionDraft(at(10, 14), at(10, 17), True, "Verdun", "Hôpital Saint-Nicolas", 20),
            store.SessionDraft(at(20, 9), at(20, 12, 30), True, "Bar-le-Duc", None, 20),
        ]
        await store.create_meeting(
            session,
            group_id=group_id,
            title="Parcours insuffisance cardiaque",
            theme=None,
            created_by=None,
            sessions=drafts,
        )
    alice, bruno = await member(bot, "Alice", profession="Pharmacien"), await member(bot, "Bruno")
    await alice.send("/rencontres")
    await alice.press("S'inscrire — Verdun")
    await bruno.send("/rencontres")
    await bruno.press(f"S'inscrire — Bar-le-Duc — {short_day(20)}")

    coordinator = bot.coordinator()
    await coordinator.send("/gerer")
    await coordinator.press("Parcours insuffisance cardiaque")
    await coordinator.press("Bar-le-Duc")
    await coordinator.press("Annuler la session")
    assert "La personne inscrite (ou en liste d'attente) sera prévenue" in coordinator.last_text
    await coordinator.press("Oui, annuler la session")

    await coordinator.send("/inscrits")
    await coordinator.press("Parcours insuffisance cardiaque")
    text = coordinator.messages()[-2]["text"]
    verdun, bar = text.split("\n\n")[1:3]
    assert "1 confirmé · ⏳ 0 en attente · 🪑 20 places" in verdun
    assert "Bar-le-Duc" in bar and "Session annulée. 1 personne y était inscrite" in bar and "confirmé" not in bar

    (filename, content, _) = bot.api.files(coordinator.id)[-1]
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["date", "horaire", "site", "adresse", "nom", "profession", "statut", "date d'inscription"]
    assert [r[:7] for r in rows[1:]] == [
        [
            day(10).strftime("%d/%m/%Y"),
            "14 h – 17 h",
            "Verdun",
            "Hôpital Saint-Nicolas",
            "Alice",
            "Pharmacien(ne)",
            "confirmé",
        ],
        [
            day(20).strftime("%d/%m/%Y"),
            "9 h – 12 h 30",
            "Bar-le-Duc",
            "",
            "Bruno",
            "Infirmier(ère) (IDE)",
            "session annulée",
        ],
    ]


# -- counts, "Usage", time style --------------------------------------------------------------


async def test_counts_of_one_read_in_the_singular(bot: BotHarness) -> None:
    _, (camille, alex, sam) = await seed_group(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/sondage")
    await coordinator.send("Qui prend la garde du 1er mai ?")
    await coordinator.send("Moi\nPas moi")
    await coordinator.press("C'est tout")
    await coordinator.press("Une seule")
    await coordinator.press("Nominatif")
    await coordinator.send("vendredi 18h")
    await coordinator.press("MSP des Tilleuls")
    await coordinator.press("Une profession")
    await coordinator.press("Médecin généraliste")
    assert "(1 destinataire)" in coordinator.last_text
    await coordinator.press("Envoyer")
    await bot.api.wait_for(lambda m: m["chat"]["id"] == alex.id and "poll" in m)

    await coordinator.send("/resultats")
    await coordinator.press("Qui prend la garde")
    assert "0 réponse sur 1 destinataire." in coordinator.reply_text

    await coordinator.send("/questionnaire")
    await coordinator.press("Nouveau questionnaire")
    await coordinator.send("Astreinte de mai")
    await coordinator.send("Êtes-vous disponible ?\nOui\nNon")
    await coordinator.press("C'est tout")
    await coordinator.send("vendredi 18h")
    await coordinator.press("MSP des Tilleuls")
    await coordinator.press("Une profession")
    await coordinator.press("Médecin généraliste")
    await coordinator.press("Envoyer")
    invite = await bot.api.wait_for(
        lambda m: m["chat"]["id"] == alex.id and "Astreinte de mai" in (m.get("text") or "")
    )
    assert "(1 question)" in invite["text"]

    await bot.application.bot_data["services"].outbox.settle()  # the dispatcher committed every answer
    await coordinator.send("/envois")
    newest = coordinator.reply_text.split("\n\n")[1]  # the questionnaire: one invitation to one person
    assert re.fullmatch(r".*\(\d+ \w+\.?, \d+ h(?: \d\d)?, 1 destinataire\)\n✅ 1 envoyé", newest, re.DOTALL), newest
    assert not re.search(r"\d\d:\d\d", coordinator.reply_text)  # "9 h 05", the one time style

    await coordinator.send("/signalements 1")
    assert coordinator.reply_text == "Aucun signalement sur le dernier jour."


async def test_counts_of_one_read_in_the_singular_in_english(bot: BotHarness) -> None:
    await seed_group(bot)
    coordinator = bot.person("Dominique", user_id=COORDINATOR_ID, language_code="en")
    await coordinator.send("/signalements 1")
    assert coordinator.reply_text == "No report over the last day."
    await coordinator.send("/signalements 30")
    assert coordinator.reply_text == "No report over the last 30 days."


async def test_commands_explain_themselves_with_an_example_not_usage(bot: BotHarness) -> None:
    coordinator = bot.coordinator()
    examples = {
        "/relancer": "par exemple /relancer 12",
        "/signalements beaucoup": "par exemple /signalements 30",
        "/cellule a b c": "par exemple /cellule @pseudo",
        "/coordinateur": "Tapez son @pseudo",  # a guided question, not a syntax to learn
    }
    for command, example in examples.items():
        await coordinator.send(command)
        assert example in coordinator.reply_text, command
        assert "Usage" not in coordinator.reply_text


async def test_the_next_digest_is_told_in_the_bot_time_style(bot: BotHarness) -> None:
    coordinator = bot.coordinator()
    await coordinator.send("/crise")
    assert re.search(r"Prochaine : (lundi) \d+ \w+ \d{4}, 8 h\.", coordinator.reply_text), coordinator.reply_text


# -- dates: examples that never go stale, spoken times, weeks ------------------------------------


async def test_the_date_examples_the_bot_shows_are_accepted_as_they_are(bot: BotHarness) -> None:
    await seed_group(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/sondage_dates")
    await coordinator.send("Réunion de printemps")
    examples = coordinator.reply_text.split("par exemple :\n", 1)[1].splitlines()
    assert len(examples) == 2
    for example in examples:  # the weekday written is the date's own, and the date is ahead
        parse_when(example, now=datetime.now(PARIS))
    await coordinator.send("\n".join(examples))
    assert "Créneaux (2/20)" in coordinator.reply_text

    await coordinator.send("/nouvelle_rencontre")
    await coordinator.send("Soins palliatifs à domicile")
    await coordinator.press("Passer")
    await coordinator.press("MSP des Tilleuls")
    [hint] = [line for line in coordinator.reply_text.splitlines() if line.startswith("Exemple")]
    for example in re.findall(r"« ([^»]+) »", hint):
        parse_when(example, now=datetime.now(PARIS))
    await coordinator.send(re.findall(r"« ([^»]+) »", hint)[0])
    assert "J'ai compris" in coordinator.reply_text


async def test_midi_et_demi_is_half_past_twelve(bot: BotHarness) -> None:
    await seed_group(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/nouvelle_rencontre")
    await coordinator.send("Soins palliatifs à domicile")
    await coordinator.press("Passer")
    await coordinator.press("MSP des Tilleuls")
    await coordinator.send("demain à midi et demi")
    expected = format_date(day(1), "EEEE d MMMM y", locale="fr")
    assert f"J'ai compris : {expected}, 12 h 30." in coordinator.reply_text


async def test_reminders_can_be_set_in_weeks(bot: BotHarness) -> None:
    await seed(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/rappels_rencontre")
    await coordinator.press("L'IA au service de la coordination")
    await coordinator.send("2 semaines, veille 18h")
    assert "Rappels de L'IA au service de la coordination : 14 jours avant, la veille à 18 h." in coordinator.reply_text
