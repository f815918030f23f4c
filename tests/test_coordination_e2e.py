"""A coordinator's story, end to end: create, follow, change and share meetings.

The real bot, over HTTP, against the fake Bot API, on SQLite and PostgreSQL. Dates are typed
the way coordinators type them; the weekday is computed so the story stays true every year
(the parser checks that "vendredi 3 avril" really is a Friday).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import func, select, update

from bot.dates import When, format_when
from storage import meetings as store
from storage.models import Dialog, Group, Meeting, MeetingSession, OutboxMessage, Registration, utcnow
from tests.harness import COORDINATOR_ID, BotHarness, Person

PARIS = ZoneInfo("Europe/Paris")
NORD, SUD = "CPTS Nord-Meuse", "MSP du Sud"
BOT_LINK = "https://t.me/relais_sante_test_bot?start=r"


# -- helpers --------------------------------------------------------------------------------


def weekday(day: date) -> str:
    return format_date(day, "EEEE", locale="fr")


def april_3_next_year() -> date:
    return date(datetime.now(PARIS).year + 1, 4, 3)


def next_february_3() -> date:
    today = datetime.now(PARIS).date()
    candidate = date(today.year, 2, 3)
    return candidate if candidate > today else date(today.year + 1, 2, 3)


def first_session_text() -> str:
    """ "vendredi 3 avril 2027 de 9h à 12h", with the weekday that date really has."""
    day = april_3_next_year()
    return f"{weekday(day)} 3 avril {day.year} de 9h à 12h"


def second_session_text() -> str:
    """ "mardi 3 février au matin" (no year: the next 3 February)."""
    return f"{weekday(next_february_3())} 3 février au matin"


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS)


async def seed_groups(bot: BotHarness) -> dict[str, int]:
    async with bot.db.begin() as session:
        groups = [Group(slug="cpts-nord", name=NORD, kind="cpts"), Group(slug="msp-sud", name=SUD, kind="msp")]
        session.add_all(groups)
        await session.flush()
        return {g.slug: g.id for g in groups}


async def seed_meeting(bot: BotHarness, group_id: int, *, title: str = "Parcours insuffisance cardiaque", capacity: int | None = 20) -> list[int]:
    """A published meeting with two sessions (Verdun in 10 days, Bar-le-Duc in 20); returns session ids."""
    day = datetime.now(PARIS).date()
    drafts = [
        store.SessionDraft(at(day + timedelta(days=10), 14), at(day + timedelta(days=10), 17), True, "Verdun", "Hôpital Saint-Nicolas", capacity),
        store.SessionDraft(at(day + timedelta(days=20), 14), at(day + timedelta(days=20), 17), True, "Bar-le-Duc", None, capacity),
    ]
    async with bot.db.begin() as session:
        meeting = await store.create_meeting(session, group_id=group_id, title=title, theme=None, created_by=None, sessions=drafts)
        return [ms.id for ms in sorted(meeting.sessions, key=lambda ms: ms.starts_at)]


async def professional(bot: BotHarness, name: str, group: str = NORD, *, profession: str = "Infirmier", language_code: str = "fr", username: str | None = None) -> Person:
    person = bot.person(name, language_code=language_code, username=username)
    await person.send("/start")
    await person.press(profession)
    await person.press(group)
    await person.press("Terminé" if language_code == "fr" else "Done")
    return person


async def register(person: Person, site: str) -> None:
    await person.send("/rencontres")
    await person.press(f"— {site}")


def recent(person: Person, n: int = 3) -> str:
    """The chat's last `n` messages as they read now (a pressed button often edits its message)."""
    return "\n---\n".join(m.get("text") or m.get("caption") or "" for m in person.messages()[-n:])


