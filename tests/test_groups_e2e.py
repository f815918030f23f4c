"""Groups from nothing: a real deployment starts on an empty database and reaches a registration.

The real bot over HTTP against the fake Bot API, on SQLite and PostgreSQL, with no sample data:
the coordinator creates the groups (/groupes, or guided on first contact), links a Telegram
group chat with the startgroup deep link, invites professionals with a `?start=g<id>` link,
and /start never ends on an empty list of groups.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import func, select
from telegram.ext import CommandHandler

from handlers.core.qr import qr_png
from storage.models import Group, Meeting, MeetingSession, Membership, Registration, User
from tests.harness import COORDINATOR_ID, BotHarness, Person

PARIS = ZoneInfo("Europe/Paris")
BOT = "relais_sante_test_bot"
HAVRE = "CPTS du Grand Havre"


# -- helpers ----------------------------------------------------------------------------------


def session_date_text(days_ahead: int = 20) -> str:
    """ "mercredi 17 juin 2026 de 14h à 17h", always in the future, weekday matching the date."""
    day = datetime.now(PARIS).date() + timedelta(days=days_ahead)
    return f"{format_date(day, 'EEEE d MMMM y', locale='fr')} de 14h à 17h"


def invite_payload(text: str) -> str:
    """The payload of the invitation link shown in a message (what /start receives)."""
    match = re.search(rf"https://t\.me/{BOT}\?start=(g\d+)", text)
    assert match, f"no invitation link in {text!r}"
    return match.group(1)


async def count(bot: BotHarness, model: type) -> int:
    async with bot.db.begin() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def create_group(admin: Person, name: str, slug: str | None = None) -> str:
    """/groupes → "Nouveau groupe" (or "Créer un groupe"), the name, then keep or type the short id."""
    await admin.send("/groupes")
    await admin.press("Créer un groupe" if "Aucun groupe" in admin.reply_text else "Nouveau groupe")
    assert "nom du groupe" in admin.reply_text
    await admin.send(name)
    assert "Identifiant court proposé" in admin.reply_text
    if slug is None:
        await admin.press("Garder")
    else:
        await admin.send(slug)
    assert f"Groupe « {name} » créé" in admin.reply_text
    return admin.reply_text


async def publish_meeting(admin: Person, group: str, title: str = "Parcours insuffisance cardiaque") -> None:
    """/nouvelle_rencontre through the bot: one session in Le Havre, 25 seats."""
    await admin.send("/nouvelle_rencontre")
    await admin.send(title)
    await admin.press("Passer")
    await admin.press(group)
    await admin.send(session_date_text())
    await admin.press("Oui, c'est ça")
    await admin.send("Le Havre, Maison de santé du Mont-Gaillard")
    await admin.send("25")
    await admin.press("Terminer")
    await admin.press("Publier")
    assert "est publiée" in admin.reply_text


async def group_row(bot: BotHarness, slug: str) -> Group:
    async with bot.db.begin() as session:
        group = await session.scalar(select(Group).where(Group.slug == slug))
        assert group is not None
        return group


def labels(person: Person) -> list[str]:
    return [label for label, _ in person.buttons()]


# -- 4. from an empty database to a registration --------------------------------------------


async def test_from_an_empty_database_to_a_registration(bot: BotHarness) -> None:
    assert await count(bot, Group) == 0 and await count(bot, Meeting) == 0  # migrated, nothing else

    # A professional who arrives first is told how to get in, not left in front of an empty list.
    early = bot.person("Sacha")
    await early.send("/start")
    assert "Aucun groupe n'est encore ouvert" in early.reply_text and "lien d'invitation" in early.reply_text
    assert "Terminé" not in " ".join(labels(early))
    await early.press("Pharmacien")
    assert "Aucun groupe n'est encore ouvert" in early.reply_text and "lien d'invitation" in early.reply_text
    assert early.buttons() == []  # no lone "Terminé" that would answer "Choisissez au moins un groupe"

    # The coordinator (COORDINATOR_IDS) is guided to create the first group.
    admin = bot.coordinator()
    await admin.send("/start")
    assert "aucun groupe n'existe encore : créons le premier" in admin.reply_text
    assert "nom du groupe" in admin.reply_text
    await admin.send(HAVRE)
    assert "Identifiant court proposé : cpts-du-grand-havre" in admin.reply_text
    await admin.press("Garder cpts-du-grand-havre")
    created = admin.reply_text
    assert f"Groupe « {HAVRE} » créé" in created and "/nouvelle_rencontre" in created
    payload = invite_payload(created)
    link = f"https://t.me/{BOT}?start={payload}"
    [(_, png, caption)] = bot.api.files(COORDINATOR_ID)
    assert png == qr_png(link) and link in (caption or "")  # the QR code encodes the invitation link

    # Then a meeting in that group.
    await publish_meeting(admin, HAVRE)

    # A professional opens the invitation link: profession, group joined, its next meeting, register.
    camille = bot.person("Camille", last_name="Martin")
    await camille.send(f"/start {payload}")
    assert f"invité(e) à rejoindre « {HAVRE} »" in camille.reply_text
    assert "Quelle est votre profession" in camille.reply_text
    await camille.press("Infirmier")
    joined = camille.reply_text
    assert f"Vous avez rejoint « {HAVRE} »" in joined
    assert "Parcours insuffisance cardiaque" in joined and "Le Havre" in joined
    await camille.press("S'inscrire")
    assert "Inscription confirmée" in camille.reply_text

    async with bot.db.begin() as session:
        group = await session.scalar(select(Group).where(Group.slug == "cpts-du-grand-havre"))
        user = await session.get(User, camille.id)
        assert user is not None and user.profession == "ide" and user.onboarded_at is not None
        assert await session.get(Membership, (camille.id, group.id)) is not None
        [registration] = (await session.scalars(select(Registration).where(Registration.user_id == camille.id))).all()
        assert registration.status == "confirmed"

    # The early professional gets the link too: the profession is known, the group joined at once.
    await early.send(f"/start {payload}")
    assert f"Vous avez rejoint « {HAVRE} »" in early.reply_text and "S'inscrire" in " ".join(labels(early))


# -- 1. /groupes: create (short id checked), rename, invitation, archive ----------------------


async def test_a_coordinator_creates_renames_and_archives_groups(bot: BotHarness) -> None:
    admin = bot.coordinator()
    await admin.send("/groupes")
    assert "Aucun groupe pour l'instant" in admin.reply_text
    await admin.press("Créer un groupe")
    await admin.send("MSP de Chaumont")
    assert "Identifiant court proposé : msp-de-chaumont" in admin.reply_text
    await admin.send("MSP Chaumont!")  # not a valid short id
    assert "ne convient pas" in admin.reply_text and "msp-chaumont" in admin.reply_text
    await admin.send("msp-52")
    assert "Groupe « MSP de Chaumont » créé" in admin.reply_text
    assert (await group_row(bot, "msp-52")).name == "MSP de Chaumont"

    # Same name: refused; a proposal never collides with a short id in use.
    await admin.send("/groupes")
    await admin.press("Nouveau groupe")
    await admin.send("msp de chaumont")
    assert "s'appelle déjà" in admin.reply_text
    await admin.send("MSP 52")
    assert "msp-52-2" in admin.reply_text  # "msp-52" is taken
    await admin.send("msp-52")
    assert "déjà pris" in admin.reply_text and "msp-52-2" in admin.reply_text
    await admin.send("Oui")  # the proposal, not a group whose short id is "oui"
    assert "Groupe « MSP 52 » créé (identifiant court msp-52-2)" in admin.reply_text

    # Rename: the name changes, the short id stays.
    await admin.send("/groupes")
    assert "MSP de Chaumont (msp-52)" in admin.reply_text and "MSP 52 (msp-52-2)" in admin.reply_text
    await admin.press("MSP de Chaumont")
    await admin.press("Renommer")
    await admin.send("MSP du Pays de Chaumont")
    assert "« MSP de Chaumont » s'appelle désormais « MSP du Pays de Chaumont »" in admin.reply_text
    assert (await group_row(bot, "msp-52")).name == "MSP du Pays de Chaumont"

    # Invitation link + QR code from the card.
    await admin.send("/groupes")
    await admin.press("MSP du Pays de Chaumont")
    await admin.press("Lien d'invitation")
    group = await group_row(bot, "msp-52")
    link = f"https://t.me/{BOT}?start=g{group.id}"
    assert link in admin.replies[0]["text"]
    assert admin.replies[1]["photo"] and bot.api.files(COORDINATOR_ID)[-1][1] == qr_png(link)

    # Archive (with a meeting in it): gone from pickers, /start and invitations; its data stays.
    await publish_meeting(admin, "MSP du Pays de Chaumont", "Réunion pluripro")
    sacha = bot.person("Sacha")
    await sacha.send(f"/start g{group.id}")
    await sacha.press("Pharmacien")
    assert "Vous avez rejoint" in sacha.reply_text
    await admin.send("/groupes")
    await admin.press("MSP du Pays de Chaumont")
    await admin.press("Archiver")
    assert "conservés" in admin.reply_text
    await admin.press("Oui, archiver")
    assert "est archivé" in admin.reply_text
    assert (await group_row(bot, "msp-52")).archived_at is not None
    assert await count(bot, Meeting) == 1 and await count(bot, Membership) == 1  # nothing deleted
    files = len(bot.api.files(COORDINATOR_ID))
    await admin.press_data(f"gp:inv:{group.id}")  # a button of an older message: no invitation for an archived group
    assert "est archivé : réactivez-le d'abord" in admin.reply_text and len(bot.api.files(COORDINATOR_ID)) == files

    newcomer = bot.person("Noa")
    await newcomer.send(f"/start g{group.id}")
    assert "n'est plus valable" in newcomer.reply_text and "Demandez un lien à jour" in newcomer.reply_text
    await newcomer.send("/start")
    await newcomer.press("Médecin généraliste")
    assert "MSP du Pays de Chaumont" not in " ".join(labels(newcomer)) and "MSP 52" in " ".join(labels(newcomer))
    await admin.send("/nouvelle_rencontre")
    await admin.send("Autre réunion")
    await admin.press("Passer")
    assert labels(admin) == ["MSP 52"]
    await admin.send("annuler")

    # Restored from the archived list.
    await admin.send("/groupes")
    await admin.press("Groupes archivés")
    await admin.press("MSP du Pays de Chaumont")
    await admin.press("Réactiver")
    assert "de nouveau actif" in admin.reply_text
    assert (await group_row(bot, "msp-52")).archived_at is None


async def test_a_group_coordinator_renames_and_invites_but_does_not_create_or_archive(bot: BotHarness) -> None:
    admin = bot.coordinator()
    await create_group(admin, "CPTS Nord-Meuse", "cpts-nord")
    await create_group(admin, "MSP du Sud", "msp-sud")
    lea = bot.person("Léa", username="lea_ide")
    await lea.send("/start")
    await admin.send("/coordinateur @lea_ide cpts-nord")
    assert "du groupe CPTS Nord-Meuse" in admin.reply_text

    await lea.send("/groupes")
    assert labels(lea) == ["CPTS Nord-Meuse"]  # her group only, no "Nouveau groupe"
    await lea.press("CPTS Nord-Meuse")
    assert "Renommer" in " ".join(labels(lea)) and "Archiver" not in " ".join(labels(lea))
    await lea.press("Lien d'invitation")
    nord = await group_row(bot, "cpts-nord")
    assert f"?start=g{nord.id}" in lea.replies[0]["text"]
    await lea.send("/groupes")
    await lea.press("CPTS Nord-Meuse")
    await lea.press("Renommer")
    await lea.send("CPTS du Nord meusien")
    assert "s'appelle désormais « CPTS du Nord meusien »" in lea.reply_text

    sud = await group_row(bot, "msp-sud")
    for data in (f"gp:arcok:{nord.id}", "gp:new:0", f"gp:ren:{sud.id}", f"gp:inv:{sud.id}", f"gp:open:{sud.id}"):
        await lea.press_data(data)
        assert "réservée aux coordinateurs" in lea.reply_text, data
    assert (await group_row(bot, "cpts-nord")).archived_at is None
    assert await count(bot, Group) == 2


# -- 1. linking a Telegram group chat with ?startgroup= ---------------------------------------


async def test_a_telegram_group_chat_is_linked_with_the_startgroup_link(bot: BotHarness) -> None:
    admin = bot.coordinator()
    await create_group(admin, HAVRE)
    group = await group_row(bot, "cpts-du-grand-havre")
    await admin.send("/groupes")
    await admin.press(HAVRE)
    startgroup = f"https://t.me/{BOT}?startgroup=g{group.id}"
    assert ("💬 Relier un groupe Telegram", startgroup) in admin.buttons()

    # Someone who does not coordinate the group tries the same link: refused, nothing stored.
    mallory = bot.person("Mallory")
    await mallory.send("/start")
    update = bot.api.start_in_group(mallory.user, -100_777, "Discussion au hasard", f"g{group.id}")
    await bot.handled(update)
    assert "Seul un coordinateur de ce groupe" in bot.api.messages(-100_777)[-1]["text"]
    assert (await group_row(bot, "cpts-du-grand-havre")).chat_id is None

    # The coordinator picks the group's chat in Telegram: the bot joins and gets /start g<id> there.
    update = bot.api.start_in_group(admin.user, -100_555, "CPTS Grand Havre — échanges", f"g{group.id}")
    await bot.handled(update)
    assert f"reliée au groupe « {HAVRE} »" in bot.api.messages(-100_555)[-1]["text"]
    assert "« CPTS Grand Havre — échanges » est relié" in bot.api.messages(COORDINATOR_ID)[-1]["text"]
    assert (await group_row(bot, "cpts-du-grand-havre")).chat_id == -100_555
    await admin.send("/groupes")
    assert "groupe Telegram : relié" in admin.reply_text

    # A stale link (archived group) says so in the chat and changes nothing.
    await admin.press(HAVRE)
    await admin.press("Délier")
    assert (await group_row(bot, "cpts-du-grand-havre")).chat_id is None
    await admin.send("/groupes")
    await admin.press(HAVRE)
    await admin.press("Archiver")
    await admin.press("Oui, archiver")
    update = bot.api.start_in_group(admin.user, -100_555, "CPTS Grand Havre — échanges", f"g{group.id}")
    await bot.handled(update)
    assert "aucun groupe ouvert" in bot.api.messages(-100_555)[-1]["text"]
    assert (await group_row(bot, "cpts-du-grand-havre")).chat_id is None


# -- 2. commands that take a group list the groups ------------------------------------------


async def test_coordinateur_lists_the_groups_as_buttons(bot: BotHarness) -> None:
    async with bot.db.begin() as session:  # groups as a previous version left them: ids nothing shows
        session.add_all([
            Group(slug="coordos-52", name="Coordinateurs de Haute-Marne (52)"),
            Group(slug="coordos-10", name="Coordinateurs de l'Aube (10)"),
        ])
    admin = bot.coordinator()
    lea = bot.person("Léa", username="lea_ide")
    await lea.send("/start")

    await admin.send("/coordinateur @lea_ide")
    assert "Léa : coordinateur ou coordinatrice de quel groupe" in admin.reply_text
    assert labels(admin) == ["Coordinateurs de Haute-Marne (52)", "Coordinateurs de l'Aube (10)", "Tous les groupes"]

    await admin.send("/coordinateur @lea_ide coordos-99")  # an id nothing shows: the valid ones, as buttons
    assert "Aucun groupe « coordos-99 »" in admin.reply_text
    await admin.press("Haute-Marne")
    assert "Léa est désormais coordinateur(rice) du groupe Coordinateurs de Haute-Marne (52)" in admin.reply_text
    await bot.api.wait_for(lambda m: m["chat"]["id"] == lea.id and "désormais coordinateur" in (m.get("text") or ""))

    await admin.send("/coordinateur")  # nothing typed: who, then which group
    assert "Tapez son @pseudo" in admin.reply_text
    await admin.send("@personne_inconnue")
    assert "Je ne connais pas" in admin.reply_text
    await admin.send("@lea_ide")
    await admin.press("Aube")
    assert "du groupe Coordinateurs de l'Aube (10)" in admin.reply_text
    async with bot.db.begin() as session:
        roles = (await session.scalars(select(Membership.role).where(Membership.user_id == lea.id))).all()
    assert roles == ["coordinator", "coordinator"]


# -- 3. first run, and /start never ends on an empty list -----------------------------------


async def test_a_new_meeting_on_an_empty_database_offers_to_create_the_group(bot: BotHarness) -> None:
    admin = bot.coordinator()
    await admin.send("/nouvelle_rencontre")
    assert "aucun groupe n'existe encore" in admin.reply_text
    await admin.press("Créer un groupe")
    await admin.send(HAVRE)
    await admin.press("Garder")
    assert f"Groupe « {HAVRE} » créé" in admin.reply_text
    await publish_meeting(admin, HAVRE)
    assert await count(bot, MeetingSession) == 1


async def test_start_never_ends_on_an_empty_group_list(bot: BotHarness) -> None:
    admin = bot.coordinator()
    await create_group(admin, HAVRE)
    group = await group_row(bot, "cpts-du-grand-havre")

    # Half-way through /start, the only group is archived.
    camille = bot.person("Camille")
    await camille.send("/start")
    alex = bot.person("Alex")
    await alex.send("/start")
    await alex.press("Infirmier")
    assert HAVRE in " ".join(labels(alex))
    await admin.send("/groupes")
    await admin.press(HAVRE)
    await admin.press("Archiver")
    await admin.press("Oui, archiver")

    await camille.press("Infirmier")  # the profession step now has no group to offer
    assert "Aucun groupe n'est encore ouvert" in camille.reply_text and labels(camille) == []
    await alex.press("Terminé")  # the list shown before the archive
    assert "Choisissez au moins un groupe" not in alex.reply_text
    assert "Aucun groupe n'est encore ouvert" in alex.last_text

    # A coordinator in the same situation is guided to create one.
    await admin.send("/start")
    assert "créons le premier" in admin.reply_text
    assert group.id


# -- 5. the README says how --------------------------------------------------------------------


async def test_the_readme_says_how_to_create_groups_and_invite(bot: BotHarness) -> None:
    """The set-up section names the commands the bot really has and the link it really gives."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Mettre le bot en service", 1)[1].split("\n## ", 1)[0]
    assert "/groupes" in section and "Lien d'invitation et QR code" in section and "Relier un" in section
    handlers = [h for group in bot.application.handlers.values() for h in group if isinstance(h, CommandHandler)]
    commands = {c for h in handlers for c in h.commands}
    assert set(re.findall(r"`/([a-z_]+)", section)) - {"newbot"} <= commands  # /newbot is @BotFather's

    admin = bot.coordinator()
    created = await create_group(admin, HAVRE)
    documented = re.search(r"`(https://t\.me/<bot>\?start=g)<numéro>`", section)
    assert documented and documented.group(1).replace("<bot>", BOT) + invite_payload(created)[1:] in created


async def test_many_groups_still_fit_in_one_message(bot: BotHarness) -> None:
    """A region with a hundred groups: /groupes and /coordinateur stay under Telegram's limits."""
    async with bot.db.begin() as session:
        session.add_all(
            Group(slug=f"cpts-{n:03d}", name=f"Communauté professionnelle territoriale de santé n° {n:03d} — {'x' * 60}")
            for n in range(100)
        )
    admin = bot.coordinator()
    await admin.send("/groupes")
    assert "autres groupes (boutons ci-dessous)" in admin.reply_text  # the message was accepted (4,096 characters at most)
    assert len(admin.buttons()) <= 100
    lea = bot.person("Léa", username="lea_ide")
    await lea.send("/start")
    await admin.send("/coordinateur @lea_ide")
    assert "de quel groupe" in admin.reply_text and len(admin.buttons()) <= 100
