"""RGPD rights end to end: /mesdonnees sends everything, /oublier erases it, old data is purged."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

from sqlalchemy import func, insert, select

from bot.config import Settings
from handlers import FEATURES
from handlers.account.retention import run_purge
from bot.sample_data import load_samples
from bot.services import Services
from storage import dialogs, outbox
from storage import meetings as meetings_store
from storage.all_models import Base
from storage.db import Database
from storage.meetings import SessionDraft
from storage.models import Group, Meeting, MeetingSession, Membership, OutboxMessage, Registration, User, utcnow
from storage.privacy import person_columns, personal_tables
from storage.privacy_models import is_pseudonym
from tests.harness import BotHarness, Person
from tests.test_permissions import dump_tables, quiet_bot  # noqa: F401  (fixture)

GHT = "GHT Cœur Grand Est"
_query_ids = itertools.count(7_000_000_001)


async def forge_press(bot: BotHarness, person: Person, data: str) -> None:
    """A callback query with `data` on the person's newest message, as a modified client sends."""
    message = person.messages()[-1]
    qid = str(next(_query_ids))
    bot.api._open_callbacks.add(qid)  # Telegram lets the bot answer any query it delivered
    update = bot.api.push_update({"callback_query": {"id": qid, "from": person.user, "message": message, "chat_instance": "1", "data": data}})
    person._new_messages()
    await bot.handled(update)
    person.replies = person._new_messages()


async def registered_pair(bot: BotHarness) -> tuple[Person, Person, int]:
    """Camille and Lou, both onboarded and registered to the Verdun session."""
    async with bot.db.begin() as session:
        await load_samples(session, now=utcnow())
    camille, lou = bot.person("Camille", last_name="Martin", username="camille_m"), bot.person("Lou")
    for person in (camille, lou):
        await person.onboard("Infirmier", (GHT,))
        await person.send("/rencontres")
        await person.press("S'inscrire — Verdun")
        assert "Inscription confirmée" in person.reply_text
    async with bot.db.begin() as session:
        session_id = await session.scalar(select(MeetingSession.id).where(MeetingSession.site == "Verdun"))
    return camille, lou, session_id


async def poll_and_report(bot: BotHarness, camille: Person) -> tuple[int, int]:
    """A poll Camille and Lou received and voted on, and a field report Camille sent."""
    from storage import crisis as crisis_store
    from storage import polls as polls_store

    now = utcnow()
    async with bot.db.begin() as session:
        group_id = await session.scalar(select(Group.id).where(Group.slug == "ght-coeur-grand-est"))
        poll, recipients = await polls_store.create_poll(
            session, kind=polls_store.QUICK, question="Thème ?", options=[polls_store.OptionDraft("A"), polls_store.OptionDraft("B")],
            audience=polls_store.Audience("group", group_id), closes_at=now + timedelta(days=3), created_by=None,
        )
        for _, user_id in recipients:
            await polls_store.set_votes(session, poll, user_id, [0], now)
        report = await crisis_store.create_report(session, user_id=camille.id, data={"category": "shortage", "commune": "Verdun", "text": "rupture"}, now=now)
        return poll.id, report.id


async def confirmed_count(bot: BotHarness, session_id: int) -> int:
    async with bot.db.begin() as session:
        return await session.scalar(
            select(func.count()).select_from(Registration).where(Registration.session_id == session_id, Registration.status == "confirmed")
        ) or 0


def exported(bot: BotHarness, person: Person) -> tuple[dict, str | None]:
    name, content, caption = bot.api.files(person.id)[-1]
    assert name == "mes-donnees-relais-sante.json"
    return json.loads(content), caption


async def test_my_data_sends_a_json_file_with_everything_that_names_me(bot: BotHarness) -> None:
    camille, _, session_id = await registered_pair(bot)
    async with bot.db.begin() as session:
        await outbox.enqueue(
            session, purpose="test:later", chat_id=camille.id, user_id=camille.id,
            payload={"text": "plus tard"}, due_at=utcnow() + timedelta(days=30),
        )
    await camille.send("/mesdonnees")
    data, caption = exported(bot, camille)
    assert "tout ce que Relais Santé conserve" in (caption or "")
    profile = data["Votre profil"]
    assert profile["Prénom"] == "Camille" and profile["Nom"] == "Martin" and profile["Pseudo Telegram"] == "camille_m"
    assert profile["Profession"] == "Infirmier(ère) (IDE)" and profile["Votre identifiant Telegram"] == camille.id
    mine = data["Vos données"]
    assert [m["Groupe n°"] for m in mine["Groupes suivis"]]
    assert [(r["Session n°"], r["État"]) for r in mine["Inscriptions aux rencontres"]] == [(session_id, "confirmée")]
    sent_to_me = mine["Messages qui vous sont adressés"]
    assert any(row["Objet"] == "test:later" and row["Contenu"] == "plus tard" for row in sent_to_me)
    assert all(row.get("Votre identifiant Telegram") in (camille.id, None) for rows in mine.values() for row in rows)