async def forge(bot: BotHarness, person: Person, data: str) -> dict[str, Any]:
    """A callback the person's client was never shown (a modified client, an old screenshot…)."""
    api = bot.api
    person._new_messages()
    message = person.messages()[-1]
    query_id = str(next(api._callback_ids))
    api._open_callbacks.add(query_id)
    pushed = api.push_update(
        {"callback_query": {"id": query_id, "from": person.user, "message": message, "chat_instance": "1", "data": data}}
    )
    await bot.handled(pushed)
    person.replies = person._new_messages()
    return bot.api.callback_answers.get(query_id, {})


async def snapshot(bot: BotHarness) -> dict[str, Any]:
    """Everything a coordinator action could change."""
    async with bot.db.begin() as session:
        sessions = (
            await session.execute(
                select(MeetingSession.id, MeetingSession.status, MeetingSession.version, MeetingSession.capacity, MeetingSession.starts_at, MeetingSession.site).order_by(MeetingSession.id)
            )
        ).all()
        registrations = (await session.execute(select(Registration.id, Registration.status).order_by(Registration.id))).all()
        return {
            "meetings": await session.scalar(select(func.count()).select_from(Meeting)),
            "sessions": [tuple(row) for row in sessions],
            "registrations": [tuple(row) for row in registrations],
            "outbox": await session.scalar(select(func.count()).select_from(OutboxMessage)),
            "dialogs": await session.scalar(select(func.count()).select_from(Dialog)),
        }


async def meetings_in_db(bot: BotHarness) -> list[Meeting]:
    async with bot.db.begin() as session:
        ids = list(await session.scalars(select(Meeting.id).order_by(Meeting.id)))
        return [m for m in [await store.get_meeting(session, i) for i in ids] if m is not None]


async def start_new_meeting(coordinator: Person, title: str = "Soins palliatifs à domicile") -> None:
    await coordinator.send("/nouvelle_rencontre")
    assert "Nouvelle rencontre" in coordinator.reply_text
    await coordinator.send(title)
    assert "thème" in coordinator.reply_text


# -- /nouvelle_rencontre ----------------------------------------------------------------------


async def test_coordinator_creates_a_two_session_meeting_that_professionals_then_see(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator, "Soins palliatifs à domicile : parcours ville-hôpital")
    await coordinator.send("Coordonner l'HAD, les IDE libérales et l'équipe mobile.")
    assert "Pour quel groupe" in coordinator.reply_text
    assert {label for label, _ in coordinator.buttons()} == {NORD, SUD}
    await coordinator.press(NORD)

    await coordinator.send(first_session_text())
    first = When(at(april_3_next_year(), 9), at(april_3_next_year(), 12))
    assert format_when(first, "fr") in coordinator.reply_text  # "samedi 3 avril 2027, 9 h – 12 h"
    assert "C'est bien ça" in coordinator.reply_text
    await coordinator.press("Oui, c'est ça")
    assert "Où se tiendra" in coordinator.reply_text
    await coordinator.send("Verdun, Hôpital Saint-Nicolas")
    assert "Combien de places" in coordinator.reply_text
    await coordinator.send("30")
    assert "Session n° 1" in coordinator.reply_text

    await coordinator.press("Ajouter une autre session")
    assert "session n° 2" in coordinator.reply_text
    await coordinator.send(second_session_text())
    assert "3 février" in coordinator.reply_text and "matin" in coordinator.reply_text
    await coordinator.press("Oui, c'est ça")
    await coordinator.press("Lieu à définir")
    await coordinator.press("Sans limite")
    await coordinator.press("Terminer")
    summary = coordinator.reply_text
    assert "Récapitulatif" in summary and "2 sessions" in summary
    assert "Verdun, Hôpital Saint-Nicolas — 30 places" in summary
    assert "lieu à définir — sans limite" in summary
    await coordinator.press("Publier")
    published = coordinator.reply_text
    assert "est publiée" in published
    assert published.count(BOT_LINK) == 2

    [meeting] = await meetings_in_db(bot)
    assert meeting.title == "Soins palliatifs à domicile : parcours ville-hôpital"
    assert meeting.theme == "Coordonner l'HAD, les IDE libérales et l'équipe mobile."
    sessions = sorted(meeting.sessions, key=lambda ms: ms.starts_at)
    february, april = sessions
    assert (april.site, april.address, april.capacity) == ("Verdun", "Hôpital Saint-Nicolas", 30)
    assert april.starts_at == at(april_3_next_year(), 9) and april.ends_at == at(april_3_next_year(), 12)
    assert (february.site, february.capacity) == (None, None)
    assert february.starts_at.astimezone(PARIS).date() == next_february_3()
    assert f"{BOT_LINK}{april.id}" in published and f"{BOT_LINK}{february.id}" in published

    camille = await professional(bot, "Camille")
    await camille.send("/rencontres")
    seen = camille.reply_text
    assert "Soins palliatifs à domicile" in seen and "2 sessions à venir" in seen
    assert seen.index("3 février") < seen.index("3 avril")
    await camille.press("S'inscrire — Verdun")
    assert "Inscription confirmée" in camille.reply_text