async def test_the_export_covers_every_table_that_holds_a_person() -> None:
    """Generic on purpose: a feature's table with a user column is exported and forgotten too."""
    covered = {table.name for table, _ in personal_tables()}
    for table in Base.metadata.sorted_tables:
        if table.name == "users":
            continue
        names = {c.name for c in table.columns}
        refs_users = any(fk.column.table.name == "users" for c in table.columns for fk in c.foreign_keys)
        if refs_users or names & {"user_id", "created_by"}:
            assert table.name in covered, table.name
    assert {c.name for c in person_columns(Base.metadata.tables["registrations"])} == {"user_id"}


async def test_forget_erases_me_but_keeps_the_counts_right(bot: BotHarness) -> None:
    camille, lou, session_id = await registered_pair(bot)
    async with bot.db.begin() as session:
        await dialogs.start(session, camille.id, camille.id, "onboarding", "groups", {"note": "en cours"})
        await outbox.enqueue(session, purpose="test:later", chat_id=camille.id, user_id=camille.id, payload={"text": "x"}, due_at=utcnow() + timedelta(days=3))
    poll_id, report_id = await poll_and_report(bot, camille)
    assert await confirmed_count(bot, session_id) == 2

    await camille.send("/oublier")
    assert "Effacer toutes vos données" in camille.reply_text
    await camille.press("Oui, tout effacer")
    assert "vos données ont été effacées" in camille.last_text

    async with bot.db.begin() as session:
        assert await session.get(User, camille.id) is None
        assert await session.scalar(select(func.count()).select_from(Membership).where(Membership.user_id == camille.id)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.chat_id == camille.id)) == 0
        assert await dialogs.current(session, camille.id, camille.id) is None
        registrants = await meetings_store.registrants(session, (await session.get(MeetingSession, session_id)).meeting_id)
    assert await confirmed_count(bot, session_id) == 2  # still two seats taken, one anonymous
    people = [user.id if user else None for _, reg, user in registrants if reg.session_id == session_id]
    assert sorted(people, key=str) == sorted([lou.id, None], key=str)
    async with bot.db.begin() as session:  # Lou is untouched
        assert (await session.get(User, lou.id)).onboarded_at is not None
        tables = Base.metadata.tables
        votes = (await session.execute(select(tables["poll_votes"].c.user_id).where(tables["poll_votes"].c.poll_id == poll_id))).scalars().all()
        recipients = (await session.execute(select(tables["poll_recipients"].c.user_id).where(tables["poll_recipients"].c.poll_id == poll_id))).scalars().all()
        report = (await session.execute(select(tables["crisis_reports"]).where(tables["crisis_reports"].c.id == report_id))).mappings().one()
    # Her vote still counts and the poll was still sent to two people, under a number that names nobody.
    assert len(votes) == 2 and lou.id in votes and camille.id not in votes
    assert len(recipients) == 2 and lou.id in recipients and camille.id not in recipients
    assert all(is_pseudonym(uid) for uid in votes + recipients if uid != lou.id)
    assert report["user_id"] is None and report["commune"] == "Verdun"  # the cell keeps the report, not its author

    await camille.send("/mesdonnees")  # writing again creates a fresh, empty profile
    data, _ = exported(bot, camille)
    assert data["Votre profil"]["Profession"] is None and data["Vos données"].get("Inscriptions aux rencontres") is None


async def test_keeping_my_data_changes_nothing(quiet_bot: BotHarness) -> None:
    bot = quiet_bot
    camille, _, _ = await registered_pair(bot)
    await camille.send("/oublier")
    before = await dump_tables(bot.db)
    await camille.press("Non, garder mes données")
    assert "Rien n'a été effacé" in camille.last_text
    assert await dump_tables(bot.db) == before


async def test_an_old_or_forged_confirmation_erases_nothing(quiet_bot: BotHarness) -> None:
    bot = quiet_bot
    camille, _, _ = await registered_pair(bot)
    await camille.send("/oublier")
    before = await dump_tables(bot.db)
    old = int((utcnow() - timedelta(hours=2)).timestamp())
    for data in (f"pv:del:{old}", "pv:del:abc", "pv:del:99999999999999999999", "pv:del:", "pv:zap:1"):
        await forge_press(bot, camille, data)
        assert await dump_tables(bot.db) == before, data
    assert "expiré" in camille.last_text


async def test_my_data_is_never_shown_in_a_group(bot: BotHarness) -> None:
    camille = bot.person("Camille")
    await camille.send("/start")
    group = bot.api.add_chat(-100_555, "supergroup", "CPTS Grand Havre")
    update = bot.api.send_text(camille.user, "/mesdonnees", chat=group)
    await bot.handled(update)
    assert bot.api.files(group["id"]) == [] and bot.api.files(camille.id) == []
    assert "conversation privée" in bot.api.sent(group["id"])[-1]["text"]


# ------------------------------------------------------------------------------- retention
async def _seed_old_data(db: Database) -> dict[str, int]:
    now = utcnow()
    ids: dict[str, int] = {}
    async with db.begin() as session:
        session.add(User(id=4242, first_name="Ancien"))
        group = Group(slug="old", name="Vieux groupe")
        session.add(group)
        await session.flush()
        for name, starts in (("old", now - timedelta(days=800)), ("recent", now - timedelta(days=30)), ("mixed", now - timedelta(days=900))):
            meeting = await meetings_store.create_meeting(
                session, group_id=group.id, title=name, theme=None, created_by=None,
                sessions=[SessionDraft(starts, None, True, "Verdun", None, 10)],
            )
            meeting.created_at = now - timedelta(days=1000)
            if name == "mixed":
                meeting.sessions.append(MeetingSession(starts_at=now + timedelta(days=20), site="Bar-le-Duc"))
            await session.flush()
            ids[name] = meeting.id
            session.add(Registration(session_id=meeting.sessions[0].id, user_id=4242, status="confirmed"))
        for purpose, status, age in (("old-sent", "sent", 100), ("new-sent", "sent", 10), ("old-pending", "pending", 100), ("mid-failed", "failed", 40)):
            session.add(OutboxMessage(purpose=purpose, chat_id=4242, user_id=4242, payload={"text": purpose}, status=status,
                                      created_at=now - timedelta(days=age), due_at=now + timedelta(days=365)))
        from storage import polls as polls_store

        for question, age in (("Ancien sondage", 800), ("Sondage récent", 100)):
            poll, _ = await polls_store.create_poll(
                session, kind=polls_store.QUICK, question=question, options=[polls_store.OptionDraft("A"), polls_store.OptionDraft("B")],
                audience=polls_store.Audience("group", group.id), closes_at=now - timedelta(days=age), created_by=None,
            )
            await polls_store.set_votes(session, poll, 4242, [0], now - timedelta(days=age))
        reports = Base.metadata.tables.get("crisis_reports")
        if reports is not None:
            for commune, age in (("Vieux-Bourg", 400), ("Neuville", 30)):
                await session.execute(insert(reports).values(user_id=4242, category="stock", commune=commune, text="", status="open",
                                                             replies=0, created_at=now - timedelta(days=age)))
    return ids


async def test_retention_purges_what_is_past_its_time(db: Database) -> None:
    ids = await _seed_old_data(db)
    services = Services(settings=Settings(database_url=db.url, extra={"RETENTION_OUTBOX_DAYS": "30"}), db=db)
    counts = await run_purge(services)
    async with db.begin() as session:
        purposes = set(await session.scalars(select(OutboxMessage.purpose)))
        meetings = set(await session.scalars(select(Meeting.title)))
        registrations = await session.scalar(select(func.count()).select_from(Registration))
        reports = Base.metadata.tables.get("crisis_reports")
        communes = set(await session.scalars(select(reports.c.commune))) if reports is not None else None
        polls = set(await session.scalars(select(Base.metadata.tables["polls"].c.question)))
        votes = await session.scalar(select(func.count()).select_from(Base.metadata.tables["poll_votes"]))
    assert purposes == {"new-sent", "old-pending"}  # pending rows are never dropped silently
    assert meetings == {"recent", "mixed"}  # "mixed" still has a session to come
    assert registrations == 2
    assert counts["outbox"] == 2 and counts["meetings"] == 1
    if communes is not None:
        assert communes == {"Neuville"}
    assert polls == {"Sondage récent"} and votes == 1  # the old poll went with its votes
    assert await run_purge(services) == {}  # idempotent
    assert ids


async def test_retention_runs_on_a_schedule() -> None:
    assert "retention_purge" in {job.name for feature in FEATURES for job in feature.jobs}