async def test_theme_can_be_skipped_and_length_limits_are_explained(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/nouvelle_rencontre")
    await coordinator.send("T" * 201)
    assert "201 caractères" in coordinator.reply_text and "200 au plus" in coordinator.reply_text
    await coordinator.send("Titre correct")
    await coordinator.send("x" * 1001)
    assert "1001 caractères" in coordinator.reply_text and "1000 au plus" in coordinator.reply_text
    await coordinator.press("Passer")
    assert "Sans thème" in coordinator.last_text or "Pour quel groupe" in coordinator.reply_text
    await coordinator.press(SUD)
    assert "Quand a lieu la session n° 1" in coordinator.reply_text


async def test_bad_dates_and_past_dates_are_explained_and_the_step_repeats(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator)
    await coordinator.press("Passer")
    await coordinator.press(NORD)

    await coordinator.send("le jour où les poules auront des dents")
    assert "Je n’ai pas compris la date" in coordinator.reply_text and "Exemple" in coordinator.reply_text
    await coordinator.send("3 janvier 2020 à 14h")
    assert "déjà passée" in coordinator.reply_text and "Exemple" in coordinator.reply_text
    wrong_friday = april_3_next_year()
    while wrong_friday.weekday() == 4:  # a year whose 3 April is not a Friday
        wrong_friday = date(wrong_friday.year + 1, 4, 3)
    await coordinator.send(f"vendredi 3 avril {wrong_friday.year} de 9h à 12h")
    assert f"tombe un {weekday(wrong_friday)}, pas un vendredi" in coordinator.reply_text

    # Still at the date step: a good date is now accepted, a correction replaces it, and the
    # first proposal's "Oui" button no longer confirms anything.
    await coordinator.send(first_session_text())
    assert "C'est bien ça" in coordinator.reply_text
    first_proposal = coordinator.latest_with_keyboard()
    await coordinator.send(second_session_text())
    _, stale_yes = coordinator.find_button("Oui, c'est ça", first_proposal)
    await coordinator.press_data(stale_yes, message=first_proposal)
    async with bot.db.begin() as session:
        d = await session.get(Dialog, (coordinator.id, coordinator.id))
        assert d is not None and d.step == "date_confirm"
    await coordinator.press("Non, je corrige")
    assert "retapez la date" in coordinator.last_text
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    assert "Où se tiendra" in coordinator.reply_text


async def test_capacity_answers_are_checked(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator)
    await coordinator.press("Passer")
    await coordinator.press(NORD)
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    await coordinator.send("Bar-le-Duc")
    refusals = (
        ("0", "0 place"), ("-4", "négatif"), ("beaucoup", "n'est pas un nombre"), ("20000", "Sans limite"),
        ("12.5", "« 12.5 » : un nombre de places est un nombre entier"), ("12,5", "nombre entier"),
        ("3 à 5", "n'est pas un nombre"),
    )
    for typed, expected in refusals:
        await coordinator.send(typed)
        assert expected in coordinator.reply_text, typed
    async with bot.db.begin() as session:
        d = await session.get(Dialog, (coordinator.id, coordinator.id))
        assert d is not None and d.step == "capacity"
    await coordinator.send("25 places")
    assert "25 places" in coordinator.reply_text and "Session n° 1" in coordinator.reply_text


async def test_cancel_word_leaves_and_nothing_is_saved(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator)
    await coordinator.press("Passer")
    await coordinator.press(NORD)
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    await coordinator.send("Annuler")
    assert "rien n'a été enregistré" in coordinator.reply_text
    state = await snapshot(bot)
    assert state["meetings"] == 0 and state["dialogs"] == 0
    await coordinator.send("Verdun")  # no conversation any more: a hint, not a meeting
    assert "/aide" in coordinator.reply_text
    assert (await snapshot(bot))["meetings"] == 0


async def test_an_idle_conversation_expires_cleanly(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator)
    async with bot.db.begin() as session:
        await session.execute(update(Dialog).values(updated_at=utcnow() - timedelta(hours=2)))
    await coordinator.send("Un thème tardif")
    assert "expiré" in coordinator.reply_text
    state = await snapshot(bot)
    assert state["meetings"] == 0 and state["dialogs"] == 0


async def test_an_idle_conversation_expires_on_a_button_too(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator)
    async with bot.db.begin() as session:
        await session.execute(update(Dialog).values(updated_at=utcnow() - timedelta(hours=2)))
    await coordinator.press("Passer")
    assert "expiré" in coordinator.last_text
    assert (await snapshot(bot))["dialogs"] == 0


async def test_the_conversation_survives_a_restart(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator, "Rencontre après redémarrage")
    await coordinator.press("Passer")
    await coordinator.press(SUD)
    await coordinator.send(first_session_text())

    await bot.stop()  # the process goes away mid-conversation…
    restarted = BotHarness(bot.api, bot.db)  # …and a new one starts on the same database
    await restarted.start()
    try:
        again = Person(restarted, coordinator.user, seen=coordinator.seen)
        await again.press("Oui, c'est ça")
        assert "Où se tiendra" in again.reply_text
        await again.send("Saint-Dizier")
        await again.send("12")
        await again.press("Terminer")
        await again.press("Publier")
        assert again.reply_text.count(BOT_LINK) == 1
    finally:
        await restarted.stop()
    [meeting] = await meetings_in_db(bot)
    assert meeting.title == "Rencontre après redémarrage" and meeting.sessions[0].site == "Saint-Dizier"


async def test_abandon_at_the_summary_publishes_nothing(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await start_new_meeting(coordinator)
    await coordinator.press("Passer")
    await coordinator.press(NORD)
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    await coordinator.press("Lieu à définir")
    await coordinator.press("Sans limite")
    await coordinator.press("Terminer")
    await coordinator.press("Abandonner")
    assert "rien n'a été publié" in coordinator.last_text
    assert (await snapshot(bot))["meetings"] == 0


# -- /inscrits --------------------------------------------------------------------------------


async def test_registrants_counts_and_csv(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    await seed_meeting(bot, groups["cpts-nord"], capacity=1)
    alice = await professional(bot, "Alice", profession="Pharmacien")
    bruno = await professional(bot, "Bruno", profession="Infirmier")
    chloe = await professional(bot, "Chloé")
    for person in (alice, bruno, chloe):
        await register(person, "Verdun")
    async with bot.db.begin() as session:  # Chloé asked to be forgotten
        await session.execute(update(Registration).where(Registration.user_id == chloe.id).values(user_id=None))

    coordinator = bot.coordinator()
    await coordinator.send("/inscrits")
    await coordinator.press("Parcours insuffisance cardiaque")
    counts = recent(coordinator, 2)
    assert "1 confirmé · ⏳ 2 en attente · 🪑 1 place" in counts
    assert "0 confirmé · ⏳ 0 en attente · 🪑 1 place" in counts  # Bar-le-Duc

    [(filename, content, caption)] = bot.api.files(coordinator.id)
    assert filename.endswith(".csv") and "Liste des inscrits" in (caption or "")
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: French Excel reads the accents
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["date", "horaire", "site", "adresse", "nom", "profession", "statut", "date d'inscription"]
    body = rows[1:]
    assert [(r[4], r[5], r[6]) for r in body] == [
        ("Alice", "Pharmacien(ne)", "confirmé"),
        ("Bruno", "Infirmier(ère) (IDE)", "liste d'attente"),
        ("(anonymisé)", "", "liste d'attente"),
    ]
    verdun_day = (datetime.now(PARIS).date() + timedelta(days=10)).strftime("%d/%m/%Y")
    assert all(r[:4] == [verdun_day, "14 h – 17 h", "Verdun", "Hôpital Saint-Nicolas"] for r in body)
    stamp = datetime.strptime(body[0][7], "%d/%m/%Y %H:%M").replace(tzinfo=PARIS)
    assert abs(stamp - datetime.now(PARIS)) < timedelta(minutes=5)  # Paris time, not UTC


# -- /gerer -----------------------------------------------------------------------------------


async def open_session_menu(coordinator: Person, site: str, meeting: str = "Parcours insuffisance cardiaque") -> None:
    await coordinator.send("/gerer")
    await coordinator.press(meeting)
    await coordinator.press(site)
    assert "Que voulez-vous changer" in coordinator.last_text


async def test_new_date_is_confirmed_and_every_registrant_is_told_in_their_language(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    verdun, _ = await seed_meeting(bot, groups["cpts-nord"], capacity=1)
    alice = await professional(bot, "Alice")
    sam = await professional(bot, "Sam", profession="Nurse", language_code="en")
    await sam.send("/langue")  # the language chosen is what messages sent later use
    await sam.press("English")
    await register(alice, "Verdun")
    await sam.send("/rencontres")
    await sam.press("Register — Verdun")  # waiting list: told as well

    coordinator = bot.coordinator()
    await open_session_menu(coordinator, "Verdun")
    await coordinator.press("Modifier la date")
    assert "Quelle est la nouvelle date" in coordinator.last_text
    await coordinator.send("hier")
    assert "déjà passée" in coordinator.reply_text
    await coordinator.send(first_session_text())
    await coordinator.press("Oui, c'est ça")
    assert "Nouvelle date enregistrée" in coordinator.last_text and "2 inscrits prévenus" in coordinator.last_text

    day = april_3_next_year()
    told_fr = await bot.api.wait_for(lambda m: m["chat"]["id"] == alice.id and "Changement de date" in (m.get("text") or ""))
    assert f"3 avril {day.year}" in told_fr["text"] and "9 h – 12 h" in told_fr["text"]
    told_en = await bot.api.wait_for(lambda m: m["chat"]["id"] == sam.id and "Date change" in (m.get("text") or ""))
    assert f"3 April {day.year}" in told_en["text"]
    async with bot.db.begin() as session:
        ms = await session.get(MeetingSession, verdun)
        assert ms is not None and ms.starts_at == at(day, 9) and ms.version == 1


async def test_new_place_is_told_to_registrants(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    await seed_meeting(bot, groups["cpts-nord"])
    alice = await professional(bot, "Alice")
    await register(alice, "Bar-le-Duc")
    coordinator = bot.coordinator()
    await open_session_menu(coordinator, "Bar-le-Duc")
    await coordinator.press("Modifier le lieu")
    await coordinator.send("Bar-le-Duc, Salle Dumas")
    assert "Nouveau lieu enregistré : Bar-le-Duc, Salle Dumas" in coordinator.reply_text
    told = await bot.api.wait_for(lambda m: m["chat"]["id"] == alice.id and "Changement de lieu" in (m.get("text") or ""))
    assert "Salle Dumas" in told["text"]


async def test_raising_capacity_promotes_the_waiting_list(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    await seed_meeting(bot, groups["cpts-nord"], capacity=1)
    first, second = await professional(bot, "Alice"), await professional(bot, "Bruno")
    await register(first, "Verdun")
    await register(second, "Verdun")
    assert "liste d'attente" in second.reply_text

    coordinator = bot.coordinator()
    await open_session_menu(coordinator, "Verdun")
    await coordinator.press("Modifier la capacité")
    await coordinator.send("0")
    assert "0 place" in coordinator.reply_text
    await coordinator.send("1.5")  # not read as 15
    assert "nombre entier" in coordinator.reply_text and "Capacité enregistrée" not in coordinator.reply_text
    await coordinator.send("2")
    assert "Capacité enregistrée : 2 places" in coordinator.reply_text
    assert "1 personne de la liste d'attente obtient une place" in coordinator.reply_text
    promoted = await bot.api.wait_for(lambda m: m["chat"]["id"] == second.id and "place s'est libérée" in (m.get("text") or ""))
    assert "Parcours insuffisance cardiaque" in promoted["text"]


async def test_cancelled_session_is_told_and_no_longer_offered(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    verdun, _ = await seed_meeting(bot, groups["cpts-nord"])
    alice = await professional(bot, "Alice")
    await register(alice, "Verdun")
    heard: list[tuple[int, str, str]] = []

    async def listener(session: Any, ms: MeetingSession, kind: str) -> None:  # what reminders will plug in
        heard.append((ms.id, ms.status, kind))

    listeners = bot.application.bot_data["services"].wiring.session_listeners
    listeners.append(listener)
    try:
        await cancel_verdun(bot, alice, verdun)
    finally:
        listeners.remove(listener)
    assert heard == [(verdun, "cancelled", "cancelled")]


async def cancel_verdun(bot: BotHarness, alice: Person, verdun: int) -> None:
    coordinator = bot.coordinator()
    await open_session_menu(coordinator, "Verdun")
    await coordinator.press("Annuler la session")
    assert "Ce n'est pas réversible" in coordinator.last_text
    await coordinator.press("Non, la garder")
    assert (await snapshot(bot))["sessions"][0][1] == "open"
    await open_session_menu(coordinator, "Verdun")
    await coordinator.press("Annuler la session")
    await coordinator.press("Oui, annuler la session")
    assert "Session annulée" in coordinator.last_text and "1 inscrit(e) prévenu(e)" in coordinator.last_text

    told = await bot.api.wait_for(lambda m: m["chat"]["id"] == alice.id and "Session annulée" in (m.get("text") or ""))
    assert "Parcours insuffisance cardiaque" in told["text"]
    await alice.send("/rencontres")
    assert "Verdun" not in alice.reply_text and "Bar-le-Duc" in alice.reply_text
    async with bot.db.begin() as session:
        ms = await session.get(MeetingSession, verdun)
        assert ms is not None and ms.status == "cancelled"


# -- /lien --------------------------------------------------------------------------------------


async def test_link_and_qr_code_per_session(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    verdun, bar = await seed_meeting(bot, groups["cpts-nord"])
    coordinator = bot.coordinator()
    await coordinator.send("/lien")
    await coordinator.press("Parcours insuffisance cardiaque")
    assert f"{BOT_LINK}{verdun}" in coordinator.reply_text and f"{BOT_LINK}{bar}" in coordinator.reply_text
    files = bot.api.files(coordinator.id)
    assert len(files) == 2
    for (_, content, caption), session_id in zip(files, (verdun, bar), strict=True):
        assert content.startswith(b"\x89PNG\r\n\x1a\n")
        assert f"{BOT_LINK}{session_id}" in (caption or "")


# -- who may do what ----------------------------------------------------------------------------


async def test_a_professional_is_refused_everything_and_nothing_changes(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    verdun, _ = await seed_meeting(bot, groups["cpts-nord"], capacity=1)
    mallory = await professional(bot, "Mallory")
    await register(mallory, "Verdun")
    async with bot.db.begin() as session:
        meeting_id = (await session.get(MeetingSession, verdun)).meeting_id  # type: ignore[union-attr]
    before = await snapshot(bot)

    for command in ("/nouvelle_rencontre", "/inscrits", "/gerer", "/lien", f"/coordinateur {mallory.id}"):
        await mallory.send(command)
        assert "réservée aux coordinateurs" in mallory.reply_text, command
    for data in (
        f"co:ins:{meeting_id}",
        f"co:lnk:{meeting_id}",
        f"co:ger:{meeting_id}",
        f"co:ses:{verdun}",
        f"co:cap:{verdun}",
        f"co:nolim:{verdun}",
        f"co:cxl:{verdun}",
        f"co:cxlok:{verdun}",
        f"co:dok:{verdun}:1",
        "nr:pub:0",
        f"nr:grp:{groups['cpts-nord']}",
    ):
        answer = await forge(bot, mallory, data)
        assert "réservée aux coordinateurs" in mallory.reply_text, data
        assert answer.get("show_alert") and "réservée aux coordinateurs" in answer.get("text", ""), data
    assert await snapshot(bot) == before
    assert bot.api.files(mallory.id) == []
    await mallory.send("/aide")
    assert "/nouvelle_rencontre" not in mallory.reply_text
    await bot.coordinator().send("/aide")
    assert "/nouvelle_rencontre" in bot.api.sent(COORDINATOR_ID)[-1]["text"]


async def test_a_group_coordinator_manages_only_their_group(bot: BotHarness) -> None:
    groups = await seed_groups(bot)
    await seed_meeting(bot, groups["cpts-nord"], title="Réunion du Nord")
    sud_verdun, _ = await seed_meeting(bot, groups["msp-sud"], title="Réunion du Sud")
    lea = await professional(bot, "Léa", username="lea_ide")

    admin = bot.coordinator()
    await admin.send("/coordinateur @lea_ide cpts-nord")
    assert "Léa est désormais coordinateur(rice) du groupe CPTS Nord-Meuse" in admin.reply_text
    await bot.api.wait_for(lambda m: m["chat"]["id"] == lea.id and "Vous êtes désormais coordinateur" in (m.get("text") or ""))

    await lea.send("/gerer")
    labels = [label for label, _ in lea.buttons()]
    assert any("Réunion du Nord" in label for label in labels)
    assert not any("Réunion du Sud" in label for label in labels)
    await lea.press("Réunion du Nord")
    await lea.press("Verdun")
    assert "Que voulez-vous changer" in lea.last_text

    async with bot.db.begin() as session:
        sud_meeting = (await session.get(MeetingSession, sud_verdun)).meeting_id  # type: ignore[union-attr]
    before = await snapshot(bot)
    for data in (f"co:ger:{sud_meeting}", f"co:ins:{sud_meeting}", f"co:ses:{sud_verdun}", f"co:cxlok:{sud_verdun}", f"co:date:{sud_verdun}"):
        await forge(bot, lea, data)
        assert "réservée aux coordinateurs" in lea.reply_text, data
    assert await snapshot(bot) == before

    await lea.send("/nouvelle_rencontre")
    await lea.send("Réunion de Léa")
    await lea.press("Passer")
    assert [label for label, _ in lea.buttons()] == [NORD]  # only the groups she coordinates
    await forge(bot, lea, f"nr:grp:{groups['msp-sud']}")
    assert "réservée aux coordinateurs" in lea.reply_text

    await lea.send(f"/coordinateur {admin.id}")  # the groups she may appoint to, as buttons; "all groups" is not offered
    assert [label for label, _ in lea.buttons()] == [NORD]
    answer = await forge(bot, lea, f"gp:apt:0:{admin.id}")  # every group: an administrator's call only
    assert "Seul un administrateur" in answer.get("text", "") and "Seul un administrateur" in lea.reply_text
    await forge(bot, lea, f"gp:apt:{groups['msp-sud']}:{admin.id}")
    assert "réservée aux coordinateurs" in lea.reply_text
